"""What both backends share: reading the cookie header, expiry arithmetic."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sessionware._cookies import CookieHeaders
from sessionware.audit import rejected

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware._state import SessionState

logger = logging.getLogger("sessionware")

#: Bit of the ``flags`` integer kept with every session (cookie payload,
#: store record): the session is permanent.
FLAG_PERMANENT = 1
#: Refused cookies of one request that are logged one by one (a DEBUG line
#: and a ``rejected`` audit event each); the rest are counted in one more
#: line (:meth:`BaseBackend.refused_more`), so a ``Cookie`` header holding
#: thousands of junk session cookies logs a few lines, not thousands.
MAX_LOGGED_REFUSALS = 3


class BaseBackend:
    """Expiry arithmetic and the cookie headers, for one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cookies = CookieHeaders(config)
        #: Whether ``absolute_lifetime`` is set (checked on every load).
        self.absolute = config.absolute_lifetime is not None

    def tokens(self, environ: dict[str, Any]) -> Iterable[str]:
        """Every value of the session cookie in the request, in order, lazily
        (unverified: each is checked by the backend before use)."""
        header = environ.get("HTTP_COOKIE")
        if not header:
            return ()
        return self.cookies.candidates(header)

    def expired(self, created: int, now: int) -> bool:
        """Whether a verified session is past ``absolute_lifetime`` (then it
        is no session)."""
        absolute = self.config.absolute_lifetime
        return absolute is not None and now - created >= absolute

    def lifetime(self, state: SessionState, now: int) -> int:
        """Seconds the session may live from now: cookie Max-Age and store TTL."""
        lifetime = self.config.permanent_lifetime
        absolute = self.config.absolute_lifetime
        if absolute is not None:
            lifetime = min(lifetime, state.created + absolute - now)
        return max(lifetime, 1)

    def refresh_due(self, state: SessionState, now: int) -> bool:
        """An unmodified permanent session is re-sent (sliding expiry)."""
        return state.permanent and self.refresh_may_be_due(state.issued, now)

    def refresh_may_be_due(self, issued: int, now: int) -> bool:
        """A refresh is due now for a permanent session issued at ``issued``."""
        config = self.config
        interval = config.refresh_interval
        return config.refresh_each_request and (interval is None or now - issued >= interval)

    def refuse(self, reason: str, sid: str | None = None, count: int = 0) -> int:
        """Log why a cookie was refused, when ``count`` (the request's
        refusals so far) is under :data:`MAX_LOGGED_REFUSALS`; return
        ``count + 1``."""
        if count < MAX_LOGGED_REFUSALS:
            self.debug(reason, sid)
        return count + 1

    def refused_more(self, count: int) -> int:
        """One line for the refusals of a request that were not logged, if
        any; return how many were logged one by one."""
        if count <= MAX_LOGGED_REFUSALS:
            return count
        self.debug(
            f"more than {MAX_LOGGED_REFUSALS} session cookies refused in one request; "
            f"{count - MAX_LOGGED_REFUSALS} more not logged one by one"
        )
        return MAX_LOGGED_REFUSALS

    def debug(self, reason: str, sid: str | None = None) -> None:
        """Say on the ``sessionware`` logger (DEBUG) why a cookie was ignored,
        and log a ``rejected`` audit event (``sessionware.audit``)."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("ignoring session cookie: %s", reason)
        rejected(reason, sid)
