"""Flask adapter: maps ``app.config`` to SessionMiddleware and makes
``flask.session`` the sessionware :class:`~sessionware.Session`.

Usage::

    from sessionware.flask import Sessionware

    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    app.config["SESSIONWARE_STORE"] = "sqlite:////var/lib/app/sessions.db"
    Sessionware(app)            # or: sessionware = Sessionware(); sessionware.init_app(app)

The configuration is read once, when :meth:`Sessionware.init_app` runs;
changing ``app.config`` (or ``app.permanent_session_lifetime``) afterwards has
no effect. Each key in :data:`CONFIG_KEYS` maps to the
:class:`~sessionware.SessionMiddleware` argument of the same meaning.

Known, deliberate differences from Flask's built-in session:

- The cookie format is sessionware's (not Flask's ``itsdangerous`` JSON), so
  cookies issued by Flask's own session are not read: users start anew.
- ``SameSite`` defaults to ``Lax``. Flask's default ``SESSION_COOKIE_SAMESITE
  = None`` is weaker and is ignored; any other value the user sets wins. The
  one ambiguity: a user who explicitly sets ``None`` cannot be told from
  Flask's default, so they get ``Lax`` too; to send no ``SameSite`` attribute
  at all pass ``Sessionware(app, cookie_samesite=None)``.
- A missing ``SECRET_KEY`` raises :class:`~sessionware.ConfigurationError`
  at ``init_app`` instead of a ``RuntimeError`` at the first write.
- Loading is lazy, so a request that never touches the session does not
  refresh a permanent session's expiry (Flask re-sends it on every request
  when ``SESSION_REFRESH_EACH_REQUEST`` is true).
- A view that only touches the ``flask.session`` proxy without reading or
  writing it (e.g. a template that never uses ``session``) gets no
  ``Vary: Cookie``: nothing in the response depended on the cookie.

As with Flask's own session, the session is saved in Flask's
``save_session`` (after the ``after_request`` functions); a change made later,
while a streamed body is produced, cannot be saved and raises a
:class:`~sessionware.SessionWarning` naming the key. The middleware then
passes Flask's response through unwrapped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import flask
from flask.sessions import NullSession, SessionInterface

from sessionware.errors import ConfigurationError
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session

if TYPE_CHECKING:
    from flask.sessions import SessionMixin
    from flask.wrappers import Request, Response

__all__ = ["CONFIG_KEYS", "Sessionware", "SessionwareInterface"]

#: ``app.config`` key -> :class:`~sessionware.SessionMiddleware` argument.
CONFIG_KEYS: dict[str, str] = {
    "SECRET_KEY": "secret_key",
    "SECRET_KEY_FALLBACKS": "fallback_keys",
    "PERMANENT_SESSION_LIFETIME": "permanent_lifetime",
    "SESSION_COOKIE_NAME": "cookie_name",
    "SESSION_COOKIE_DOMAIN": "cookie_domain",
    "SESSION_COOKIE_PATH": "cookie_path",
    "SESSION_COOKIE_SECURE": "cookie_secure",
    "SESSION_COOKIE_HTTPONLY": "cookie_httponly",
    "SESSION_COOKIE_SAMESITE": "cookie_samesite",
    "SESSION_COOKIE_PARTITIONED": "cookie_partitioned",
    "SESSION_REFRESH_EACH_REQUEST": "refresh_each_request",
    "SESSIONWARE_STORE": "store",
    "SESSIONWARE_REFRESH_INTERVAL": "refresh_interval",
    "SESSIONWARE_ABSOLUTE_LIFETIME": "absolute_lifetime",
    "SESSIONWARE_DETECT_NESTED_CHANGES": "detect_nested_changes",
}
#: Flask defaults weaker than sessionware's: left out while they equal
#: ``flask.Flask.default_config`` (a user-set value always wins).
_WEAKER_FLASK_DEFAULTS = frozenset({"SESSION_COOKIE_SAMESITE"})
_EXTENSION = "sessionware"


def middleware_options(config: Any) -> dict[str, Any]:
    """The :class:`~sessionware.SessionMiddleware` keyword arguments for ``config``.

    :param config: a Flask ``app.config`` (any mapping with Flask's keys).
    """
    if not config.get("SECRET_KEY"):
        raise ConfigurationError(
            'app.config["SECRET_KEY"] is not set; sessionware needs it to sign every '
            "session cookie. Generate a strong one with `python -m sessionware secret`"
        )
    defaults = flask.Flask.default_config
    options: dict[str, Any] = {}
    for key, argument in CONFIG_KEYS.items():
        if key not in config:
            continue
        value = config[key]
        if key in _WEAKER_FLASK_DEFAULTS and value == defaults.get(key):
            continue
        options[argument] = value
    if options.get("cookie_path") is None:
        # As Flask's SessionInterface.get_cookie_path does.
        options["cookie_path"] = config.get("APPLICATION_ROOT") or "/"
    if options.get("fallback_keys") is None:
        options["fallback_keys"] = ()  # Flask's default is None
    if options.get("store") is None:
        options.pop("store", None)
    return options


class _UnavailableSession(NullSession):
    """Flask's placeholder session, with a message that fits sessionware."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "no sessionware session is available here: flask.session needs a "
            "request context (app.test_request_context() gives one)"
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


class SessionwareInterface(SessionInterface):
    """Flask's session interface backed by a :class:`~sessionware.SessionMiddleware`.

    ``open_session`` returns the session the middleware put in the request's
    environ, or (for requests that did not come through it, such as
    ``app.test_request_context()`` or Flask's ``client.session_transaction()``)
    a new lazily loaded one. ``save_session`` leaves the middleware's own
    sessions to the middleware and saves the others onto the given response.

    :param middleware: the middleware wrapping ``app.wsgi_app``.
    """

    null_session_class = _UnavailableSession

    def __init__(self, middleware: SessionMiddleware) -> None:
        self.middleware = middleware

    def is_null_session(self, obj: object) -> bool:
        return isinstance(obj, NullSession)

    def open_session(self, app: flask.Flask, request: Request) -> SessionMixin:
        environ = request.environ
        session = environ.get(self.middleware.config.environ_key)
        if not self.middleware.owns(session):
            session = self.middleware.open_session(environ)
        # Session provides SessionMixin's interface without inheriting from it.
        return cast("SessionMixin", session)

    def save_session(self, app: flask.Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, Session):
            return
        # Saved here, as Flask saves its own session: the headers join the
        # response, and the middleware, seeing the session sealed, passes the
        # response through unwrapped. A change after this point (a streamed
        # body, a teardown) warns instead of being saved, as in Flask.
        headers = response.headers
        for name, value in self.middleware.save_session(session):
            if name == "Vary" and "Vary" in headers:
                response.vary.add(value)  # merged: never a second "Cookie"
            else:
                headers.add(name, value)  # (parsing response.vary costs µs)

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


class Sessionware:
    """Flask extension: ``flask.session`` becomes the sessionware session.

    ``Sessionware(app)`` or, with an application factory,
    ``sessionware = Sessionware()`` then ``sessionware.init_app(app)``.

    :param app: the Flask app to set up now (optional).
    :param options: :class:`~sessionware.SessionMiddleware` keyword
        arguments that take precedence over ``app.config`` (for example
        ``cookie_samesite=None``, which Flask's configuration cannot express).
    """

    def __init__(self, app: flask.Flask | None = None, **options: Any) -> None:
        self.options = options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask) -> SessionMiddleware:
        """Wrap ``app.wsgi_app`` in a SessionMiddleware configured from ``app.config``.

        Bad configuration (a missing ``SECRET_KEY`` included) raises
        :class:`~sessionware.ConfigurationError` here. Returns the middleware,
        also available as ``app.extensions["sessionware"]``.
        """
        if _EXTENSION in app.extensions:
            raise RuntimeError("sessionware is already set up on this app")
        options = {**middleware_options(app.config), **self.options}
        try:
            middleware = SessionMiddleware(app.wsgi_app, **options)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc}{_config_hint(str(exc))}") from exc
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.session_interface = SessionwareInterface(middleware)
        app.extensions[_EXTENSION] = middleware
        return middleware

    @staticmethod
    def middleware(app: flask.Flask | None = None) -> SessionMiddleware:
        """The middleware set up on ``app`` (default: the current app)."""
        target = flask.current_app if app is None else app
        try:
            return cast(SessionMiddleware, target.extensions[_EXTENSION])
        except KeyError:
            raise RuntimeError("sessionware is not set up on this app") from None


def _config_hint(message: str) -> str:
    """Name the app.config keys behind the middleware arguments an error mentions."""
    keys = [key for key, argument in CONFIG_KEYS.items() if argument in message]
    return f" (set by app.config: {', '.join(keys)})" if keys else ""
