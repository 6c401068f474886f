"""The cookie backend: the whole session in a signed (or encrypted) cookie."""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from sessionware._backends.base import FLAG_PERMANENT, BaseBackend
from sessionware._codec import DecodeError, decode_envelope, encode_envelope, encode_items
from sessionware._config import user_stacklevel
from sessionware._cookies import MAX_COOKIE_SIZE
from sessionware._signing import BadToken
from sessionware._state import CookieState, Headers, new_sid
from sessionware.errors import CookieTooLargeError, SessionWarning

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware.stores.cookie import CookieSealer, CookieStore

#: Version of the cookie payload layout ``[version, sid, flags, created, data]``.
#: A new layout gets a new number; loaders keep reading the old ones.
PAYLOAD_VERSION = 1


#: A verified, decoded cookie: ``(sid, flags, created, data, issued,
#: key_index, payload)``; ``created``/``issued``: unix times the session was
#: first created / this cookie signed; ``key_index`` 0 for the current key,
#: 1.. for a fallback; ``payload`` the verified bytes as they came. (A plain
#: tuple: a NamedTuple costs half a microsecond per request more.)
CookieSession = tuple[str, int, int, dict[str, Any], int, int, bytes]


def read_cookie(sealer: CookieSealer, token: str, max_age: int) -> CookieSession:
    """Verify, unwrap and decode one cookie value (the only place that does).

    Raises :class:`BadToken` (not ours, wrongly signed, expired) or
    :class:`DecodeError` (a payload layout this version does not read: only
    our key signs, so a newer or retired layout, never an attacker's bytes).
    """
    payload, issued, index = sealer.open(token, max_age)
    envelope = decode_envelope(payload)
    if (
        len(envelope) != 5
        or envelope[0] != PAYLOAD_VERSION
        or type(envelope[1]) is not str
        or type(envelope[2]) is not int
        or type(envelope[3]) is not int
    ):
        raise DecodeError("unknown payload layout")
    return envelope[1], envelope[2], envelope[3], envelope[4], issued, index, payload


class CookieBackend(BaseBackend):
    """The whole session in a signed cookie."""

    def __init__(self, config: Config, store: CookieStore) -> None:
        super().__init__(config)
        self.store = store
        self.sealer = store.bind(config.secret_keys)

    def load(self, environ: dict[str, Any]) -> tuple[dict[str, Any], CookieState]:
        now = int(time.time())
        for token in self.tokens(environ):
            try:
                sid, flags, created, data, issued, index, payload = read_cookie(
                    self.sealer, token, self.config.permanent_lifetime
                )
            except (BadToken, DecodeError) as exc:
                self.debug(str(exc))
                continue
            if self.absolute and self.expired(created, now):
                continue
            state = CookieState(  # positional: this runs on every load
                False, sid, bool(flags & FLAG_PERMANENT), created, issued, index > 0, payload
            )
            return data, state
        return {}, CookieState(True, None, self.config.permanent_by_default, now, now, False, None)

    def _payload(self, state: CookieState, data: dict[str, Any]) -> bytes:
        sid = state.sid
        if sid is None:
            sid = state.sid = new_sid()
        flags = FLAG_PERMANENT if state.permanent else 0
        return encode_envelope([PAYLOAD_VERSION, sid, flags, state.created], data)

    def save(self, data: dict[str, Any], state: CookieState, modified: bool) -> Headers:
        if not data:
            # Emptied during this request: forget the cookie the client has.
            if not state.new and (modified or state.regenerated):
                return [self.cookies.delete_header]
            return []
        now = int(time.time())
        payload = None
        changed = modified or state.resign or state.new
        if not changed and self.config.detect_nested_changes and state.touched:
            payload = self._payload(state, data)
            changed = payload != state.baseline
        if not changed and not self.refresh_due(state, now):
            return []
        if payload is None:
            payload = self._payload(state, data)
        header = self.cookies.set_header(
            self.sealer.seal(payload),
            self.lifetime(state, now) if state.permanent else None,
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
        warnings.warn(message, SessionWarning, stacklevel=user_stacklevel())
