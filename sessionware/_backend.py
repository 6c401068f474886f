"""Loading and saving a Session: the cookie store and the server-side stores."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sessionware._codec import (
    DecodeError,
    decode,
    decode_envelope,
    encode,
    encode_envelope,
    encode_items,
)
from sessionware._cookies import MAX_COOKIE_SIZE, CookieHeaders
from sessionware._signing import BadToken, KeyRing
from sessionware.errors import CookieTooLargeError, SessionWarning, UnsupportedValueError
from sessionware.session import new_sid

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware.session import Session
    from sessionware.stores.base import Store
    from sessionware.stores.cookie import CookieStore

logger = logging.getLogger("sessionware")

#: Version of the cookie payload layout ``[version, sid, flags, created, data]``.
#: A new layout gets a new number; loaders keep reading the old ones.
PAYLOAD_VERSION = 1
FLAG_PERMANENT = 1
#: Record key holding ``[created, flags]``: the record's liveness mark. It is
#: written only when a record is created (under a fresh sid), never again, so
#: a record that lacks it was re-created by a stale request writing after a
#: clear() deleted it: such a record is dead, which makes clear() win.
MARKER = "\x00sessionware"
#: Record key holding ``[flags]`` once they changed after creation (it wins
#: over the marker's). Kept apart from the marker so that changing
#: ``permanent`` can never bring a cleared record back to life.
META = "\x00meta"
#: Record keys that are the backend's, never session keys.
RESERVED = frozenset({MARKER, META})
#: At most this many verified session ids of one request are looked up (in
#: one batched round trip where the store has ``load_many``). Ids are cheap to
#: mint by starting sessions, so this bounds the store work of one request.
MAX_LOOKUPS = 16
#: Without ``load_many``, at most this many ids are looked up one by one.
MAX_SEQUENTIAL_LOOKUPS = 4
Headers = list[tuple[str, str]]


def unpack_payload(payload: bytes) -> tuple[str, int, int, dict[str, Any]]:
    """``(sid, flags, created, data)`` of a verified cookie payload.

    Raises :class:`DecodeError` for bytes that are not a payload of a layout
    this version reads (only our key signs, so that means a newer or retired
    layout, or a bug: never an attacker's bytes).
    """
    envelope = decode_envelope(payload)
    if (
        len(envelope) != 5
        or envelope[0] != PAYLOAD_VERSION
        or type(envelope[1]) is not str
        or type(envelope[2]) is not int
        or type(envelope[3]) is not int
    ):
        raise DecodeError("unknown payload layout")
    return envelope[1], envelope[2], envelope[3], envelope[4]


class Backend:
    """Shared by both backends: expiry arithmetic and the cookie headers."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cookies = CookieHeaders(config)

    def load(self, session: Session, environ: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, session: Session) -> Headers:
        raise NotImplementedError

    def _candidates(self, environ: dict[str, Any]) -> list[str]:
        header = environ.get("HTTP_COOKIE")
        if not header:
            return []
        return self.cookies.candidates(header)

    def _start_new(self, session: Session, now: int) -> dict[str, Any]:
        session._reset(  # positional: this runs on every load
            True, None, self.config.permanent_by_default, now, now, None, False
        )
        return {}

    def _adopt(
        self,
        session: Session,
        now: int,
        sid: str,
        flags: int,
        created: int,
        issued: int,
        baseline: Any,
        key_index: int,
    ) -> bool:
        """Make ``session`` the verified one that came with the request,
        unless it is past ``absolute_lifetime`` (then it is no session)."""
        absolute = self.config.absolute_lifetime
        if absolute is not None and now - created >= absolute:
            self._debug("past absolute_lifetime")
            return False
        session._reset(  # positional: this runs on every load
            False, sid, bool(flags & FLAG_PERMANENT), created, issued, baseline, key_index > 0
        )
        return True

    def lifetime(self, session: Session, now: int) -> int:
        """Seconds the session may live from now: cookie Max-Age and store TTL."""
        lifetime = self.config.permanent_lifetime
        absolute = self.config.absolute_lifetime
        if absolute is not None:
            lifetime = min(lifetime, session.created + absolute - now)
        return max(lifetime, 1)

    def refresh_due(self, session: Session, now: int) -> bool:
        """An unmodified permanent session is re-sent (sliding expiry)."""
        config = self.config
        if not (session._permanent and config.refresh_each_request):
            return False
        interval = config.refresh_interval
        return interval is None or now - session.issued >= interval

    def _debug(self, reason: str) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("ignoring session cookie: %s", reason)


class CookieBackend(Backend):
    """The whole session in a signed cookie."""

    def __init__(self, config: Config, store: CookieStore) -> None:
        super().__init__(config)
        self.store = store
        self.sealer = store.bind(config.secret_keys)

    def load(self, session: Session, environ: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        for token in self._candidates(environ):
            try:
                payload, issued, index = self.sealer.open(token, self.config.permanent_lifetime)
                sid, flags, created, data = unpack_payload(payload)
            except (BadToken, DecodeError) as exc:
                self._debug(str(exc))
                continue
            if self._adopt(session, now, sid, flags, created, issued, payload, index):
                return data
        return self._start_new(session, now)

    def _payload(self, session: Session, data: dict[str, Any]) -> bytes:
        flags = FLAG_PERMANENT if session._permanent else 0
        sid = session._sid
        if sid is None:
            sid = session._sid = new_sid()
        return encode_envelope([PAYLOAD_VERSION, sid, flags, session.created], data)

    def save(self, session: Session) -> Headers:
        data = session._data
        assert data is not None
        if not data:
            # Emptied during this request: forget the cookie the client has.
            if not session._new and (session.modified or session.regenerated):
                return [self.cookies.delete_header]
            return []
        now = int(time.time())
        payload = None
        changed = session.modified or session.resign or session._new
        if not changed and self.config.detect_nested_changes and session.touched:
            payload = self._payload(session, data)
            changed = payload != session.baseline
        if not changed and not self.refresh_due(session, now):
            return []
        if payload is None:
            payload = self._payload(session, data)
        header = self.cookies.set_header(
            self.sealer.seal(payload),
            self.lifetime(session, now) if session._permanent else None,
        )
        if len(header[1]) > MAX_COOKIE_SIZE:
            self._oversized(header[1], data)
        return [header]

    def _oversized(self, header: str, data: dict[str, Any]) -> None:
        sizes = sorted(
            ((len(blob), key) for key, blob in encode_items(data, data).items()), reverse=True
        )
        largest = ", ".join(f"{key!r} ({size} bytes)" for size, key in sizes[:3])
        message = (
            f"the session cookie is {len(header)} bytes, over the browser limit of "
            f"{MAX_COOKIE_SIZE}; browsers will drop it. Largest keys: {largest}. "
            "Store less, or use a server-side store."
        )
        if self.store.strict_size:
            raise CookieTooLargeError(message)
        warnings.warn(message, SessionWarning, stacklevel=2)


class ServerBackend(Backend):
    """Data in a server-side store; the cookie carries only the signed sid."""

    def __init__(self, config: Config, store: Store) -> None:
        super().__init__(config)
        self.store = store
        self.keys = KeyRing(config.secret_keys, "sessionware.sid")

    def load(self, session: Session, environ: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        verified: dict[str, tuple[int, int]] = {}  # sid -> (issued, key index), first wins
        for token in self._candidates(environ):
            try:
                raw, issued, index = self.keys.unsign(token, self.config.permanent_lifetime)
            except BadToken as exc:
                self._debug(str(exc))
                continue
            # Signed by us, so it is one of our sids.
            verified.setdefault(raw.decode("ascii"), (issued, index))
            if len(verified) == MAX_LOOKUPS:
                self._debug(f"more than {MAX_LOOKUPS} verified session ids; the rest are ignored")
                break
        for sid, record in self._lookup(list(verified)):
            if record is None or MARKER not in record:
                self._debug("no live record for this session id")
                continue
            try:
                created, flags = decode(record[MARKER])
                if META in record:
                    (flags,) = decode(record[META])
                data = {key: decode(blob) for key, blob in record.items() if key not in RESERVED}
                if type(created) is not int or type(flags) is not int:
                    raise DecodeError("bad marker")
            except (DecodeError, ValueError, TypeError) as exc:
                logger.warning(
                    "session record %s… cannot be decoded (%s); starting a new session",
                    sid[:6],
                    exc,
                )
                continue
            issued, index = verified[sid]
            if self._adopt(session, now, sid, flags, created, issued, record, index):
                return data
        return self._start_new(session, now)

    def _lookup(self, sids: list[str]) -> Iterator[tuple[str, dict[str, bytes] | None]]:
        """``(sid, record)`` in order, stopping where the caller stops: one
        round trip for a single id (the common case) or a batch."""
        store = self.store
        if len(sids) == 1:
            yield sids[0], store.load(sids[0])
            return
        load_many = getattr(store, "load_many", None)
        if load_many is not None:
            yield from zip(sids, load_many(sids), strict=True)
            return
        for sid in sids[:MAX_SEQUENTIAL_LOOKUPS]:
            yield sid, store.load(sid)

    def _marker(self, session: Session) -> bytes:
        return encode([session.created, FLAG_PERMANENT if session._permanent else 0])

    def _cookie(self, session: Session, sid: str, now: int) -> tuple[str, str]:
        return self.cookies.set_header(
            self.keys.sign(sid.encode("ascii")),
            self.lifetime(session, now) if session._permanent else None,
        )

    def save(self, session: Session) -> Headers:
        data = session._data
        assert data is not None
        store = self.store
        old_sid = session.incoming_sid
        if not data:
            if old_sid is not None and (session.modified or session.regenerated):
                store.delete(old_sid)
                return [self.cookies.delete_header]
            return []
        if MARKER in data or META in data:
            key = MARKER if MARKER in data else META
            raise UnsupportedValueError(f"session key {key!r} is reserved", path=key)
        now = int(time.time())
        ttl = self.lifetime(session, now)
        if session._new or session.regenerated or session.cleared:
            return self._create(session, data, old_sid, ttl, now)
        assert old_sid is not None
        changes: dict[str, bytes | None] = {}
        touched = session.touched
        if session.modified or (self.config.detect_nested_changes and touched):
            # Only touched keys can hold a new value; removed keys show up
            # against the baseline. Unchanged encodings are not written.
            baseline: dict[str, bytes] = session.baseline
            present = [key for key in touched if key in data]
            for key, blob in encode_items(data, present).items():
                if baseline.get(key) != blob:
                    changes[key] = blob
            for key in baseline:
                if key not in data and key not in RESERVED:
                    changes[key] = None
            if session._permanent != session.permanent_loaded:
                # Never the marker: a stale request must not revive a record.
                changes[META] = encode([FLAG_PERMANENT if session._permanent else 0])
        if changes:
            store.save(old_sid, changes, ttl)
        elif session.modified or session.resign or self.refresh_due(session, now):
            store.touch(old_sid, ttl)  # re-issuing the cookie: the record lives as long
        else:
            return []
        return [self._cookie(session, old_sid, now)]

    def _create(
        self, session: Session, data: dict[str, Any], old_sid: str | None, ttl: int, now: int
    ) -> Headers:
        """Write a whole record (every key plus the marker) under a fresh sid.

        A session that came with the request moves here when it was
        regenerated or cleared: under its old id, a request that loaded it
        earlier could still write, and nothing such a request writes may
        survive a clear(). The old record must still be live once the new one
        is written; when a concurrent clear() or revocation removed it, the
        move is undone and the client's cookie deleted.
        """
        sid = session.sid
        if sid == old_sid:
            sid = session._sid = new_sid()
        changes: dict[str, bytes | None] = dict(encode_items(data, data))
        changes[MARKER] = self._marker(session)
        store = self.store
        store.save(sid, changes, ttl)
        if old_sid is not None:
            old = store.load(old_sid)
            store.delete(old_sid)  # the old id stops working at once
            if old is None or MARKER not in old:
                store.delete(sid)
                self._debug("the session was cleared by another request while it moved")
                return [self.cookies.delete_header]
        return [self._cookie(session, sid, now)]
