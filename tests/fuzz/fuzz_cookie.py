#!/usr/bin/env python3
"""Atheris harness over everything in sessionware that reads untrusted bytes.

Run for a set time (seed corpus in ``corpus/``, made by ``make_corpus.py``)::

    python tests/fuzz/fuzz_cookie.py tests/fuzz/corpus -max_total_time=600

The first byte of an input picks the entry point (``MODES``), the rest is the
data. Any exception that escapes :func:`TestOneInput` is a finding: the
middleware promises that untrusted input never raises to the app, and the
Cookie-header modes raise when a header costs more than a few copies of its
own length in memory or more than ``TIME_BOUND`` in CPU time. ``-max_len``
defaults to 64 KiB here, as long as real headers get.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from functools import partial

import atheris
from bounds import PARSER_CONSTANT, REQUEST_CONSTANT, bounded  # this script's folder
from bounds import parse_all as parse_with

with atheris.instrument_imports():
    from itsdangerous import TimestampSigner
    from itsdangerous.encoding import base64_encode

    from sessionware import SessionMiddleware
    from sessionware._backends.server import MARKER
    from sessionware._codec import DecodeError, decode, decode_envelope, encode
    from sessionware._cookies import CookieHeaders
    from sessionware.migrate import FlaskCookie, FlaskSessionRedis
    from sessionware.migrate._common import accept
    from sessionware.migrate.flask_session import load_record
    from sessionware.stores import CookieStore, MemoryStore

SECRET = "fuzz-secret-key-0123456789abcdef-xyz"
OLD_SECRET = "fuzz-old-secret-key-0123456789abcdef"
#: The longest allowed (400 days): the committed corpus cookies stay valid that long.
LIFETIME = 400 * 24 * 3600
#: The sid of the server-store record the corrupt-record mode writes.
SID = "fuzzfuzzfuzzfuzzfuzzAA"


def _app(environ, start_response):  # never called: the harness drives the middleware
    raise AssertionError("not used")


def _middleware(store):
    return SessionMiddleware(
        _app, SECRET, fallback_keys=[OLD_SECRET], store=store, permanent_lifetime=LIFETIME
    )


PLAIN = _middleware(CookieStore())
ENCRYPTED = _middleware(CookieStore(encrypt=True))
MEMORY = MemoryStore()
SERVER = _middleware(MEMORY)
SID_COOKIE = SERVER.backend.keys.sign(SID.encode("ascii"))
GOOD_MARKER = encode([0, 0])


def exercise(middleware, cookie_header):
    """Open, touch, change and save a session; check it is new-and-empty or valid."""
    session = middleware.open_session({"HTTP_COOKIE": cookie_header})
    items = dict(session.items())
    if session.new and items:
        raise AssertionError(f"a new session has data: {items!r}")
    _ = session.sid, session.permanent
    session["fuzz"] = 1
    middleware.save_session(session)
    if middleware is SERVER and session.sid != SID:
        MEMORY.delete(session.sid)  # keep the store from growing over millions of runs
    return session


def cookie_header(value):
    return f"session={value}"


def mode_plain_header(data):
    exercise(PLAIN, data.decode("latin-1"))


def mode_encrypted_header(data):
    exercise(ENCRYPTED, data.decode("latin-1"))


def mode_server_header(data):
    exercise(SERVER, data.decode("latin-1"))


def mode_sealed_payload(data):
    # Sealed by the real sealer: the fuzzed bytes reach zlib (when long) and msgpack.
    exercise(PLAIN, cookie_header(PLAIN.backend.sealer.seal(data)))


def mode_encrypted_payload(data):
    # Encrypted with the real key: the fuzzed bytes reach msgpack after AES-GCM.
    exercise(ENCRYPTED, cookie_header(ENCRYPTED.backend.sealer.seal(data)))


def mode_signed_body(data):
    # Arbitrary bytes behind the signature: base64, "." (zlib) and "~" prefixes.
    # Only ASCII can travel in a cookie (and be signed into one).
    body = bytes(b & 0x7F for b in data)
    exercise(PLAIN, cookie_header(PLAIN.backend.sealer.keys.sign(body)))


def mode_signed_zlib(data):
    exercise(PLAIN, cookie_header(PLAIN.backend.sealer.keys.sign(b"." + base64_encode(data))))


def mode_codec(data):
    for function in (decode, decode_envelope):
        try:
            function(data)
        except DecodeError:
            pass


def mode_record_value(data):
    MEMORY.save(SID, {MARKER: GOOD_MARKER, "value": data}, 60)
    exercise(SERVER, cookie_header(SID_COOKIE))


def mode_record_marker(data):
    MEMORY.save(SID, {MARKER: data, "value": encode("x")}, 60)
    exercise(SERVER, cookie_header(SID_COOKIE))


# -- the Cookie header: cost linear in its length (API.md section 5) ----------------

PARSER = CookieHeaders(PLAIN.config)
parse_all = partial(parse_with, PARSER)


def _read_app(environ, start_response):
    environ["session"].get("username")  # loads: parse, verify, decode, look up
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


#: The request mode's own server store, holding one small fixed record for
#: SID: sharing MEMORY, whose SID record the record modes fill with up to
#: 64 KiB of fuzzed bytes, made a request's cost depend on an earlier input.
REQUEST_STORE = MemoryStore()
REQUEST_STORE.save(SID, {MARKER: GOOD_MARKER, "username": encode("admin")}, LIFETIME)
REQUESTS = [
    SessionMiddleware(_read_app, SECRET, fallback_keys=[OLD_SECRET], store=store,
                      permanent_lifetime=LIFETIME)
    for store in (CookieStore(), CookieStore(encrypt=True), REQUEST_STORE)
]  # fmt: skip


def _start_response(status, headers, exc_info=None):
    return lambda data: None


def _request(middleware):
    def request(header):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": header}
        body = middleware(environ, _start_response)
        try:
            b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()

    return request


def mode_cookie_parser(data):
    bounded(parse_all, data.decode("latin-1"), PARSER_CONSTANT)


def mode_cookie_request(data):
    # First byte: which store; the rest, the whole Cookie header of a request.
    if data:
        middleware = REQUESTS[data[0] % len(REQUESTS)]
        bounded(_request(middleware), data[1:].decode("latin-1"), REQUEST_CONSTANT)


# -- migration readers (sessionware.migrate): the same header, read by them too ------

FLASK_SECRET = "fuzz-old-flask-secret-key-0123456789"
FLASK_SIGNER = TimestampSigner(
    FLASK_SECRET, salt="cookie-session", key_derivation="hmac", digest_method=hashlib.sha1
)
READERS = [FlaskCookie(FLASK_SECRET), FlaskCookie(FLASK_SECRET, cookie_name="old")]
MIGRATING = [
    SessionMiddleware(_read_app, SECRET, store=store, permanent_lifetime=LIFETIME,
                      migrate_from=READERS)
    for store in (CookieStore(), MemoryStore())
]  # fmt: skip
#: Set FUZZ_REDIS_URL (a scratch Redis) to fuzz FlaskSessionRedis through Redis;
#: without it, its records are fuzzed at their decode boundary only.
REDIS_URL = os.environ.get("FUZZ_REDIS_URL")
if REDIS_URL:
    FLASK_SESSION = FlaskSessionRedis(REDIS_URL, key_prefix="fuzz:flask-session:")
    MIGRATING.append(
        SessionMiddleware(_read_app, SECRET, store=MemoryStore(), migrate_from=[FLASK_SESSION])
    )


def mode_flask_cookie_header(data):
    # First byte: which migrating middleware; the rest, the whole Cookie header.
    if data:
        _request(MIGRATING[data[0] % len(MIGRATING)])(data[1:].decode("latin-1"))


def mode_flask_signed_payload(data):
    # Signed with the Flask key: the bytes reach base64, zlib, JSON and untag.
    if data:
        body = base64_encode(data[1:])
        value = FLASK_SIGNER.sign(b"." + body if data[0] & 1 else body).decode("ascii")
        _request(MIGRATING[data[0] % len(MIGRATING)])(f"session={value}; old={value}")


def mode_flask_session_record(data):
    try:
        accept(None, load_record(data))
    except DecodeError:
        pass
    if REDIS_URL:
        FLASK_SESSION.client.set("fuzz:flask-session:" + "R" * 43, data, ex=60)
        _request(MIGRATING[-1])("session=" + "R" * 43)


def mode_migrating_request(data):
    # The Cookie header's cost bound, through every reader.
    if data:
        middleware = MIGRATING[data[0] % len(MIGRATING)]
        bounded(_request(middleware), data[1:].decode("latin-1"), REQUEST_CONSTANT)


MODES = [
    mode_plain_header,
    mode_encrypted_header,
    mode_server_header,
    mode_sealed_payload,
    mode_encrypted_payload,
    mode_signed_body,
    mode_signed_zlib,
    mode_codec,
    mode_record_value,
    mode_record_marker,
    mode_cookie_parser,  # appended: the committed corpus keeps its mode bytes
    mode_cookie_request,
    mode_flask_cookie_header,  # appended: the committed corpus keeps its mode bytes
    mode_flask_signed_payload,
    mode_flask_session_record,
    mode_migrating_request,
]


def _warm_up():
    """Run each header path once before fuzzing: one-time costs (a regex
    compiled on first use, caches) are not the header's."""
    for header in ("session=a", "session=a; session=b", "x=1; session=a; y=2"):
        parse_all(header)
        for middleware in (*REQUESTS, *MIGRATING):
            _request(middleware)(header)
            _request(middleware)(header + "; " + cookie_header(SID_COOKIE))


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    MODES[data[0] % len(MODES)](data[1:])


def main():
    # A corrupt record logs a warning per input; the fuzzer's output is enough.
    logging.getLogger("sessionware").disabled = True
    argv = list(sys.argv)
    # Inputs as long as real Cookie headers (libFuzzer's default is 4 KiB,
    # which never reaches a quadratic parser's bad case); 10 s per input.
    for default in ("-max_len=65536", "-timeout=10"):
        if not any(arg.startswith(default.split("=")[0] + "=") for arg in argv):
            argv.append(default)
    _warm_up()
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
