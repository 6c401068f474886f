"""The demo app (``sessionware._demo:app``) under a real gunicorn with two
workers: one session, served by both, for the cookie and the SQLite store."""

import re

import pytest
import requests

from gunicorn_server import Gunicorn
from helpers import SECRET


def field(page, name):
    match = re.search(rf'id="{name}">([^<]*)<', page)
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

        page = get("/set")
        sid = field(page, "sid")

        def check():
            page = get("/check")
            assert "username is set: admin" in page
            assert field(page, "sid") == sid and field(page, "new") == "False"
            return int(field(page, "pid"))

        server.answer_from_two_workers(check)

        page = get("/regenerate")
        new_sid = field(page, "sid")
        assert new_sid != sid
        for _ in range(4):
            page = get("/")
            assert field(page, "sid") == new_sid and field(page, "keys") == "5"

        get("/logout")
        for _ in range(4):
            page = get("/check")
            assert "session key not found" in page and field(page, "keys") == "0"
        assert "Traceback" not in server.log_text()
