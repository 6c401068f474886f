"""``RedisStore``: one Redis hash per session, on a server or a Redis Cluster."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast
from urllib.parse import unquote, urlsplit

from sessionware.errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    import redis
    import redis.cluster

__all__ = ["RedisStore"]

_T = TypeVar("_T")

# Applies one save to the hash KEYS[1] atomically, in one round trip, on
# whichever node holds the key (a script on one key runs on a cluster too).
# ARGV: ttl, number of keys to set, then key/value pairs, then keys to remove.
# unpack() is called on chunks because Lua's stack is limited (~8000 values).
_SAVE_SCRIPT: Final = """
local key = KEYS[1]
local last_set = 2 + 2 * tonumber(ARGV[2])
local i = 3
while i <= last_set do
  local j = math.min(i + 999, last_set)
  redis.call('HSET', key, unpack(ARGV, i, j))
  i = j + 1
end
while i <= #ARGV do
  local j = math.min(i + 999, #ARGV)
  redis.call('HDEL', key, unpack(ARGV, i, j))
  i = j + 1
end
redis.call('EXPIRE', key, ARGV[1])
return 0
"""
_SAVE_SHA: Final = hashlib.sha1(_SAVE_SCRIPT.encode()).hexdigest()

#: Client settings used when the store builds the client from a URL, unless
#: the URL or the keyword arguments say otherwise.
DEFAULT_TIMEOUT: Final = 5.0


class RedisStore:
    """Sessions in Redis or a Redis Cluster: one hash per session.

    The session ``sid`` lives in the hash at ``prefix + sid``; each top-level
    session key is a field holding its encoded bytes. There is no hash tag, so
    a cluster spreads sessions over all its masters. Every call is one round
    trip: ``load`` is ``HGETALL``, ``save`` one ``EVALSHA`` of a small Lua
    script (``HSET``/``HDEL``/``EXPIRE``, atomic on the node; it falls back to
    ``EVAL`` once per node that lacks the script), ``touch`` is ``EXPIRE``
    (which never creates the key), ``delete`` is ``DEL``. Redis expires the
    records itself.

    :param url_or_client: ``redis://``/``rediss://`` URL, a
        ``redis+cluster://``/``rediss+cluster://`` URL naming any node of a
        cluster, or a ready ``redis.Redis`` / ``redis.cluster.RedisCluster``
        (used as is; it must not set ``decode_responses``).
    :param prefix: prepended to every sid to form the Redis key.
    :param client_kwargs: passed to ``from_url`` when building the client.
        Defaults: 5 s socket and connect timeouts; for a single server one
        immediate retry after a connection error (never after a timeout, when
        the script may still run).
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis | redis.cluster.RedisCluster,
        *,
        prefix: str = "sessionware:",
        **client_kwargs: Any,
    ) -> None:
        try:
            import redis
            import redis.backoff
            import redis.cluster
            import redis.exceptions
            import redis.retry
        except ImportError as exc:
            raise ConfigurationError(
                'RedisStore needs the redis package; pip install "sessionware[redis]"'
            ) from exc

        self.prefix = prefix
        self._owns_client = isinstance(url_or_client, str)
        self._password: str | None = None
        client: redis.Redis | redis.cluster.RedisCluster
        if isinstance(url_or_client, str):
            url = url_or_client
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            self._password = unquote(parts.password) if parts.password else None
            kwargs: dict[str, Any] = {
                "socket_timeout": DEFAULT_TIMEOUT,
                "socket_connect_timeout": DEFAULT_TIMEOUT,
                "decode_responses": False,
            }
            if scheme in ("redis+cluster", "rediss+cluster"):
                # redis-py's cluster client reads redis:// and rediss:// URLs.
                cluster_url = scheme.split("+")[0] + url[len(parts.scheme) :]
                kwargs.update(client_kwargs)
                self._where = f"cluster {parts.hostname}:{parts.port or 6379}"
                try:
                    # The cluster client reads the slot map now, so a cluster
                    # that is down fails here, loudly.
                    client = redis.cluster.RedisCluster.from_url(cluster_url, **kwargs)
                except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
                    raise StoreError(
                        f"{self!r} could not reach the cluster: {self._scrub(exc)}", store=self
                    ) from exc
            elif scheme in ("redis", "rediss", "unix"):
                kwargs["retry"] = redis.retry.Retry(
                    redis.backoff.NoBackoff(), 1, (redis.exceptions.ConnectionError,)
                )
                kwargs.update(client_kwargs)
                try:
                    client = redis.Redis.from_url(url, **kwargs)
                except ValueError as exc:  # redis-py's message for a malformed URL
                    raise ConfigurationError(
                        f"RedisStore URL is malformed: {self._scrub(exc)}"
                    ) from None
            else:
                raise ConfigurationError(
                    f"RedisStore URL scheme {parts.scheme!r} is not one of redis://, "
                    "rediss://, unix://, redis+cluster:// or rediss+cluster://"
                )
        elif isinstance(url_or_client, redis.Redis | redis.cluster.RedisCluster):
            client = url_or_client
            password = client.get_connection_kwargs().get("password")
            self._password = password if isinstance(password, str) else None
        else:
            raise ConfigurationError(
                "RedisStore needs a redis:// URL, a redis.Redis or a "
                f"redis.cluster.RedisCluster, not {type(url_or_client).__name__}"
            )
        if client.get_encoder().decode_responses:
            raise ConfigurationError(
                "RedisStore needs a client with decode_responses=False (session values are bytes)"
            )
        self._client = client
        self._is_cluster = isinstance(client, redis.cluster.RedisCluster)
        self._where = self._describe()
        self._errors: tuple[type[Exception], ...] = (
            redis.exceptions.RedisError,
            redis.exceptions.RedisClusterException,
        )
        self._no_script: type[Exception] = redis.exceptions.NoScriptError

    def __repr__(self) -> str:
        return f"RedisStore({self._where})"

    # -- the Store protocol ------------------------------------------------

    def load(self, sid: str) -> dict[str, bytes] | None:
        raw = cast(
            "dict[bytes, bytes]",
            self._call("load a session", self._client.hgetall, self.prefix + sid),
        )
        # decode_responses is off (checked in __init__): fields and values are
        # bytes. An empty hash does not exist in Redis: no keys, no record.
        return {k.decode("utf-8", "surrogateescape"): v for k, v in raw.items()} or None

    def load_many(self, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
        """:meth:`load` for each of ``sids``, in order, in one pipeline
        (on a cluster, one round trip to each node that holds some)."""
        raws = cast(
            "list[dict[bytes, bytes]]", self._call("load sessions", self._hgetall_many, sids)
        )
        return [
            {k.decode("utf-8", "surrogateescape"): v for k, v in raw.items()} or None
            for raw in raws
        ]

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        sets: list[str | bytes] = []
        unsets: list[str] = []
        for key, value in changes.items():
            if value is None:
                unsets.append(key)
            else:
                sets += (key, value)
        args = (self.prefix + sid, int(ttl), len(sets) // 2, *sets, *unsets)
        self._call("save a session", self._run_save, args)

    def delete(self, sid: str) -> None:
        self._call("delete a session", self._client.delete, self.prefix + sid)

    def touch(self, sid: str, ttl: int) -> None:
        # EXPIRE on a missing key does nothing: touch never creates a record.
        self._call("extend a session", self._client.expire, self.prefix + sid, int(ttl))

    # -- maintenance -------------------------------------------------------

    def cleanup(self) -> int:
        """Return 0: Redis removes expired records itself."""
        return 0

    def close(self) -> None:
        """Close the client's connections if this store built the client."""
        if self._owns_client:
            self._client.close()

    # -- internals ---------------------------------------------------------

    def _hgetall_many(self, sids: Sequence[str]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for sid in sids:
            pipe.hgetall(self.prefix + sid)
        return cast("list[Any]", pipe.execute())

    def _run_save(self, args: tuple[Any, ...]) -> None:
        key, *argv = args
        try:
            self._client.evalsha(_SAVE_SHA, 1, key, *argv)
        except self._no_script:
            # First save on this node since it started: EVAL runs the script
            # and caches it there, so later saves are EVALSHA again.
            self._client.eval(_SAVE_SCRIPT, 1, key, *argv)

    def _call(self, action: str, method: Callable[..., _T], *args: Any) -> _T:
        try:
            return method(*args)
        except self._errors as exc:
            raise StoreError(
                f"{self!r} could not {action}: {type(exc).__name__}: {self._scrub(exc)}",
                store=self,
            ) from exc

    def _scrub(self, exc: BaseException) -> str:
        # Belt and braces: a password must never reach a log line.
        text = str(exc)
        if self._password:
            text = text.replace(self._password, "***")
        return text

    def _describe(self) -> str:
        """host:port of the server, or of every known cluster node."""
        if self._is_cluster:
            client = cast("redis.cluster.RedisCluster", self._client)
            known = client.get_nodes()  # type: ignore[no-untyped-call]
            nodes = sorted(f"{n.host}:{n.port}" for n in known)
            return "cluster " + ",".join(nodes)
        kwargs = self._client.get_connection_kwargs()
        if "path" in kwargs:
            where = f"unix:{kwargs['path']}"
        else:
            where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        db = kwargs.get("db", 0)
        return f"{where}/{db}" if db else where
