"""sessionware itself: the middleware with a store, bare and under Flask.

Only the public API (``SessionMiddleware``, ``sessionware.flask.Sessionware``),
so ``compare_trees.py`` can build the same contenders on an older tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _common import SECRET
from harness import Contender, WSGIApp

from sessionware import SessionMiddleware

from .flask import flask_app


def bare(name: str, store: Any = None) -> Contender:
    """The plain WSGI apps under ``SessionMiddleware(app, SECRET, store=store)``."""

    def wrap(app: WSGIApp) -> WSGIApp:
        middleware: WSGIApp = SessionMiddleware(app, SECRET, store=store)
        return middleware

    return Contender.wrapping(name, wrap, "session")


def flask_configure(store: Any = None) -> Callable[[Any], None] | None:
    """Configures Flask with ``sessionware.flask.Sessionware``; None if not there yet."""
    try:
        from sessionware.flask import Sessionware
    except ImportError:
        return None

    def configure(app: Any) -> None:
        if store is not None:
            app.config["SESSIONWARE_STORE"] = store
        Sessionware(app)

    return configure


def under_flask(name: str, store: Any = None) -> Contender | None:
    """The Flask app with ``Sessionware(app)`` (and ``store``); None without the adapter."""
    configure = flask_configure(store)
    if configure is None:
        return None
    return Contender.of_flask(name, flask_app(configure))
