"""Issue 8, class 3 under real gunicorn: the stale request and the logout
run in two worker processes (sync workers: while the stale request waits
at its gate, the other worker answers the logout), on SQLite and Redis."""

import itertools

import pytest
import requests

import race_app
from gunicorn_server import Gunicorn

pytestmark = pytest.mark.slow
NAMES = itertools.count()


@pytest.fixture(params=["sqlite", "redis"])
def server(request, tmp_path):
    env = {
        "SW_TEST_STORE": request.param,
        "SW_TEST_SQLITE": str(tmp_path / "sessions.db"),
        "SW_TEST_GATES": str(tmp_path),
    }
    if request.param == "redis":
        env["SW_TEST_REDIS"] = request.getfixturevalue("redis_server").url
        env["SW_TEST_PREFIX"] = request.getfixturevalue("redis_prefix")
    with Gunicorn("race_app:app", workers=2, env=env, log_dir=tmp_path) as gunicorn:
        yield gunicorn


def http_get(url):
    def get(path, cookie):
        cookies = {"session": cookie} if cookie else None
        response = requests.get(url + path, cookies=cookies, timeout=30)
        assert response.status_code == 200, response.text
        return response.json(), response.raw.headers.getlist("Set-Cookie")

    return get


def test_a_logout_wins_over_every_stale_write_in_another_worker(server, tmp_path):
    get = http_get(server.url)
    failures = {}
    for how in race_app.LOGOUTS:
        for op in race_app.OPS:
            problems, _ = race_app.race(get, tmp_path, how, op, f"live{next(NAMES)}")
            if problems:
                failures[f"{how} then {op}"] = problems
    assert failures == {}
    assert "Traceback" not in server.log_text()
