"""sessionware: Flask's session API for every WSGI app."""

from __future__ import annotations

from sessionware.errors import (
    ConfigurationError,
    CookieTooLargeError,
    SessionwareError,
    SessionWarning,
    StoreError,
    UnsupportedValueError,
)
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session
from sessionware.stores.base import Store

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "CookieTooLargeError",
    "Session",
    "SessionMiddleware",
    "SessionWarning",
    "SessionwareError",
    "Store",
    "StoreError",
    "UnsupportedValueError",
]
