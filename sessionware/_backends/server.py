"""The server backend: data in a store, the signed session id in the cookie.

A store record maps each top-level session key to its encoded value, plus
two keys of the backend's own: the liveness marker and the flags. A session
that moves to a new sid (regenerate) leaves a tombstone behind: the marker
and a pointer, no data (see ``liveness``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sessionware._backends.base import FLAG_PERMANENT, BaseBackend
from sessionware._backends.liveness import MARKER as MARKER
from sessionware._backends.liveness import is_tombstone, leave
from sessionware._codec import DecodeError, decode, encode, encode_items
from sessionware._config import warn
from sessionware._owners import index_owner
from sessionware._signing import BadToken, KeyRing
from sessionware._state import Headers, ServerState, new_sid
from sessionware.audit import audit
from sessionware.errors import SessionWarning
from sessionware.stores.base import Refresh
from sessionware.stores.memory import SHARED_WARNING

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware.stores.base import Store

logger = logging.getLogger("sessionware")

#: Record key holding ``[flags]`` or ``[flags, owner]`` once they changed
#: after creation, or at creation for an owned session (it wins over the
#: marker's). Kept apart from the marker so that changing ``permanent`` or
#: ``owner`` can never bring a cleared record back to life.
META = "\x00meta"
#: The backend's own record keys start with one NUL. A session key that
#: starts with NUL is stored with one more (:func:`stored`), so no session
#: key is reserved and none can pass for the marker.
_NUL = "\x00"
#: Ends the signed value of a permanent session's cookie (``sid+``; a sid is
#: URL-safe base64, never ``+``): a hint, read before the store is asked, that
#: a due refresh can be applied by the load itself (``load_refreshing``, one
#: round trip) while other sessions keep the cheapest load. Only a hint: the
#: record's own flags decide (a stale hint costs a round trip, never a wrong
#: TTL, since the load script checks the record).
_PERMANENT_HINT = b"+"
#: At most this many verified session ids of one request are looked up (in
#: one batched round trip where the store has ``load_many``). Ids are cheap to
#: mint by starting sessions, so this bounds the store work of one request.
MAX_LOOKUPS = 16
#: Without ``load_many``, at most this many ids are looked up one by one.
MAX_SEQUENTIAL_LOOKUPS = 4


class ServerBackend(BaseBackend):
    """Data in a server-side store; the cookie carries only the signed sid."""

    def __init__(self, config: Config, store: Store) -> None:
        super().__init__(config)
        self.store = store
        self.keys = KeyRing(config.secret_keys, "sessionware.sid")
        # Optional store capability (stores/base.py, Refresh): a load that
        # also applies a due refresh, so a read-only request of a permanent
        # session is one round trip instead of a load and a touch.
        self.load_refreshing = getattr(store, "load_refreshing", None)
        #: A store whose records live in this process (MemoryStore): the
        #: first load under a multi-process server warns, then this is False.
        self.per_process: bool = getattr(store, "per_process", False)

    def load(self, environ: dict[str, Any]) -> tuple[dict[str, Any], ServerState]:
        if self.per_process:
            self._check_processes(environ)
        now = int(time.time())
        verified: list[tuple[str, int, int]] = []  # (sid, issued, key index), in order
        permanent = False  # the first id's cookie said so (_PERMANENT_HINT)
        refused = 0  # cookies refused so far: only the first few are logged
        for token in self.tokens(environ):
            try:
                raw, issued, index = self.keys.unsign(token, self.config.permanent_lifetime)
            except BadToken as exc:
                refused = self.refuse(str(exc), None, refused)
                continue
            # Signed by us, so it is one of our sids, perhaps with the hint.
            if raw[-1:] == _PERMANENT_HINT:
                raw = raw[:-1]
                permanent = permanent or not verified
            verified.append((raw.decode("ascii"), issued, index))
            if len(verified) == MAX_LOOKUPS:
                refused = self.refuse(
                    f"more than {MAX_LOOKUPS} verified session ids; the rest are ignored",
                    None,
                    refused,
                )
                break
        if refused:  # rare; then the ids below log a line each only while under the limit
            refused = self.refused_more(refused)
        if len(verified) == 1:  # the common case: one round trip, no batch
            sid, issued, index = verified[0]
            load_refreshing = self.load_refreshing
            if permanent and load_refreshing is not None and self.refresh_may_be_due(issued, now):
                # The store extends the TTL in the same round trip if the
                # record turns out to be permanent: no touch at save time.
                loaded = self.open_record(
                    sid, issued, index, load_refreshing(sid, self._refresh(now)), now, refused
                )
                if loaded is not None:
                    loaded[1].refreshed = loaded[1].permanent
                    return loaded
            else:
                loaded = self.open_record(sid, issued, index, self.store.load(sid), now, refused)
                if loaded is not None:
                    return loaded
        elif verified:
            records = self.lookup_many([sid for sid, _, _ in verified])
            for (sid, issued, index), record in zip(verified, records, strict=False):
                loaded = self.open_record(sid, issued, index, record, now, refused)
                if loaded is not None:
                    return loaded
                refused += 1
            self.refused_more(refused)
        # No session came with the request (and no round trip when no id did).
        return {}, ServerState(True, None, self.config.permanent_by_default, now, now, False, {})

    def _check_processes(self, environ: dict[str, Any]) -> None:
        """Warn once when a per-process store serves a multi-process server
        (the first load decides: a server does not change its processes)."""
        self.per_process = False
        if environ.get("wsgi.multiprocess"):
            warn(SHARED_WARNING.format(store=type(self.store).__name__), SessionWarning)

    def open_record(
        self,
        sid: str,
        issued: int,
        index: int,
        record: dict[str, bytes] | None,
        now: int,
        refused: int = 0,
    ) -> tuple[dict[str, Any], ServerState] | None:
        """The data and state of a verified id's record, or ``None`` when it
        is no session (no live record, undecodable, past its deadline);
        ``refused``: the request's refusals so far (only a few are logged)."""
        if record is None or MARKER not in record:
            self.refuse("no live record for this session id", sid, refused)
            return None
        try:
            created, flags, owner = read_meta(record)
            meta = record.get(META)
            data = {key: decode(blob) for key, blob in record.items() if key[:1] != _NUL}
            if len(data) + (1 if meta is None else 2) != len(record):
                if is_tombstone(record):
                    self.refuse("no live record (it moved or was logged out)", sid, refused)
                    return None
                # Session keys that start with NUL, stored escaped (rare):
                # decoded again, in the record's order.
                data = {
                    (k[1:] if k[:1] == _NUL else k): decode(blob)
                    for k, blob in record.items()
                    if k[:1] != _NUL or k[1:2] == _NUL
                }
        except (DecodeError, ValueError, TypeError) as exc:
            logger.warning(
                "session record %s… cannot be decoded (%s); starting a new session", sid[:6], exc
            )
            return None
        if self.absolute and self.expired(created, now):
            self.refuse("past absolute_lifetime", sid, refused)
            return None
        state = ServerState(  # positional: this runs on every load
            False, sid, bool(flags & FLAG_PERMANENT), created, issued, index > 0, record
        )
        if owner is not None:
            state.owner = state.loaded_owner = owner
        return data, state

    def _refresh(self, now: int) -> Refresh:
        """What a store's ``load_refreshing`` needs to apply a due refresh."""
        config = self.config
        return Refresh(
            MARKER, META, FLAG_PERMANENT, config.permanent_lifetime, now, config.absolute_lifetime
        )

    def lookup_many(self, sids: list[str]) -> Iterator[dict[str, bytes] | None]:
        """The records of several verified ids, in order: one batched round
        trip where the store has ``load_many``, else one by one, stopping
        where the caller stops (at the first live one)."""
        store = self.store
        load_many = getattr(store, "load_many", None)
        if load_many is not None:
            yield from load_many(sids)
            return
        for sid in sids[:MAX_SEQUENTIAL_LOOKUPS]:
            yield store.load(sid)

    def _cookie(self, state: ServerState, sid: str, now: int) -> tuple[str, str]:
        if state.permanent:
            value = sid.encode("ascii") + _PERMANENT_HINT
            return self.cookies.set_header(self.keys.sign(value), self.lifetime(state, now))
        return self.cookies.set_header(self.keys.sign(sid.encode("ascii")), None)

    def save(self, data: dict[str, Any], state: ServerState, modified: bool) -> Headers:
        store = self.store
        old_sid = state.incoming_sid
        if not data and state.owner is None:  # an owner alone is content
            if old_sid is not None and (modified or state.regenerated):
                self._leave(state, None, self.lifetime(state, int(time.time())))
                return [self.cookies.delete_header]
            return []
        now = int(time.time())
        ttl = self.lifetime(state, now)
        if state.new or state.regenerated or state.cleared:
            return self._create(data, state, ttl, now)
        assert old_sid is not None
        changes: dict[str, bytes | None] = {}
        touched = state.touched
        if modified or (self.config.detect_nested_changes and touched):
            # Only touched keys can hold a new value; removed keys show up
            # against the baseline. Unchanged encodings are not written.
            baseline = state.baseline
            present = [key for key in touched if key in data]
            for key, blob in stored(encode_items(data, present)).items():
                if baseline.get(key) != blob:
                    changes[key] = blob
            for key in baseline:
                if key in data or (key[:1] == _NUL and (key[1:2] != _NUL or key[1:] in data)):
                    continue  # still there, or the marker, the flags, an escaped key
                changes[key] = None
            if state.permanent != state.loaded_permanent or state.owner != state.loaded_owner:
                # Never the marker: a stale request must not revive a record.
                changes[META] = _meta(state)
        if not (changes or modified or state.resign or self.refresh_due(state, now)):
            return []
        if state.owner is not None:
            # The index first: when its write fails, the record still shows
            # the old owner, so the next save tries again (never left out).
            index_owner(self, state, old_sid, now, state.owner != state.loaded_owner)
        if changes:
            store.save(old_sid, changes, ttl)
        elif not state.refreshed:  # else the load extended the TTL already
            store.touch(old_sid, ttl)  # re-issuing the cookie: the record lives as long
        return [self._cookie(state, old_sid, now)]

    def adopt(self, data: dict[str, Any], state: ServerState) -> Headers:
        """Store a session that comes from elsewhere (a cookie that outgrew
        the browser limit) as a whole new record under ``state.sid``."""
        now = int(time.time())
        return self._create(data, state, self.lifetime(state, now), now)

    def _create(self, data: dict[str, Any], state: ServerState, ttl: int, now: int) -> Headers:
        """Write a whole record (every key plus the marker) under a fresh sid.

        A session that came with the request moves here when it was
        regenerated or cleared: under its old id, a request that loaded it
        earlier could still write, and nothing such a request writes may
        survive a clear(). The old record must still be live once the new one
        is written, and no concurrent logout may have ended it (``_leave``);
        else the move is undone and the client's cookie deleted.
        """
        old_sid = state.incoming_sid
        sid = state.sid
        if sid is None or sid == old_sid:
            sid = state.sid = new_sid()
        changes: dict[str, bytes | None] = stored(encode_items(data, data))  # type: ignore[assignment]
        changes[MARKER] = encode([state.created, FLAG_PERMANENT if state.permanent else 0])
        if state.owner is not None:
            changes[META] = _meta(state)
        store = self.store
        if state.owner is not None:
            index_owner(self, state, sid, now, True)  # first: see save()
        store.save(sid, changes, ttl)
        if state.new:
            audit("created", sid, state.owner)
        if old_sid is not None and not self._leave(state, sid, ttl):
            store.delete(sid)
            self.debug("the session was cleared by another request while it moved")
            return [self.cookies.delete_header]
        return [self._cookie(state, sid, now)]

    def _leave(self, state: ServerState, new_sid: str | None, ttl: int) -> bool:
        """The session leaves its old record (see ``liveness.leave``):
        whether the new session ``new_sid`` may live."""
        old_sid = state.incoming_sid
        assert old_sid is not None
        logout = state.cleared or new_sid is None
        return leave(self.store, old_sid, state.baseline, new_sid, logout, ttl)


def read_id(keys: KeyRing, token: str, max_age: int) -> tuple[str, int, int]:
    """``(sid, issued, key_index)`` of a session id cookie value; raises
    :class:`BadToken` when it is not one signed by ``keys``."""
    raw, issued, index = keys.unsign(token, max_age)
    if raw[-1:] == _PERMANENT_HINT:
        raw = raw[:-1]
    return raw.decode("ascii"), issued, index


def read_meta(record: dict[str, bytes]) -> tuple[int, int, str | None]:
    """``(created, flags, owner)`` of a record that has the liveness marker.

    Raises :class:`DecodeError` (or ``ValueError``/``TypeError``) for
    metadata that is not ours.
    """
    created, flags = decode(record[MARKER])
    owner = None
    meta = record.get(META)
    if meta is not None:
        flags, *rest = decode(meta)  # [flags] or [flags, owner]
        owner = rest[0] if rest else None
    if type(created) is not int or type(flags) is not int:
        raise DecodeError("bad marker")
    if owner is not None and type(owner) is not str:
        raise DecodeError("bad owner")
    return created, flags, owner


def _meta(state: ServerState) -> bytes:
    """The changeable metadata (flags, owner), kept apart from the marker."""
    flags = FLAG_PERMANENT if state.permanent else 0
    return encode([flags] if state.owner is None else [flags, state.owner])


def stored(items: dict[str, bytes]) -> dict[str, bytes]:
    """``items`` keyed by record keys: a session key that starts with NUL
    gets one more (see ``_NUL``). Keys are joined and scanned in C first:
    such keys are rare, and this runs on every save."""
    if _NUL not in "".join(items):
        return items
    return {(_NUL + key if key[:1] == _NUL else key): blob for key, blob in items.items()}
