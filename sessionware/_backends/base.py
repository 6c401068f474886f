"""What both backends share: reading the cookie header, expiry arithmetic."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sessionware._cookies import CookieHeaders

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware._state import SessionState

logger = logging.getLogger("sessionware")

#: Bit of the ``flags`` integer kept with every session (cookie payload,
#: store record): the session is permanent.
FLAG_PERMANENT = 1


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
        if absolute is not None and now - created >= absolute:
            self.debug("past absolute_lifetime")
            return True
        return False

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

    def debug(self, reason: str) -> None:
        """Say on the ``sessionware`` logger (DEBUG) why a cookie was ignored."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("ignoring session cookie: %s", reason)
