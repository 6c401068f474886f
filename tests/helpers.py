"""Small helpers shared by the tests: a WSGI app around a handler, a linted client."""

from __future__ import annotations

import copy

from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from sessionware import SessionMiddleware
from sessionware._demo import SEED as DEMO_SEED

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


def set_cookies(response):
    return response.headers.getlist("Set-Cookie")


def cookie_value(response, name="session"):
    for header in set_cookies(response):
        if header.startswith(name + "="):
            return header.split(";", 1)[0][len(name) + 1 :]
    return None
