"""Issue 8, class 2: changes made before the first body byte are saved, in
every app shape (API.md section 3).

Every shape of ``wsgi_shapes.py`` runs through the real middleware (inside
werkzeug's ``LintMiddleware``) with werkzeug's test client, on the cookie
store and on an SQLite file. The gunicorn half is
``live/test_streaming_live.py``.
"""

from __future__ import annotations

import io
import itertools
import warnings
from wsgiref.handlers import SimpleHandler
from wsgiref.util import FileWrapper

import pytest
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

import wsgi_shapes
from helpers import dead_record, set_cookies
from sessionware import SessionWarning
from sessionware.stores import SQLiteStore
from wsgi_shapes import CLOSED, ERROR_SHAPES, LATE_SHAPES, SHAPES, Boom

RIDS = itertools.count()  # request ids, for counting close() calls


@pytest.fixture(params=["cookie", "sqlite"])
def store(request, tmp_path):
    if request.param == "cookie":
        return None
    return SQLiteStore(tmp_path / "sessions.db")


class Visit:
    """One user (one session cookie) of the shapes app, plus what it can check.

    Requests go through werkzeug's test client, except for the shapes that
    pass ``exc_info``: werkzeug's client re-raises any ``exc_info`` (so it
    would raise for the bare app too), so those go through the standard
    library's PEP 3333 server handler (``wsgiref``), which re-raises only
    once the headers were sent, as gunicorn does.
    """

    def __init__(self, store):
        self.store = store
        self.middleware = wsgi_shapes.make_app(store)
        self.client = Client(LintMiddleware(self.middleware))

    def get(self, shape, action):
        """``(status, body, Set-Cookie headers)``; the jar keeps the cookie."""
        self.rid = next(RIDS)
        path = f"/{shape}/{action}?rid={self.rid}"
        if shape not in ERROR_SHAPES:
            # Not buffered: werkzeug's buffered mode drops what write() sent.
            response = self.client.get(path)
            try:
                return response.status_code, response.get_data(), set_cookies(response)
            finally:
                response.close()
        status, headers, body = wsgiref_get(self.middleware, path, self.cookie())
        cookies = [value for name, value in headers if name == "Set-Cookie"]
        for header in cookies:
            value = header.split(";", 1)[0].partition("=")[2]
            if "Max-Age=0" in header:
                self.client.delete_cookie("session")
            else:
                self.client.set_cookie("session", value)
        return status, body, cookies

    def cookie(self):
        cookie = self.client.get_cookie("session")
        return None if cookie is None else cookie.value

    def session(self, cookie):
        """The session this cookie loads now (the middleware's own API)."""
        session = self.middleware.open_session({"HTTP_COOKIE": f"session={cookie}"})
        return session.new, dict(session)

    def login(self):
        status, _, cookies = self.get("list", "set")
        assert status == 200 and len(cookies) == 1
        return self.cookie()


def wsgiref_get(app, path, cookie):
    """GET through wsgiref's real handler; ``(status, headers, body)``."""
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }
    if cookie:
        environ["HTTP_COOKIE"] = f"session={cookie}"
    out, errors = io.BytesIO(), io.StringIO()
    handler = SimpleHandler(io.BytesIO(), out, errors, environ, multithread=False)
    handler.run(LintMiddleware(app))
    assert not errors.getvalue(), errors.getvalue()
    head, _, body = out.getvalue().partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines]
    return int(status_line.split()[1]), headers, body


def problems_of(store, shape, action):
    """Run ``action`` in ``shape`` for a logged-in user; list what went wrong."""
    visit = Visit(store)
    before = visit.login()
    old_sid = visit.middleware.open_session({"HTTP_COOKIE": f"session={before}"}).sid
    expected_status = 500 if shape in ERROR_SHAPES else 200
    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status, body, cookies = visit.get(shape, action)
    if status != expected_status or body != f"{shape}|False".encode():
        problems.append(f"answered {status} {body!r}")
    if shape == "closing-iterable" and CLOSED[str(visit.rid)] != 1:
        problems.append(f"close() called {CLOSED[str(visit.rid)]} times")
    session_warnings = [str(w.message) for w in caught if w.category is SessionWarning]
    if action == "set":
        if session_warnings:
            problems.append(f"warned: {session_warnings}")
        if len(cookies) != 1 or "Max-Age=0" in cookies[0]:
            problems.append(f"Set-Cookie: {cookies}")
        elif visit.session(visit.cookie()) != (False, {"shape": shape}):
            problems.append(f"the change was lost: {visit.session(visit.cookie())}")
    elif action == "logout":
        if session_warnings:
            problems.append(f"warned: {session_warnings}")
        if len(cookies) != 1 or "Max-Age=0" not in cookies[0]:
            problems.append(f"the cookie was not deleted: {cookies}")
        if store is not None and not dead_record(store.load(old_sid)):
            problems.append("the server record survived the logout")
        if store is not None and visit.session(before) != (True, {}):
            problems.append("the old cookie still loads a session")
    elif action == "read":
        if session_warnings or cookies:
            problems.append(f"a read sent {cookies} and warned {session_warnings}")
    elif action == "late":
        # The only warning: a change after the first byte, naming its key.
        if len(session_warnings) != 1 or "session['late']" not in session_warnings[0]:
            problems.append(f"warnings for a late change: {session_warnings}")
        elif caught[0].filename != wsgi_shapes.__file__:
            problems.append(f"the warning names {caught[0].filename}, not the app's line")
        if visit.session(visit.cookie()) != (False, {"shape": "list"}):
            problems.append("the late change was saved after the headers went out")
    return problems


def test_every_shape_saves_what_it_changes_before_its_first_byte(store):
    # The old middleware passed an eagerly started response through when the
    # session was untouched at return, so a generator's change (werkzeug's
    # Response(generator): a logout!) was lost, with a warning blaming the app.
    problems = {}
    for shape in SHAPES:
        for action in ["set", "logout", "read"] + (["late"] if shape in LATE_SHAPES else []):
            found = problems_of(store, shape, action)
            if found:
                problems[f"{shape}/{action}"] = found
    assert problems == {}


def test_an_app_that_raises_saves_nothing(store):
    # In every shape: the exception propagates unchanged, nothing is saved,
    # and nothing warns (the old middleware blamed eager generators' changes
    # on the app: "changed after the response headers were sent").
    for shape in SHAPES:
        visit = Visit(store)
        before = visit.login()
        with pytest.raises(Boom, match=shape):
            visit.client.get(f"/{shape}/raise?rid={next(RIDS)}").get_data()
        assert visit.cookie() == before, shape
        assert visit.session(before) == (False, {"shape": "list"}), shape


def call(middleware, path, cookie=None):
    """Call the middleware as a server that offers wsgi.file_wrapper would;
    return (what the server got back, the start_response calls)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "wsgi.file_wrapper": FileWrapper,
    }
    if cookie:
        environ["HTTP_COOKIE"] = f"session={cookie}"
    started = []
    result = middleware(environ, lambda status, headers, exc_info=None: started.append(headers))
    return result, started


def test_file_wrapper_is_handed_to_the_server_as_it_is(store, tmp_path, monkeypatch):
    # The server recognises its own wrapper to send the file with sendfile():
    # wrapping it (to save the session at the first chunk) would lose that.
    # The old middleware wrapped it whenever the app had read the session.
    data = tmp_path / "file.txt"
    data.write_bytes(b"file body")
    monkeypatch.setenv("SW_TEST_FILE", str(data))
    visit = Visit(store)
    cookie = visit.login()
    for action, saved in [("none", False), ("read", False), ("set", True)]:
        result, started = call(visit.middleware, f"/file/{action}", cookie)
        try:
            assert type(result) is FileWrapper, action
            assert len(started) == 1, action  # the headers went out before the body
            sent = [value for name, value in started[0] if name == "Set-Cookie"]
            assert len(sent) == saved, (action, sent)
            assert b"".join(result) == b"file body"
        finally:
            result.close()
    # The change made before the wrapper was returned was saved.
    new_cookie = sent[0].split(";", 1)[0].partition("=")[2]
    assert visit.session(new_cookie) == (False, {"shape": "file"})
