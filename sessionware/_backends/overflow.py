"""The cookie backend with an overflow store: ``CookieStore(overflow=...)``.

A session lives in its cookie while it fits. When a save finds its
``Set-Cookie`` over the browser limit, the session moves, under the same
sid, into the overflow store, and its cookie carries only the signed id,
exactly as with a server-side store (:class:`ServerBackend` does the work
there). It then stays in that store until it is emptied (cleared,
invalidated, its last key deleted): a session that shrinks again does not
move back, so every guarantee of a server-side store holds for it from the
move on, whatever its size.

The two kinds of cookie are told apart by their signature alone: payload
cookies are signed for ``"sessionware.cookie"``, ids for
``"sessionware.sid"`` (different HMAC keys), so no value valid as one can be
read as the other. Among several session cookies of a request, the first
that verifies and is live wins, whichever its kind (section 5).

With a revocation store (``revocation=``), payload cookies are checked
against it as without overflow; an overflow session is ended by deleting its
record (``mw.revoke``/``mw.revoke_owner`` do both), and when one is emptied
or moves to a new sid its old sid is revoked too, so a copy of its cookie
from before the move is refused.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sessionware._backends.cookie import (
    MAX_REVOCATION_CHECKS,
    CookieBackend,
    CookieSession,
    read_cookie,
)
from sessionware._backends.server import ServerBackend, read_id
from sessionware._codec import DecodeError
from sessionware._signing import BadToken
from sessionware._state import CookieState, Headers, ServerState, SessionState

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware._revocation import Revocations
    from sessionware.stores.cookie import CookieStore

#: A verified session id of the overflow store: ``(sid, issued, key_index)``.
OverflowId = tuple[str, int, int]


class OverflowBackend(CookieBackend):
    """Sessions in the cookie while they fit, in the overflow store after."""

    def __init__(
        self, config: Config, store: CookieStore, revocations: Revocations | None = None
    ) -> None:
        super().__init__(config, store, revocations)
        assert store.overflow is not None
        #: Keeps the sessions that outgrew the cookie.
        self.overflow = ServerBackend(config, store.overflow)

    def load(self, environ: dict[str, Any]) -> tuple[dict[str, Any], SessionState]:
        now = int(time.time())
        lifetime = self.config.permanent_lifetime
        found: list[CookieSession | OverflowId] = []  # verified, in the request's order
        refused = 0  # cookies refused so far: only the first few are logged
        for token in self.tokens(environ):
            try:
                cookie = read_cookie(self.sealer, token, lifetime)
            except BadToken as exc:
                try:
                    found.append(read_id(self.overflow.keys, token, lifetime))
                except BadToken:
                    # Neither kind: say why it is no payload.
                    refused = self.refuse(str(exc), None, refused)
                    continue
            except DecodeError as exc:
                refused = self.refuse(str(exc), None, refused)
                continue
            else:
                if self.absolute and self.expired(cookie[2], now):
                    refused = self.refuse("past absolute_lifetime", None, refused)
                    continue
                found.append(cookie)
            if len(found) == MAX_REVOCATION_CHECKS:
                break
        if refused:  # one line for the refusals not logged one by one, if any
            self.refused_more(refused)
        if found:
            loaded = self._first_live(found, now)
            if loaded is not None:
                return loaded
        return {}, CookieState(True, None, self.config.permanent_by_default, now, now, False, None)

    def _first_live(
        self, found: list[CookieSession | OverflowId], now: int
    ) -> tuple[dict[str, Any], SessionState] | None:
        """The first live session of ``found``: a payload cookie that is not
        revoked (all checked in one round trip), or an id whose record is
        live (looked up together, in one round trip where the store can)."""
        cookies = [item for item in found if len(item) != 3]
        verdicts = iter(
            self.revocations.check_many([(c[0], c[7], c[8]) for c in cookies])
            if self.revocations is not None and cookies
            else [c[8] for c in cookies]  # each its own epoch: live
        )
        records = None
        for item in found:
            if len(item) != 3:
                cookie: CookieSession = item
                state = self.admit(cookie, next(verdicts))
                if state is not None:
                    return cookie[3], state
                continue
            if records is None:
                records = self.overflow.lookup_many([i[0] for i in found if len(i) == 3])
            sid, issued, index = item
            loaded = self.overflow.open_record(sid, issued, index, next(records, None), now)
            if loaded is not None:
                return loaded
        return None

    def save(self, data: dict[str, Any], state: Any, modified: bool) -> Headers:
        if not isinstance(state, ServerState):
            return super().save(data, state, modified)
        headers = self.overflow.save(data, state, modified)
        old_sid = state.incoming_sid
        emptied = modified and not data and state.owner is None
        if (
            self.revocations is not None
            and old_sid is not None
            and (state.cleared or state.regenerated or emptied)
        ):
            # The session left its sid (emptied, or moved to a new one): a
            # copy of its payload cookie from before the move is refused too.
            self.revocations.revoke_sid(old_sid)
        return headers

    def oversized(
        self, header: tuple[str, str], data: dict[str, Any], state: CookieState, now: int
    ) -> tuple[str, str]:
        """Move the session into the overflow store, under its sid: the
        response sends its signed id instead of the payload."""
        moved = ServerState(False, state.sid, state.permanent, state.created, now, False, {})
        moved.incoming_sid = None  # nothing of it is in the overflow store yet
        moved.owner = state.owner
        (header,) = self.overflow.adopt(data, moved)
        return header
