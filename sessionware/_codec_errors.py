"""Failure-only: find the value that cannot be stored and name its key path.

Encoding packs a whole session in one msgpack call; only when that fails
does this module walk the value (mirroring the packer's rules) to say
which value, where (``session['profile']['avatar']``) and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sessionware._codec_ext import (
    _CONTAINERS,
    _EXT_CONTAINERS,
    _INT_MAX,
    _INT_MIN,
    _MARKUP,
    _NATIVE,
    _SUPPORTED,
    MAX_DEPTH,
    MAX_EXT_DEPTH,
    _encoder_for,
    _Refused,
)
from sessionware.errors import UnsupportedValueError


def _key_repr(key: Any) -> str:
    text = repr(key) if type(key) in _NATIVE or type(key) is int else f"<{type(key).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _short(path: str) -> str:
    if len(path) <= 120:
        return path
    head, tail = path[:80], path[-40:]
    return f"{head[: head.rfind('[')]}...{tail[tail.find('[') :]}"


def _unsupported(value: Any) -> _Refused:
    name = type(value).__name__
    for base in _SUPPORTED:
        if isinstance(value, base):
            return _Refused(
                f"object of type {name}",
                f"it is a subclass of {base.__name__}, which would not round-trip; "
                f"convert it to a plain {base.__name__} first",
            )
    names = "None, bool, int, float, str, bytes, list, dict, tuple, set, frozenset, "
    names += "datetime, date, time, timedelta, UUID, Decimal" + (", Markup" if _MARKUP else "")
    return _Refused(f"object of type {name}", f"only {names} can be stored; convert it first")


def _locate(value: Any, path: str, limit: int) -> UnsupportedValueError | None:
    """Find the first value (in packing order) that cannot be stored, with its key path."""
    stack = [(value, path, 0, 0)]
    while stack:
        node, where, level, ext = stack.pop()
        kind = type(node)
        refused: _Refused | None = None
        ext += kind in _EXT_CONTAINERS
        if (kind in _CONTAINERS and level >= limit) or ext > MAX_EXT_DEPTH:
            message = f"a value nests at most {MAX_DEPTH} containers, {MAX_EXT_DEPTH} tuples/sets"
            return UnsupportedValueError(f"nested too deeply at {_short(where)}: {message}", where)
        if kind is dict:
            for key, item in reversed(node.items()):
                stack.append((item, f"{where}[{_key_repr(key)}]", level + 1, ext))
                stack.append((key, f"{where}[<key {_key_repr(key)}>]", level + 1, ext))
        elif kind is list or kind is tuple:
            stack.extend(
                (x, f"{where}[{i}]", level + 1, ext) for i, x in reversed(list(enumerate(node)))
            )
        elif kind is set or kind is frozenset:
            stack.extend((x, f"{where}[<{kind.__name__} member>]", level + 1, ext) for x in node)
        elif kind is int:
            if not _INT_MIN <= node <= _INT_MAX:
                refused = _Refused("int outside the 64-bit range", "store it as a str or Decimal")
        elif kind is str:
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                refused = _Refused("str with a lone surrogate", "it is not valid UTF-8")
        elif _encoder_for(kind) is not None:
            try:
                _encoder_for(kind)(node)  # type: ignore[misc]
            except _Refused as exc:
                refused = exc
        elif kind not in _NATIVE:
            refused = _unsupported(node)
        if refused is not None:
            return UnsupportedValueError(
                f"cannot store {refused.what} at {where}: {refused.hint}", where
            )
    return None


def fail(value: Any, path: str, limit: int, exc: BaseException | None) -> UnsupportedValueError:
    found = _locate(value, path, limit)
    if found is not None:
        return found
    # The walk mirrors the packer's rules; this is only reached if they ever disagree.
    error = UnsupportedValueError(f"cannot store value at {path}: {exc}", path)
    error.__cause__ = exc
    return error


def utf8(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_keys(data: Iterable[Any]) -> None:
    """Refuse a session key that no store could keep: one that is not a
    ``str``, or a ``str`` that is not valid UTF-8 (a lone surrogate)."""
    for key in data:
        if type(key) is not str:
            message = f"session keys must be str, got {type(key).__name__}: {_key_repr(key)}"
            raise UnsupportedValueError(message, f"session[{_key_repr(key)}]")
        if not key.isascii() and not utf8(key):  # isascii: O(1), a flag of the str
            raise UnsupportedValueError(
                f"cannot store the key {_key_repr(key)}: it holds a lone surrogate, "
                "not valid UTF-8; no store can keep it",
                f"session[{_key_repr(key)}]",
            )
