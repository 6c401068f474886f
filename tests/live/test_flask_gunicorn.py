"""The seed's Flask app (``flask_app:create_app()``) under a real gunicorn with
two workers and ``requests`` as the HTTP client and cookie jar, for the
cookie and the SQLite store."""

from pathlib import Path

import pytest
import requests

from gunicorn_server import Gunicorn
from helpers import SECRET, SEED

LIVE = Path(__file__).resolve().parent


@pytest.mark.slow
@pytest.mark.parametrize("store", ["cookie", "sqlite", "redis"])
def test_flask_seed_under_gunicorn_two_workers(store, tmp_path, request):
    url = {
        "cookie": "",
        "sqlite": f"sqlite:///{tmp_path}/flask.db",
        "redis": request.getfixturevalue("redis_server").url if store == "redis" else "",
    }[store]
    env = {"SESSIONWARE_TEST_SECRET": SECRET, "SESSIONWARE_TEST_STORE": url}
    with (
        Gunicorn("flask_app:create_app()", workers=2, env=env, pythonpath=[LIVE],
                 log_dir=tmp_path) as server,
        requests.Session() as http,
    ):  # fmt: skip

        def get(path):
            response = http.get(server.url + path, timeout=10)
            assert response.status_code == 200, server.log_text()
            return response

        def page():
            return get("/").json()

        assert page()["new"] is True
        response = get("/set")
        assert response.text == "session set"
        assert len(response.headers.get("Set-Cookie", "").split("session=")) == 2
        assert "SameSite=Lax" in response.headers["Set-Cookie"]
        old_cookie = http.cookies["session"]
        sid = page()["sid"]

        def check():
            assert get("/check").text == "username exists: admin"
            current = page()
            assert current["data"] == SEED and current["sid"] == sid
            assert current["new"] is False
            return current["pid"]

        server.answer_from_two_workers(check)

        get("/flash")
        flashes = get("/flashes").json()["messages"]
        assert flashes == [["message", "saved", "str"], ["warning", "<b>bold</b>", "Markup"]]

        assert get("/delete").text == "deleted; age was 25; missing gave default"
        for _ in range(4):
            assert get("/check").text == "vip status set"

        for route in ("/clear", "/logout"):
            get("/set")
            assert "Max-Age=0" in get(route).headers["Set-Cookie"]
            assert "session" not in http.cookies
            for _ in range(4):
                assert get("/check").text == "no session key found"

        if store != "cookie":
            # The record is gone from the shared store: replaying a cookie
            # from before the logout finds no session on any worker.
            http.cookies.set("session", old_cookie)
            for _ in range(4):
                assert page()["new"] is True
        assert "Traceback" not in server.log_text()
