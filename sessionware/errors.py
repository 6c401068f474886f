"""Errors and warnings raised by sessionware (all re-exported from ``sessionware``)."""

from __future__ import annotations

from typing import Any


class SessionwareError(Exception):
    """Base class of every error sessionware raises."""


class ConfigurationError(SessionwareError, ValueError):
    """A setting is missing or invalid; raised when the middleware is built."""


class StoreError(SessionwareError):
    """A session store failed (server down, disk full, ...).

    The failing store is available as :attr:`store` and the underlying
    exception as ``__cause__``. It always propagates: a request whose session
    could not be loaded or saved fails loudly instead of losing data.
    """

    def __init__(self, message: str, store: Any = None) -> None:
        super().__init__(message)
        self.store = store  #: The store that failed (``None`` when unknown).


class CookieTooLargeError(SessionwareError, ValueError):
    """The session no longer fits in its cookie (over the 4093 bytes browsers keep).

    Raised when the response is saved, by the cookie store with its default
    ``oversize="raise"``: the request fails and no ``Set-Cookie`` is sent, so
    the browser keeps the session it had. The message names the size, the
    limit and the largest keys (never their values).
    """


class UnsupportedValueError(SessionwareError, TypeError):
    """A session value cannot be stored; :attr:`path` names where it sits."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path  #: Where the value sits, as ``session['profile']['avatar']``.


class SessionWarning(UserWarning):
    """Oversized cookies, changes after the headers were sent, short secret keys."""


def install_hint(extra: str) -> str:
    """The command that installs an extra, for "needs ..." messages: from
    PyPI, and from a checkout of the source (where the first one would
    install the released package instead)."""
    return f'pip install "sessionware[{extra}]" (from a checkout: pip install -e ".[{extra}]")'
