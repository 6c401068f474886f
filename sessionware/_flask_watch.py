"""Where the Flask adapter's warnings point: the user's line, past sessionware's
and Flask's own frames."""

from __future__ import annotations

import sys
from pathlib import Path

import flask

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
