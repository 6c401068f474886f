"""Small helpers shared by the tests: a WSGI app around a handler, a linted client,
and the one way every test reads a Set-Cookie header."""

from __future__ import annotations

import copy

from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from sessionware import SessionMiddleware
from sessionware._demo import SEED as DEMO_SEED
from sessionware.stores import MemoryStore

SECRET = "test-secret-key-0123456789abcdef-xyz"
OLD_SECRET = "old-secret-key-0123456789abcdef-xyzw"

SEED = copy.deepcopy(DEMO_SEED)  # the seed project's example session


def handler_app(handler, key="session"):
    """A bare WSGI app: ``handler(session, environ)`` returns the body text."""

    def app(environ, start_response):
        body = handler(environ[key], environ)
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [("" if body is None else str(body)).encode()]

    return app


def make_client(handler, **options):
    """werkzeug's test client on the real middleware, wrapped in LintMiddleware."""
    options.setdefault("secret_key", SECRET)
    middleware = SessionMiddleware(
        handler_app(handler, options.get("environ_key", "session")), **options
    )
    return Client(LintMiddleware(middleware)), middleware


def routes(**table):
    """A handler for :func:`make_client` dispatching on the path's last segment:
    ``routes(set=seed)`` answers ``/set`` with ``seed(session)``."""

    def handler(session, environ):
        return table[environ["PATH_INFO"].rsplit("/", 1)[-1]](session)

    return handler


# -- reading Set-Cookie ----------------------------------------------------------------


def set_cookies(response):
    """Every Set-Cookie header of a werkzeug/Flask test response."""
    return response.headers.getlist("Set-Cookie")


def one_cookie(response, name="session"):
    """The response's only Set-Cookie header, which must be for ``name``."""
    cookies = set_cookies(response)
    assert len(cookies) == 1, cookies
    assert cookies[0].startswith(name + "="), cookies
    return cookies[0]


def cookie_pair(header):
    """``name=value`` of a Set-Cookie header (what a browser sends back)."""
    return header.split(";", 1)[0]


def header_value(header):
    """The cookie value of a Set-Cookie header."""
    return cookie_pair(header).split("=", 1)[1]


def attributes(header):
    """The attributes of a Set-Cookie header, in order: ``["HttpOnly", "Path=/", ...]``."""
    return [part.strip() for part in header.split(";")[1:]]


def cookie_value(response, name="session"):
    """The value of the response's Set-Cookie for ``name``, or None."""
    for header in set_cookies(response):
        if header.startswith(name + "="):
            return header_value(header)
    return None


def dead_record(record):
    """Whether a store record left behind by a move or a logout is no
    session: gone, or a tombstone (``_backends.server._leave``) holding no
    session key, only the backend's own (NUL-prefixed) keys."""
    from sessionware._backends.liveness import is_tombstone

    return record is None or (is_tombstone(record) and all(k[:1] == "\x00" for k in record))


def saved_cookie(middleware, session):
    """The Set-Cookie header ``middleware.save_session(session)`` returns, or None."""
    cookies = [value for name, value in middleware.save_session(session) if name == "Set-Cookie"]
    assert len(cookies) <= 1, cookies
    return cookies[0] if cookies else None


class PlainStore:
    """A user's store implementing only the Store protocol (no batched
    ``load_many``), over a real MemoryStore; counts its loads."""

    def __init__(self):
        self.inner = MemoryStore()
        self.loads = 0

    def load(self, sid):
        self.loads += 1
        return self.inner.load(sid)

    def save(self, sid, changes, ttl):
        self.inner.save(sid, changes, ttl)

    def delete(self, sid):
        self.inner.delete(sid)

    def touch(self, sid, ttl):
        self.inner.touch(sid, ttl)
