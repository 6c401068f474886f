"""Flask's side: the Flask app per scenario, Flask's own session and Flask-Session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _common import SECRET, SEED
from harness import PAYLOAD, Contender


def flask_app(configure: Callable[[Any], None] | None = None) -> Any:
    """A Flask app with one route per scenario; ``configure`` adds a session backend."""
    import flask

    app = flask.Flask("bench")
    app.secret_key = SECRET
    session = flask.session

    @app.route("/untouched")
    def untouched() -> str:
        return "ok"

    @app.route("/read")
    def read() -> str:
        return str(session["username"])

    @app.route("/modify")
    def modify() -> str:
        session["counter"] = session.get("counter", 0) + 1
        return "ok"

    @app.route("/new")
    def new() -> str:
        session.update(SEED)
        return "ok"

    @app.route("/setup")
    def setup() -> str:
        session.update(PAYLOAD)
        return "ok"

    if configure is not None:
        configure(app)
    return app


def default_session(name: str = "Flask default session") -> Contender:
    """The Flask app with Flask's built-in signed-cookie session."""
    return Contender.of_flask(name, flask_app())


def flask_session_redis(name: str, client: Any, *, refresh: bool) -> Contender:
    """Flask-Session 0.8 on Redis (``SESSION_REFRESH_EACH_REQUEST=refresh``)."""
    from flask_session import Session as FlaskSession

    def configure(app: Any) -> None:
        app.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=client,
            SESSION_KEY_PREFIX="bench-flask-session:",
            SESSION_REFRESH_EACH_REQUEST=refresh,
        )
        FlaskSession(app)

    return Contender.of_flask(name, flask_app(configure))


def no_session_work() -> Any:
    """The Flask app with a session interface that does nothing: a fresh empty
    session per request, never saved. The least any Flask session costs."""
    from flask.sessions import SecureCookieSession, SessionInterface

    class NoSessionWork(SessionInterface):
        def open_session(self, app: Any, request: Any) -> SecureCookieSession:
            return SecureCookieSession()

        def save_session(self, app: Any, session: Any, response: Any) -> None:
            pass

    app = flask_app()
    app.session_interface = NoSessionWork()
    return app
