"""Flask adapter: maps ``app.config`` to SessionMiddleware and makes
``flask.session`` the sessionware :class:`~sessionware.Session`.

Usage:

.. testcode::

    import os

    from flask import Flask

    from sessionware.flask import Sessionware

    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["SESSIONWARE_SECRET_KEY"]
    app.config["SESSIONWARE_STORE"] = "sqlite:///sessions.db"
    Sessionware(app)            # or: sessionware = Sessionware(); sessionware.init_app(app)

The settings are read when :meth:`Sessionware.init_app` runs (bad ones raise
:class:`~sessionware.ConfigurationError` there) and, as Flask reads them, on
every request after: a session setting changed in ``app.config`` (or
``app.permanent_session_lifetime``) at any time is applied from the next
request (or ``test_request_context``, or ``flask sessionware``) on, and a bad
change raises :class:`~sessionware.ConfigurationError` there. Each key of
:data:`CONFIG_KEYS` maps to the :class:`~sessionware.SessionMiddleware`
argument of the same meaning; Flask-Session's keys are honoured where they
have a meaning here and refused otherwise (``sessionware._flask_config``).

Switching from Flask's session logs nobody out: Flask's cookies (signed with
``SECRET_KEY`` or a ``SECRET_KEY_FALLBACKS`` key) are read through
:class:`sessionware.migrate.FlaskCookie` and re-issued as sessionware sessions
(``SESSIONWARE_MIGRATE_FLASK_COOKIE = False`` turns that off; with
``CookieStore(encrypt=True)`` it is off unless set to ``True``); with
``SESSION_TYPE = "redis"``, Flask-Session's records are read as well.

Known, deliberate differences from Flask's built-in session:

- The cookie format is sessionware's (Flask's cookies are still read, above).
- ``SameSite`` defaults to ``Lax``. Flask's default ``SESSION_COOKIE_SAMESITE
  = None`` is weaker and is ignored; any other value the user sets wins. The
  one ambiguity: a user who explicitly sets ``None`` cannot be told from
  Flask's default, so they get ``Lax`` too; to send no ``SameSite`` attribute
  at all pass ``Sessionware(app, cookie_samesite=None)``.
- A missing secret key raises :class:`~sessionware.ConfigurationError`
  at ``init_app`` instead of a ``RuntimeError`` at the first write.
- Loading is lazy, so a request that never touches the session does not
  refresh a permanent session's expiry (Flask re-sends it on every request
  when ``SESSION_REFRESH_EACH_REQUEST`` is true), and does not migrate it.
- A view that only touches the ``flask.session`` proxy without reading or
  writing it gets no ``Vary: Cookie``: nothing in the response depended on it.

As with Flask's own session, the session is saved in Flask's ``save_session``
(after the ``after_request`` functions); a change made later, while a
streamed body is produced or in a teardown function, cannot be saved and
raises a :class:`~sessionware.SessionWarning` naming the key. A test that
keeps the request context after a complete response (``with client:``) may
change the session silently, as with Flask's session: nothing is lost there
that the response could still have carried.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, cast

from sessionware.errors import install_hint

try:
    import flask
    from flask.sessions import NullSession, SessionInterface
except ImportError as exc:
    if exc.name != "flask" and not (exc.name or "").startswith("flask."):
        raise  # Flask is there but broken: its own error says more
    raise ImportError(
        f"sessionware.flask needs Flask: {install_hint('flask')}", name=exc.name
    ) from exc
from werkzeug.datastructures import Headers

from sessionware._flask_config import CONFIG_KEYS
from sessionware._flask_middleware import FlaskMiddleware
from sessionware._flask_watch import user_stacklevel
from sessionware.control import SessionInfo
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session, save

if TYPE_CHECKING:
    from flask.sessions import SessionMixin
    from flask.wrappers import Request, Response

__all__ = ["CONFIG_KEYS", "Sessionware", "SessionwareInterface"]

_EXTENSION = "sessionware"
_PRESERVE = "werkzeug.debug.preserve_context"


class _UnavailableSession(NullSession):
    """Flask's placeholder session, with a message that fits sessionware."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "no sessionware session is available here: flask.session needs a "
            "request context (app.test_request_context() gives one)"
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


class _Reopened:
    """A preserved request context, re-pushed by Flask's test client after a
    complete response: from then on a change is dropped silently, as Flask's
    own session drops it, instead of warning."""

    __slots__ = ("context", "session")

    def __init__(self, context: Any, session: Session) -> None:
        self.context = context
        self.session = session

    def __enter__(self) -> Any:
        self.session._sealed = False  # saved already; nothing will save it again
        return self.context.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        return self.context.__exit__(*exc_info)


class SessionwareInterface(SessionInterface):
    """Flask's session interface backed by a :class:`~sessionware.SessionMiddleware`.

    ``open_session`` returns the session the middleware put in the request's
    environ, or (for requests that did not come through it, such as
    ``app.test_request_context()`` or Flask's ``client.session_transaction()``)
    a new lazily loaded one. ``save_session`` saves it onto the response.

    :param middleware: the middleware wrapping ``app.wsgi_app``.
    """

    null_session_class = _UnavailableSession

    def __init__(self, middleware: FlaskMiddleware) -> None:
        self.middleware = middleware

    def is_null_session(self, obj: object) -> bool:
        # Flask asks on every request: answered for sessionware's own session
        # without isinstance's ABC machinery (SessionMixin is an ABC).
        return type(obj) is not Session and isinstance(obj, NullSession)

    def open_session(self, app: flask.Flask, request: Request) -> SessionMixin:
        middleware = self.middleware
        environ = request.environ
        session = environ.get(middleware._environ_key)
        if type(session) is not Session or session._backend is not middleware.backend:
            # A context that did not come through the middleware (the session
            # the middleware put in this very environ is its own by construction).
            middleware.follow_config()
            session = middleware.open_session(environ)
        # Session provides SessionMixin's interface without inheriting from it.
        return session  # type: ignore[return-value]

    def save_session(self, app: flask.Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, Session) or session._sealed:
            return  # already saved (sealed sessions are never saved twice)
        # Saved here, as Flask saves its own session: the headers join the
        # response, and the middleware, seeing the session sealed, passes the
        # response through unwrapped. A change after this point (a streamed
        # body, a teardown) warns instead of being saved, as in Flask.
        extra = save(session, session._backend)
        if extra:
            _merge(response, extra)
        environ = session._environ
        if _PRESERVE in environ and not response.is_streamed:
            # Flask's test client keeps this context after the (complete)
            # response: let it change the session there without a warning.
            preserve = environ[_PRESERVE]
            environ[_PRESERVE] = lambda context: preserve(_Reopened(context, session))

    def regenerate(self, session: SessionMixin) -> None:
        """Give ``session`` a new id, keeping its data (as Flask-Session's)."""
        if not isinstance(session, Session):
            raise TypeError(f"not a sessionware session: {type(session).__name__}")
        session.regenerate()

    # Flask's cookie getters answer with what sessionware actually sends, for
    # code (extensions, tests) that asks the interface about the cookie.
    def get_cookie_name(self, app: flask.Flask) -> str:
        return self.middleware.config.cookie_name

    def get_cookie_domain(self, app: flask.Flask) -> str | None:
        return self.middleware.config.cookie_domain

    def get_cookie_path(self, app: flask.Flask) -> str:
        return self.middleware.config.cookie_path

    def get_cookie_httponly(self, app: flask.Flask) -> bool:
        return self.middleware.config.cookie_httponly

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        return self.middleware.config.cookie_secure

    def get_cookie_samesite(self, app: flask.Flask) -> str | None:
        return self.middleware.config.cookie_samesite

    def get_cookie_partitioned(self, app: flask.Flask) -> bool:
        return self.middleware.config.cookie_partitioned


def _merge(response: Response, extra: list[tuple[str, str]]) -> None:
    """Add the session's headers to ``response`` (``Vary`` merged, never a
    second ``Cookie``)."""
    headers = response.headers
    pairs = getattr(headers, "_list", None)
    if type(headers) is not Headers or type(pairs) is not list:
        for name, value in extra:  # not werkzeug's own Headers: its public API only
            if name == "Vary" and "Vary" in headers:
                response.vary.add(value)
            else:
                headers.add(name, value)
        return
    for name, value in extra:
        if name == "Vary":
            for key, _ in pairs:
                if key.lower() == "vary":
                    response.vary.add(value)  # merged: never a second "Cookie"
                    break
            else:
                pairs.append((name, value))
        else:
            # Appended as werkzeug's Headers.add would, without its per-value
            # checks: sessionware's header values are built from checked
            # settings and base64, never a line break.
            pairs.append((name, value))


class Sessionware:
    """Flask extension: ``flask.session`` becomes the sessionware session.

    ``Sessionware(app)`` or, with an application factory,
    ``sessionware = Sessionware()`` then ``sessionware.init_app(app)``.

    :param app: the Flask app to set up now (optional).
    :param options: :class:`~sessionware.SessionMiddleware` keyword
        arguments that take precedence over ``app.config`` (for example
        ``cookie_samesite=None``, which Flask's configuration cannot express,
        or ``secret_key``), applied before anything is checked.
    """

    def __init__(self, app: flask.Flask | None = None, **options: Any) -> None:
        self.options = options
        self._app = app  # for the session-control calls outside an app context
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> SessionMiddleware:
        """Wrap ``app.wsgi_app`` in a SessionMiddleware configured from ``app.config``.

        Bad configuration (a missing secret key, a Flask-Session key with no
        meaning here) raises :class:`~sessionware.ConfigurationError` here.
        Adds the ``flask sessionware`` commands. Returns the middleware, also
        available as ``app.extensions["sessionware"]``.
        """
        if _EXTENSION in app.extensions:
            raise RuntimeError("sessionware is already set up on this app")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            middleware = FlaskMiddleware(app, self.options)
        for warning in caught:  # (a short key) named at the user's line, not ours
            warnings.warn(warning.message, warning.category, stacklevel=user_stacklevel())
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.session_interface = SessionwareInterface(middleware)
        app.extensions[_EXTENSION] = middleware
        from sessionware._flask_cli import commands

        app.cli.add_command(commands)
        return middleware

    @staticmethod
    def middleware(app: flask.Flask | None = None) -> SessionMiddleware:
        """The middleware set up on ``app`` (default: the current app)."""
        target = flask.current_app if app is None else app
        try:
            return cast(SessionMiddleware, target.extensions[_EXTENSION])
        except KeyError:
            raise RuntimeError("sessionware is not set up on this app") from None

    # -- session control (section 11): the middleware's calls ----------------

    def sessions(self, owner: str) -> list[SessionInfo]:
        """The live sessions of ``owner``, newest first (see
        :meth:`~sessionware.SessionMiddleware.sessions`)."""
        return self._controlled().sessions(owner)

    def revoke(self, sid: str) -> bool:
        """End the session ``sid`` now (see :meth:`~sessionware.SessionMiddleware.revoke`)."""
        return self._controlled().revoke(sid)

    def revoke_owner(self, owner: str, keep: str | None = None) -> int:
        """End every session of ``owner`` but ``keep`` now; return how many."""
        return self._controlled().revoke_owner(owner, keep=keep)

    def _controlled(self) -> SessionMiddleware:
        # The current app's middleware; outside an app context, that of the
        # app given to Sessionware(app).
        if self._app is not None and not flask.has_app_context():
            return self.middleware(self._app)
        return self.middleware()
