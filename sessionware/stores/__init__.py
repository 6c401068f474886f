"""Session stores: the signed cookie (default) and the server-side stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessionware.errors import ConfigurationError
from sessionware.stores.base import OwnerIndex, Store
from sessionware.stores.cookie import CookieStore
from sessionware.stores.memory import MemoryStore

if TYPE_CHECKING:
    from sessionware.stores.redis import RedisStore
    from sessionware.stores.sqlite import SQLiteStore

__all__ = [
    "CookieStore",
    "MemoryStore",
    "OwnerIndex",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "from_url",
]


def __getattr__(name: str) -> Any:
    # SQLite and Redis stores are imported on first use, so importing
    # sessionware never pays for (or requires) their dependencies.
    if name == "SQLiteStore":
        from sessionware.stores.sqlite import SQLiteStore

        return SQLiteStore
    if name == "RedisStore":
        from sessionware.stores.redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_url(url: str) -> CookieStore | Store:
    """Build a store from a URL.

    ``cookie://``, ``memory://``, ``sqlite:///relative.db``,
    ``sqlite:////absolute.db``, ``redis://host:6379/0``, ``rediss://...`` and
    ``redis+cluster://host:port``.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigurationError(
            f"store URL {url!r} has no scheme; use cookie://, memory://, "
            "sqlite:///path, redis://host:port/db or redis+cluster://host:port"
        )
    if scheme == "cookie":
        return CookieStore()
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from sessionware.stores.sqlite import SQLiteStore

        # As SQLAlchemy reads them: sqlite:///rel.db and sqlite:////abs.db.
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise ConfigurationError(f"store URL {url!r} names no SQLite file")
        return SQLiteStore(path)
    if scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        from sessionware.stores.redis import RedisStore

        return RedisStore(url)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r} in {url!r}; use cookie://, "
        "memory://, sqlite:///path, redis://, rediss:// or redis+cluster://"
    )
