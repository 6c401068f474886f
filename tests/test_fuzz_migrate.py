"""Fuzzing the migration readers: every path that reads untrusted bytes.

With ``migrate_from`` set, a request's ``Cookie`` header also reaches the
readers (``FlaskCookie``: shape check, HMAC, base64, zlib, tagged JSON;
``FlaskSessionRedis``: id shape, a Redis lookup, msgpack or JSON of the
record), and so does the Flask adapter's, which reads Flask's cookie by
default. Properties as in ``test_fuzz.py``: nothing is raised to the app, a
session is new-and-empty or holds a dict, and a ``Cookie`` header costs
memory and time linear in its length (``fuzz/bounds.py``), whole request
included. The atheris harness ``fuzz/fuzz_cookie.py`` has the same modes.
"""

import hashlib
import json
import uuid
import zlib

import flask
import msgpack
import pytest
import redis
from hypothesis import example, given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner
from itsdangerous.encoding import base64_encode

from fuzz.bounds import REQUEST_CONSTANT, bounded
from helpers import SECRET
from sessionware import SessionMiddleware
from sessionware.flask import Sessionware
from sessionware.migrate import FlaskCookie, FlaskSessionRedis
from sessionware.stores import MemoryStore
from test_fuzz import FUZZ, MAX_HEADER, UNITS, msgpackish

FLASK_SECRET = "the-old-flask-secret-key-0123456789"
FLASK_SIGNER = TimestampSigner(
    FLASK_SECRET, salt="cookie-session", key_derivation="hmac", digest_method=hashlib.sha1
)


def read_app(environ, start_response):
    session = environ["session"]
    session.get("username")  # loads: parse, verify, decode, look up, migrate
    assert not (session.new and dict(session)), "a new session has data"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def migrating(store=None, readers=None, **options):
    readers = [FlaskCookie(FLASK_SECRET)] if readers is None else readers
    return SessionMiddleware(read_app, SECRET, store=store, migrate_from=readers, **options)


MIGRATING = {
    "cookie": migrating(),
    "cookie-other-name": migrating(readers=[FlaskCookie(FLASK_SECRET, cookie_name="old")]),
    "memory": migrating(MemoryStore()),
    "revocation": migrating(revocation=MemoryStore()),
}


def request(middleware):
    def run(header):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_COOKIE": header}
        body = middleware(environ, lambda status, headers, exc_info=None: None)
        b"".join(body)
        getattr(body, "close", lambda: None)()

    return run


def flask_adapter():
    app = flask.Flask("fuzzed")
    app.secret_key = FLASK_SECRET  # the adapter migrates Flask's cookie by default
    app.add_url_rule("/", "v", lambda: str(flask.session.get("username")))
    Sessionware(app)
    return app


FLASK_APP = flask_adapter()


@pytest.fixture(scope="module")
def flask_session(redis_server):
    """A middleware reading Flask-Session records from the real Redis, and
    a function that stores a record under a fresh id (returned)."""
    client = redis.Redis.from_url(redis_server.url)
    prefix = f"fuzz:{uuid.uuid4().hex}:"
    reader = FlaskSessionRedis(client, key_prefix=prefix)

    def store(raw):
        sid = uuid.uuid4().hex + "x" * 11
        client.set(prefix + sid, raw, ex=60)
        return sid

    yield migrating(MemoryStore(), readers=[reader]), store
    client.close()


def flask_cookie_value(payload, compress):
    body = b"." + base64_encode(zlib.compress(payload)) if compress else base64_encode(payload)
    return FLASK_SIGNER.sign(body).decode("ascii")


# -- arbitrary headers and payloads through each reader -----------------------------


@pytest.mark.parametrize("kind", sorted(MIGRATING))
@FUZZ
@given(header=st.text())
@example(header="session=" + flask_cookie_value(b'{"username": "admin"}', False))
def test_arbitrary_header_through_flask_cookie(kind, header):
    request(MIGRATING[kind])(header)
    request(MIGRATING[kind])("old=" + header + "; session=" + header)


@FUZZ
@given(payload=st.binary(max_size=4096), compress=st.booleans())
def test_signed_arbitrary_flask_payload(payload, compress):
    # Signed with the Flask key: the fuzzed bytes reach base64, zlib, JSON, untag.
    value = flask_cookie_value(payload, compress)
    for middleware in MIGRATING.values():
        request(middleware)(f"session={value}; old={value}")


flask_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from([" t", " di", " b", " m", " u", " d", "k", "_permanent"]),
            children,
            max_size=3,
        ),
    ),
    max_leaves=16,
)


@FUZZ
@given(document=flask_json, compress=st.booleans())
def test_signed_flask_tagged_json(document, compress):
    # Well-formed JSON with Flask's tags in every wrong place.
    value = flask_cookie_value(json.dumps(document).encode(), compress)
    request(MIGRATING["memory"])(f"session={value}")


@FUZZ
@given(raw=st.one_of(st.binary(max_size=2048), msgpackish.map(msgpack.packb)))
def test_arbitrary_flask_session_record(flask_session, raw):
    middleware, store = flask_session
    request(middleware)(f"session={store(raw)}")


@FUZZ
@given(header=st.text())
def test_arbitrary_header_through_flask_session_redis(flask_session, header):
    request(flask_session[0])(header)


@FUZZ
@given(header=st.text())
def test_arbitrary_header_through_the_flask_adapter(header):
    flask_request(header)


# -- the Cookie header's cost, through every reader -----------------------------------

FLASK_COOKIE = flask_cookie_value(b'{"username": "admin"}', False)
FORGED = FLASK_COOKIE[:-2] + (
    "AA" if FLASK_COOKIE[-2:] != "AA" else "BB"
)  # plausible: an HMAC each
MIGRATION_UNITS = [
    *UNITS, f"session={FLASK_COOKIE}; ", f"session={FORGED};", f"old={FORGED}; ",
    f"old={FLASK_COOKIE};", "session=" + "A" * 43 + "; ", "old=.x.y." + "z" * 27 + ";",
]  # fmt: skip


@st.composite
def long_headers(draw):
    parts = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(MIGRATION_UNITS), st.text(max_size=6)),
                st.integers(1, 9000),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return "".join(unit * count for unit, count in parts)[:MAX_HEADER]


BOMBS = [
    ("session=x;" + "\xe9\xe9;" * 21845)[:MAX_HEADER],  # ~20 copies as a list of pairs
    ("old=x;" + "\xe9\xe9;" * 21845)[:MAX_HEADER],
    (f"session={FORGED}; " * 2000)[:MAX_HEADER],
    ("session=" + "A" * 43 + ";") * 1200,
    "session=" + FLASK_COOKIE + "; " + ";" * (MAX_HEADER - 200),
]


def bombs(test):
    for header in BOMBS:
        test = example(header=header)(test)
    return test


def warm(run):
    for header in ("session=a", f"session={FLASK_COOKIE}", f"x=1; old={FORGED}; session=b"):
        run(header)


@pytest.mark.parametrize("kind", sorted(MIGRATING))
@settings(FUZZ, max_examples=60)
@bombs
@given(header=long_headers())
def test_migrating_request_cost_is_linear(kind, header):
    run = request(MIGRATING[kind])
    warm(run)
    bounded(run, header, REQUEST_CONSTANT)


@settings(FUZZ, max_examples=60)
@bombs
@given(header=long_headers())
def test_flask_session_redis_request_cost_is_linear(flask_session, header):
    run = request(flask_session[0])
    warm(run)
    bounded(run, header, REQUEST_CONSTANT)


def flask_request(header):
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_COOKIE": header,
    }  # fmt: skip
    body = FLASK_APP(environ, lambda status, headers, exc_info=None: None)
    b"".join(body)
    getattr(body, "close", lambda: None)()


@settings(FUZZ, max_examples=60)
@bombs
@given(header=long_headers())
def test_flask_adapter_request_cost_is_linear(header):
    warm(flask_request)
    bounded(flask_request, header, REQUEST_CONSTANT)


def test_bombs_cost_the_bound_on_the_old_parser():
    # The bound can fail: a list of every cookie-pair (the old migration
    # parse) costs ~20 copies of the first bomb.
    def split_all(header):
        pairs = header.split(";")
        assert pairs

    with pytest.raises(AssertionError, match="bytes for a"):
        bounded(split_all, BOMBS[0], REQUEST_CONSTANT)


def test_real_cookies_migrate(flask_session):
    # The controls: the valid values above do reach a session.
    for middleware in (*MIGRATING.values(), flask_session[0]):
        session = middleware.open_session(
            {"HTTP_COOKIE": f"session={FLASK_COOKIE}; old={FLASK_COOKIE}"}
        )
        if middleware is not flask_session[0]:
            assert session.get("username") == "admin"
    session = flask_session[0].open_session(
        {"HTTP_COOKIE": "session=" + flask_session[1](msgpack.packb({"username": "admin"}))}
    )
    assert session.get("username") == "admin"
