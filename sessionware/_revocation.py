"""Revocation of cookie-store sessions: entries kept in a server-side store.

A cookie cannot be taken back from the browser, so the cookie store refuses
revoked ones instead. Two kinds of entries live in the revocation store, as
records under ids no session id can take (sids never contain a ``.``):

``revoked.sid.<sid>``
    that session is dead: written by ``revoke(sid)``, and by the middleware
    when a session that came with the request is cleared, invalidated or
    moved to a new sid, so a copy of its old cookie is refused.
``revoked.owner.<base64url(owner)>``
    ``before`` (Unix µs) and ``keep`` (a sid): every session of that owner
    whose owner was set before ``before`` is dead, except ``keep``. Sessions
    carry the time their owner was set (``owner_since``, kept when they are
    re-issued), so a cookie re-issued after the revocation by a worker that
    had not seen it yet is refused all the same.

Each entry lives as long as the cookies it refuses could (the lifetime of a
cookie from its last issue, plus :data:`CACHE_SECONDS`), never longer.

The check costs one round trip per request that brings a cookie (both
entries are read with the store's ``load_many``: one pipeline on a Redis
server, one query on SQLite; on a Redis Cluster one per node holding an
entry, sent together; a store without ``load_many`` is asked once per entry).
Verdicts are cached per process for :data:`CACHE_SECONDS` in a bounded map
(:data:`CACHE_SIZE` entries), so bursts of requests of one session (a page
and its assets) cost one round trip. The price: a revocation made on
another process takes effect there up to :data:`CACHE_SECONDS` later;
revocations made by this process take effect here at once.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from sessionware.stores.base import Store, load_many

#: How long a verdict is reused by one process (the staleness allowed).
CACHE_SECONDS: Final = 1.0
#: At most this many verdicts are cached per process.
CACHE_SIZE: Final = 4096
_SID_ID: Final = "revoked.sid."
_OWNER_ID: Final = "revoked.owner."

#: ``check()`` verdicts.
LIVE: Final = 0
REVOKED: Final = 1
#: Kept by ``revoke_owner(keep=...)``: live, and re-issued with a new
#: ``owner_since`` so it survives its own later regenerate().
KEPT: Final = 2


def now_us() -> int:
    """Unix time in microseconds: ``owner_since`` and ``before`` use it, so
    a login right after a revocation is never taken for one before it."""
    return time.time_ns() // 1000


def owner_id(owner: str) -> str:
    """Record id of an owner's entry: the owner encoded, never spliced."""
    encoded = base64.urlsafe_b64encode(owner.encode("utf-8", "surrogatepass"))
    return _OWNER_ID + encoded.decode("ascii")


class Revocations:
    """Revoked sids and owners of cookie sessions, in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[str, str | None, int], tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Revocations({self.store!r})"

    def revoke_sid(self, sid: str, ttl: int) -> None:
        """Refuse every cookie of ``sid`` from now on (for ``ttl`` seconds)."""
        self.store.save(_SID_ID + sid, {"r": b"1"}, ttl + int(CACHE_SECONDS) + 1)
        self._forget()

    def revoke_owner(self, owner: str, keep: str | None, ttl: int) -> None:
        """Refuse every session of ``owner`` whose owner was set before now,
        except ``keep``."""
        changes: dict[str, bytes | None] = {
            # +1: an owner set in this very microsecond is revoked too.
            "before": str(now_us() + 1).encode("ascii"),
            "keep": keep.encode("ascii") if keep else None,
        }
        self.store.save(owner_id(owner), changes, ttl + int(CACHE_SECONDS) + 1)
        self._forget()

    def check_many(self, sessions: Sequence[tuple[str, str | None, int]]) -> list[int]:
        """A verdict (:data:`LIVE`, :data:`REVOKED` or :data:`KEPT`) for each
        verified cookie ``(sid, owner, owner_since)``, in one round trip.

        A failing store raises :class:`~sessionware.StoreError`: a check that
        cannot be made never lets a cookie through.
        """
        now = time.monotonic()
        cache = self._cache
        verdicts: list[int] = []
        missing: list[int] = []  # indexes of the sessions not cached
        for index, key in enumerate(sessions):
            # A single dict lookup is atomic: no lock needed to read.
            cached = cache.get(key)
            if cached is not None and cached[0] > now:
                verdicts.append(cached[1])
            else:
                verdicts.append(LIVE)
                missing.append(index)
        if not missing:
            return verdicts
        ids: list[str] = []
        for index in missing:
            sid, owner, _ = sessions[index]
            ids.append(_SID_ID + sid)
            if owner is not None:
                ids.append(owner_id(owner))
        records = dict(zip(ids, load_many(self.store, ids), strict=True))
        with self._lock:
            for index in missing:
                key = sessions[index]
                verdicts[index] = verdict = self._verdict(key, records)
                cache[key] = (now + CACHE_SECONDS, verdict)
                cache.move_to_end(key)
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return verdicts

    @staticmethod
    def _verdict(
        key: tuple[str, str | None, int], records: dict[str, dict[str, bytes] | None]
    ) -> int:
        sid, owner, owner_since = key
        if records[_SID_ID + sid] is not None:
            return REVOKED
        entry = records.get(owner_id(owner)) if owner is not None else None
        if entry is None:
            return LIVE
        try:
            before = int(entry.get("before", b"0"))
        except ValueError:
            return REVOKED  # an entry we cannot read refuses rather than lets through
        if owner_since >= before:
            return LIVE
        return KEPT if entry.get("keep") == sid.encode("ascii") else REVOKED

    def _forget(self) -> None:
        # This process sees its own revocations at once.
        with self._lock:
            self._cache.clear()
