"""Helpers for testing apps that use sessionware, with werkzeug's test client.

Start a request with a session holding given data, and read back what a
response stored, for every store (cookie, memory, SQLite, Redis): the
equivalent of Flask's ``client.session_transaction()`` for any WSGI app:

.. testcode::

    from werkzeug.test import Client
    from sessionware import SessionMiddleware
    from sessionware.testing import read_session, session_transaction

    app = SessionMiddleware(my_wsgi_app, secret_key=SECRET, store="memory://")
    client = Client(app)

    with session_transaction(client) as session:   # app found in client.application
        session["user_id"] = 42                     # saved, cookie set on the client

    response = client.get("/logout")
    assert read_session(app, response) == {}        # what the response stored

Every helper takes the middleware, or anything around it: a Flask app set up
with ``Sessionware``, a werkzeug middleware, a test client. The middleware is
found by walking the WSGI stack (``.app``, ``.wsgi_app``, ``.application``
attributes); pass the middleware itself when there are several or the stack
hides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from werkzeug.http import parse_cookie
from werkzeug.test import Client, EnvironBuilder

from sessionware.middleware import SessionMiddleware
from sessionware.session import Session

__all__ = ["find_middleware", "read_session", "session_transaction"]

# Attributes under which WSGI wrappers keep the app they wrap.
_WRAPPED = ("app", "wsgi_app", "application")
_MAX_DEPTH = 32


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Any: ...


def find_middleware(app: object) -> SessionMiddleware:
    """The first :class:`~sessionware.SessionMiddleware` in a WSGI stack.

    :param app: a WSGI app (a Flask app, a middleware) or a test client.
    :raises LookupError: when none is found.
    """
    current: object = app
    seen: set[int] = set()
    for _ in range(_MAX_DEPTH):
        if isinstance(current, SessionMiddleware):
            return current
        seen.add(id(current))
        for attribute in _WRAPPED:
            inner = getattr(current, attribute, None)
            if inner is not None and id(inner) not in seen:
                current = inner
                break
        else:
            break
    raise LookupError(
        f"no SessionMiddleware found inside {type(app).__name__}; pass middleware= explicitly"
    )


def _cookie_domain(middleware: SessionMiddleware, domain: str) -> tuple[str, bool]:
    """The (domain, origin_only) werkzeug's client files our cookie under."""
    configured = middleware.config.cookie_domain
    if configured is None:
        return domain, True
    # As werkzeug's dump_cookie writes the Domain attribute (no leading dot).
    return configured.lstrip("."), False


@contextmanager
def session_transaction(
    client: Client,
    middleware: object = None,
    *,
    domain: str = "localhost",
    path: str | None = None,
) -> Iterator[Session]:
    """Open the session the client's cookie holds; save it back on exit.

    The session is loaded from the client's current session cookie (from the
    store, for server-side stores). When the block ends without an error,
    the response rules apply as for a real request: the session is saved
    and the resulting cookie is set on (or deleted from) the client, so the
    next request sees the changes. An error in the block saves nothing.

    :param client: a ``werkzeug.test.Client`` (or Flask's ``FlaskClient``).
    :param middleware: the middleware, or a WSGI stack around it (a Flask
        app); found in ``client.application`` if omitted.
    :param domain: the host the client sends requests to (werkzeug's default).
    :param path: the request path (default: the cookie's path).
    """
    middleware = find_middleware(client.application if middleware is None else middleware)
    config = middleware.config
    cookie_domain, origin_only = _cookie_domain(middleware, domain)
    cookie = client.get_cookie(config.cookie_name, domain=cookie_domain, path=config.cookie_path)
    builder = EnvironBuilder(path=path or config.cookie_path, base_url=f"http://{domain}")
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    if cookie is not None:
        environ["HTTP_COOKIE"] = f"{cookie.key}={cookie.value}"
    session = middleware.open_session(environ)
    yield session
    for name, header in middleware.save_session(session):
        if name.lower() != "set-cookie":
            continue
        value, attributes = _parse_set_cookie(header)
        max_age = attributes.get("max-age")
        # Max-Age=0 (a deleted session) makes the client drop the cookie.
        client.set_cookie(
            config.cookie_name,
            value,
            domain=cookie_domain,
            origin_only=origin_only,
            path=config.cookie_path,
            max_age=None if max_age is None else int(max_age),
        )


def _parse_set_cookie(header: str) -> tuple[str, dict[str, str]]:
    """Value and lower-cased attributes of one ``Set-Cookie`` header."""
    pair, _, rest = header.partition(";")
    value = next(iter(parse_cookie(pair).values()), "")
    attributes = {}
    for item in rest.split(";"):
        key, _, attribute = item.partition("=")
        attributes[key.strip().lower()] = attribute.strip()
    return value, attributes


def read_session(app: object, source: _HasHeaders | str) -> Session | None:
    """The session a response stored (or a cookie value holds), loaded.

    Returns a loaded :class:`~sessionware.Session` (compare it with a
    ``dict``; ``.permanent``, ``.sid`` and ``.new`` are there too). A
    response that deleted the cookie gives an empty session with ``new``
    true; a response that set no session cookie at all gives ``None``.

    :param app: the middleware that produced the response, or any WSGI
        stack around it (a Flask app, a werkzeug middleware, a test client).
    :param source: a response (anything with ``.headers``, e.g. werkzeug's
        ``TestResponse``) or the value of the session cookie.
    """
    middleware = find_middleware(app)
    name = middleware.config.cookie_name
    if isinstance(source, str):
        value: str | None = source
    else:
        value = None
        for header in source.headers.getlist("Set-Cookie"):
            if header.startswith(f"{name}="):
                # A deleted cookie has an empty value: an empty, new session.
                value = _parse_set_cookie(header)[0]
        if value is None:
            return None
    environ = {"HTTP_COOKIE": f"{name}={value}"} if value else {}
    session = middleware.open_session(environ)
    len(session)  # load it now, while the cookie is at hand
    session.accessed = False  # reading it back is not the app's access
    return session
