"""Fuzzing everything that reads untrusted bytes, through the real middleware.

Property (the README's "Security notes": bad input is no session): whatever
the bytes, nothing is raised to the app; the session is either new and empty,
or a valid session carrying exactly the data that was signed; the work is
bounded (Hypothesis' ``deadline``).
The atheris harness ``tests/fuzz/fuzz_cookie.py`` drives the same entry points.
"""

import contextlib
import time
import warnings
import zlib
from functools import partial

import msgpack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from itsdangerous.encoding import base64_encode

from fuzz.bounds import PARSER_CONSTANT, REQUEST_CONSTANT, bounded
from fuzz.bounds import parse_all as parse_with
from helpers import SECRET, header_value, saved_cookie
from sessionware import CookieTooLargeError, SessionMiddleware, SessionWarning
from sessionware._backends.server import MARKER
from sessionware._codec import DecodeError, decode, decode_envelope, encode
from sessionware._cookies import CookieHeaders
from sessionware.stores import CookieStore, MemoryStore

FUZZ = settings(
    max_examples=300,
    deadline=1000,  # ms per example: bounded work, with room for a loaded CI machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

DATA = {"username": "admin", "hobbies": ["coding", "reading"], "pair": (1, 2)}
BIG = {"text": "lorem ipsum " * 60}
SID = "fuzzfuzzfuzzfuzzfuzzAA"


def _app(environ, start_response):  # the tests drive the middleware directly
    raise AssertionError("not used")


PLAIN = SessionMiddleware(_app, SECRET)
ENCRYPTED = SessionMiddleware(_app, SECRET, store=CookieStore(encrypt=True))
MEMORY = MemoryStore()
SERVER = SessionMiddleware(_app, SECRET, store=MEMORY)
MIDDLEWARES = {"cookie": PLAIN, "encrypted": ENCRYPTED, "server": SERVER}
PARSER = CookieHeaders(PLAIN.config)
parse_all = partial(parse_with, PARSER)


#: Sids whose server-store records the tests keep (others are deleted after use).
KEEP = {SID}


def real_cookie(middleware, data):
    """The cookie value a real response carries for a session holding ``data``."""
    session = middleware.open_session({})
    session.update(data)
    header = saved_cookie(middleware, session)
    KEEP.add(session.sid)
    return header_value(header)


COOKIES = {
    "plain": (PLAIN, real_cookie(PLAIN, DATA), DATA),
    "compressed": (PLAIN, real_cookie(PLAIN, BIG), BIG),
    "encrypted": (ENCRYPTED, real_cookie(ENCRYPTED, DATA), DATA),
    "server-sid": (SERVER, real_cookie(SERVER, DATA), DATA),
}
assert COOKIES["compressed"][1].startswith("."), "BIG must take the zlib path"


def exercise(middleware, cookie_header):
    """Open the session from ``cookie_header``, touch, change and save it.

    Returns ``(new, data as loaded)``; raises only if the middleware does.
    """
    session = middleware.open_session({"HTTP_COOKIE": cookie_header})
    data = dict(session.items())
    new = session.new
    if new:
        assert data == {}, "a new session has data"
    assert isinstance(session.sid, str) and isinstance(session.permanent, bool)
    session["fuzz"] = 1
    with warnings.catch_warnings(), contextlib.suppress(CookieTooLargeError):
        # A fuzzed payload may decode to more data than a cookie can hold:
        # CookieTooLargeError is the documented answer, not a failure here.
        warnings.simplefilter("ignore", SessionWarning)
        middleware.save_session(session)
    if middleware is SERVER and session.sid not in KEEP:
        MEMORY.delete(session.sid)  # keep the store small over many examples
    return new, data


# -- arbitrary Cookie headers ---------------------------------------------------


@pytest.mark.parametrize("store", sorted(MIDDLEWARES))
@FUZZ
@given(header=st.text())
def test_arbitrary_cookie_header_text(store, header):
    exercise(MIDDLEWARES[store], header)


@pytest.mark.parametrize("store", sorted(MIDDLEWARES))
@FUZZ
@given(raw=st.binary())
def test_arbitrary_cookie_header_bytes(store, raw):
    # Servers hand WSGI apps headers decoded as latin-1 (PEP 3333).
    exercise(MIDDLEWARES[store], raw.decode("latin-1"))
    exercise(MIDDLEWARES[store], "session=" + raw.decode("latin-1"))


# -- mutations of real cookies --------------------------------------------------

COOKIE_CHARS = st.sampled_from(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~=; \x00\xff"
)


@st.composite
def mutated(draw, value):
    chars = list(value)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(len(chars) - 1, 0)))
        operation = draw(st.sampled_from(["replace", "delete", "insert", "truncate", "swap"]))
        if operation == "replace" and chars:
            chars[position] = draw(COOKIE_CHARS)
        elif operation == "delete" and chars:
            del chars[position]
        elif operation == "insert":
            chars.insert(position, draw(COOKIE_CHARS))
        elif operation == "truncate":
            chars = chars[:position]
        elif operation == "swap" and len(chars) > 1:
            other = draw(st.integers(0, len(chars) - 1))
            chars[position], chars[other] = chars[other], chars[position]
    return "".join(chars)


@pytest.mark.parametrize("kind", sorted(COOKIES))
@FUZZ
@given(data=st.data())
def test_mutated_real_cookie_is_refused_or_unchanged(kind, data):
    middleware, value, original = COOKIES[kind]
    changed = data.draw(mutated(value))
    new, loaded = exercise(middleware, f"session={changed}")
    loaded.pop("fuzz", None)  # written to the server record by an earlier example
    # A mutation that still verifies (base64's spare bits, a no-op swap) must
    # give exactly the signed data; anything else is no session at all.
    assert new or loaded == original


def test_real_cookies_load():
    # The unmutated cookies are valid, so the test above can fail.
    for middleware, value, original in COOKIES.values():
        new, loaded = exercise(middleware, f"session={value}")
        loaded.pop("fuzz", None)
        assert (new, loaded) == (False, original)


# -- signed, arbitrary payloads: fuzzed bytes reach zlib, AES-GCM and msgpack -------


@FUZZ
@given(payload=st.binary(max_size=4096))
def test_signed_arbitrary_payload(payload):
    keys = PLAIN.backend.sealer.keys
    exercise(PLAIN, "session=" + keys.sign(base64_encode(payload)))


@FUZZ
@given(payload=st.binary(max_size=4096))
def test_signed_arbitrary_bytes_behind_zlib_prefix(payload):
    keys = PLAIN.backend.sealer.keys
    exercise(PLAIN, "session=" + keys.sign(b"." + base64_encode(payload)))
    # Valid zlib around arbitrary bytes: these reach msgpack.
    exercise(PLAIN, "session=" + keys.sign(b"." + base64_encode(zlib.compress(payload))))


@FUZZ
@given(payload=st.binary(max_size=2048))
def test_encrypted_arbitrary_payload(payload):
    exercise(ENCRYPTED, "session=" + ENCRYPTED.backend.sealer.seal(payload))


@FUZZ
@given(body=st.binary(max_size=512))
def test_signed_arbitrary_body(body):
    # Whatever follows the signature check: "~" without AES, bad base64...
    ascii_body = bytes(b & 0x7F for b in body)
    exercise(PLAIN, "session=" + PLAIN.backend.sealer.keys.sign(ascii_body))
    exercise(ENCRYPTED, "session=" + ENCRYPTED.backend.sealer.keys.sign(ascii_body))


def test_zlib_bomb_is_refused_quickly():
    bomb = zlib.compress(b"\x00" * (50 << 20), 9)
    cookie = PLAIN.backend.sealer.keys.sign(b"." + base64_encode(bomb))
    started = time.perf_counter()
    assert exercise(PLAIN, f"session={cookie}") == (True, {})
    assert time.perf_counter() - started < 0.5


# -- the codec on msgpack-ish bytes -------------------------------------------------

# Our codes are 1-10; msgpack itself reserves the negative ones (-1: timestamp,
# fuzzed separately, as raw bytes, in test_codec_timestamp_ext).
EXT_CODES = st.one_of(st.integers(0, 12), st.integers(0, 127))
INT64 = st.integers(-(2**63), 2**64 - 1)
scalars = st.one_of(
    st.none(), st.booleans(), INT64, st.floats(), st.text(max_size=20),
    st.binary(max_size=20),
)  # fmt: skip


def ext(children):
    # Ext payloads that are themselves msgpack (as ours are) or raw bytes.
    payload = st.one_of(
        st.binary(max_size=40), children.map(lambda v: msgpack.packb(v, use_bin_type=True))
    )
    return st.builds(msgpack.ExtType, EXT_CODES, payload)


msgpackish = st.recursive(
    st.one_of(scalars, ext(scalars)),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=5), INT64), children, max_size=5),
        ext(children),
    ),
    max_leaves=20,
)


def decodes_or_refuses(data):
    for function in (decode, decode_envelope):
        try:
            function(data)
        except DecodeError:
            pass


@FUZZ
@given(data=st.binary(max_size=2048))
def test_codec_arbitrary_bytes(data):
    decodes_or_refuses(data)


@FUZZ
@given(value=msgpackish)
def test_codec_msgpackish_bytes(value):
    packed = msgpack.packb(value, use_bin_type=True)
    decodes_or_refuses(packed)
    # The same bytes as a cookie payload and as a server-store record.
    keys = PLAIN.backend.sealer.keys
    exercise(PLAIN, "session=" + keys.sign(base64_encode(packed)))
    envelope = msgpack.packb([1, "A" * 22, 0, int(time.time()), {"k": value}], use_bin_type=True)
    exercise(PLAIN, "session=" + keys.sign(base64_encode(envelope)))


@FUZZ
@given(header=st.sampled_from([b"\xd6\xff", b"\xd7\xff", b"\xc7\x0c\xff"]), body=st.binary())
def test_codec_timestamp_ext(header, body):
    # msgpack decodes ext -1 (timestamp) itself; a hostile one must not escape.
    size = {2: 4, 3: 12}[len(header)] if header != b"\xd7\xff" else 8
    payload = header + body[:size].ljust(size, b"\x00")
    decodes_or_refuses(payload)
    decodes_or_refuses(msgpack.packb({"k": 1})[:-1] + payload)


# -- corrupt server-store records ---------------------------------------------------

SID_COOKIE = "session=" + SERVER.backend.keys.sign(SID.encode("ascii"))
GOOD_MARKER = encode([int(time.time()), 0])
blobs = st.one_of(st.binary(max_size=256), msgpackish.map(lambda v: msgpack.packb(v)))


@FUZZ
@given(
    record=st.dictionaries(st.text(max_size=8), blobs, max_size=4),
    marker=st.one_of(st.none(), st.just(GOOD_MARKER), blobs),
)
# Record keys starting with NUL: the backend's own, or an escaped session key.
@example(record={"\x00": encode(1), "\x00\x00k": encode(2)}, marker=GOOD_MARKER)
def test_corrupt_server_record(record, marker):
    if marker is not None:
        record = {**record, MARKER: marker}
    MEMORY.delete(SID)
    MEMORY.save(SID, record, 60)
    new, loaded = exercise(SERVER, SID_COOKIE)
    if not new:
        assert set(loaded) == session_keys(record)


def session_keys(record):
    """The session keys a stored record holds: the backend's own record keys
    (the marker, the flags) start with one NUL, and a session key starting
    with NUL is stored with one more (``stored``)."""
    keys = set()
    for key in record:
        if key[:2] == "\x00\x00":
            keys.add(key[1:])
        elif key[:1] != "\x00":
            keys.add(key)
    return keys


def test_valid_server_record_loads():
    # The control for the test above: a well-formed record is a session.
    MEMORY.delete(SID)
    MEMORY.save(SID, {MARKER: GOOD_MARKER, "k": encode([1, "x"])}, 60)
    assert exercise(SERVER, SID_COOKIE) == (False, {"k": [1, "x"]})


# -- the Cookie header parser: memory and time linear in the header (class 1) -------

#: Headers as long as real ones get (servers accept 8-64 KiB of headers).
MAX_HEADER = 65536

UNITS = [
    "session=", "session= ", "session=\t", "session=x", "session=x;", "session=ab;",
    "session=; ", 'session="', '"', '="', "=", ";", "; ", ";;", " ", "\t", ",", "a=b",
    "a=b; ", "xsession=", "session=session=", "\x00", "\xff", "x" * 4096,
    "session=" + COOKIES["plain"][1] + "; ", "session=" + COOKIES["server-sid"][1] + " ",
    SID_COOKIE + "; ",
]  # fmt: skip


@st.composite
def long_headers(draw):
    """Up to 64 KiB built from repeated adversarial units (Hypothesis would
    take forever to grow such lengths character by character)."""
    parts = draw(
        st.lists(
            st.tuples(st.one_of(st.sampled_from(UNITS), st.text(max_size=6)), st.integers(1, 9000)),
            min_size=1,
            max_size=4,
        )
    )
    return "".join(unit * count for unit, count in parts)[:MAX_HEADER]


def warm_up(function):
    """Run each path once: one-time costs (a regex compiled on first use,
    caches) are not the header's."""
    for header in ("session=a", "session=a; session=b", "x=1; session=a; y=2", SID_COOKIE):
        function(header)


#: Named examples: the quadratic case of the review and its relatives.
BOMB_HEADERS = [
    "session= " * 7281,  # 64 KiB: hundreds of MiB with a find-and-slice parser
    "session=\t" * 7281,
    "x session=" * 6553,
    "session=" * 8192,
    "; " * 32768,
    "session=ab;" * 5957,
    "session=" + "x" * (MAX_HEADER - 8),
    '"session=' * 7281,
    ("session=x;" + "\xe9\xe9;" * 21845)[:MAX_HEADER],  # ~28 copies as a list of pairs
]


def header_examples(test):
    for header in BOMB_HEADERS:
        test = example(header=header)(test)
    return test


@FUZZ
@header_examples
@given(header=long_headers())
def test_cookie_header_parser_is_linear(header):
    warm_up(parse_all)
    bounded(parse_all, header, PARSER_CONSTANT)


def read_app(environ, start_response):
    environ["session"].get("username")  # loads: parse, verify, decode, look up
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


#: Its own store with one small record: the cost measured is the header's,
#: not that of a record another test filled (the atheris run found that).
REQUEST_STORE = MemoryStore()
REQUEST_STORE.save(SID, {MARKER: GOOD_MARKER, "username": encode("admin")}, 3600)
REQUEST_MIDDLEWARES = {
    "cookie": SessionMiddleware(read_app, SECRET),
    "encrypted": SessionMiddleware(read_app, SECRET, store=CookieStore(encrypt=True)),
    "server": SessionMiddleware(read_app, SECRET, store=REQUEST_STORE),
}


def whole_request(middleware):
    def request(header):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": header}
        body = middleware(environ, lambda status, headers, exc_info=None: None)
        b"".join(body)
        getattr(body, "close", lambda: None)()

    return request


#: The atheris finding (a stored record's cost, not the header's), with the
#: fuzz key's sid cookie swapped for this module's.
ATHERIS_FINDING = (
    "session=jxxxxxx2juQ.moEEsXy8TZc9b5XhYfNt6R1Y7DxYX\x04"
    + "\x00" * 7
    + "bHCBTU; "
    + "io=\x9f\x8a\x91\x94"
    + "x" * 8
    + "\x00" * 13
    + "\x08\x00\x00\x00xxxxx; "
    + SID_COOKIE
)


@pytest.mark.parametrize("store", sorted(REQUEST_MIDDLEWARES))
@settings(FUZZ, max_examples=100)
@header_examples
@example(header=ATHERIS_FINDING)
@given(header=long_headers())
def test_whole_request_with_a_long_cookie_header_is_linear(store, header):
    warm_up(whole_request(REQUEST_MIDDLEWARES[store]))
    bounded(whole_request(REQUEST_MIDDLEWARES[store]), header, REQUEST_CONSTANT)
