"""The ``Store`` protocol that every server-side store implements, and the
optional ``OwnerIndex`` protocol behind listing and revoking sessions."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    """Where a server-side session lives, keyed by its ``sid``.

    A record is a mapping of top-level session keys to opaque, already
    encoded ``bytes`` (a store never sees Python values). TTLs are whole
    seconds. Every method raises :class:`sessionware.StoreError` when the
    backend fails; none may report success it did not achieve.

    A store needs no base class: any object with these four methods is one:

    .. testcode::

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


@runtime_checkable
class OwnerIndex(Protocol):
    """A server-side store that can find the sessions of an owner.

    Implement it next to :class:`Store` so that ``mw.sessions(owner)``,
    ``mw.revoke(sid)`` and ``mw.revoke_owner(owner)`` work with your store.
    The index is a multimap ``owner -> {sid: expires}`` whose entries expire
    by themselves. It may list more than is live (an entry can outlive its
    record, or name a session whose owner changed since): the middleware
    checks every record it is given and removes stale entries through
    :meth:`unindex_owner`. It must never list less: an entry lives at least
    as long as the ``ttl`` it was last given.

    ``owner`` is any string the application chose (an e-mail address, a
    number, text with quotes or braces): a store must treat it as data,
    never splice it into a key, query or path without encoding it.

    .. versionadded:: 1.1
    """

    def index_owner(self, owner: str, sid: str, ttl: int) -> None:
        """Record that ``sid`` belongs to ``owner`` for at least ``ttl``
        seconds from now (an entry is extended, never shortened)."""
        ...

    def unindex_owner(self, owner: str, sids: Collection[str]) -> None:
        """Forget these sids under ``owner`` (no error for unknown ones)."""
        ...

    def owner_records(self, owner: str) -> list[tuple[str, dict[str, bytes], float]]:
        """``(sid, record, expires)`` of each indexed sid of ``owner`` that
        has a live record; ``expires`` is when the record expires (Unix
        time). Index entries whose record is gone may be removed."""
        ...


def load_many(store: Store, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
    """Load several records, in one round trip where the store can.

    Stores of this package have a ``load_many`` method (a Redis pipeline, one
    SQL query); any other :class:`Store` is asked once per sid.
    """
    method = getattr(store, "load_many", None)
    if method is not None:
        result: list[dict[str, bytes] | None] = method(sids)
        return result
    return [store.load(sid) for sid in sids]


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
