"""The two ways a session is kept, and the one place that picks between them.

:func:`backend_for` turns the configured store into a backend: the
:class:`~sessionware._backends.cookie.CookieBackend` for the cookie store,
the :class:`~sessionware._backends.server.ServerBackend` for any server-side
store (anything implementing :class:`sessionware.stores.Store`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sessionware._backends.cookie import CookieBackend
from sessionware._backends.server import ServerBackend
from sessionware.errors import ConfigurationError
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from sessionware._config import Config

__all__ = ["CookieBackend", "ServerBackend", "backend_for"]


def backend_for(config: Config, store: object) -> CookieBackend | ServerBackend:
    """The backend that keeps sessions in ``store``, for ``config``."""
    if isinstance(store, CookieStore):
        return CookieBackend(config, store)
    if isinstance(store, Store):
        return ServerBackend(config, store)
    raise ConfigurationError(
        f"store must be a store URL, CookieStore or an object with load/save/"
        f"delete/touch methods (sessionware.stores.Store), not {type(store).__name__}"
    )
