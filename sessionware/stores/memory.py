"""``MemoryStore``: records in a dict of this process (tests, one process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence


class MemoryStore:
    """Thread-safe, expiring in-process store.

    Records live in this process only: use it for tests and single-process
    servers. Expired records are dropped when read and swept on writes.
    """

    def __init__(self) -> None:
        self._records: dict[str, tuple[float, dict[str, bytes]]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

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
        return len(dead)
