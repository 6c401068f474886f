"""Session stores: the signed cookie (default) and the server-side stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessionware.errors import ConfigurationError
from sessionware.stores import _url
from sessionware.stores.base import OwnerIndex, Store
from sessionware.stores.cookie import CookieStore
from sessionware.stores.memory import MemoryStore

if TYPE_CHECKING:
    from sessionware.stores.postgresql import PostgreSQLStore
    from sessionware.stores.redis import RedisStore
    from sessionware.stores.sqlite import SQLiteStore

__all__ = [
    "CookieStore",
    "MemoryStore",
    "OwnerIndex",
    "PostgreSQLStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "from_url",
]


def __getattr__(name: str) -> Any:
    # The SQLite, Redis and PostgreSQL stores are imported on first use, so
    # importing sessionware never pays for (or requires) their dependencies.
    if name == "PostgreSQLStore":
        from sessionware.stores.postgresql import PostgreSQLStore

        return PostgreSQLStore
    if name == "SQLiteStore":
        from sessionware.stores.sqlite import SQLiteStore

        return SQLiteStore
    if name == "RedisStore":
        from sessionware.stores.redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_url(url: str) -> CookieStore | Store:
    """Build a store from a URL (parsed by :mod:`urllib.parse`, options in the
    query string; see the README's table of store URLs).

    ``cookie://``, ``memory://``, ``sqlite:///relative.db?table=&timeout=``,
    ``sqlite:////absolute.db``, ``redis://[:password@]host:6379/0``,
    ``rediss://...``, ``unix:///path/to/redis.sock?db=0``,
    ``redis+cluster://host:port``,
    ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``
    (Redis options: ``prefix``, ``timeout``, ``wait_replicas``) and
    ``postgresql://user:password@host:5432/db?table=&timeout=``.

    An unknown scheme or option, an option of another store, a value of the
    wrong type or a malformed URL raises :class:`~sessionware.ConfigurationError`
    naming it; a password is shown as ``***``.
    """
    parsed = _url.parse(url)
    scheme = parsed.scheme
    if scheme == "cookie":
        return CookieStore()
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from sessionware.stores.sqlite import SQLiteStore

        return SQLiteStore(parsed.path, **parsed.options)
    if scheme in ("postgresql", "postgres"):
        from sessionware.stores.postgresql import PostgreSQLStore

        return PostgreSQLStore(url)
    from sessionware.stores.redis import RedisStore

    return RedisStore(url)


def server_side(value: object, option: str, purpose: str) -> Store:
    """``value`` (a store or its URL) as a server-side store, for the setting
    ``option`` that needs one to ``purpose``; else :class:`ConfigurationError`."""
    store = from_url(value) if isinstance(value, str) else value
    if isinstance(store, CookieStore):
        raise ConfigurationError(
            f"{option} needs a server-side store (redis://..., sqlite:///...) "
            f"to {purpose}, not the cookie store"
        )
    if not isinstance(store, Store):
        raise ConfigurationError(
            f"{option} must be a server-side store or its URL, not {type(store).__name__}"
        )
    return store
