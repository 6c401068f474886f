"""The cookie backend: the whole session in a signed (or encrypted) cookie."""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from sessionware._backends.base import FLAG_PERMANENT, BaseBackend
from sessionware._codec import DecodeError, decode_envelope, encode_envelope, encode_items
from sessionware._config import user_stacklevel
from sessionware._cookies import MAX_COOKIE_SIZE
from sessionware._revocation import ENDED, MOVED, REVOKED
from sessionware._signing import BadToken
from sessionware._state import CookieState, Headers, SessionState, new_sid
from sessionware.audit import audit
from sessionware.errors import CookieTooLargeError, SessionWarning

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware._revocation import Revocations
    from sessionware.stores.cookie import CookieSealer, CookieStore

#: Version of the cookie payload layout ``[version, sid, flags, created, data]``.
#: A new layout gets a new number; loaders keep reading the old ones.
PAYLOAD_VERSION = 1
#: Layout of an owned session: ``[2, sid, flags, created, owner, epoch,
#: data]`` (``epoch``: of the owner's revocation entry when the owner was set,
#: see ``_revocation``; 0 without one). Unowned sessions keep layout 1, byte
#: for byte.
PAYLOAD_VERSION_OWNED = 2
#: With a revocation store, at most this many verified cookies of one request
#: are checked (all in one round trip); the rest are ignored.
MAX_REVOCATION_CHECKS = 16


#: A verified, decoded cookie: ``(sid, flags, created, data, issued,
#: key_index, payload, owner, epoch)``; ``created``/``issued``: unix
#: times the session was first created / this cookie signed; ``key_index`` 0
#: for the current key, 1.. for a fallback; ``payload`` the verified bytes as
#: they came; ``owner`` (or ``None``) and its epoch. (A plain
#: tuple: a NamedTuple costs half a microsecond per request more.)
CookieSession = tuple[str, int, int, dict[str, Any], int, int, bytes, str | None, int]


def read_cookie(sealer: CookieSealer, token: str, max_age: int) -> CookieSession:
    """Verify, unwrap and decode one cookie value (the only place that does).

    Raises :class:`BadToken` (not ours, wrongly signed, expired) or
    :class:`DecodeError` (a payload layout this version does not read: only
    our key signs, so a newer or retired layout, never an attacker's bytes).
    """
    payload, issued, index = sealer.open(token, max_age)
    envelope = decode_envelope(payload)
    size = len(envelope)
    if (
        size < 5
        or type(envelope[1]) is not str
        or type(envelope[2]) is not int
        or type(envelope[3]) is not int
    ):
        raise DecodeError("unknown payload layout")
    if envelope[0] == PAYLOAD_VERSION and size == 5:
        return envelope[1], envelope[2], envelope[3], envelope[4], issued, index, payload, None, 0
    if (
        envelope[0] != PAYLOAD_VERSION_OWNED
        or size != 7
        or type(envelope[4]) is not str
        or type(envelope[5]) is not int
    ):
        raise DecodeError("unknown payload layout")
    sid, flags, created, owner, epoch, data = envelope[1:]
    return sid, flags, created, data, issued, index, payload, owner, epoch


class CookieBackend(BaseBackend):
    """The whole session in a signed cookie."""

    def __init__(
        self, config: Config, store: CookieStore, revocations: Revocations | None = None
    ) -> None:
        super().__init__(config)
        self.store = store
        self.sealer = store.bind(config.secret_keys)
        #: The revocation store's entries (``revocation=``), or ``None``.
        self.revocations = revocations

    def load(self, environ: dict[str, Any]) -> tuple[dict[str, Any], SessionState]:
        now = int(time.time())
        checked: list[CookieSession] = []
        refused = 0  # cookies refused so far: only the first few are logged
        for token in self.tokens(environ):
            try:
                cookie = read_cookie(self.sealer, token, self.config.permanent_lifetime)
            except (BadToken, DecodeError) as exc:
                refused = self.refuse(str(exc), None, refused)
                continue
            if self.absolute and self.expired(cookie[2], now):
                refused = self.refuse("past absolute_lifetime", None, refused)
                continue
            if self.revocations is not None:
                checked.append(cookie)  # checked together below: one round trip
                if len(checked) == MAX_REVOCATION_CHECKS:
                    break
                continue
            if refused:  # rare: the summary of what was not logged, if anything
                self.refused_more(refused)
            return cookie[3], self._state(cookie)
        if checked:
            found, refused = self._unrevoked(checked, refused)
            if found is not None:
                if refused:
                    self.refused_more(refused)
                return found
        if refused:
            self.refused_more(refused)
        return {}, CookieState(True, None, self.config.permanent_by_default, now, now, False, None)

    def _state(self, cookie: CookieSession) -> CookieState:
        sid, flags, created, _, issued, index, payload, owner, epoch = cookie
        state = CookieState(  # positional: this runs on every load
            False, sid, bool(flags & FLAG_PERMANENT), created, issued, index > 0, payload
        )
        if owner is not None:
            state.owner = state.loaded_owner = owner
            state.owner_epoch = epoch
        return state

    def _unrevoked(
        self, cookies: list[CookieSession], refused: int
    ) -> tuple[tuple[dict[str, Any], CookieState] | None, int]:
        """The first of the verified ``cookies`` that is not revoked, all
        checked in one round trip, and the request's refusals so far. A
        failing revocation store raises StoreError: a check that cannot be
        made never lets a cookie through."""
        assert self.revocations is not None
        verdicts = self.revocations.check_many([(c[0], c[7], c[8]) for c in cookies])
        for cookie, verdict in zip(cookies, verdicts, strict=True):
            reason = self._refusal(cookie, verdict)
            if reason is not None or verdict is None:
                refused = self.refuse(reason or "revoked", cookie[0], refused)
                continue
            return (cookie[3], self._admitted(cookie, verdict)), refused
        return None, refused

    def _refusal(self, cookie: CookieSession, verdict: int | None) -> str | None:
        """Why the revocation store refuses a verified cookie, or ``None``."""
        if verdict is REVOKED:
            return "revoked"
        if self.revocations is not None and self.revocations.too_old(cookie[4]):
            return "expired: older than the longest lifetime in force when this app started"
        return None

    def admit(self, cookie: CookieSession, verdict: int | None) -> CookieState | None:
        """The state of a verified cookie given the revocation store's
        verdict on it (``Revocations.check_many``; without a revocation
        store, its own epoch), or ``None`` when it is revoked."""
        reason = self._refusal(cookie, verdict)
        if reason is not None or verdict is None:
            self.debug(reason or "revoked", cookie[0])
            return None
        return self._admitted(cookie, verdict)

    def _admitted(self, cookie: CookieSession, verdict: int) -> CookieState:
        state = self._state(cookie)
        if verdict != cookie[8]:
            # Spared by revoke_owner(keep=...): re-issued with the current
            # epoch, so that it outlives its own later regenerate().
            state.owner_epoch = verdict
            state.resign = True
        return state

    def _payload(self, state: CookieState, data: dict[str, Any]) -> bytes:
        sid = state.sid
        if sid is None:
            sid = state.sid = new_sid()
        flags = FLAG_PERMANENT if state.permanent else 0
        owner = state.owner
        if owner is None:
            return encode_envelope([PAYLOAD_VERSION, sid, flags, state.created], data)
        epoch = state.owner_epoch
        if epoch is None:
            # The owner was set during this request: read its entry's epoch
            # now (a login after a revocation carries the new one).
            revocations = self.revocations
            epoch = state.owner_epoch = 0 if revocations is None else revocations.epoch(owner)
        header = [PAYLOAD_VERSION_OWNED, sid, flags, state.created, owner, epoch]
        return encode_envelope(header, data)

    def _leave(self, state: CookieState, new_sid: str | None) -> bool:
        """With a revocation store, the cookie a session leaves behind
        (cleared, invalidated, regenerated) is refused from now on, copies
        of it included; ``False`` when the session moved to ``new_sid`` must
        not live (a concurrent logout won, see ``Revocations.leave``)."""
        old_sid = state.incoming_sid
        if self.revocations is None or old_sid is None:
            return True
        kind = ENDED if state.cleared or new_sid is None else MOVED
        return self.revocations.leave(old_sid, new_sid, kind)

    def save(self, data: dict[str, Any], state: CookieState, modified: bool) -> Headers:
        if not data and state.owner is None:  # an owner alone is content
            # Emptied during this request: forget the cookie the client has.
            if not state.new and (modified or state.regenerated):
                self._leave(state, None)
                return [self.cookies.delete_header]
            return []
        if state.cleared and self.revocations is not None and state.sid == state.incoming_sid:
            # Cleared and filled again: under a new sid, so that a copy of the
            # cookie from before the clear() (a logged-in one) can be refused.
            state.sid = new_sid()
        now = int(time.time())
        payload = None
        changed = modified or state.resign or state.new
        if not changed and self.config.detect_nested_changes and state.touched:
            payload = self._payload(state, data)
            changed = payload != state.baseline
        if not changed and not self.refresh_due(state, now):
            return []
        if self.revocations is not None:
            self.revocations.announce()  # before a cookie is issued
        if payload is None:
            payload = self._payload(state, data)
        header = self.cookies.set_header(
            self.sealer.seal(payload),
            self.lifetime(state, now) if state.permanent else None,
        )
        if len(header[1]) > MAX_COOKIE_SIZE:
            # Checked before the old cookie is revoked: a save that fails
            # here leaves the browser the session it had.
            header = self.oversized(header, data, state, now)
        if state.sid != state.incoming_sid:
            if not self._leave(state, state.sid):
                self.debug("the session was cleared by another request while it moved")
                return [self.cookies.delete_header]
            if state.new:
                audit("created", state.sid, state.owner)
        return [header]

    def oversized(
        self, header: tuple[str, str], data: dict[str, Any], state: CookieState, now: int
    ) -> tuple[str, str]:
        """The session's ``Set-Cookie`` is over the browser limit: raise
        :class:`CookieTooLargeError` (``oversize="raise"``), or warn and send
        it anyway (``"warn"``). The overflow backend keeps it server-side."""
        message = oversize_message(len(header[1]), data)
        if self.store.oversize == "raise":
            raise CookieTooLargeError(message)
        warnings.warn(message, SessionWarning, stacklevel=user_stacklevel(FRAMEWORKS))
        return header


#: Frameworks that call the save: an oversize warning names the first frame
#: outside them and sessionware (their lines are not the user's).
FRAMEWORKS = ("flask", "werkzeug", "quart")


def oversize_message(size: int, data: dict[str, Any]) -> str:
    """What a session too large for its cookie says: its size, the limit and
    its three largest keys by encoded size (names only, never values)."""
    sizes = sorted(
        ((len(blob), key) for key, blob in encode_items(data, data).items()), reverse=True
    )
    largest = ", ".join(f"{key!r} ({size} bytes)" for size, key in sizes[:3])
    return (
        f"the session cookie is {size} bytes, over the {MAX_COOKIE_SIZE} bytes "
        f"browsers keep (they drop a larger cookie without a word). Largest keys: "
        f"{largest}. Store less, or keep large sessions server-side with "
        "CookieStore(overflow=<store URL>)."
    )
