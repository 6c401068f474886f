"""The demo app (``sessionware._demo:app``) under a real gunicorn with two
workers: one session, served by both, for the cookie and the SQLite store."""

import re

import pytest
import requests

from gunicorn_server import Gunicorn
from helpers import SECRET


def field(page, name):
    match = re.search(rf'id="{name}"[^>]*>([^<]*)<', page)
    assert match, f"no #{name} in the page:\n{page[:500]}"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("store", ["cookie", "sqlite"])
def test_demo_under_gunicorn_two_workers(store, tmp_path):
    url = "cookie://" if store == "cookie" else f"sqlite:///{tmp_path}/demo.db"
    env = {"SESSIONWARE_SECRET_KEY": SECRET, "SESSIONWARE_STORE": url}
    with (
        Gunicorn("sessionware._demo:app", workers=2, env=env, log_dir=tmp_path) as server,
        requests.Session() as http,
    ):

        def get(path):
            response = http.get(server.url + path, timeout=10)
            assert response.status_code == 200, server.log_text()
            return response.text

        def post(path):
            # As a browser submits the demo's forms: same Origin, then the 303.
            response = http.post(
                server.url + path,
                data={"next": "/"},
                headers={"Origin": server.url},
                timeout=10,
            )
            assert response.status_code == 200, server.log_text()
            assert response.history and response.history[0].status_code == 303
            return response.text

        sid = field(post("/set"), "sid")

        def check():
            page = get("/check")
            assert field(page, "check") == "username is set: admin"
            assert field(page, "sid") == sid and field(page, "new") == "False"
            return int(field(page, "pid"))

        server.answer_from_two_workers(check)

        new_sid = field(post("/regenerate"), "sid")
        assert new_sid not in (sid, "none")
        for _ in range(4):
            page = get("/")
            assert field(page, "sid") == new_sid and field(page, "keys") == "5"

        assert field(post("/logout"), "sid") == "none"
        for _ in range(4):
            page = get("/check")
            assert field(page, "check") == "session key not found"
            assert field(page, "keys") == "0" and field(page, "sid") == "none"
        assert "Traceback" not in server.log_text()
