"""``RedisStore``: one Redis hash per session, on a server, a Redis Cluster or
a master found through Sentinel."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from sessionware.errors import ConfigurationError, StoreError, install_hint
from sessionware.stores import _url
from sessionware.stores._redis import LOAD_REFRESHING, SAVE, connect
from sessionware.stores._redis_owners import RedisOwnerIndex
from sessionware.stores.base import Refresh

if TYPE_CHECKING:
    import redis
    import redis.cluster

__all__ = ["RedisStore"]

_T = TypeVar("_T")

#: Seconds a connection, a command and ``WAIT`` may take, unless the URL's
#: ``?timeout=`` or the ``timeout`` argument say otherwise.
DEFAULT_TIMEOUT: Final = 5.0
_SHA: Final = {
    script: hashlib.sha1(script.encode()).hexdigest() for script in (SAVE, LOAD_REFRESHING)
}


class RedisStore(RedisOwnerIndex):
    """Sessions in Redis, a Redis Cluster, or Redis behind Sentinel: one hash
    per session.

    The session ``sid`` lives in the hash at ``prefix + sid``; each top-level
    session key is a field holding its encoded bytes. There is no hash tag, so
    a cluster spreads sessions over all its masters. Every call is one round
    trip: ``load`` is ``HGETALL`` (or, when the backend asks for a due refresh,
    one ``EVALSHA`` that also extends the TTL of a permanent record),
    ``save`` one ``EVALSHA`` of a small Lua script (``HSET``/``HDEL``/``EXPIRE``,
    atomic on the node; it falls back to ``EVAL`` once per node that lacks the
    script), ``touch`` is ``EXPIRE`` (which never creates the key), ``delete``
    is ``DEL``. Redis expires the records itself.

    With ``wait_replicas=N``, ``save`` and ``delete`` send ``WAIT N timeout``
    in the same pipeline (still one round trip, on the same connection, as
    ``WAIT`` requires) and raise :class:`~sessionware.StoreError` unless N
    replicas acknowledged the write within ``timeout``: an acknowledged write
    then survives the loss of its master.

    :param url_or_client: a store URL (``redis://``, ``rediss://``,
        ``unix://``, ``redis+cluster://``, ``redis+sentinel://``; see the
        README's table) or a ready ``redis.Redis`` /
        ``redis.cluster.RedisCluster`` (used as is; it must not set
        ``decode_responses``).
    :param prefix: prepended to every sid to form the Redis key (default
        ``"sessionware:"``, or the URL's ``?prefix=``).
    :param wait_replicas: replicas that must acknowledge each write (default
        0, or the URL's ``?wait_replicas=``).
    :param timeout: seconds for connecting, for each command and for
        ``WAIT`` (default 5, or the URL's ``?timeout=``).
    :param client_kwargs: passed to the redis-py client built from a URL
        (TLS files, ``username``, ...). By default a single server or a
        Sentinel master gets one immediate retry after a connection error
        (never after a timeout, when the script may still run), which is also
        how a failed-over master is found again.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis | redis.cluster.RedisCluster,
        *,
        prefix: str | None = None,
        wait_replicas: int | None = None,
        timeout: float | None = None,
        **client_kwargs: Any,
    ) -> None:
        try:
            import redis
            import redis.cluster
            import redis.exceptions
        except ImportError as exc:
            raise ConfigurationError(
                f"RedisStore needs the redis package; {install_hint('redis')}"
            ) from exc

        #: Never shown: the URL's password and other secrets, or the client's.
        self._secrets: list[str] = []
        self._sentinel: str | None = None
        self._owns_client = isinstance(url_or_client, str)
        options: dict[str, Any] = {}
        client: redis.Redis | redis.cluster.RedisCluster
        if isinstance(url_or_client, str):
            parsed = _url.parse(url_or_client)
            if parsed.scheme not in ("redis", "rediss", "unix") and "+" not in parsed.scheme:
                raise ConfigurationError(
                    f"RedisStore URL {parsed.shown!r}: scheme {parsed.scheme}:// is not one "
                    "of redis://, rediss://, unix://, redis+cluster://, redis+sentinel://"
                )
            self._secrets = parsed.secrets
            options = parsed.options
        self.prefix = _url.pick("RedisStore", "prefix", prefix, options, "sessionware:")
        if not isinstance(self.prefix, str):
            raise ConfigurationError(f"RedisStore prefix must be a str, not {self.prefix!r}")
        self.wait_replicas = _url.count(
            "RedisStore",
            "wait_replicas",
            _url.pick("RedisStore", "wait_replicas", wait_replicas, options, 0),
        )
        self.timeout = _url.seconds(
            "RedisStore", _url.pick("RedisStore", "timeout", timeout, options, DEFAULT_TIMEOUT)
        )
        if isinstance(url_or_client, str):
            client = self._connect(parsed, client_kwargs)
        elif isinstance(url_or_client, redis.Redis | redis.cluster.RedisCluster):
            client = url_or_client
            password = client.get_connection_kwargs().get("password")
            self._secrets = [password] if isinstance(password, str) else []
        else:
            raise ConfigurationError(
                "RedisStore needs a redis:// URL, a redis.Redis or a "
                f"redis.cluster.RedisCluster, not {type(url_or_client).__name__}"
            )
        if client.get_encoder().decode_responses:
            raise ConfigurationError(
                "RedisStore needs a client with decode_responses=False (session values are bytes)"
            )
        self._client: redis.Redis | redis.cluster.RedisCluster = client
        self._is_cluster = isinstance(client, redis.cluster.RedisCluster)
        self._where = self._describe()
        self._errors: tuple[type[Exception], ...] = (
            redis.exceptions.RedisError,
            redis.exceptions.RedisClusterException,
            _NotAcknowledged,
        )
        self._no_script: type[Exception] = redis.exceptions.NoScriptError

    def _connect(
        self, parsed: _url.StoreURL, client_kwargs: dict[str, Any]
    ) -> redis.Redis | redis.cluster.RedisCluster:
        import redis.exceptions

        if "sentinel" in parsed.scheme:
            hosts = ",".join(f"{host}:{port}" for host, port in parsed.hosts)
            self._sentinel = f"{parsed.service}@{hosts}"
        elif "cluster" in parsed.scheme:
            self._where = "cluster {}:{}".format(*parsed.hosts[0])
        try:
            # A cluster client reads the slot map now, so a cluster that is
            # down fails here, loudly.
            return connect(parsed, self.timeout, self.wait_replicas, client_kwargs)
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as exc:
            raise StoreError(
                f"{self!r} could not reach the cluster: {self._scrub(exc)}", store=self
            ) from _url.scrubbed(exc, self._secrets)

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
        try:
            return {k.decode(): v for k, v in raw.items()} or None
        except UnicodeDecodeError:
            # A field name that is not UTF-8 is no key of a session (none
            # could be saved again): the record is not ours, no session.
            return None

    def load_refreshing(self, sid: str, refresh: Refresh) -> dict[str, bytes] | None:
        """:meth:`load`, and in the same round trip (a Lua script) extend the
        TTL as ``refresh`` says when the record turns out to be permanent."""
        absolute = -1 if refresh.absolute is None else refresh.absolute
        argv = (refresh.marker, refresh.flag, refresh.ttl, refresh.now, absolute, refresh.meta)
        flat = cast(
            "list[bytes]",
            self._call("load a session", self._script, LOAD_REFRESHING, self.prefix + sid, argv),
        )
        try:
            record = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
        except UnicodeDecodeError:
            return None  # as in load()
        return record or None

    def load_many(self, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
        """:meth:`load` for each of ``sids``, in order, in one pipeline
        (on a cluster, one round trip to each node that holds some)."""
        raws = cast(
            "list[dict[bytes, bytes]]", self._call("load sessions", self._hgetall_many, sids)
        )
        return [_record(raw) for raw in raws]

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        sets: list[str | bytes] = []
        unsets: list[str] = []
        for key, value in changes.items():
            if value is None:
                unsets.append(key)
            else:
                sets += (key, value)
        argv = (int(ttl), len(sets) // 2, *sets, *unsets)
        key = self.prefix + sid
        if self.wait_replicas:
            self._call("save a session", self._waiting, key, ("script", SAVE, argv))
        else:
            self._call("save a session", self._script, SAVE, key, argv)

    def delete(self, sid: str) -> None:
        key = self.prefix + sid
        if self.wait_replicas:
            # A logout that a failover could undo would bring the session back.
            self._call("delete a session", self._waiting, key, ("delete",))
        else:
            self._call("delete a session", self._client.delete, key)

    def touch(self, sid: str, ttl: int) -> None:
        # EXPIRE on a missing key does nothing: touch never creates a record.
        self._call("extend a session", self._client.expire, self.prefix + sid, int(ttl))

    # -- maintenance -------------------------------------------------------

    #: Redis removes expired records by itself (``cleanup`` has nothing to do).
    expires_by_itself: Final = True

    def cleanup(self) -> int:
        """Check that Redis answers (``PING``) and return 0: Redis removes
        expired records itself. Raises :class:`~sessionware.StoreError` when
        the server is unreachable."""
        self._call("reach the server", self._client.ping)
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

    def _script(self, script: str, key: str, argv: tuple[Any, ...]) -> Any:
        try:
            return self._client.evalsha(_SHA[script], 1, key, *argv)
        except self._no_script:
            # First use on this node since it started: EVAL runs the script
            # and caches it there, so later calls are EVALSHA again.
            return self._client.eval(script, 1, key, *argv)

    def _waiting(self, key: str, command: tuple[Any, ...]) -> None:
        """Run ``command`` then ``WAIT`` in one pipeline on one connection."""
        client: Any = self._client
        if self._is_cluster:
            # WAIT counts the writes of its own connection: send both to the
            # node that holds the key, on that node's connection.
            client = self._client.get_redis_connection(  # type: ignore[union-attr]
                self._client.get_node_from_key(key)  # type: ignore[union-attr]
            )
        wait_ms = max(1, int(self.timeout * 1000))
        for attempt in ("evalsha", "eval"):
            pipe = client.pipeline(transaction=False)
            if command[0] == "delete":
                pipe.delete(key)
            elif attempt == "evalsha":
                pipe.evalsha(_SHA[command[1]], 1, key, *command[2])
            else:
                pipe.eval(command[1], 1, key, *command[2])
            pipe.execute_command("WAIT", self.wait_replicas, wait_ms)
            try:
                acked = pipe.execute()[-1]
            except self._no_script:
                continue
            if acked < self.wait_replicas:
                raise _NotAcknowledged(
                    f"only {acked} of {self.wait_replicas} replica(s) acknowledged the "
                    f"write within {self.timeout:g} s (wait_replicas); it may be lost "
                    "in a failover"
                )
            return
        raise AssertionError("unreachable: EVAL cannot raise NOSCRIPT")

    def _call(self, action: str, method: Callable[..., _T], *args: Any) -> _T:
        try:
            return method(*args)
        except self._errors as exc:
            if self._sentinel is not None:
                self._where = self._describe()  # the master may have moved
            raise StoreError(
                f"{self!r} could not {action}: {type(exc).__name__}: {self._scrub(exc)}",
                store=self,
            ) from _url.scrubbed(exc, self._secrets)

    def _scrub(self, exc: BaseException) -> str:
        # Belt and braces: a password must never reach a log line. Nor an
        # object repr: redis-py puts its clients' reprs in some messages
        # (MasterNotFoundError); this store's repr already names the nodes.
        text = str(exc)
        cut = text.find("<redis.")
        if cut != -1:
            text = text[:cut].rstrip(" :") or type(exc).__name__
        return _url.scrub(text, self._secrets)

    def _describe(self) -> str:
        """host:port of the server, or of every known cluster node."""
        if self._is_cluster:
            client = cast("redis.cluster.RedisCluster", self._client)
            known = client.get_nodes()  # type: ignore[no-untyped-call]
            nodes = sorted(f"{n.host}:{n.port}" for n in known)
            return "cluster " + ",".join(nodes)
        kwargs = self._client.get_connection_kwargs()
        if self._sentinel is not None:
            db = kwargs.get("db", 0)
            return f"sentinel {self._sentinel}" + (f"/{db}" if db else "")
        if "path" in kwargs:
            where = f"unix:{kwargs['path']}"
        else:
            where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        db = kwargs.get("db", 0)
        return f"{where}/{db}" if db else where


def _record(raw: dict[bytes, bytes]) -> dict[str, bytes] | None:
    """A hash as a record, as in :meth:`RedisStore.load`."""
    try:
        return {k.decode(): v for k, v in raw.items()} or None
    except UnicodeDecodeError:
        return None


class _NotAcknowledged(Exception):
    """Fewer replicas than ``wait_replicas`` acknowledged a write in time."""
