"""Issue 8, class 2 under real gunicorn (two sync workers) with a real HTTP
client: every app shape of ``wsgi_shapes.py`` saves what it changes before
its first byte, a logout included, on the cookie store and on SQLite."""

import itertools

import pytest
import requests

from gunicorn_server import Gunicorn
from wsgi_shapes import ERROR_SHAPES, LATE_SHAPES, SHAPES

pytestmark = pytest.mark.slow
RIDS = itertools.count()


@pytest.fixture(params=["cookie", "sqlite"])
def server(request, tmp_path):
    (tmp_path / "file.txt").write_bytes(b"file body")
    env = {
        "SW_TEST_STORE": request.param,
        "SW_TEST_SQLITE": str(tmp_path / "sessions.db"),
        "SW_TEST_FILE": str(tmp_path / "file.txt"),
        "SW_TEST_CLOSE_LOG": str(tmp_path / "closed.log"),
    }
    with Gunicorn("wsgi_shapes:app", workers=2, env=env, log_dir=tmp_path) as gunicorn:
        gunicorn.kind = request.param
        gunicorn.tmp_path = tmp_path
        yield gunicorn


def show(http, url):
    response = http.get(url + "/show/-", timeout=10)
    assert response.status_code == 200
    return response.json()


def problems_of(server, shape, action):
    """One user logs in, then does ``action`` in ``shape``; what went wrong."""
    url, problems = server.url, []
    with requests.Session() as http:
        login = http.get(url + "/list/set", timeout=10)
        assert login.status_code == 200 and "Set-Cookie" in login.headers
        before = http.cookies["session"]
        rid = str(next(RIDS))
        response = http.get(f"{url}/{shape}/{action}", params={"rid": rid}, timeout=10)
        status = 500 if shape in ERROR_SHAPES else 200
        body = b"file body" if shape == "file" else f"{shape}|False".encode()
        if response.status_code != status or response.content != body:
            problems.append(f"answered {response.status_code} {response.content!r}")
        sent = response.headers.get("Set-Cookie")
        if action == "set" and show(http, url) != {"new": False, "data": {"shape": shape}}:
            problems.append(f"the change was lost (Set-Cookie: {sent})")
        if action == "logout":
            if sent is None or "Max-Age=0" not in sent:
                problems.append(f"the cookie was not deleted: {sent}")
            # The old cookie, replayed: a new empty session (the server
            # record is gone; for the cookie store, the browser dropped it).
            http.cookies.clear()
            if server.kind == "sqlite":
                http.cookies.set("session", before)
            if show(http, url) != {"new": True, "data": {}}:
                problems.append("the session survived the logout")
        if action in ("read", "late"):
            if action == "read" and sent is not None:
                problems.append(f"a read sent Set-Cookie: {sent}")
            if show(http, url) != {"new": False, "data": {"shape": "list"}}:
                problems.append("a read or a late change was saved")
        if shape == "closing-iterable":
            closed = (server.tmp_path / "closed.log").read_text().split().count(rid)
            if closed != 1:
                problems.append(f"close() called {closed} times")
    return problems


def test_every_shape_under_gunicorn(server):
    problems = {}
    for shape in [*SHAPES, "file"]:
        actions = ["set", "logout", "read"] + (["late"] if shape in LATE_SHAPES else [])
        for action in actions:
            found = problems_of(server, shape, action)
            if found:
                problems[f"{shape}/{action}"] = found
    assert problems == {}
    assert "Traceback" not in server.log_text()


def test_an_app_that_raises_saves_nothing_under_gunicorn(server):
    for shape in SHAPES:
        with requests.Session() as http:
            http.get(server.url + "/list/set", timeout=10)
            before = http.cookies["session"]
            response = http.get(f"{server.url}/{shape}/raise", timeout=10)
            assert response.status_code == 500, shape
            assert "Set-Cookie" not in response.headers, shape
            assert http.cookies["session"] == before
            assert show(http, server.url) == {"new": False, "data": {"shape": "list"}}, shape
    assert "Traceback" in server.log_text()  # gunicorn logged each Boom
