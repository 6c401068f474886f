"""The apps bench_http.py serves with gunicorn, one per ``BENCH_APP`` value.

``gunicorn http_apps:app`` with ``BENCH_APP`` naming the setup (see ``APPS``),
``BENCH_REDIS_URL``, ``BENCH_SQLITE_PATH`` and ``BENCH_DATA_DIR`` for the
stores. Every app serves ``/setup`` (stores the seed session plus a counter,
to mint a cookie) and ``/`` (read + modify + save: increments the counter and
answers it, so a body of ``1`` or more proves the cookie was valid). The apps
without a session answer ``/`` with the same small body and touch nothing.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from typing import Any

from sessionware._demo import SEED as DEMO_SEED

SECRET = "bench-secret-key-0123456789abcdef-xyz"
SEED = copy.deepcopy(DEMO_SEED)  # the seed project's example session
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(key: str | None, save: Callable[[Any], None] = lambda session: None) -> WSGIApp:
    """A plain WSGI app using ``environ[key]`` as the session (``None``: no session)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if key is None:
            body = b"0"
        else:
            session = environ[key]
            if environ.get("PATH_INFO") == "/setup":
                session.update(SEED)
                session["counter"] = 0
            else:
                session["counter"] = session.get("counter", 0) + 1
            save(session)
            body = str(session["counter"]).encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def flask_app(configure: Callable[[Any], None] | None, *, secret: bool = True) -> Any:
    import flask

    app = flask.Flask("bench")
    if secret:
        app.secret_key = SECRET

    if secret:

        @app.route("/")
        def index() -> str:
            flask.session["counter"] = flask.session.get("counter", 0) + 1
            return str(flask.session["counter"])

        @app.route("/setup")
        def setup() -> str:
            flask.session.update(SEED)
            flask.session["counter"] = 0
            return "0"

    else:

        @app.route("/")
        def plain() -> str:
            return "0"

    if configure is not None:
        configure(app)
    return app


def _sessionware(store: Any = None) -> Callable[[WSGIApp], WSGIApp]:
    from sessionware import SessionMiddleware

    return lambda app: SessionMiddleware(app, SECRET, store=store)


def _flask_sessionware(store: Any = None) -> Callable[[Any], None]:
    def configure(app: Any) -> None:
        from sessionware.flask import Sessionware

        if store is not None:
            app.config["SESSIONWARE_STORE"] = store
        Sessionware(app)

    return configure


def _flask_session(app: Any) -> None:
    import redis
    from flask_session import Session

    app.config.update(
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]),
        SESSION_KEY_PREFIX="bench-flask-session:",
    )
    Session(app)


def _beaker(options: dict[str, str]) -> Callable[[WSGIApp], WSGIApp]:
    from beaker.middleware import SessionMiddleware

    config = {"session.key": "session", **{f"session.{k}": v for k, v in options.items()}}
    return lambda app: SessionMiddleware(app, config)


def beaker_save(session: Any) -> None:
    session.save()


def build(name: str) -> Any:
    """The WSGI app for setup ``name`` (one of ``APPS``)."""
    redis_url = os.environ.get("BENCH_REDIS_URL", "")
    if name == "bare":
        return wsgi_app(None)
    if name == "sessionware-cookie":
        return _sessionware()(wsgi_app("session"))
    if name == "sessionware-sqlite":
        return _sessionware("sqlite:///" + os.environ["BENCH_SQLITE_PATH"])(wsgi_app("session"))
    if name == "sessionware-redis":
        from sessionware.stores import RedisStore

        return _sessionware(RedisStore(redis_url, prefix="bench-sessionware:"))(wsgi_app("session"))
    if name == "flask-nosession":
        return flask_app(None, secret=False)
    if name == "flask-default":
        return flask_app(None)
    if name == "flask-sessionware":
        return flask_app(_flask_sessionware())
    if name == "flask-sessionware-redis":
        from sessionware.stores import RedisStore

        return flask_app(_flask_sessionware(RedisStore(redis_url, prefix="bench-sw-flask:")))
    if name == "flask-session-redis":
        return flask_app(_flask_session)
    if name == "beaker-cookie":
        return _beaker({"type": "cookie", "validate_key": SECRET})(
            wsgi_app("beaker.session", beaker_save)
        )
    if name == "beaker-redis":
        return _beaker({"type": "ext:redis", "url": redis_url})(
            wsgi_app("beaker.session", beaker_save)
        )
    if name == "beaker-file":
        data = os.environ["BENCH_DATA_DIR"]
        return _beaker({"type": "file", "data_dir": data, "lock_dir": data + "/lock"})(
            wsgi_app("beaker.session", beaker_save)
        )
    raise LookupError(f"unknown BENCH_APP {name!r}")


APPS = (
    "bare",
    "sessionware-cookie",
    "sessionware-sqlite",
    "sessionware-redis",
    "flask-nosession",
    "flask-default",
    "flask-sessionware",
    "flask-sessionware-redis",
    "flask-session-redis",
    "beaker-cookie",
    "beaker-file",
    "beaker-redis",
)

app = build(os.environ["BENCH_APP"]) if "BENCH_APP" in os.environ else None
