"""Warns when a session setting in ``app.config`` changes after the first request.

The settings were read (for good) at the first request; a later change would
be silently ignored. ``app.config``'s class is swapped for a subclass whose
writes compare watched keys with what was read: requests pay nothing.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import flask

from sessionware._flask_config import WATCHED_KEYS
from sessionware.errors import SessionWarning

_SUBCLASSES: dict[type, type] = {}
_HERE = str(Path(__file__).resolve().parent)
_FLASK = str(Path(flask.__file__).resolve().parent)


def user_stacklevel() -> int:
    """The stacklevel of the first frame outside sessionware and Flask (the user's line)."""
    frame = sys._getframe(2)  # the caller of the function that asks
    level = 2
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith((_HERE, _FLASK)):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _warn(config: Any, key: str, value: Any) -> None:
    read = config._sessionware_read
    if key in WATCHED_KEYS and read.get(key, _UNSET) != value:
        warnings.warn(
            f"app.config[{key!r}] was changed after the first request; sessionware read "
            "its settings then, so this change has no effect on sessions. Set it before "
            "the first request (e.g. right after creating the app).",
            SessionWarning,
            stacklevel=user_stacklevel(),
        )


_UNSET = object()


def _subclass(base: Any) -> type:
    watched = _SUBCLASSES.get(base)
    if watched is None:

        def __setitem__(self: Any, key: str, value: Any) -> None:
            _warn(self, key, value)
            base.__setitem__(self, key, value)

        def update(self: Any, *args: Any, **kwargs: Any) -> None:
            for key, value in dict(*args, **kwargs).items():
                _warn(self, key, value)
            base.update(self, *args, **kwargs)

        watched = type(base.__name__, (base,), {"__setitem__": __setitem__, "update": update})
        _SUBCLASSES[base] = watched
    return watched


def watch(app: flask.Flask) -> None:
    """From now on, warn when ``app.config`` changes a session setting."""
    config = app.config
    config._sessionware_read = {key: config[key] for key in WATCHED_KEYS if key in config}  # type: ignore[attr-defined]
    if type(config) not in _SUBCLASSES.values():
        try:
            config.__class__ = _subclass(type(config))
        except TypeError:
            pass  # an unusual config class: no warning rather than no app
