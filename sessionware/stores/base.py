"""The ``Store`` protocol that every server-side store implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    """Where a server-side session lives, keyed by its ``sid``.

    A record is a mapping of top-level session keys to opaque, already
    encoded ``bytes`` (a store never sees Python values). TTLs are whole
    seconds. Every method raises :class:`sessionware.StoreError` when the
    backend fails; none may report success it did not achieve.

    A store needs no base class: any object with these four methods is one::

        class DictStore:
            def __init__(self):
                self.records = {}
            def load(self, sid):
                return dict(self.records[sid]) if sid in self.records else None
            def save(self, sid, changes, ttl):
                record = self.records.setdefault(sid, {})
                for key, value in changes.items():
                    if value is None:
                        record.pop(key, None)
                    else:
                        record[key] = value
            def delete(self, sid):
                self.records.pop(sid, None)
            def touch(self, sid, ttl):
                pass
    """

    def load(self, sid: str) -> dict[str, bytes] | None:
        """Return the live record of ``sid``, or ``None`` when there is none."""
        ...

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        """Apply ``changes`` atomically (``None`` removes a key), creating the
        record if absent, then set the record's TTL to ``ttl`` seconds."""
        ...

    def delete(self, sid: str) -> None:
        """Remove the record of ``sid`` (no error when there is none)."""
        ...

    def touch(self, sid: str, ttl: int) -> None:
        """Extend the record's TTL to ``ttl`` seconds without changing it."""
        ...


class Refresh(NamedTuple):
    """A due refresh a store may apply while it loads (optional capability).

    A store with ``load_refreshing(sid, refresh)`` returns what ``load(sid)``
    returns and, in the same round trip, extends the record's TTL when the
    record turns out to be permanent: its flags have the bit ``flag`` set.
    The flags are the record's ``meta`` field (a msgpack array ``[flags]``)
    when it has one, else the second item of its ``marker`` field (a msgpack
    array ``[created, flags]``). The new TTL is ``ttl`` seconds, capped at
    ``created + absolute - now`` when ``absolute`` is not ``None``, and at
    least 1 second. The server backend asks for it only when a refresh would
    be due for a permanent session, and then sends no separate ``touch``.
    Stores without the method get ``load`` then ``touch`` (two round trips),
    which is equally correct.
    """

    marker: str
    meta: str
    flag: int
    ttl: int
    now: int
    absolute: int | None
