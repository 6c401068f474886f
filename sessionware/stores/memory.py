"""``MemoryStore``: records in a dict of this process (tests, one process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Final

#: The :class:`~sessionware.SessionWarning` a per-process store gives, once,
#: when the server runs the app in several processes.
SHARED_WARNING: Final = (
    "{store} keeps sessions inside one process, and this server runs the app in "
    "several (wsgi.multiprocess): a session is lost whenever another process "
    "answers. Use a store that all processes share: SQLiteStore (sqlite:///path), "
    "RedisStore (redis://...), PostgreSQLStore (postgresql://...) or the cookie "
    "store (cookie://)."
)


class MemoryStore:
    """Thread-safe, expiring in-process store.

    Records live in this process only: use it for tests and single-process
    servers. Expired records are dropped when read and swept on writes.
    Under a server that runs the app in several processes (``gunicorn -w
    2``: the WSGI environ's ``wsgi.multiprocess`` is true), a session is lost
    whenever another process answers; the middleware then warns once
    (``SHARED_WARNING``).
    """

    #: Records live in this process only: the server backend checks
    #: ``wsgi.multiprocess`` on its first load and warns.
    per_process: Final = True

    def __init__(self) -> None:
        self._records: dict[str, tuple[float, dict[str, bytes]]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        #: owner -> {sid: expiry (monotonic)}: the OwnerIndex.
        self._owners: dict[str, dict[str, float]] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._records)} records>)"

    def load(self, sid: str) -> dict[str, bytes] | None:
        entry = self._records.get(sid)
        if entry is None:
            return None
        expires, record = entry
        if expires <= time.monotonic():
            with self._lock:
                self._expire(sid)
            return None
        with self._lock:
            return dict(record) or None  # a record with no keys is no record

    def load_many(self, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
        """:meth:`load` for each of ``sids``, in order."""
        return [self.load(sid) for sid in sids]

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self._records.get(sid)
            record = entry[1] if entry is not None and entry[0] > now else {}
            for key, value in changes.items():
                if value is None:
                    record.pop(key, None)
                else:
                    record[key] = value
            self._records[sid] = (now + ttl, record)
            if now >= self._next_sweep:
                self._sweep(now)

    def delete(self, sid: str) -> None:
        with self._lock:
            self._records.pop(sid, None)

    def touch(self, sid: str, ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self._records.get(sid)
            if entry is not None and entry[0] > now:
                self._records[sid] = (now + ttl, entry[1])

    def cleanup(self) -> int:
        """Remove expired records now; return how many were removed."""
        with self._lock:
            return self._sweep(time.monotonic())

    def _expire(self, sid: str) -> None:
        entry = self._records.get(sid)
        if entry is not None and entry[0] <= time.monotonic():
            del self._records[sid]

    def _sweep(self, now: float) -> int:
        dead = [sid for sid, (expires, _) in self._records.items() if expires <= now]
        for sid in dead:
            del self._records[sid]
        self._next_sweep = now + 60.0
        self._sweep_owners(now)
        return len(dead)

    # -- OwnerIndex (listing and revoking sessions) ------------------------

    def index_owner(self, owner: str, sid: str, ttl: int) -> None:
        now = time.monotonic()
        with self._lock:
            entries = self._owners.setdefault(owner, {})
            for dead in [s for s, expires in entries.items() if expires <= now]:
                del entries[dead]  # so no owner's entries grow without bound
            entries[sid] = max(entries.get(sid, 0.0), now + ttl)

    def unindex_owner(self, owner: str, sids: Collection[str]) -> None:
        with self._lock:
            entries = self._owners.get(owner)
            if entries is None:
                return
            for sid in sids:
                entries.pop(sid, None)
            if not entries:
                del self._owners[owner]

    def owner_records(self, owner: str) -> list[tuple[str, dict[str, bytes], float]]:
        now = time.monotonic()
        wall = time.time()
        found = []
        with self._lock:
            entries = self._owners.get(owner, {})
            for sid in list(entries):
                entry = self._records.get(sid)
                if entry is None or entry[0] <= now or not entry[1]:
                    del entries[sid]  # its record is gone: the entry is stale
                    continue
                found.append((sid, dict(entry[1]), wall + entry[0] - now))
            if not entries:
                self._owners.pop(owner, None)
        return found

    def _sweep_owners(self, now: float) -> None:
        for owner in list(self._owners):
            entries = self._owners[owner]
            for sid in [sid for sid, expires in entries.items() if expires <= now]:
                del entries[sid]
            if not entries:
                del self._owners[owner]
