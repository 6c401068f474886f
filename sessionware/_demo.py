"""The demo app: a bare WSGI app (no framework) that walks through every
session operation of the seed, one route each, and shows the session as HTML.

Serve it with ``python -m sessionware demo`` or any WSGI server::

    SESSIONWARE_SECRET_KEY="$(python -m sessionware secret)" \\
        gunicorn -w 2 -b 127.0.0.1:8000 sessionware._demo:app

``app`` is built on first use from two environment variables:

- ``SESSIONWARE_SECRET_KEY``: the secret key. When it is unset, a random key
  is generated (with a warning on stderr): sessions then do not survive a
  restart, and several gunicorn workers do not share it, so a session made by
  one worker is rejected by the other. Set it whenever you run more than one
  worker.
- ``SESSIONWARE_STORE``: a store URL (default ``cookie://``), e.g.
  ``sqlite:////tmp/demo.db`` or ``redis://127.0.0.1:6379/0``.

The routes mirror the seed (Flask's session API); they change state on GET,
like the seed's, which is fine for a demo and wrong for a real app.
"""

from __future__ import annotations

import html
import os
import pprint
import secrets
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sessionware import _demo_sessions
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = ["make_app", "demo_app", "SEED"]

#: What ``/set`` stores: the seed's values.
SEED: dict[str, Any] = {
    "username": "admin",
    "age": 25,
    "is_vip": True,
    "hobbies": ["coding", "reading"],
    "profile": {"city": "wuhan", "phone": "13800138000"},
}

_Handler = Callable[[Session, dict[str, str]], str]


def _set(session: Session, query: dict[str, str]) -> str:
    # Basic types, then containers (they must be serialisable), as in the seed.
    session["username"] = SEED["username"]
    session["age"] = SEED["age"]
    session["is_vip"] = SEED["is_vip"]
    session["hobbies"] = list(SEED["hobbies"])
    session["profile"] = dict(SEED["profile"])
    return "session set"


def _put(session: Session, query: dict[str, str]) -> str:
    key = query.get("key", "")
    if not key:
        return "give a key: /put?key=name&value=text"
    session[key] = query.get("value", "")
    return f"session[{key!r}] set"


def _check(session: Session, query: dict[str, str]) -> str:
    # Way 1: the `in` operator (recommended).
    if "username" in session:
        return f"username is set: {session['username']}"
    # Way 2: get() and compare with None.
    if session.get("is_vip") is not None:
        return "vip status is set"
    return "session key not found"


def _pop(session: Session, query: dict[str, str]) -> str:
    key = query.get("key", "age")
    value = session.pop(key, None)
    return f"popped {key!r}: {value!r}"


def _delete(session: Session, query: dict[str, str]) -> str:
    key = query.get("key", "username")
    try:
        del session[key]
    except KeyError:
        return f"KeyError: no key {key!r} in the session"
    return f"deleted {key!r}"


def _permanent(session: Session, query: dict[str, str]) -> str:
    session.permanent = query.get("on", "1") not in ("0", "false", "off", "")
    return f"permanent = {session.permanent}"


def _modified(session: Session, query: dict[str, str]) -> str:
    session.modified = True
    return "modified = True: the cookie is sent again"


def _regenerate(session: Session, query: dict[str, str]) -> str:
    old = session.sid
    session.regenerate()
    return f"logged in: new sid {session.sid} (was {old})"


def _clear(session: Session, query: dict[str, str]) -> str:
    session.clear()
    return "session cleared"


def _logout(session: Session, query: dict[str, str]) -> str:
    session.invalidate()
    return "logged out"


def _index(session: Session, query: dict[str, str]) -> str:
    return ""


_ROUTES: dict[str, _Handler] = {
    "/": _index,
    "/set": _set,
    "/put": _put,
    "/check": _check,
    "/pop": _pop,
    "/del": _delete,
    "/permanent": _permanent,
    "/modified": _modified,
    "/regenerate": _regenerate,
    "/clear": _clear,
    "/logout": _logout,
}

_LINKS = [
    ("/", "show"),
    ("/set", "set the seed values"),
    ("/check", "check (in / get)"),
    ("/pop?key=age", "pop 'age'"),
    ("/del?key=username", "del 'username'"),
    ("/permanent?on=1", "permanent on"),
    ("/permanent?on=0", "permanent off"),
    ("/modified", "set modified"),
    ("/regenerate", "log in (regenerate the sid)"),
    ("/clear", "clear"),
    ("/logout", "log out (invalidate)"),
    ("/login?user=alice", "sign in as alice (session.owner)"),
    ("/sessions", "your sessions (sign out everywhere else)"),
]
#: Where make_app puts its middleware for the "your sessions" page.
_MIDDLEWARE = "sessionware.demo.middleware"


def _page(session: Session, message: str, extra: str = "") -> str:
    e = html.escape
    data = pprint.pformat(dict(session), sort_dicts=True, width=72)
    rows = "".join(
        f'<tr><th>{name}</th><td id="{name}">{e(str(value))}</td></tr>'
        for name, value in (
            ("sid", session.sid),
            ("new", session.new),
            ("permanent", session.permanent),
            ("modified", session.modified),
            ("owner", session.owner),
            ("keys", len(session)),
        )
    )
    links = "".join(f'<li><a href="{e(href)}">{e(text)}</a></li>' for href, text in _LINKS)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>sessionware demo</title></head>
<body>
<h1>sessionware demo</h1>
<p id="message">{e(message)}</p>
<h2>Session</h2>
<table>{rows}</table>
<pre id="data">{e(data)}</pre>
{extra}
<p>Served by process <span id="pid">{os.getpid()}</span>: with several workers, any of
them reads the session.</p>
<h2>Operations</h2>
<ul>{links}</ul>
<form action="/put"><input name="key" placeholder="key"> <input name="value"
placeholder="value"> <button id="put">session[key] = value</button></form>
<form action="/pop"><input name="key" placeholder="key"> <button id="pop">pop</button></form>
</body></html>
"""


def demo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The bare WSGI app behind the demo; needs a SessionMiddleware around it."""
    session: Session = environ["session"]
    path = environ.get("PATH_INFO") or "/"
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    extra = ""
    if path == "/login":
        message = _demo_sessions.login(session, query.get("user", ""))
    elif path in ("/sessions", "/sessions/sign-out-others"):
        middleware = environ[_MIDDLEWARE]
        message = ""
        if path == "/sessions/sign-out-others":
            if environ.get("REQUEST_METHOD") != "POST":
                start_response("405 Method Not Allowed", [("Allow", "POST")])
                return [b"POST only\n"]
            message = _demo_sessions.sign_out_others(session, middleware)
        extra = _demo_sessions.sessions_html(session, middleware)
    elif path in _ROUTES:
        message = _ROUTES[path](session, query)
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found; see / for the routes\n"]
    body = _page(session, message, extra).encode("utf-8")
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


def make_app(
    secret_key: str | bytes | None = None,
    store: Store | CookieStore | str | None = None,
    **options: Any,
) -> SessionMiddleware:
    """The demo app wrapped in :class:`~sessionware.SessionMiddleware`.

    :param secret_key: the key; ``None`` generates a random one (sessions
        then die with the process and are not shared between processes).
    :param store: a store or store URL; ``None`` is the cookie store.
    :param options: more :class:`~sessionware.SessionMiddleware` settings,
        e.g. ``cookie_samesite="Strict"``.
    """
    if secret_key is None:
        secret_key = secrets.token_urlsafe(32)
    made: list[SessionMiddleware] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[_MIDDLEWARE] = made[0]  # for the "your sessions" page
        return demo_app(environ, start_response)

    made.append(SessionMiddleware(app, secret_key, store=store, **options))
    return made[0]


def _app_from_env() -> SessionMiddleware:
    secret_key = os.environ.get("SESSIONWARE_SECRET_KEY") or None
    if secret_key is None:
        print(
            "sessionware demo: SESSIONWARE_SECRET_KEY is not set; using a random key. "
            "Sessions will not survive a restart, and several workers will not share "
            "them: set SESSIONWARE_SECRET_KEY (python -m sessionware secret).",
            file=sys.stderr,
            flush=True,
        )
    return make_app(secret_key, os.environ.get("SESSIONWARE_STORE") or "cookie://")


_app: SessionMiddleware | None = None


def __getattr__(name: str) -> Any:
    # `app` is built on first access (gunicorn's getattr), not at import, so
    # importing make_app neither warns nor reads the environment.
    global _app
    if name == "app":
        if _app is None:
            _app = _app_from_env()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
