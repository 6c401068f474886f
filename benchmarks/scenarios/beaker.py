"""Beaker's SessionMiddleware: signed cookies and ``ext:redis``."""

from __future__ import annotations

from typing import Any

from _common import SECRET
from harness import Contender, WSGIApp


def save(session: Any) -> None:
    """Beaker sessions are saved by the app."""
    session.save()


def cookie(name: str = "Beaker (cookie)") -> Contender:
    """``type="cookie"`` with a ``validate_key``: signed, not encrypted, like sessionware's."""
    from beaker.middleware import SessionMiddleware

    config = {"session.type": "cookie", "session.validate_key": SECRET, "session.key": "session"}

    def wrap(app: WSGIApp) -> WSGIApp:
        return SessionMiddleware(app, config)  # type: ignore[no-any-return]

    return Contender.wrapping(name, wrap, "beaker.session", save)


def redis(url: str, name: str = "Beaker ext:redis") -> Contender:
    from beaker.middleware import SessionMiddleware

    config = {"session.type": "ext:redis", "session.url": url, "session.key": "session"}

    def wrap(app: WSGIApp) -> WSGIApp:
        return SessionMiddleware(app, config)  # type: ignore[no-any-return]

    return Contender.wrapping(name, wrap, "beaker.session", save)


def close_redis_clients() -> None:
    """Beaker keeps its Redis clients in a class-level registry: close them."""
    from beaker.ext.redisnm import RedisNamespaceManager

    for client in list(RedisNamespaceManager.clients.dict.values()):
        client.close()
