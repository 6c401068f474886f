"""msgpack encoding of session values: the public encode/decode functions and their limits.

Every other module goes through :func:`encode`/:func:`decode` (or their
envelope variants). The ext-type table lives in :mod:`sessionware._codec_ext`;
naming the key path of a value that cannot be stored, in
:mod:`sessionware._codec_errors` (failure only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgpack  # type: ignore[import-untyped]

from sessionware._codec_errors import check_keys, fail
from sessionware._codec_ext import (
    _HOOKS,
    _NOT_HEADERS,
    MAX_DEPTH,
    MAX_EXT_DEPTH,
    MAX_SIZE,
    DecodeError,
    _pack_native,
    _too_deep,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_EXT_DEPTH",
    "MAX_SIZE",
    "DecodeError",
    "decode",
    "decode_envelope",
    "encode",
    "encode_envelope",
    "encode_items",
]


# The depth bound, cheaply: every nesting level needs one byte that opens a
# container or an ext, so the count of such bytes (``packed.translate(None,
# _NOT_HEADERS)`` deletes every other byte, in C) bounds the depth from
# above. Most sessions have fewer than the limit and skip the Python walk of
# ``_too_deep``. Written inline below: it runs once per value encoded or
# decoded (per key, for server stores), where a function call costs 5 %.


def _pack(value: Any, path: str, limit: int, checked: Any = None) -> bytes:
    """Pack *value* (in one msgpack call); on failure find the culprit in *checked*."""
    checked = value if checked is None else checked
    try:
        out = _pack_native(value)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise fail(checked, path, limit, exc) from None
    # The depth bound (see above); `checked` lacks the envelope's own level.
    if len(out.translate(None, _NOT_HEADERS)) > limit + (checked is not value):
        if _too_deep(checked, limit):
            raise fail(checked, path, limit, None)
    return out


def encode(value: Any, path: str = "value") -> bytes:
    """Pack one value; :class:`UnsupportedValueError` names *path* and the keys below it."""
    return _pack(value, path, MAX_DEPTH)


def encode_envelope(header: list[Any], data: dict[str, Any]) -> bytes:
    """Pack ``[*header, data]`` in one call; *header* holds only native values."""
    check_keys(data)
    # The session dict itself is one level: its values get the same MAX_DEPTH as encode().
    return _pack([*header, data], "session", MAX_DEPTH + 1, data)


def encode_items(data: Mapping[str, Any], keys: Iterable[str]) -> dict[str, bytes]:
    """Encode the value of each of *keys* separately (one blob per key for server-side stores)."""
    keys = list(keys)
    check_keys(keys)
    return {key: _pack(data[key], f"session[{key!r}]", MAX_DEPTH) for key in keys}


# -- decoding ---------------------------------------------------------------------


def _unpack(data: bytes, max_size: int, limit: int) -> Any:
    try:
        if len(data) > max_size:
            raise DecodeError(f"{len(data)} bytes is more than max_size={max_size}")
        # One-shot unpackb caps every length by len(data), so a header claiming 2**32
        # items fails before allocating; its own stack bounds nesting of lists and dicts.
        value = msgpack.unpackb(
            data, ext_hook=_HOOKS[0], raw=False, strict_map_key=False, timestamp=3
        )
        if type(data) is not bytes:
            data = bytes(data)
        # The depth bound (see above).
        if len(data.translate(None, _NOT_HEADERS)) > limit and _too_deep(value, limit):
            raise DecodeError(f"more than {limit} containers deep")
    except DecodeError:
        raise
    except Exception as exc:
        # The decode boundary: msgpack and the type constructors raise ValueError,
        # TypeError, OverflowError, StackError, KeyError (unknown zone), OSError,
        # decimal.InvalidOperation... Untrusted bytes must only ever give DecodeError.
        raise DecodeError(f"undecodable data: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return value


def decode(data: bytes, *, max_size: int = MAX_SIZE) -> Any:
    """Inverse of :func:`encode`; raises :class:`DecodeError` (only) on any bad input."""
    return _unpack(data, max_size, MAX_DEPTH)


def decode_envelope(data: bytes, *, max_size: int = MAX_SIZE) -> list[Any]:
    """Inverse of :func:`encode_envelope`: a list whose last item is a dict with str keys."""
    value = _unpack(data, max_size, MAX_DEPTH + 2)
    if type(value) is not list or not value or type(value[-1]) is not dict:
        raise DecodeError("not a session envelope")
    for key in value[-1]:
        if type(key) is not str:
            raise DecodeError("session keys must be str")
    return value
