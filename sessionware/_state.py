"""What a session's backend keeps about it during one request.

:class:`~sessionware.Session` is the user's mapping; everything a backend
needs to save it (ids, flags, times, what was loaded) lives in the state
record defined here, which the backend creates when it loads the session and
reads back when it saves it. The two backends keep different baselines (the
loaded cookie payload, or the loaded store record), so each has its own
state class and the difference shows in the types.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from sessionware._signing import b64encode

Headers = list[tuple[str, str]]


def new_sid() -> str:
    """A fresh session id: 128 random bits, URL-safe (22 characters).

    Same as ``secrets.token_urlsafe(16)`` (os.urandom), in one C call.
    """
    return b64encode(os.urandom(16)).decode("ascii")


class SessionState:
    """The bookkeeping of one loaded session (one request).

    Filled by the backend's ``load``; changed by the session's methods
    (``permanent``, ``regenerate()``, ``clear()``, key access); read by the
    backend's ``save``.
    """

    __slots__ = (
        "new",
        "sid",
        "incoming_sid",
        "permanent",
        "loaded_permanent",
        "created",
        "issued",
        "resign",
        "regenerated",
        "cleared",
        "owner",
        "loaded_owner",
        "owner_epoch",
        "touched",
        "refreshed",
        "baseline",
    )
    #: What was loaded, to tell what changed: its type is the backend's
    #: (see the subclasses).
    baseline: Any

    def __init__(
        self,
        new: bool,
        sid: str | None,
        permanent: bool,
        created: int,
        issued: int,
        resign: bool,
        baseline: Any,
    ) -> None:
        self.new = new  # no valid session came with the request
        #: This session's id (``None`` until a new session needs one) and the
        #: id that came with the request (``None`` for a new session).
        self.sid = self.incoming_sid = sid
        self.permanent = self.loaded_permanent = permanent
        self.created = created  # unix time the session was first created
        self.issued = issued  # unix time the incoming cookie was signed
        self.resign = resign  # verified with a fallback key: re-sign with the current one
        self.regenerated = False  # regenerate() ran: a new id
        self.cleared = False  # clear() ran: a server-side session moves to a new id
        # session.owner now and as loaded (the backend sets the loaded owner
        # after building the state). owner_epoch (cookie store): the epoch of
        # the owner's revocation entry when the owner was set (see
        # ``_revocation``); ``None`` once the owner changed: read at save.
        self.owner: str | None = None
        self.loaded_owner: str | None = None
        self.owner_epoch: int | None = 0
        # Keys set, or whose mutable value (list, dict, ...) was handed to the
        # app, which may change it in place: only these can differ from the
        # baseline, so only these are re-encoded at the end of the request.
        self.touched: set[str] = set()
        self.baseline = baseline
        #: The store extended the record's TTL while loading it (server
        #: stores: a due refresh of a permanent session, see
        #: ``stores.base.Refresh``): no touch needed at save time.
        self.refreshed = False


class CookieState(SessionState):
    """State of a cookie-store session."""

    __slots__ = ()
    #: The verified payload as it came with the request (``None`` for a new
    #: session): an unchanged session encodes to exactly these bytes.
    baseline: bytes | None


class ServerState(SessionState):
    """State of a server-side session."""

    __slots__ = ()
    #: The store record as loaded (empty for a new session): only keys whose
    #: encoding differs from it are written back.
    baseline: dict[str, bytes]


class Backend(Protocol):
    """Loads a request's session and saves it onto the response.

    Built by :func:`sessionware._backends.backend_for` for the configured store.
    """

    def load(self, environ: dict[str, Any]) -> tuple[dict[str, Any], SessionState]:
        """The session data and state for this request's cookie (new and empty
        when no valid session came with it)."""
        ...

    def save(self, data: dict[str, Any], state: Any, modified: bool) -> Headers:
        """Store what changed and return the response headers it needs
        (``Set-Cookie``, or nothing)."""
        ...
