"""What makes a server-side record a live session, and how a session leaves
its record (``regenerate()``, ``clear()``, ``invalidate()``) so that a
logout always wins (API.md sections 4 and 11).

A record is live while it holds the liveness :data:`MARKER` and no pointer.
A session that moves to a new sid, or is logged out, writes a pointer
(:data:`POINTER` + the new sid) into its old record and then reads the
record back (:func:`leave`). Of a logout and a concurrent move of the same
session, at least one sees the other's pointer, since the store orders the
two writes: the logout then deletes the moved session, or the move gives up
its new one. A regenerate's old record stays as a tombstone (the marker and
its pointer, no data) until its TTL, for a logout that loaded the session
before the move and writes only later; a logout deletes the record once it
has read it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from sessionware._state import new_sid

if TYPE_CHECKING:
    from sessionware.stores.base import Store

#: Record key holding ``[created, flags]``: the record's liveness mark. It is
#: written only when a record is created (under a fresh sid), never again, so
#: a record that lacks it was re-created by a stale request writing after the
#: record was deleted (logged out, revoked, expired): such a record is dead.
MARKER: Final = "\x00sessionware"
#: Record keys ``POINTER + sid`` make a record a tombstone (dead): the session
#: moved to that sid (value :data:`MOVED`) or was logged out (:data:`ENDED`;
#: the sid of its fresh session, or one no session has).
POINTER: Final = "\x00to:"
MOVED: Final = b"r"
ENDED: Final = b"c"


def is_tombstone(record: dict[str, bytes]) -> bool:
    """Whether a record was left behind by a move or a logout (dead)."""
    return any(key.startswith(POINTER) for key in record)


def leave(
    store: Store,
    old_sid: str,
    loaded: Iterable[str],
    to: str | None,
    logout: bool,
    ttl: int,
) -> bool:
    """The session leaves ``old_sid`` (whose record had the keys ``loaded``):
    moved to the sid ``to`` (a regenerate), or ended by a logout (perhaps into
    a fresh session ``to``). Says whether the new session may live.

    A move keeps its new session only if the record was live and nothing
    else happened to it (two regenerates of one session cannot both win); a
    logout deletes every session moved out of the record, and its fresh
    session lives only if the record was live and no other logout came
    first (it may hold data of a request that loaded the session before
    that logout). A move costs two round trips (as the load and delete it
    replaces), a logout three.
    """
    own = POINTER + (to or "-" + new_sid())
    changes: dict[str, bytes | None] = dict.fromkeys(loaded)
    changes.pop(MARKER, None)  # kept: the next to leave can tell a live record
    changes[own] = ENDED if logout else MOVED
    store.save(old_sid, changes, ttl)
    old = store.load(old_sid) or {}
    others = [(key, value) for key, value in old.items() if key.startswith(POINTER) and key != own]
    if not logout:
        return MARKER in old and not others
    for key, value in others:
        if value == MOVED:
            store.delete(key[len(POINTER) :])
    # Now the record can go: a move that writes its pointer from here on
    # finds no liveness marker and gives up.
    store.delete(old_sid)
    return to is None or (MARKER in old and all(value != ENDED for _, value in others))
