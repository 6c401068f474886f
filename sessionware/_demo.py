"""The demo app: a bare WSGI app (no framework) that walks through every
session operation of the seed and shows what sessionware does with it.

Serve it with ``sessionware demo`` (``python -m sessionware demo``) or any
WSGI server::

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

It behaves like a real app. Pages (``GET``: ``/``, ``/check``) only read the
session. Actions (``POST``: ``/set``, ``/clear``, ``/logout`` and more) change
it and answer ``303 See Other`` back to the page (Post/Redirect/Get), so a
reload never repeats one; a ``GET`` of an action's URL shows the page with its
button. A POST from another site is refused (403) by its ``Origin`` /
``Sec-Fetch-Site`` header, on top of the cookie's ``SameSite=Lax``.

Adding a page or an action takes one decorated function (the decorators
live in :mod:`sessionware._demo_app`, with the routing; pages appear in the
navigation in the order they were registered)::

    @page("/sessions", "Your sessions")
    def sessions(request: DemoRequest) -> str:
        return "<section>...</section>"           # panels of the page

    @action("/revoke", revoked="The other sessions were ended.")
    def revoke(request: DemoRequest) -> str:
        ...                                      # request.form, request.session
        return "revoked"                         # a key of the messages above

A form posts to the action with a hidden ``next`` field naming the page to
return to (see :func:`button`).
"""

from __future__ import annotations

import os
import secrets
import sys
from html import escape
from typing import Any

from sessionware import _demo_page as ui
from sessionware._demo_app import DemoApp, DemoRequest, action, button, page, probe
from sessionware.errors import StoreError
from sessionware.middleware import SessionMiddleware
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

__all__ = ["SEED", "DemoRequest", "action", "button", "make_app", "page"]

#: What ``POST /set`` stores: the seed's values.
SEED: dict[str, Any] = {
    "username": "admin",
    "age": 25,
    "is_vip": True,
    "hobbies": ["coding", "reading"],
    "profile": {"city": "wuhan", "phone": "13800138000"},
}


# -- actions: each changes the session, as in the seed ---------------------------


@action("/set", set="Stored the seed values: username, age, is_vip, hobbies and profile.")
def _set(request: DemoRequest) -> str:
    session = request.session
    # Basic types, then containers (they must be serialisable), as in the seed.
    session["username"] = SEED["username"]
    session["age"] = SEED["age"]
    session["is_vip"] = SEED["is_vip"]
    session["hobbies"] = list(SEED["hobbies"])
    session["profile"] = dict(SEED["profile"])
    return "set"


@action("/put", put="Saved session[key] = value.", put_nokey="Give a key to set.")
def _put(request: DemoRequest) -> str:
    key = request.form.get("key", "")
    if not key:
        return "put_nokey"
    request.session[key] = request.form.get("value", "")
    return "put"


@action(
    "/pop",
    pop="session.pop(key) removed the key.",
    pop_missing="session.pop(key, None): no such key; nothing changed, nothing saved.",
)
def _pop(request: DemoRequest) -> str:
    missing = object()
    found = request.session.pop(request.form.get("key", ""), missing)
    return "pop_missing" if found is missing else "pop"


@action(
    "/del",
    deleted="del session[key] removed the key.",
    del_missing="del session[key] raised KeyError: no such key.",
)
def _delete(request: DemoRequest) -> str:
    try:
        del request.session[request.form.get("key", "")]
    except KeyError:
        return "del_missing"
    return "deleted"


@action(
    "/permanent",
    permanent_on="session.permanent = True: the cookie now carries Expires and Max-Age.",
    permanent_off="session.permanent = False: the cookie lasts until the browser closes.",
)
def _permanent(request: DemoRequest) -> str:
    request.session.permanent = request.form.get("on") == "1"
    return "permanent_on" if request.session.permanent else "permanent_off"


@action("/modified", modified="session.modified = True: the cookie was sent again, re-signed.")
def _modified(request: DemoRequest) -> str:
    request.session.modified = True
    return "modified"


@action(
    "/regenerate",
    regenerate="New id: session.regenerate() gave the session a new sid, same data "
    "(what a login does, against session fixation).",
)
def _regenerate(request: DemoRequest) -> str:
    request.session.regenerate()
    return "regenerate"


@action("/clear", clear="session.clear(): the data is gone and the cookie deleted.")
def _clear(request: DemoRequest) -> str:
    request.session.clear()
    return "clear"


@action("/logout", logout="Logged out: session.invalidate() cleared the data and the sid.")
def _logout(request: DemoRequest) -> str:
    request.session.invalidate()
    return "logout"


# -- pages -----------------------------------------------------------------------


def _operations(back: str) -> str:
    key = '<input name="key" placeholder="key" required> '
    return f"""<section class="wide"><h2>Try it <small>each button is a POST form</small></h2>
<div class="actions">
{button("/set", "Set the seed values", 'session["username"] = "admin" …', back=back)}
{
        button(
            "/put",
            "Set",
            "session[key] = value",
            key + '<input name="value" placeholder="value"> ',
            back=back,
        )
    }
{button("/pop", "Pop", "session.pop(key, None)", key, back=back)}
{button("/del", "Delete", "del session[key]", key, back=back)}
{
        button(
            "/permanent",
            "Permanent on",
            "session.permanent = True",
            '<input type="hidden" name="on" value="1">',
            ident="do-permanent-on",
            back=back,
        )
    }
{
        button(
            "/permanent",
            "Permanent off",
            "session.permanent = False",
            '<input type="hidden" name="on" value="0">',
            ident="do-permanent-off",
            back=back,
        )
    }
{button("/modified", "Force a save", "session.modified = True", back=back)}
{button("/regenerate", "Regenerate id (log in)", "session.regenerate()", back=back)}
{button("/clear", "Clear", "session.clear()", back=back, danger=True)}
{button("/logout", "Log out", "session.invalidate()", back=back, danger=True)}
</div></section>"""


def _panels(request: DemoRequest, back: str = "/") -> str:
    session, middleware = request.session, request.middleware
    return (
        ui.session_panel(session)
        + ui.cookie_panel(session, middleware, request.environ)
        + ui.store_panel(session, middleware)
        + _operations(back)
    )


@page("/", "Session")
def _index(request: DemoRequest) -> str:
    return _panels(request)


@page("/check", "Check")
def _check(request: DemoRequest) -> str:
    session = request.session
    # Way 1: the `in` operator (recommended).
    if "username" in session:
        result = f"username is set: {session['username']}"
    # Way 2: get() and compare with None.
    elif session.get("is_vip") is not None:
        result = "vip status is set"
    else:
        result = "session key not found"
    code = (
        'if "username" in session:            # way 1: in (recommended)\n'
        "    ...\n"
        'elif session.get("is_vip") is not None:  # way 2: get() and None\n'
        "    ..."
    )
    return (
        f'<section class="wide"><h2>Checking for a key</h2><pre>{escape(code)}</pre>'
        f'<p>Result: <b id="check">{escape(result)}</b></p></section>'
    ) + _panels(request, back="/check")


# "Your sessions" (set an owner, sign out everywhere else): its page
# and actions register themselves on import, after the pages above.
from sessionware import _demo_sessions  # noqa: E402, F401


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
    demo = DemoApp()
    demo.middleware = SessionMiddleware(demo, secret_key, store=store, **options)
    return demo.middleware


def store_problem(store: Store | CookieStore) -> str | None:
    """Why ``store`` cannot serve the demo right now (one lookup of an id no
    session has), or ``None``; said at start, as the pages say it."""
    try:
        probe(store)
    except StoreError as exc:
        return (
            f"the store does not answer: {exc} The demo starts anyway; its pages "
            "say so until the store answers."
        )
    return None


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
