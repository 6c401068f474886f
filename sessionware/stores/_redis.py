"""RedisStore's helpers: building its client from a parsed URL, and the Lua
scripts it runs (each touches one key, so each is atomic on the node that
holds it, in a cluster too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

if TYPE_CHECKING:
    import redis
    import redis.cluster

    from sessionware.stores._url import StoreURL

#: Applies one save to the hash KEYS[1] atomically, in one round trip.
#: ARGV: ttl, number of keys to set, then key/value pairs, then keys to remove.
#: unpack() is called on chunks because Lua's stack is limited (~8000 values).
SAVE: Final = """
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

#: HGETALL KEYS[1] and, when the record is permanent (flag bit ARGV[2] set in
#: its flags: those of the meta field ARGV[6], msgpack ``[flags]``, if any,
#: else the second item of the marker field ARGV[1], msgpack ``[created,
#: flags]``), EXPIRE it to ARGV[3] seconds, capped at created + ARGV[5] - now
#: (ARGV[4]) unless ARGV[5] < 0, and never below 1 second (the backend's
#: lifetime rule). A marker that is not such an array changes nothing: the
#: backend will refuse the record.
LOAD_REFRESHING: Final = """
local record = redis.call('HGETALL', KEYS[1])
local marker = redis.call('HGET', KEYS[1], ARGV[1])
if not marker then return record end
local ok, m = pcall(cmsgpack.unpack, marker)
if not (ok and type(m) == 'table' and type(m[1]) == 'number' and type(m[2]) == 'number') then
  return record
end
local flags = m[2]
local meta = redis.call('HGET', KEYS[1], ARGV[6])
if meta then
  local ok2, f = pcall(cmsgpack.unpack, meta)
  if not (ok2 and type(f) == 'table' and type(f[1]) == 'number') then return record end
  flags = f[1]
end
if math.floor(flags / tonumber(ARGV[2])) % 2 == 1 then
  local ttl = tonumber(ARGV[3])
  local absolute = tonumber(ARGV[5])
  if absolute >= 0 then
    ttl = math.min(ttl, m[1] + absolute - tonumber(ARGV[4]))
  end
  redis.call('EXPIRE', KEYS[1], math.max(math.floor(ttl), 1))
end
return record
"""


def connect(
    parsed: StoreURL, timeout: float, wait_replicas: int, client_kwargs: dict[str, Any]
) -> redis.Redis | redis.cluster.RedisCluster:
    """The redis-py client for a parsed ``redis*://``/``unix://`` URL.

    Single servers and Sentinel masters get one immediate retry after a
    connection error (never after a timeout, when a script may still run);
    that retry is also how a failed-over master is found again. Sentinels
    themselves are not retried with backoff: the next one is asked at once.
    """
    import redis
    import redis.backoff
    import redis.cluster
    import redis.exceptions
    import redis.retry
    import redis.sentinel

    kwargs: dict[str, Any] = {
        # WAIT is bounded by the timeout: the socket must outlast it.
        "socket_timeout": timeout + 1.0 if wait_replicas else timeout,
        "socket_connect_timeout": timeout,
        "username": parsed.username,
        "password": parsed.password,
    }
    tls = parsed.scheme.startswith("rediss")
    host, port = parsed.hosts[0] if parsed.hosts else ("", None)
    if "cluster" in parsed.scheme:
        kwargs.update(ssl=tls, **client_kwargs)
        return redis.cluster.RedisCluster(host=host, port=port or 6379, **kwargs)
    kwargs["retry"] = redis.retry.Retry(
        redis.backoff.NoBackoff(), 1, (redis.exceptions.ConnectionError,)
    )
    if "sentinel" in parsed.scheme:
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": redis.retry.Retry(redis.backoff.NoBackoff(), 0),
        }
        if tls:
            sentinel_kwargs["ssl"] = True
            kwargs["connection_class"] = redis.sentinel.SentinelManagedSSLConnection
        kwargs.update(client_kwargs)
        # Sentinel's annotations changed between redis-py releases (untyped
        # in 5.x, typed later); calling it through Any types the same on all.
        sentinel_class: Any = redis.sentinel.Sentinel
        sentinels = [(host, port or 26379) for host, port in parsed.hosts]
        sentinel = sentinel_class(sentinels, sentinel_kwargs=sentinel_kwargs)
        master = sentinel.master_for(parsed.service, db=parsed.database, **kwargs)
        return cast("redis.Redis", master)
    kwargs["db"] = parsed.database
    if parsed.scheme == "unix":
        kwargs.update(path=parsed.path, connection_class=redis.UnixDomainSocketConnection)
    else:
        kwargs.update(host=host, port=port)
        kwargs["connection_class"] = redis.SSLConnection if tls else redis.Connection
    kwargs.update(client_kwargs)
    # from_pool: the client owns the pool, so close() disconnects it.
    return redis.Redis.from_pool(redis.ConnectionPool(**kwargs))
