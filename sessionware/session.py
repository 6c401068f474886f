"""Session: Flask's session API as a lazily loaded ``MutableMapping``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, MutableMapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sessionware._codec_errors import check_keys, utf8
from sessionware._config import user_stacklevel
from sessionware._state import Headers, SessionState, new_sid
from sessionware.audit import audit
from sessionware.errors import SessionWarning, UnsupportedValueError

if TYPE_CHECKING:
    from sessionware._state import Backend

_MISSING: Any = object()
#: The longest owner kept (characters): every store indexes up to this.
MAX_OWNER = 1024
#: Values that cannot be changed in place: handing one out cannot lead to a
#: nested change, so a request that only read these needs no re-encoding.
_IMMUTABLE = frozenset(
    {str, int, float, bool, type(None), bytes, Decimal, UUID, datetime, date, time, timedelta}
)


class _Label(str):
    """Names a change that is not a key (``session.permanent``) in warnings."""


class Session(MutableMapping[str, Any]):
    """The session of one request, as ``environ["session"]``.

    Nothing is read, verified or decoded until the app first touches the
    session (any key access, :attr:`permanent`, :attr:`sid`, :attr:`new`).
    Writes mark :attr:`modified`; the middleware saves a modified session
    when the response starts and re-sends or deletes the cookie as needed.
    """

    __slots__ = ("_backend", "_environ", "_data", "_state", "_sealed", "modified", "accessed")

    def __init__(self, backend: Backend, environ: dict[str, Any]) -> None:
        # Only what an untouched request needs is set here: every request
        # pays for this. The backend makes the rest (the state) when it loads.
        self._backend = backend
        self._environ = environ
        self._data: dict[str, Any] | None = None
        self._state: SessionState
        #: Forces a save when True; set it after mutating a nested value in
        #: place if ``detect_nested_changes`` is off.
        self.modified = False
        #: The app read or wrote the session during this request.
        self.accessed = False
        self._sealed = False  # saved (or found untouched): later changes are lost

    # -- loading -----------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the session has been loaded from the request yet."""
        return self._data is not None

    def _load(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            data, self._state = self._backend.load(self._environ)
            self._data = data
        self.accessed = True
        return data

    def _changed(self, key: object) -> None:
        """Mark modified; warn when the headers have gone out (``key``: what changed)."""
        self.modified = True
        if self._sealed:
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
                stacklevel=user_stacklevel(),  # the app's line, whatever the call path
            )

    # -- mapping -------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = self._load()[key]
        if type(value) not in _IMMUTABLE:
            self._state.touched.add(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if type(key) is not str or not key.isascii():  # isascii: O(1), a flag of the str
            self._check_key(key)
        self._load()[key] = value
        self._state.touched.add(key)
        self._changed(key)

    @staticmethod
    def _check_key(key: object) -> None:
        """Refuse a key no store could keep: not a str, or not valid UTF-8."""
        check_keys((key,))

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
            self._state.touched.add(key)
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
            if type(key) is not str or not key.isascii():
                self._check_key(key)
        self._load().update(new)
        self._state.touched.update(new)
        self._changed(list(new))

    def clear(self) -> None:
        """Remove every key; the response deletes the cookie (and the stored
        record's data)."""
        self._load().clear()
        state = self._state
        state.cleared = True
        state.owner = None  # the session ends with its data: nobody owns it now
        self._changed(_Label("session.clear()"))

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` copy of the data (shallow)."""
        data = dict(self._load())
        self._state.touched.update(data)
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
        return self._state.permanent

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self._load()
        value = bool(value)
        state = self._state
        if value != state.permanent:
            state.permanent = value
            self._changed(_Label("session.permanent"))

    @property
    def new(self) -> bool:
        """True when no valid session came with the request."""
        self._load()
        return self._state.new

    @property
    def sid(self) -> str:
        """This session's id: stable across requests, 128 random bits."""
        self._load()
        state = self._state
        sid = state.sid
        if sid is None:
            sid = state.sid = new_sid()
        return sid

    @property
    def owner(self) -> str | None:
        """Whose session this is (``None``: nobody's), e.g. ``str(user.id)``.

        Set it at login; metadata like :attr:`permanent`, never one of the
        keys. :meth:`regenerate` keeps it; :meth:`clear` and
        :meth:`invalidate` remove it. Setting it is a change (the session is
        saved, even with no keys: an owned session is not empty), and makes
        the session findable by ``mw.sessions(owner)``.

        .. versionadded:: 1.1
        """
        self._load()
        return self._state.owner

    @owner.setter
    def owner(self, value: str | None) -> None:
        if value is not None:
            _check_owner(value)
        self._load()
        state = self._state
        if value != state.owner:
            state.owner = value
            state.owner_epoch = None  # the backend stamps it when it saves
            self._changed(_Label("session.owner"))

    def regenerate(self) -> None:
        """Give the session a new :attr:`sid`, keeping its data and owner.

        Call it at login against session fixation. With a server-side store
        the old id stops working when this response is saved (with the
        cookie store, too, when it has a revocation store).
        """
        self._load()
        state = self._state
        if state.sid is not None:  # a session with no id yet has nothing to log
            audit("regenerated", state.sid, state.owner)
        self._regenerate()

    def _regenerate(self) -> None:
        state = self._state
        state.sid = new_sid()
        state.regenerated = True
        self._changed(_Label("session.sid"))

    def invalidate(self) -> None:
        """Clear the data and the owner, and regenerate the id (logout)."""
        self._load()
        audit("invalidated", self._state.sid, self._state.owner)
        self.clear()
        self._regenerate()


def _check_owner(owner: object) -> None:
    """Refuse an owner that some store could not keep, on every store alike."""
    if type(owner) is not str:
        raise TypeError(f"session.owner must be a str or None, not {type(owner).__name__}")
    if len(owner) > MAX_OWNER:
        raise ValueError(
            f"session.owner is {len(owner)} characters long; at most {MAX_OWNER} are kept"
        )
    if not owner.isascii() and not utf8(owner):
        raise UnsupportedValueError(
            "session.owner holds a lone surrogate: it is not valid UTF-8", "session.owner"
        )


def save(session: Session, backend: Backend) -> Headers:
    """Seal ``session`` (later changes warn) and apply the response rules to
    it: save what changed and return the headers to add.

    The one rule for "does this session need saving": it was not sealed
    already, and it was loaded (any access: the backend then decides what,
    if anything, to store and send) or marked ``modified`` without being
    loaded. An untouched session costs nothing and adds nothing.
    """
    if session._sealed:
        return []
    session._sealed = True
    data = session._data
    if data is None:
        if not session.modified:
            return []
        data = session._load()  # `modified` set without touching the data
    headers = backend.save(data, session._state, session.modified)
    if session.accessed:
        headers.append(_VARY)
    return headers


_VARY = ("Vary", "Cookie")
