"""A pytest plugin that puts sessionware under Flask's own test suite.

Every Flask app the suite builds with Flask's own session gets
``Sessionware(app)`` when it first serves a request or a request context (so
the suite's fixtures can set ``SECRET_KEY`` first, as users do before the
first request), with the store named by ``SW_FLASK_SUITE_STORE`` (a URL;
empty: the cookie store). Apps the suite gives a session interface of its
own keep it: those tests are about Flask's interface hooks, not a session.
"""

import os

import flask
from flask.sessions import SecureCookieSessionInterface

from sessionware.flask import Sessionware

STORE = os.environ.get("SW_FLASK_SUITE_STORE") or None
_call = flask.Flask.__call__
_test_request_context = flask.Flask.test_request_context


def _ensure(app):
    own = type(app.session_interface) is SecureCookieSessionInterface
    if own and "sessionware" not in app.extensions:
        Sessionware(app, **({"store": STORE} if STORE else {}))


def __call__(self, environ, start_response):
    _ensure(self)
    return _call(self, environ, start_response)


def test_request_context(self, *args, **kwargs):
    _ensure(self)
    return _test_request_context(self, *args, **kwargs)


flask.Flask.__call__ = __call__
flask.Flask.test_request_context = test_request_context
