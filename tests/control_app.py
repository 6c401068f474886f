"""The session-control app: gunicorn serves it for the live tests
(``control_app:app``), and the in-process tests build it with ``make_app``.

Each worker builds its middleware at import, from environment variables:
``SW_CONTROL_STORE`` (a store URL) and ``SW_CONTROL_REVOCATION`` (a
revocation store URL, for the cookie store; empty for none).

Routes: ``/`` (readiness, never touches the session), ``/login?owner=ID``
(regenerate, set the owner and a key), ``/me`` (the session as JSON),
``/logout`` (invalidate), ``/others-out`` (revoke every other session of the
owner), ``/sessions`` (the owner's sessions as JSON).
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

from sessionware import SessionMiddleware

SECRET = "live-test-secret-key-0123456789abcdef"


def make_app(store, revocation=None, **options):
    """The middleware around the control routes (``.app`` is the bare app)."""
    middleware = None

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        query = {
            k: v[0]
            for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()
        }
        session = environ["session"]
        body = {"pid": os.getpid()}
        if path == "/":
            pass
        elif path == "/login":
            session.regenerate()
            session.owner = query["owner"]
            session["user"] = query["owner"]
            session.permanent = query.get("permanent") == "1"
        elif path == "/me":
            pass
        elif path == "/logout":
            session.invalidate()
        elif path == "/others-out":
            body["revoked"] = middleware.revoke_owner(session.owner, keep=session.sid)
        elif path == "/sessions":
            body["sessions"] = [
                {"sid": info.sid, "created": info.created.isoformat()}
                for info in middleware.sessions(session.owner)
            ]
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        if path != "/":
            body.update(
                sid=session.sid, owner=session.owner, user=session.get("user"), new=session.new
            )
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    middleware = SessionMiddleware(
        app, SECRET, store=store, revocation=revocation or None, **options
    )
    return middleware


def revocation_store(middleware):
    """The store behind a middleware's ``revocation=``."""
    return middleware.control.revocations.store


def _from_environment():
    store = os.environ.get("SW_CONTROL_STORE")
    if not store:
        return None
    return make_app(store, os.environ.get("SW_CONTROL_REVOCATION") or None)


app = _from_environment()
