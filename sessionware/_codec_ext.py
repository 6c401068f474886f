"""The msgpack ext-type table: how each non-native type is packed and unpacked.

The fast path of :mod:`sessionware._codec`: one encoder and one decoder per
type, the packer pool and the limits both directions share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgpack  # type: ignore[import-untyped]

try:
    from markupsafe import Markup
except ImportError:  # pragma: no cover - markupsafe is optional
    _MARKUP: type[str] | None = None
else:
    _MARKUP = Markup

#: Largest input :func:`decode` accepts, in bytes.
MAX_SIZE = 1 << 20
#: Most containers (lists, dicts, tuples, sets) nested in one value, encoding and decoding alike.
MAX_DEPTH = 64
#: Most tuples/sets nested in one value: each level is a nested msgpack call (a recursion).
MAX_EXT_DEPTH = 32

# The ext-code table is a wire format: codes are never renumbered or reused.
#   1 tuple, 2 set, 3 frozenset: packed list of the elements (through this same table)
#   4 datetime: packed [year, month, day, hour, minute, second, microsecond, fold(, tz)]
#   5 date: packed [year, month, day]
#   6 time: packed [hour, minute, second, microsecond, fold(, tz)]
#   7 timedelta: packed [days, seconds, microseconds]
#   8 UUID: the 16 raw bytes
#   9 Decimal: str(value) in ASCII (keeps digits, exponent, sign, NaN payloads)
#  10 markupsafe.Markup: UTF-8 text
# tz is a str (a ZoneInfo key), an int (timezone with that offset in seconds) or
# [seconds, microseconds, name or None] (any other datetime.timezone).
_TUPLE, _SET, _FROZENSET, _DATETIME, _DATE, _TIME, _TIMEDELTA, _UUID, _DECIMAL, _MARKUP_CODE = (
    range(1, 11)
)

_PACK_OPTS: dict[str, Any] = {"strict_types": True, "use_bin_type": True}
# timestamp=3: msgpack handles its reserved ext -1 itself (ext_hook never sees it); as
# an aware UTC datetime it is at least a value of a supported type.
_UNPACK_OPTS: dict[str, Any] = {"raw": False, "strict_map_key": False, "timestamp": 3}
_NATIVE = frozenset({type(None), bool, float, str, bytes})
_EXT_CONTAINERS = frozenset({tuple, set, frozenset})
_CONTAINERS = _EXT_CONTAINERS | {list, dict}
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
# Bytes that can open a container or an ext: one is needed per nesting level, so their
# count bounds the depth of the packed value and spares most values a Python walk.
_HEADERS = bytes([*range(0x80, 0xA0), *range(0xC7, 0xCA), *range(0xD4, 0xD9), *range(0xDC, 0xE0)])
_NOT_HEADERS = bytes(sorted(set(range(256)) - set(_HEADERS)))


class DecodeError(ValueError):
    """The bytes are not a value this module encoded (corrupt, truncated or hostile)."""


class _Refused(TypeError):
    """A value the ext table cannot carry; :func:`_locate` adds the key path."""

    def __init__(self, what: str, hint: str) -> None:
        super().__init__(f"cannot store {what}: {hint}")
        self.what, self.hint = what, hint


def _too_deep(value: Any, limit: int) -> bool:
    """Whether *value* nests more than *limit* containers or MAX_EXT_DEPTH tuples/sets."""
    if type(value) not in _CONTAINERS:
        return False
    stack = [(value, 1, int(type(value) in _EXT_CONTAINERS))]
    while stack:  # iterative, so a deep value cannot exhaust the stack here
        node, depth, ext = stack.pop()
        if depth > limit or ext > MAX_EXT_DEPTH:
            return True
        children = [*node.keys(), *node.values()] if type(node) is dict else node
        for child in children:
            if type(child) in _CONTAINERS:
                stack.append((child, depth + 1, ext + (type(child) in _EXT_CONTAINERS)))
    return False


# -- encoding ---------------------------------------------------------------------


def _pack_items(code: int, value: Any) -> msgpack.ExtType:
    # A subtree too deep for the decoder is refused here, before the nested packb calls
    # recurse in C (thousands of levels of lists inside tuples crash the interpreter).
    if _too_deep(value, MAX_DEPTH):
        raise ValueError("nested too deeply")
    return msgpack.ExtType(code, _pack_native(list(value)))


def _pack_unordered(code: int, value: Any) -> msgpack.ExtType:
    """A set's elements in the order of their encodings, not of iteration.

    Iteration order depends on ``PYTHONHASHSEED`` (str, bytes hash), so
    packing ``list(value)`` would encode one set differently in each worker:
    a request that only read it would look changed and rewrite it. Sorting
    the encoded elements makes the bytes depend on the value alone.
    """
    if _too_deep(value, MAX_DEPTH):
        raise ValueError("nested too deeply")
    items = sorted(map(_pack_native, value))
    return msgpack.ExtType(code, _array_header(len(items)) + b"".join(items))


def _array_header(length: int) -> bytes:
    """The msgpack header of an array of ``length`` elements."""
    if length < 16:
        return bytes((0x90 | length,))
    if length < 1 << 16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def _tz_field(tz: tzinfo, kind: str) -> Any:
    if type(tz) is ZoneInfo:
        if tz.key is None:
            raise _Refused(f"{kind} with a ZoneInfo that has no key", "use ZoneInfo(key)")
        return tz.key
    if tz is UTC:
        return 0
    if type(tz) is timezone:
        offset = tz.utcoffset(None)
        name: str | None = tz.tzname(None)
        if name == timezone(offset).tzname(None):
            name = None  # the default name, rebuilt by timezone(offset)
        seconds = offset.days * 86400 + offset.seconds
        return (
            seconds
            if name is None and not offset.microseconds
            else [seconds, offset.microseconds, name]
        )
    raise _Refused(
        f"{kind} with tzinfo of type {type(tz).__name__}",
        "only zoneinfo.ZoneInfo and datetime.timezone round-trip; "
        "use zoneinfo.ZoneInfo('Europe/Paris') instead of pytz or dateutil zones",
    )


def _pack_fields(code: int, fields: list[Any], tz: tzinfo | None, kind: str) -> msgpack.ExtType:
    if tz is not None:
        fields.append(_tz_field(tz, kind))
    return msgpack.ExtType(code, _pack_native(fields))


def _pack_datetime(v: datetime) -> msgpack.ExtType:
    fields = [v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.fold]
    return _pack_fields(_DATETIME, fields, v.tzinfo, "datetime")


def _pack_time(v: time) -> msgpack.ExtType:
    fields = [v.hour, v.minute, v.second, v.microsecond, v.fold]
    return _pack_fields(_TIME, fields, v.tzinfo, "time")


def _pack_markup(v: str) -> msgpack.ExtType:
    try:
        return msgpack.ExtType(_MARKUP_CODE, v.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Refused("Markup with a lone surrogate", "it is not valid UTF-8") from None


_ENCODERS: dict[type, Callable[[Any], msgpack.ExtType]] = {
    tuple: partial(_pack_items, _TUPLE),
    set: partial(_pack_unordered, _SET),
    frozenset: partial(_pack_unordered, _FROZENSET),
    datetime: _pack_datetime,
    date: lambda v: msgpack.ExtType(_DATE, _pack_native([v.year, v.month, v.day])),
    time: _pack_time,
    timedelta: lambda v: msgpack.ExtType(
        _TIMEDELTA, _pack_native([v.days, v.seconds, v.microseconds])
    ),
    UUID: lambda v: msgpack.ExtType(_UUID, v.bytes),
    Decimal: lambda v: msgpack.ExtType(_DECIMAL, str(v).encode("ascii")),
}
if _MARKUP is not None:
    _ENCODERS[_MARKUP] = _pack_markup
_SUPPORTED = (*_NATIVE, int, list, dict, *_ENCODERS)


def _encoder_for(kind: type) -> Callable[[Any], msgpack.ExtType] | None:
    encoder = _ENCODERS.get(kind)
    if encoder is None and kind.__module__ == "freezegun.api":
        # Under freeze_time, datetime.now() returns freezegun's FakeDatetime (a
        # subclass): store it as what it stands for; it comes back a plain datetime.
        encoder = _ENCODERS.get(kind.__mro__[1])
    return encoder


def _default(value: Any) -> msgpack.ExtType:
    # Exact types only (with strict_types, msgpack sends subclasses here too): datetime
    # before date comes for free, and an OrderedDict or IntEnum is refused, never converted.
    encoder = _encoder_for(type(value))
    if encoder is None:
        raise TypeError(f"cannot store object of type {type(value).__name__}")
    return encoder(value)


_local = threading.local()


def _pack_native(value: Any) -> bytes:
    # Packers are reused from a per-thread pool: a shared Packer is not thread-safe,
    # packb builds a new one each call (about 40 % slower on a small session), and
    # tuples and datetimes pack their payloads while an outer Packer is still busy.
    try:
        pool: list[Any] = _local.pool
    except AttributeError:
        pool = _local.pool = []
    packer = pool.pop() if pool else msgpack.Packer(default=_default, **_PACK_OPTS)
    try:
        out: bytes = packer.pack(value)
    finally:
        pool.append(packer)
    return out


# -- decoding ---------------------------------------------------------------------


def _unpack_fields(payload: bytes, sizes: tuple[int, ...]) -> list[Any]:
    fields = msgpack.unpackb(payload, ext_hook=_no_ext, raw=False, timestamp=0)
    if type(fields) is not list or len(fields) not in sizes:
        raise DecodeError("malformed ext payload")
    if not all(type(x) is int for x in fields[: min(sizes)]):
        raise DecodeError("malformed ext payload")
    return fields


def _no_ext(code: int, payload: bytes) -> Any:
    raise DecodeError(f"unexpected ext code {code} inside a scalar ext payload")


def _tz(field: Any) -> tzinfo:
    if type(field) is str:
        return ZoneInfo(field)
    if type(field) is int:
        return timezone(timedelta(seconds=field))
    if type(field) is list and len(field) == 3 and {type(field[0]), type(field[1])} == {int}:
        offset = timedelta(seconds=field[0], microseconds=field[1])
        if field[2] is None:
            return timezone(offset)
        if type(field[2]) is str:
            return timezone(offset, field[2])
    raise DecodeError("malformed tzinfo in ext payload")


def _unpack_datetime(payload: bytes, depth: int) -> datetime:
    f = _unpack_fields(payload, (8, 9))
    tz = _tz(f[8]) if len(f) == 9 else None
    return datetime(f[0], f[1], f[2], f[3], f[4], f[5], f[6], tz, fold=f[7])


def _unpack_time(payload: bytes, depth: int) -> time:
    f = _unpack_fields(payload, (5, 6))
    return time(f[0], f[1], f[2], f[3], _tz(f[5]) if len(f) == 6 else None, fold=f[4])


def _unpack_decimal(payload: bytes, depth: int) -> Decimal:
    text = payload.decode("ascii")
    value = Decimal(text)
    # Decimal() also accepts spaces and underscores, and yields NaN without raising
    # under a context that does not trap; only the exact str(value) we wrote is valid.
    if str(value) != text:
        raise DecodeError("malformed Decimal in ext payload")
    return value


def _unpack_items(payload: bytes, depth: int) -> list[Any]:
    if depth >= MAX_EXT_DEPTH:
        raise DecodeError(f"tuples/sets nested more than {MAX_EXT_DEPTH} deep")
    if depth == 0:
        items = msgpack.unpackb(payload, ext_hook=_HOOKS[1], **_UNPACK_OPTS)
    else:
        # Deeper down, an Unpacker: unpackb keeps a ~40 KB parse stack on the C stack,
        # which 32 nested levels would overflow in a thread with a small stack; an
        # Unpacker keeps it on the heap. Capping its buffer at the payload's length bounds
        # every length it accepts, as unpackb does.
        unpacker = msgpack.Unpacker(
            ext_hook=_HOOKS[depth + 1], max_buffer_size=max(len(payload), 1), **_UNPACK_OPTS
        )
        unpacker.feed(payload)
        items = unpacker.unpack()
        if unpacker.tell() != len(payload):
            raise DecodeError("extra data after a container ext payload")
    if type(items) is not list:
        raise DecodeError("malformed container ext payload")
    return items


def _unpack_markup(payload: bytes, depth: int) -> str:
    if _MARKUP is None:
        raise DecodeError("a Markup value needs markupsafe installed")
    return _MARKUP(payload.decode("utf-8"))


_DECODERS: dict[int, Callable[[bytes, int], Any]] = {
    _TUPLE: lambda p, d: tuple(_unpack_items(p, d)),
    _SET: lambda p, d: set(_unpack_items(p, d)),
    _FROZENSET: lambda p, d: frozenset(_unpack_items(p, d)),
    _DATETIME: _unpack_datetime,
    _DATE: lambda p, d: date(*_unpack_fields(p, (3,))),
    _TIME: _unpack_time,
    _TIMEDELTA: lambda p, d: timedelta(*_unpack_fields(p, (3,))),
    _UUID: lambda p, d: UUID(bytes=p),
    _DECIMAL: _unpack_decimal,
    _MARKUP_CODE: _unpack_markup,
}


def _ext_hook(code: int, payload: bytes, depth: int) -> Any:
    decoder = _DECODERS.get(code)
    if decoder is None:
        raise DecodeError(f"unknown ext code {code}")
    return decoder(payload, depth)


# One hook per ext depth, built once, so the depth travels without per-call allocation.
_HOOKS = [partial(_ext_hook, depth=depth) for depth in range(MAX_EXT_DEPTH + 1)]
