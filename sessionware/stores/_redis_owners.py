"""The owner index of :class:`~sessionware.stores.RedisStore` (listing and
revoking sessions), kept apart from the store's per-request code.

One sorted set per owner at prefix + "owner:" + base64url(owner): the owner
is encoded, so no character of it (braces, colons, newlines) can pick a hash
slot or another key. The set has no hash tag either, so on a cluster it
lives on some other node than most of its sessions: every call below
touches one key, or pipelines one-key commands, and never needs a
cross-slot transaction. A stale member costs a lookup and is removed then;
every member expires (and the set with its last member).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Collection
from typing import Any, Final, TypeVar, cast

_T = TypeVar("_T")

# Adds or extends one owner index entry (a sorted set: member sid, score its
# expiry in ms of the server's clock), drops expired members, and lets the
# whole set expire with its longest-lived member. One key: cluster-safe.
# ARGV: sid, ttl in seconds.
_INDEX_SCRIPT: Final = """
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[2]) * 1000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local old = redis.call('ZSCORE', key, ARGV[1])
if (not old) or tonumber(old) < expires then
  redis.call('ZADD', key, expires, ARGV[1])
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', key, last[2])
return 0
"""
_INDEX_SHA: Final = hashlib.sha1(_INDEX_SCRIPT.encode()).hexdigest()


class RedisOwnerIndex:
    """``OwnerIndex`` for :class:`~sessionware.stores.RedisStore` (a mixin)."""

    prefix: str
    _client: Any  # RedisStore's: a redis.Redis or redis.cluster.RedisCluster
    _no_script: type[Exception]

    def _call(self, action: str, method: Callable[..., _T], *args: Any) -> _T:
        raise NotImplementedError  # RedisStore's

    def index_owner(self, owner: str, sid: str, ttl: int) -> None:
        args = (self._owner_key(owner), sid, int(ttl))
        self._call("index a session's owner", self._run_script, _INDEX_SHA, _INDEX_SCRIPT, args)

    def unindex_owner(self, owner: str, sids: Collection[str]) -> None:
        if sids:
            self._call(
                "unindex sessions of an owner", self._client.zrem, self._owner_key(owner), *sids
            )

    def owner_records(self, owner: str) -> list[tuple[str, dict[str, bytes], float]]:
        return self._call("list sessions of an owner", self._owner_records, owner)

    def _owner_records(self, owner: str) -> list[tuple[str, dict[str, bytes], float]]:
        key = self._owner_key(owner)
        sids = [m.decode("ascii") for m in cast("list[bytes]", self._client.zrange(key, 0, -1))]
        if not sids:
            return []
        pipe = self._client.pipeline(transaction=False)
        for sid in sids:
            pipe.hgetall(self.prefix + sid)
            pipe.pttl(self.prefix + sid)  # PTTL, not PEXPIRETIME: Redis < 7 has it too
        replies = pipe.execute()
        now = time.time()
        found, stale = [], []
        for i, sid in enumerate(sids):
            raw = cast("dict[bytes, bytes]", replies[2 * i])
            remaining = cast(int, replies[2 * i + 1])
            if not raw or remaining < 0:  # gone (-2), or never expiring (-1: not ours)
                stale.append(sid)
                continue
            try:
                record = {k.decode(): v for k, v in raw.items()}
            except UnicodeDecodeError:  # not a session's record (see RedisStore.load)
                continue
            found.append((sid, record, now + remaining / 1000))
        if stale:
            self._client.zrem(key, *stale)
        return found

    def _owner_key(self, owner: str) -> str:
        encoded = base64.urlsafe_b64encode(owner.encode("utf-8", "surrogatepass"))
        return f"{self.prefix}owner:{encoded.decode('ascii')}"

    def _run_script(self, sha: str, script: str, args: tuple[Any, ...]) -> None:
        key, *argv = args
        try:
            self._client.evalsha(sha, 1, key, *argv)
        except self._no_script:
            self._client.eval(script, 1, key, *argv)
