"""Loading and saving a Session: the cookie store and the server-side stores."""

from __future__ import annotations

import logging
import time
import warnings
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
from sessionware.stores.base import Refresh

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
#: Record key holding ``[created, flags]``. Written only when a record is
#: created (or its flags change), so a record that lacks it was re-created by
#: a write racing a clear(): such a record is dead, which makes clear() win.
MARKER = "\x00sessionware"
#: At most this many same-name cookies are tried (cookie tossing).
MAX_CANDIDATES = 8
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
        return self.cookies.candidates(header)[:MAX_CANDIDATES]

    def _start_new(self, session: Session, now: int) -> dict[str, Any]:
        session._reset(  # positional: this runs on every load
            True, None, False, now, now, None, False
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
        return session._permanent and self.refresh_may_be_due(session.issued, now)

    def refresh_may_be_due(self, issued: int, now: int) -> bool:
        """A refresh is due now for a permanent session issued at ``issued``."""
        config = self.config
        interval = config.refresh_interval
        return config.refresh_each_request and (interval is None or now - issued >= interval)

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
        # Optional store capability (stores/base.py, Refresh): a load that
        # also applies a due refresh, so a read-only request is one round trip.
        self.load_refreshing = getattr(store, "load_refreshing", None)

    def load(self, session: Session, environ: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        for token in self._candidates(environ):
            try:
                raw, issued, index = self.keys.unsign(token, self.config.permanent_lifetime)
            except BadToken as exc:
                self._debug(str(exc))
                continue
            sid = raw.decode("ascii")  # signed by us, so it is one of our sids
            # A failing store raises StoreError: loud.
            load_refreshing = self.load_refreshing
            refreshing = load_refreshing is not None and self.refresh_may_be_due(issued, now)
            if load_refreshing is not None and refreshing:
                config = self.config
                refresh = Refresh(
                    MARKER, FLAG_PERMANENT, config.permanent_lifetime, now, config.absolute_lifetime
                )
                record = load_refreshing(sid, refresh)
            else:
                record = self.store.load(sid)
            if record is None or MARKER not in record:
                self._debug("no live record for this session id")
                continue
            try:
                created, flags = decode(record[MARKER])
                data = {key: decode(blob) for key, blob in record.items() if key != MARKER}
                if type(created) is not int or type(flags) is not int:
                    raise DecodeError("bad marker")
            except (DecodeError, ValueError, TypeError) as exc:
                logger.warning(
                    "session record %s… cannot be decoded (%s); starting a new session",
                    sid[:6],
                    exc,
                )
                continue
            if self._adopt(session, now, sid, flags, created, issued, record, index):
                session.refreshed = refreshing and session._permanent
                return data
        return self._start_new(session, now)

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
        if MARKER in data:
            raise UnsupportedValueError(f"session key {MARKER!r} is reserved", path=MARKER)
        now = int(time.time())
        ttl = self.lifetime(session, now)
        if session._new or session.regenerated:
            # A new record (also under a regenerated id): every key plus the marker.
            sid = session.sid
            changes: dict[str, bytes | None] = dict(encode_items(data, data))
            changes[MARKER] = self._marker(session)
            store.save(sid, changes, ttl)
            if old_sid is not None and old_sid != sid:
                store.delete(old_sid)  # the old id stops working at once
            return [self._cookie(session, sid, now)]
        assert old_sid is not None
        changes = {}
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
                if key not in data and key != MARKER:
                    changes[key] = None
            marker = self._marker(session)
            if baseline.get(MARKER) != marker:
                changes[MARKER] = marker
        if changes:
            store.save(old_sid, changes, ttl)
        elif session.modified or session.resign or self.refresh_due(session, now):
            if not session.refreshed:  # else the load extended the TTL already
                store.touch(old_sid, ttl)  # re-issuing the cookie: the record lives as long
        else:
            return []
        return [self._cookie(session, old_sid, now)]
