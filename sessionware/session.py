"""Session: Flask's session API as a lazily loaded ``MutableMapping``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, MutableMapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sessionware._signing import b64encode
from sessionware.errors import SessionWarning, UnsupportedValueError

if TYPE_CHECKING:
    from sessionware._backend import Backend

_MISSING: Any = object()
#: Values that cannot be changed in place: handing one out cannot lead to a
#: nested change, so a request that only read these needs no re-encoding.
_IMMUTABLE = frozenset(
    {str, int, float, bool, type(None), bytes, Decimal, UUID, datetime, date, time, timedelta}
)


class _Label(str):
    """Names a change that is not a key (``session.permanent``) in warnings."""


def new_sid() -> str:
    """A fresh session id: 128 random bits, URL-safe (22 characters).

    Same as ``secrets.token_urlsafe(16)`` (os.urandom), in one C call.
    """
    return b64encode(os.urandom(16)).decode("ascii")


class Session(MutableMapping[str, Any]):
    """The session of one request, as ``environ["session"]``.

    Nothing is read, verified or decoded until the app first touches the
    session (any key access, :attr:`permanent`, :attr:`sid`, :attr:`new`).
    Writes mark :attr:`modified`; the middleware saves a modified session
    when the response starts and re-sends or deletes the cookie as needed.
    """

    __slots__ = (
        "_backend",
        "_environ",
        "_data",
        "modified",
        "accessed",
        "_permanent",
        "_sid",
        "_new",
        "incoming_sid",
        "created",
        "issued",
        "baseline",
        "resign",
        "regenerated",
        "touched",
        "sealed",
        "refreshed",
    )

    def __init__(self, backend: Backend, environ: dict[str, Any]) -> None:
        # Only what an untouched request needs is set here: every request
        # pays for this. The backend fills in the rest when it loads.
        self._backend = backend
        self._environ = environ
        self._data: dict[str, Any] | None = None
        #: Forces a save when True; set it after mutating a nested value in
        #: place if ``detect_nested_changes`` is off.
        self.modified = False
        #: The app read or wrote the session during this request.
        self.accessed = False
        self.sealed = False  # the response headers have gone out

    def _reset(
        self,
        new: bool,
        sid: str | None,
        permanent: bool,
        created: int,
        issued: int,
        baseline: Any,
        resign: bool,
    ) -> None:
        """Set the loaded state (called by the backend while loading)."""
        self._new = new
        self._sid = self.incoming_sid = sid  # incoming_sid: the id that came with the request
        self._permanent = permanent
        self.created = created  # unix time the session was first created
        self.issued = issued  # unix time the incoming cookie was signed
        self.baseline = baseline  # encoded form as loaded, for change detection
        self.resign = resign  # verified with a fallback key: re-sign with the current one
        self.regenerated = False
        self.refreshed = False  # the store extended the TTL while loading
        # Keys set, or whose mutable value (list, dict, ...) was handed to the
        # app, which may change it in place: only these can differ from the
        # baseline, so only these are re-encoded at the end of the request.
        self.touched: set[str] = set()

    # -- loading -----------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the session has been loaded from the request yet."""
        return self._data is not None

    def _load(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            data = self._data = self._backend.load(self, self._environ)
        self.accessed = True
        return data

    def _changed(self, key: object) -> None:
        """Mark modified; warn when the headers have gone out (``key``: what changed)."""
        self.modified = True
        if self.sealed:
            if type(key) is list:
                where = ", ".join(f"session[{k!r}]" for k in key)
            elif type(key) is str:
                where = f"session[{key!r}]"
            else:
                where = str(key)  # a _Label such as "session.permanent"
            warnings.warn(
                f"{where} was changed after the response headers were sent; "
                "this change is not saved",
                SessionWarning,
                stacklevel=3,
            )

    # -- mapping -------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = self._load()[key]
        if type(value) not in _IMMUTABLE:
            self.touched.add(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if type(key) is not str:
            self._refuse_key(key)
        self._load()[key] = value
        self.touched.add(key)
        self._changed(key)

    @staticmethod
    def _refuse_key(key: object) -> None:
        raise UnsupportedValueError(
            f"session keys must be str, got {type(key).__name__}: {key!r}",
            path=f"session[{key!r}]",
        )

    def __delitem__(self, key: str) -> None:
        del self._load()[key]
        self._changed(key)

    def __contains__(self, key: object) -> bool:
        return key in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Session):
            other = other._load()
        return self._load() == other

    __hash__ = None  # type: ignore[assignment]

    def get(self, key: str, default: Any = None) -> Any:
        value = self._load().get(key, default)
        if type(value) not in _IMMUTABLE:
            self.touched.add(key)
        return value

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        data = self._load()
        if key in data:
            value = data.pop(key)
            self._changed(key)
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def setdefault(self, key: str, default: Any = None) -> Any:
        data = self._load()
        if key in data:
            return self[key]
        self[key] = default
        return default

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """As ``dict.update``; marks the session modified when anything is given."""
        new = dict(other, **kwargs) if kwargs else dict(other)
        if not new:
            return
        for key in new:
            if type(key) is not str:
                self._refuse_key(key)
        self._load().update(new)
        self.touched.update(new)
        self._changed(list(new))

    def clear(self) -> None:
        """Remove every key; the response deletes the cookie (and stored record)."""
        self._load().clear()
        self._changed(_Label("session.clear()"))

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` copy of the data (shallow)."""
        data = dict(self._load())
        self.touched.update(data)
        return data

    def __repr__(self) -> str:
        if self._data is None:
            return "<Session (not loaded)>"
        flags = " ".join(name for name in ("new", "modified", "permanent") if getattr(self, name))
        return f"<Session {self._data!r}{' ' + flags if flags else ''}>"

    # -- metadata ------------------------------------------------------------

    @property
    def permanent(self) -> bool:
        """Permanent sessions get ``Expires``/``Max-Age`` of ``permanent_lifetime``."""
        self._load()
        return self._permanent

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self._load()
        value = bool(value)
        if value != self._permanent:
            self._permanent = value
            self._changed(_Label("session.permanent"))

    @property
    def new(self) -> bool:
        """True when no valid session came with the request."""
        self._load()
        return self._new

    @property
    def sid(self) -> str:
        """This session's id: stable across requests, 128 random bits."""
        self._load()
        sid = self._sid
        if sid is None:
            sid = self._sid = new_sid()
        return sid

    def regenerate(self) -> None:
        """Give the session a new :attr:`sid`, keeping its data.

        Call it at login against session fixation. With a server-side store
        the old id stops working when this response is saved.
        """
        self._load()
        self._sid = new_sid()
        self.regenerated = True
        self._changed(_Label("session.sid"))

    def invalidate(self) -> None:
        """Clear the data and regenerate the id (logout)."""
        self.clear()
        self.regenerate()
