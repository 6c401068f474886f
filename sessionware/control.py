"""Session control: who owns a session, listing an owner's sessions, and
ending sessions now (``mw.sessions``, ``mw.revoke``, ``mw.revoke_owner``).

With a server-side store, the store's owner index (the
:class:`~sessionware.stores.OwnerIndex` protocol) finds an owner's sessions,
and revoking deletes their records: the next request with a revoked cookie
is a new empty session, on every worker and machine. The index may name
sessions that are gone or changed owner; every record is checked, and such
entries are removed as they are found.

With the cookie store, a revocation store (``revocation=``) keeps revoked
sids and per-owner epochs (see ``sessionware._revocation``).

.. versionadded:: 1.1
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol, cast

from sessionware._backends.base import FLAG_PERMANENT
from sessionware._backends.liveness import MARKER, is_tombstone
from sessionware._backends.server import read_meta
from sessionware._codec import DecodeError
from sessionware.audit import audit
from sessionware.errors import ConfigurationError
from sessionware.stores.base import OwnerIndex, Store

if TYPE_CHECKING:
    from collections.abc import Callable

    from sessionware._revocation import Revocations
    from sessionware.stores.cookie import CookieStore

__all__ = ["SessionControl", "SessionInfo"]

_NO_REVOCATION: Final = (
    "revoking cookie-store sessions needs a revocation store: pass "
    'revocation="redis://..." (or another server-side store or its URL) to '
    "SessionMiddleware"
)


class _IndexedStore(Store, OwnerIndex, Protocol):
    """A store that keeps an owner index."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live session of an owner, as listed by ``mw.sessions(owner)``.

    ``created`` and ``last_seen`` are aware UTC datetimes. ``last_seen`` is
    when the session was last saved or refreshed (reads never write, so a
    request that only read it does not count); it is derived from the
    record's expiry, so once ``absolute_lifetime`` caps that expiry it reads
    as the earliest time the last save can have been.
    """

    sid: str
    owner: str | None
    created: datetime
    last_seen: datetime
    permanent: bool


def read_record(record: dict[str, bytes]) -> tuple[int, bool, str | None] | None:
    """``(created, permanent, owner)`` of a stored record, or ``None`` when it
    is not a live session (no liveness marker, or undecodable metadata)."""
    if MARKER not in record or is_tombstone(record):
        return None
    try:
        created, flags, owner = read_meta(record)
    except (DecodeError, ValueError, TypeError):
        return None
    return created, bool(flags & FLAG_PERMANENT), owner


def build_revocations(
    store: Store | CookieStore | None, revocation: Store | str | None, lifetime: int
) -> Revocations | None:
    """Check the middleware's ``revocation=`` against its store (at
    construction); ``lifetime``: the middleware's ``permanent_lifetime``."""
    if revocation is None:
        return None
    from sessionware._revocation import Revocations
    from sessionware.stores import server_side
    from sessionware.stores.cookie import CookieStore

    if store is not None and not isinstance(store, CookieStore):
        raise ConfigurationError(
            "revocation= is for the cookie store only: a server-side store "
            "revokes sessions by deleting them; remove revocation="
        )
    target = server_side(revocation, "revocation=", "keep revoked cookies in")
    return Revocations(target, lifetime)


def check_owner(owner: object) -> str:
    """``owner`` if it is a ``str``; else :class:`TypeError`."""
    if type(owner) is not str:
        raise TypeError(f"an owner must be a str, not {type(owner).__name__}")
    return owner


class SessionControl:
    """Listing and revoking the sessions of one middleware's store.

    :param store: the server-side store, or ``None`` for the cookie store.
    :param read: turns a stored record into ``(created, permanent, owner)``.
    :param lifetime: seconds a record lives after its last save or refresh
        (``permanent_lifetime``).
    :param revocations: the cookie store's revocation store, if any.
    :param overflow: the cookie store's overflow store, if any: its sessions
        are revoked as a server-side store's are, besides the revocation
        entries that refuse cookies.
    """

    def __init__(
        self,
        store: Store | None,
        read: Callable[[dict[str, bytes]], tuple[int, bool, str | None] | None],
        lifetime: int,
        revocations: Revocations | None = None,
        overflow: Store | None = None,
    ) -> None:
        self.store = store
        self.read = read
        self.lifetime = lifetime
        self.revocations = revocations
        #: Revokes the sessions kept in the cookie store's overflow store.
        self.overflow = None if overflow is None else SessionControl(overflow, read, lifetime)

    def _index(self) -> _IndexedStore:
        store = self.store
        if store is None:
            raise ConfigurationError(
                "cookie-store sessions live in the browsers and cannot be listed; "
                "use a server-side store (sqlite:///..., redis://...) to list sessions"
            )
        if not isinstance(store, OwnerIndex):  # runtime_checkable: methods present
            raise ConfigurationError(
                f"{store!r} keeps no owner index: implement "
                "sessionware.stores.OwnerIndex (index_owner, unindex_owner, "
                "owner_records) on it to list and revoke sessions by owner"
            )
        return cast("_IndexedStore", store)

    def sessions(self, owner: str) -> list[SessionInfo]:
        """The live sessions of ``owner``, newest ``created`` first."""
        owner = check_owner(owner)
        index = self._index()
        found, stale = [], []
        for sid, record, expires in index.owner_records(owner):
            info = self.read(record)
            if info is None or info[2] != owner:
                stale.append(sid)  # dead, or it changed owner since
                continue
            created, permanent, _ = info
            seen = min(max(expires - self.lifetime, created), datetime.now(UTC).timestamp())
            found.append(
                SessionInfo(
                    sid=sid,
                    owner=owner,
                    created=datetime.fromtimestamp(created, UTC),
                    last_seen=datetime.fromtimestamp(seen, UTC),
                    permanent=permanent,
                )
            )
        if stale:
            index.unindex_owner(owner, stale)
        found.sort(key=lambda info: (info.created, info.last_seen), reverse=True)
        return found

    def revoke(self, sid: str) -> bool:
        """End the session ``sid`` now; ``False`` when there was none.

        With the cookie store the sid is refused from now on and ``True`` is
        returned (whether some browser holds it cannot be known); its record
        in the overflow store, if any, is deleted.
        """
        if type(sid) is not str:
            raise TypeError(f"a sid must be a str, not {type(sid).__name__}")
        if self.store is None:
            revocations = self._revocations()
            revocations.revoke_sid(sid)
            if self.overflow is None or not self.overflow.revoke(sid):
                audit("revoked", sid)
            return True
        store = self._index()
        record = store.load(sid)
        info = self.read(record) if record is not None else None
        store.delete(sid)
        if info is None:
            return False
        owner = info[2]
        if owner is not None:
            store.unindex_owner(owner, [sid])
        audit("revoked", sid, owner)
        return True

    def revoke_owner(self, owner: str, keep: str | None = None) -> int:
        """End every session of ``owner`` but ``keep``; return how many.

        With the cookie store every cookie of ``owner`` issued before now
        (but ``keep``) is refused from now on; the count is that of the
        owner's sessions deleted from the overflow store (``0`` without one:
        how many browsers hold a cookie cannot be known).
        """
        owner = check_owner(owner)
        if keep is not None and type(keep) is not str:
            raise TypeError(f"keep must be a sid (str) or None, not {type(keep).__name__}")
        if self.store is None:
            self._revocations().revoke_owner(owner, keep)
            audit("revoked", None, owner)
            # Sessions in the overflow store end as a server store's do.
            return 0 if self.overflow is None else self.overflow.revoke_owner(owner, keep)
        ended = []
        for info in self.sessions(owner):
            if info.sid != keep:
                self.store.delete(info.sid)
                audit("revoked", info.sid, owner)
                ended.append(info.sid)
        if ended:
            self._index().unindex_owner(owner, ended)
        return len(ended)

    def _revocations(self) -> Revocations:
        if self.revocations is None:
            raise ConfigurationError(_NO_REVOCATION)
        return self.revocations
