"""An old cookie becomes its new session once (see :mod:`sessionware.migrate`).

The new session's sid is derived from the old token (:func:`derived_sid`: an
HMAC under sessionware's current secret key), so every request that brings
the same old cookie, in parallel or later, lands on the same sid. Derived
sids are 24 characters, random ones 22 (:func:`is_derived`): a request of a
migrated session is recognised without a round trip, and only such
requests, or migrating ones, do any of the extra work below.

What keeps the old cookie from starting a session again depends on where
something can be recorded (one of the classes below per backend):

:class:`ServerOnce` (a server-side store)
    A mark ``migrated.<sid>`` (a record no session id can take) is written
    next to the new session when it is created, and lives as long as the old
    token can be accepted. A replay finds the session alive (then it *is*
    that session, as it is now) or gone with the mark left (logged out,
    revoked, regenerated away, expired: no session). A session that leaves
    its derived sid (logout, regenerate, clear, or getting an ``owner``,
    which moves it to a random sid as ``regenerate()`` does) first sets
    ``dead`` in the mark, then goes; a migration creates the session first,
    then reads the mark, and undoes the creation if it says ``dead``. Either
    order of the two meets the other's write, so a request that loaded the
    old cookie before a logout cannot bring the session back (section 4's
    clear-wins rule). A migration that finds the session already created
    (a parallel first request) writes only its own changes to it.
:class:`CookieOnce` (the cookie store with ``revocation=``)
    The derived sid is checked against the revocation store like any cookie
    session's: once it is revoked (``invalidate()``, ``clear()``,
    ``regenerate()``, ``revoke(sid)``), a replay is no session. A migrated
    session leaves its derived sid (which is revoked) at its first change or
    when it gets an ``owner``, so an owner revocation never has to reach it,
    and a replay never brings back data the session has since changed.
No record (the cookie store without ``revocation=``)
    Nothing can remember a replay: the old cookie stays usable until it
    expires, as it was before the switch (``FlaskCookie(until=...)`` ends
    migration at a fixed time).

An old token is accepted only while it is younger than ``permanent_lifetime``
(and ``absolute_lifetime``): a mark, or a revocation entry, written at or
after the migration therefore outlives every token it answers for.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from sessionware._backends.server import MARKER, ServerBackend, stored
from sessionware._codec import encode_items
from sessionware._revocation import REVOKED
from sessionware._signing import b64encode
from sessionware._state import CookieState, ServerState, SessionState, new_sid
from sessionware.stores.base import load_many

if TYPE_CHECKING:
    from sessionware._backends.cookie import CookieBackend
    from sessionware._revocation import Revocations

#: Length of a derived sid (18 bytes of HMAC); :func:`new_sid` makes 22.
DERIVED_LENGTH = 24
#: Record id prefix of a server store's migration marks (sids never hold ".").
MARK_ID = "migrated."
#: What :meth:`ServerOnce.load` and ``.check`` answer.
FRESH, LIVE, DEAD = "fresh", "live", "dead"


def derived_sid(key: bytes, reader: object, token: str) -> str:
    """The sid the session migrated from ``token`` (a ``reader``'s) gets."""
    message = b"sessionware.migrate\x00%s\x00%s" % (
        type(reader).__name__.encode("utf-8"),
        token.encode("utf-8", "surrogatepass"),
    )
    return b64encode(hmac.digest(key, message, hashlib.sha256)[:18]).decode("ascii")


def is_derived(sid: str | None) -> bool:
    """Whether ``sid`` (a verified one) was derived from an old token."""
    return sid is not None and len(sid) == DERIVED_LENGTH


def adopt(kind: type[SessionState], state: SessionState) -> Any:
    """``state`` as an instance of its subclass ``kind`` (same values)."""
    adopted = kind.__new__(kind)
    for name in SessionState.__slots__:
        setattr(adopted, name, getattr(state, name))
    return adopted


class NoOnce:
    """Nothing server-side to record a migration in: every replay migrates."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime

    def load(self, sids: list[str], now: int) -> tuple[str, Any]:
        """``(FRESH, None)``, ``(LIVE, (data, state))`` or ``(DEAD, None)``
        for the sids derived from one old token (under the current secret
        key first, then each fallback key: a key rotation does not make an
        old cookie new again)."""
        return FRESH, None

    def prepare(self, data: dict[str, Any], state: SessionState) -> None:
        """Called with a migrated state before it is saved."""

    def kill(self, sid: str) -> None:
        """The derived ``sid`` is dead from now on (replays are no session)."""

    def leaving(self, data: dict[str, Any], state: Any, modified: bool) -> None:
        """Called before a session under a derived sid is saved."""

    def create(self, data: dict[str, Any], state: Any, save: Any) -> list[tuple[str, str]] | None:
        """Save a migrated session under its derived sid; ``None``: it is dead."""
        headers: list[tuple[str, str]] = save(data, state, True)
        return headers


class CookieOnce(NoOnce):
    """The cookie store with a revocation store: derived sids are revoked."""

    def __init__(self, backend: CookieBackend, revocations: Revocations, lifetime: int) -> None:
        super().__init__(lifetime)
        self.revocations = revocations

    def load(self, sids: list[str], now: int) -> tuple[str, Any]:
        verdicts = self.revocations.check_many([(sid, None, 0) for sid in sids])
        return (DEAD, None) if REVOKED in verdicts else (FRESH, None)

    def kill(self, sid: str) -> None:
        self.revocations.revoke_sid(sid)

    def leaving(self, data: dict[str, Any], state: CookieState, modified: bool) -> None:
        if (modified or state.owner is not None) and state.sid == state.incoming_sid:
            # Off the derived sid: the cookie backend revokes what it leaves.
            state.sid = new_sid()
            state.resign = True  # saved and re-sent even if only the sid changed


class ServerOnce(NoOnce):
    """A server-side store: a mark per migrated token, next to its session."""

    def __init__(self, backend: ServerBackend, lifetime: int) -> None:
        super().__init__(lifetime)
        self.backend = backend
        self.store = backend.store

    def load(self, sids: list[str], now: int) -> tuple[str, Any]:
        loaded = load_many(self.store, [i for sid in sids for i in (sid, MARK_ID + sid)])
        marked = False
        for sid, record, mark in zip(sids, loaded[::2], loaded[1::2], strict=True):
            if mark is not None and "dead" in mark:
                return DEAD, None
            if record is not None and MARKER in record:
                opened = self.backend.open_record(sid, now, 0, record, now)
                if opened is None:
                    return DEAD, None  # undecodable, past absolute_lifetime
                opened[1].resign = True  # the client gets this session's cookie
                return LIVE, opened
            marked = marked or mark is not None
        return (DEAD, None) if marked else (FRESH, None)

    def prepare(self, data: dict[str, Any], state: SessionState) -> None:
        # What the migrated session held as loaded: if a parallel request
        # created it meanwhile, only this request's own changes are written.
        state.baseline = stored(encode_items(data, data))

    def kill(self, sid: str) -> None:
        self._mark_dead(sid)
        self.store.delete(sid)

    def _mark_dead(self, sid: str) -> None:
        self.store.save(MARK_ID + sid, {"dead": b"1"}, self.lifetime + 1)

    def leaving(self, data: dict[str, Any], state: ServerState, modified: bool) -> None:
        if state.owner is not None:
            state.regenerated = True  # an owned session never keeps a derived sid
        if state.regenerated or state.cleared or (not data and modified):
            self._mark_dead(state.incoming_sid or "")  # then the backend moves or deletes it

    def create(self, data: dict[str, Any], state: Any, save: Any) -> list[tuple[str, str]] | None:
        sid = state.sid
        store = self.store
        record, mark = load_many(store, [sid, MARK_ID + sid])
        if mark is not None and "dead" in mark:
            return None
        if record is not None and MARKER in record:
            # Created by a parallel first request: an update of it, as if
            # this request had loaded it.
            state.incoming_sid = sid
            state.regenerated = False
            state.resign = True
            headers: list[tuple[str, str]] = save(data, state, True)
            return headers
        if mark is not None:
            return None  # created once, and gone since (logged out, revoked, expired)
        headers = save(data, state, True)
        store.save(MARK_ID + sid, {"m": b"1"}, self.lifetime + 1)
        mark = store.load(MARK_ID + sid)
        if mark is not None and "dead" in mark:
            store.delete(sid)  # logged out while this request ran: undone
            return None
        return headers


def once_for(backend: Any, lifetime: int) -> NoOnce:
    """The way ``backend`` (the middleware's real one) records migrations."""
    if isinstance(backend, ServerBackend):
        return ServerOnce(backend, lifetime)
    revocations = getattr(backend, "revocations", None)
    if revocations is not None:
        return CookieOnce(backend, revocations, lifetime)
    return NoOnce(lifetime)
