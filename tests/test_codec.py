"""Tests of sessionware._codec: round trips, key-path errors and hostile input."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import threading
import time
import tracemalloc
import uuid
import zoneinfo
from decimal import Decimal

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from sessionware._codec import (
    MAX_DEPTH,
    MAX_EXT_DEPTH,
    DecodeError,
    decode,
    decode_envelope,
    encode,
    encode_envelope,
    encode_items,
)
from sessionware.errors import UnsupportedValueError

HEADER = [1, "x" * 22, 0, 1764000000]
PAYLOAD = {
    "username": "admin",
    "age": 25,
    "is_vip": True,
    "hobbies": ["coding", "reading"],
    "profile": {"city": "wuhan", "phone": "13800138000"},
}

# -- strategies -------------------------------------------------------------------

fixed_offsets = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23)),
) | st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)),
    st.text(max_size=5),
)
tzs = st.none() | st.timezones() | fixed_offsets | st.just(dt.UTC)

hashable_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.datetimes(timezones=tzs)
    | st.dates()
    | st.times(timezones=tzs)
    | st.timedeltas()
    | st.uuids()
    | st.decimals(allow_nan=False)
    | st.text().map(Markup)
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    hashable_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.dictionaries(st.text(), inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
    ),
    max_leaves=20,
)


def canon(value):
    """A comparable form that keeps every type and tz identity (and NaNs, -0.0, Decimal digits)."""
    kind = type(value)
    if kind in (list, tuple):
        return (kind.__name__, tuple(canon(x) for x in value))
    if kind in (set, frozenset):
        return (kind.__name__, frozenset(canon(x) for x in value))
    if kind is dict:
        return ("dict", tuple((canon(k), canon(v)) for k, v in value.items()))
    if kind in (float, Decimal):
        return (kind.__name__, repr(value), str(value))
    if kind in (dt.datetime, dt.time):
        return (kind.__name__, value.isoformat(), value.fold, canon_tz(value.tzinfo))
    return (kind.__name__, value)


def canon_tz(tz):
    if tz is None:
        return None
    if type(tz) is zoneinfo.ZoneInfo:
        return ("ZoneInfo", tz.key)
    assert type(tz) is dt.timezone
    return ("timezone", tz.utcoffset(None), tz.tzname(None))


def assert_same(got, expected):
    assert canon(got) == canon(expected)
    assert got == expected


# -- round trips ------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_round_trip(value):
    assert_same(decode(encode(value)), value)


@given(st.dictionaries(st.text(), values, max_size=5))
def test_envelope_round_trip(data):
    envelope = decode_envelope(encode_envelope(HEADER, data))
    assert envelope[:-1] == HEADER
    assert_same(envelope[-1], data)


@given(st.dictionaries(st.text(), values, max_size=5))
def test_encode_items_round_trip(data):
    blobs = encode_items(data, data.keys())
    assert set(blobs) == set(data)
    for key, blob in blobs.items():
        assert type(blob) is bytes
        assert_same(decode(blob), data[key])


def test_encode_items_only_given_keys():
    assert set(encode_items(PAYLOAD, ["age", "profile"])) == {"age", "profile"}
    assert decode(encode_items(PAYLOAD, iter(["hobbies"]))["hobbies"]) == ["coding", "reading"]


@pytest.mark.parametrize(
    "text", ["1.10", "-0", "0E-7", "1E+5", "NaN", "-NaN", "NaN12", "sNaN", "sNaN99", "-Infinity"]
)
def test_decimal_keeps_digits(text):
    got = decode(encode(Decimal(text)))
    assert type(got) is Decimal
    assert str(got) == text
    assert got.as_tuple() == Decimal(text).as_tuple()


@pytest.mark.parametrize("value", [float("nan"), -0.0, float("inf")])
def test_special_floats(value):
    assert canon(decode(encode(value))) == canon(value)


def test_datetime_tzinfo_identity():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    cases = [
        dt.datetime(2024, 10, 27, 2, 30, 0, 123456, tzinfo=paris, fold=1),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5), "EST")),
        dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(seconds=1, microseconds=7))),
        dt.datetime(2024, 1, 1, 12, 0, 0, 999999),
        dt.time(23, 59, 59, 1, tzinfo=paris),
        dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    ]
    for value in cases:
        got = decode(encode(value))
        assert canon(got) == canon(value)
    assert decode(encode(cases[1])).tzinfo is dt.UTC
    assert decode(encode(cases[0])).tzinfo is paris  # ZoneInfo(key) is cached by key
    assert decode(encode(cases[4])).tzinfo is None


def test_datetime_is_not_a_date_and_markup_stays_markup():
    assert type(decode(encode(dt.datetime(2020, 1, 1)))) is dt.datetime
    assert type(decode(encode(dt.date(2020, 1, 1)))) is dt.date
    got = decode(encode([Markup("<b>x</b>"), "<b>x</b>"]))
    assert [type(x) for x in got] == [Markup, str]


def test_nested_keys_of_any_native_type():
    value = {1: "a", b"k": 2, None: 3, False: 4, 1.5: 5, (1, "t"): 6, "s": {7: {8: 9}}}
    assert_same(decode(encode(value)), value)


def test_ext_payloads_are_compact():
    assert len(encode(dt.datetime(2024, 5, 6, 7, 8, 9, 10))) < 20
    assert len(encode(dt.datetime(2024, 5, 6, tzinfo=dt.UTC))) < 20
    assert len(encode(uuid.UUID(int=5))) == 18
    assert len(encode(Decimal("1.10"))) == 6


def test_encode_is_thread_safe():
    values = [{"n": n, "items": list(range(n)), "t": (n, str(n))} for n in range(50)]
    expected = [encode(v) for v in values]
    failures = []

    def work():
        for _ in range(100):
            if [encode(v) for v in values] != expected:
                failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_depth_limits_are_the_same_both_ways():
    lists = None
    for _ in range(MAX_DEPTH):
        lists = [lists]
    assert decode(encode(lists)) == lists
    assert decode_envelope(encode_envelope(HEADER, {"k": lists}))[-1] == {"k": lists}
    assert decode(encode_items({"k": lists}, ["k"])["k"]) == lists
    tuples = None
    for _ in range(MAX_EXT_DEPTH):
        tuples = (tuples,)
    assert decode(encode(tuples)) == tuples
    with pytest.raises(UnsupportedValueError, match="nested too deeply"):
        encode([lists])
    with pytest.raises(UnsupportedValueError, match="nested too deeply"):
        encode_envelope(HEADER, {"k": [lists]})
    with pytest.raises(UnsupportedValueError, match="nested too deeply"):
        encode((tuples,))


# -- refused values ---------------------------------------------------------------


class Foo:
    pass


class FakePytz(dt.tzinfo):
    def utcoffset(self, when):
        return dt.timedelta(hours=1)

    def dst(self, when):
        return dt.timedelta(0)

    def tzname(self, when):
        return "FAKE"


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


def deep_list(n):
    value = 1
    for _ in range(n):
        value = [value]
    return value


def self_referencing():
    value = []
    value.append(value)
    return value


def tuple_loop():
    inner = []
    outer = (inner,)
    inner.append(outer)
    return outer


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"profile": {"avatar": Foo()}},
            "cannot store object of type Foo at session['profile']['avatar']: only None, ",
        ),
        ({"items": [1, 2, object()]}, "cannot store object of type object at session['items'][2]:"),
        ({"cb": len}, "cannot store object of type builtin_function_or_method at session['cb']:"),
        ({"f": lambda: 1}, "cannot store object of type function at session['f']:"),
        (
            {"o": collections.OrderedDict(a=1)},
            "cannot store object of type OrderedDict at session['o']: it is a subclass of dict",
        ),
        (
            {"c": [Color.RED]},
            "cannot store object of type Color at session['c'][0]: it is a subclass",
        ),
        (
            {"s": MyStr("x")},
            "cannot store object of type MyStr at session['s']: it is a subclass of str",
        ),
        (
            {"when": dt.datetime(2024, 1, 1, tzinfo=FakePytz())},
            "cannot store datetime with tzinfo of type FakePytz at session['when']: "
            "only zoneinfo.ZoneInfo and datetime.timezone round-trip; use zoneinfo.ZoneInfo(",
        ),
        (
            {"at": [dt.time(1, tzinfo=FakePytz())]},
            "cannot store time with tzinfo of type FakePytz at session['at'][0]:",
        ),
        ({"t": (1, (2, Foo()))}, "cannot store object of type Foo at session['t'][1][1]:"),
        ({"s": {frozenset([Foo()])}}, "at session['s'][<set member>][<frozenset member>]:"),
        ({"d": {3: {(1, Foo()): 1}}}, "at session['d'][3][<key <tuple>>][1]:"),
        ({"big": 2**64}, "cannot store int outside the 64-bit range at session['big']:"),
        (
            {"neg": [-(2**63) - 1]},
            "cannot store int outside the 64-bit range at session['neg'][0]:",
        ),
        ({"sur": "\ud800"}, "cannot store str with a lone surrogate at session['sur']:"),
        ({"deep": deep_list(2000)}, "nested too deeply at session['deep'][0][0]"),
        ({"loop": self_referencing()}, "nested too deeply at session['loop'][0]"),
        ({"loop": tuple_loop()}, "nested too deeply at session['loop'][0][0]"),
    ],
)
def test_unsupported_values_name_the_path(data, message):
    for call in (
        lambda: encode_envelope(HEADER, data),
        lambda: encode_items(data, data),
        lambda: encode(data, path="session"),
    ):
        with pytest.raises(UnsupportedValueError) as info:
            call()
        assert isinstance(info.value, TypeError)
        assert str(info.value).startswith(message) or message in str(info.value), str(info.value)
        assert info.value.path.startswith("session[")


def test_too_deep_names_the_first_level_too_many():
    with pytest.raises(UnsupportedValueError) as info:
        encode_envelope(HEADER, {"deep": deep_list(MAX_DEPTH + 1)})
    assert info.value.path == "session['deep']" + "[0]" * MAX_DEPTH
    assert str(info.value).startswith("nested too deeply at session['deep'][0][0]")
    # long paths are shortened in the message, at a bracket
    assert "[0]...[0]" in str(info.value)
    assert str(info.value).endswith("[0]: a value nests at most 64 containers, 32 tuples/sets")
    with pytest.raises(UnsupportedValueError) as info:
        encode({"deep": deep_list(MAX_DEPTH)})
    assert info.value.path == "value['deep']" + "[0]" * (MAX_DEPTH - 1)


def test_path_argument_prefixes_the_message():
    with pytest.raises(UnsupportedValueError) as info:
        encode({"avatar": Foo()}, path="session['profile']")
    assert str(info.value).startswith(
        "cannot store object of type Foo at session['profile']['avatar']: "
    )
    assert info.value.path == "session['profile']['avatar']"
    with pytest.raises(UnsupportedValueError, match=r"^cannot store object of type Foo at value:"):
        encode(Foo())


@pytest.mark.parametrize("key, shown", [(5, "int: 5"), (b"k", "bytes: b'k'"), (("a",), "tuple")])
def test_session_keys_must_be_str(key, shown):
    with pytest.raises(UnsupportedValueError, match=f"^session keys must be str, got {shown}"):
        encode_envelope(HEADER, {"ok": 1, key: 1})
    with pytest.raises(TypeError, match="^session keys must be str"):
        encode_items({key: 1}, [key])


def test_markup_key_is_not_a_session_key():
    with pytest.raises(UnsupportedValueError, match="got Markup"):
        encode_envelope(HEADER, {Markup("k"): 1})


# -- hostile input ----------------------------------------------------------------


def ext(code, payload):
    return msgpack.packb(msgpack.ExtType(code, payload))


def nested_ext_tuples(levels):
    data = msgpack.packb(None)
    for _ in range(levels):
        data = ext(1, b"\x91" + data)
    return data


def nested_ext_lists(levels, lists_per_level):
    data = msgpack.packb(None)
    for _ in range(levels):
        data = ext(1, b"\x91" * (lists_per_level + 1) + data)
    return data


def fields(*items):
    return msgpack.packb(list(items))


BOMBS = {
    "array32-4G-items": b"\xdd\xff\xff\xff\xff" + b"\xc0" * 10,
    "map32-4G-pairs": b"\xdf\xff\xff\xff\xff" + b"\xc0" * 10,
    "str32-4GB": b"\xdb\xff\xff\xff\xff" + b"a" * 10,
    "bin32-4GB": b"\xc6\xff\xff\xff\xff" + b"a" * 10,
    "ext32-4GB": b"\xc9\xff\xff\xff\xff\x01" + b"a" * 10,
    "array32-in-tuple": ext(1, b"\xdd\xff\xff\xff\xff"),
    "100k-nested-arrays": b"\x91" * 100_000 + b"\xc0",
    "100k-nested-maps": b"\x81\xc0" * 100_000 + b"\xc0",
    "65-nested-arrays": b"\x91" * (MAX_DEPTH + 1) + b"\xc0",
    "1000-nested-ext-tuples": nested_ext_tuples(1000),
    "33-nested-ext-tuples": nested_ext_tuples(MAX_EXT_DEPTH + 1),
    "tuples-of-deep-lists": nested_ext_lists(30, 1000),
    "nested-set-in-set": ext(2, msgpack.packb([msgpack.ExtType(2, b"\x90")])),
    "unknown-ext-0": ext(0, b"x"),
    "unknown-ext-11": ext(11, b""),
    "unknown-ext-127": ext(127, b"abc"),
    "unknown-ext-negative": b"\xc7\x03\xfbabc",
    "unknown-ext-in-tuple": ext(1, msgpack.packb([msgpack.ExtType(99, b"")])),
    "timestamp-garbage": b"\xd4\xff\x00",
    "tuple-not-a-list": ext(1, msgpack.packb(5)),
    "tuple-extra-data": ext(1, b"\x90\xc0"),
    "tuple-truncated": ext(1, b"\x92\x01"),
    "deep-tuple-extra-data": ext(1, msgpack.packb([msgpack.ExtType(1, b"\x90\xc0")])),
    "set-of-lists": ext(2, msgpack.packb([[1]])),
    "frozenset-of-dicts": ext(3, msgpack.packb([{}])),
    "map-with-list-key": b"\x81\x90\xc0",
    "map-with-set-key": b"\x81" + ext(2, b"\x90") + b"\xc0",
    "datetime-month-13": ext(4, fields(2024, 13, 1, 0, 0, 0, 0, 0)),
    "datetime-not-a-list": ext(4, msgpack.packb("2024-01-01")),
    "datetime-short": ext(4, fields(2024, 1, 1)),
    "datetime-bool-field": ext(4, fields(2024, True, 1, 0, 0, 0, 0, 0)),
    "datetime-float-field": ext(4, fields(2024, 1.0, 1, 0, 0, 0, 0, 0)),
    "datetime-fold-2": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 2)),
    "datetime-huge-year": ext(4, fields(2**63, 1, 1, 0, 0, 0, 0, 0)),
    "datetime-unknown-zone": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, "Not/AZone")),
    "datetime-zone-traversal": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, "../../etc/passwd")),
    "datetime-zone-absolute": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, "/etc/passwd")),
    "datetime-zone-dir": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, "America")),
    "datetime-zone-empty": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, "")),
    "datetime-zone-nul": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, "Europe/Paris\x00")),
    "datetime-offset-25h": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, 90000)),
    "datetime-tz-bad-list": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, [1, 2])),
    "datetime-tz-bad-name": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, [1, 2, 3])),
    "datetime-tz-float": ext(4, fields(2024, 1, 1, 0, 0, 0, 0, 0, 1.5)),
    "datetime-ext-inside": ext(4, msgpack.packb([msgpack.ExtType(1, b"\x90")] * 8)),
    "datetime-timestamp-inside": ext(4, msgpack.packb([msgpack.Timestamp(0)] * 8)),
    "date-day-0": ext(5, fields(2024, 1, 0)),
    "date-garbage": ext(5, b"\xff\xff"),
    "time-hour-24": ext(6, fields(24, 0, 0, 0, 0)),
    "timedelta-overflow": ext(7, fields(10**12, 0, 0)),
    "timedelta-two-fields": ext(7, fields(1, 2)),
    "uuid-3-bytes": ext(8, b"abc"),
    "uuid-17-bytes": ext(8, b"a" * 17),
    "decimal-garbage": ext(9, b"garbage"),
    "decimal-spaces": ext(9, b" 1.10 "),
    "decimal-underscore": ext(9, b"1_0"),
    "decimal-not-ascii": ext(9, "١".encode()),
    "markup-bad-utf8": ext(10, b"\xff\xfe"),
    "str-bad-utf8": b"\xa2\xff\xfe",
    "extra-data": b"\xc0\xc0",
    "empty": b"",
    "reserved-byte": b"\xc1",
}


def assert_refused_quickly(data):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DecodeError):
            decode(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    return peak


@pytest.mark.parametrize("data", BOMBS.values(), ids=BOMBS.keys())
def test_hostile_input_raises_decode_error(data):
    peak = assert_refused_quickly(data)
    assert peak < 4 * 2**20 + 4 * len(data) * 64


def test_bombs_stay_small_in_memory():
    for name in ("array32-4G-items", "map32-4G-pairs", "str32-4GB", "bin32-4GB", "ext32-4GB"):
        assert assert_refused_quickly(BOMBS[name]) < 2**20, name


def test_decode_error_is_a_value_error_and_chains():
    with pytest.raises(ValueError) as info:
        decode(BOMBS["decimal-garbage"])
    assert type(info.value) is DecodeError


@pytest.mark.parametrize("data", ["text", None, 5, [b"\xc0"]])
def test_non_bytes_input(data):
    with pytest.raises(DecodeError):
        decode(data)
    with pytest.raises(DecodeError):
        decode_envelope(data)


def test_max_size():
    data = encode("x" * 1000)
    assert decode(data, max_size=len(data)) == "x" * 1000
    with pytest.raises(DecodeError, match="max_size"):
        decode(data, max_size=len(data) - 1)
    with pytest.raises(DecodeError, match="max_size"):
        decode_envelope(b"\x91\x80" + b"\xc0" * (2**20), max_size=2**20)


def test_decoding_in_a_thread_with_a_small_stack():
    # 32 nested tuples must not overflow a 256 KiB thread stack (unpackb's parse stack
    # alone is ~40 KB, so nested levels must not each keep one on the C stack).
    results = []

    def work():
        value = None
        for _ in range(MAX_EXT_DEPTH):
            value = (value,)
        results.append(decode(encode(value)) == value)
        try:
            decode(nested_ext_tuples(1000))
        except DecodeError:
            results.append(True)

    old = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert results == [True, True]


def test_msgpack_timestamp_decodes_as_utc_datetime():
    got = decode(msgpack.packb(msgpack.Timestamp(1, 5)))
    assert got == dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)


def test_every_truncation_of_a_real_payload():
    data = encode_envelope(
        HEADER,
        {
            **PAYLOAD,
            "when": dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")),
            "flashes": [("message", Markup("<b>hi</b>"))],
            "ids": {uuid.UUID(int=1), (1, 2)},
            "price": Decimal("1.10"),
        },
    )
    assert decode_envelope(data)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode_envelope(data[:cut])


@pytest.mark.parametrize(
    "value", [{}, [], [{}, 1], [1, 2], [1, {5: 1}], [{b"k": 1}], "session", [{(1,): 2}]]
)
def test_decode_envelope_shape(value):
    with pytest.raises(DecodeError):
        decode_envelope(encode(value))


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    try:
        decode(data)
    except DecodeError:
        pass
    try:
        decode_envelope(data)
    except DecodeError:
        pass


@settings(max_examples=300)
@given(values, st.data())
def test_mutated_payloads(value, draw):
    data = bytearray(encode([value, "tail"]))
    for _ in range(draw.draw(st.integers(1, 4))):
        index = draw.draw(st.integers(0, len(data) - 1))
        data[index] = draw.draw(st.integers(0, 255))
    try:
        decode(bytes(data))
    except DecodeError:
        pass


def test_freezegun_datetimes_are_stored_as_datetimes():
    from freezegun import freeze_time

    real_datetime = dt.datetime
    with freeze_time("2024-01-01 12:30:00.000123"):
        now, today = dt.datetime.now(), dt.date.today()
        assert type(now) is not real_datetime  # freezegun's FakeDatetime subclass
        blob = encode({"t": now, "d": today})
    value = decode(blob)
    assert value == {"t": dt.datetime(2024, 1, 1, 12, 30, 0, 123), "d": dt.date(2024, 1, 1)}
    assert type(value["t"]) is dt.datetime and type(value["d"]) is dt.date
