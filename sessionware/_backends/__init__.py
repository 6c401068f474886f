"""The two ways a session is kept, and the one place that picks between them.

:func:`backend_for` turns the configured store into a backend: the
:class:`~sessionware._backends.cookie.CookieBackend` for the cookie store,
the :class:`~sessionware._backends.overflow.OverflowBackend` for a cookie
store with ``overflow=``, the
:class:`~sessionware._backends.server.ServerBackend` for any server-side
store (anything implementing :class:`sessionware.stores.Store`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessionware._backends.cookie import CookieBackend
from sessionware._backends.overflow import OverflowBackend
from sessionware._backends.server import ServerBackend
from sessionware.errors import ConfigurationError
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from sessionware._config import Config
    from sessionware._revocation import Revocations

__all__ = ["CookieBackend", "OverflowBackend", "ServerBackend", "backend_for"]


def backend_for(
    config: Config, store: object, revocations: Revocations | None = None
) -> CookieBackend | ServerBackend:
    """The backend that keeps sessions in ``store``, for ``config`` (and, for
    the cookie store, the revocation store's entries)."""
    if isinstance(store, CookieStore):
        if store.overflow is not None:
            return OverflowBackend(config, store, revocations)
        return CookieBackend(config, store, revocations)
    if isinstance(store, Store):
        return ServerBackend(config, store)
    raise ConfigurationError(
        f"store must be a store URL, CookieStore or an object with load/save/"
        f"delete/touch methods (sessionware.stores.Store), not {type(store).__name__}"
    )
