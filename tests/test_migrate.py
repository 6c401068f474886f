"""sessionware.migrate: real Flask 2.x/3.x cookies and real Flask-Session records
become sessionware sessions on the response of the request that brings them."""

import base64
import hashlib
import json
import logging
import os
import pickle
import subprocess
import sys
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import flask
import pytest
import redis
from freezegun import freeze_time
from itsdangerous import TimestampSigner
from werkzeug.test import Client

from helpers import SECRET, cookie_value, handler_app
from sessionware import ConfigurationError, SessionMiddleware, StoreError
from sessionware.migrate import MAX_ATTEMPTS, FlaskCookie, FlaskSessionRedis
from sessionware.stores import MemoryStore, RedisStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import flask_cookies  # noqa: E402 (the fixture script: expected data and keys)

FLASK_SECRET = flask_cookies.SECRET
FLASK_OLD_SECRET = flask_cookies.OLD_SECRET


def flask3_cookies():
    out = subprocess.run(
        [sys.executable, str(FIXTURES / "flask_cookies.py")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture(scope="module", params=["flask2", "flask3"])
def made(request):
    """Cookies made by real Flask: 2.3.3 (checked in) and the installed 3.x."""
    if request.param == "flask2":
        made = json.loads((FIXTURES / "flask2_cookies.json").read_text())
        assert made["flask"].startswith("2.")
    else:
        made = flask3_cookies()
        assert made["flask"].startswith("3.") or flask.__version__.startswith("3.")
    return made


@pytest.fixture
def at_signing_time(made):
    with freeze_time(datetime.fromtimestamp(made["made_at"] + 60, UTC)):
        yield


def assert_same(actual, expected, path="session"):
    """Equal, and of exactly the same types all the way down."""
    assert type(actual) is type(expected), (path, actual, expected)
    if isinstance(expected, dict):
        assert list(actual) == list(expected) or set(actual) == set(expected), path
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), path
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, path


# -- FlaskCookie: the format ----------------------------------------------------------


def test_reads_every_flask_cookie_with_its_types(made, at_signing_time):
    reader = FlaskCookie(FLASK_SECRET)
    for name, (data, permanent) in flask_cookies.sessions().items():
        found = reader.read([made["cookies"][name]])
        assert found is not None, name
        expected = dict(data)
        if name == "flashes":  # Flask's tuples inside lists are tagged tuples
            expected["_flashes"] = [tuple(item) for item in data["_flashes"]]
        assert_same(found.data, expected, name)
        assert found.permanent is permanent, name
        assert "_permanent" not in found.data
    assert made["cookies"]["compressed"].startswith(".")  # the zlib branch ran


def test_key_rotation(made, at_signing_time):
    old = made["old_key_cookies"]["seed"]
    assert FlaskCookie(FLASK_SECRET).read([old]) is None
    rotated = FlaskCookie(FLASK_SECRET, fallback_keys=[FLASK_OLD_SECRET])
    assert rotated.read([old]).data["username"] == "admin"
    assert rotated.read([made["cookies"]["seed"]]).data["username"] == "admin"


def test_expired_after_max_age(made):
    cookie = made["cookies"]["seed"]
    with freeze_time(datetime.fromtimestamp(made["made_at"] + 3600 + 5, UTC)):
        assert FlaskCookie(FLASK_SECRET).read([cookie]) is not None
        assert FlaskCookie(FLASK_SECRET, max_age=3600).read([cookie]) is None


def test_first_valid_value_wins(made, at_signing_time):
    values = ["garbage", made["old_key_cookies"]["seed"], made["cookies"]["permanent"]]
    found = FlaskCookie(FLASK_SECRET).read(values)
    assert found.data == {"user_id": "42", "cart": ["apple", "pear"]}


def flask_signer(key=FLASK_SECRET):
    return TimestampSigner(
        key, salt="cookie-session", key_derivation="hmac", digest_method=hashlib.sha1
    )


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


TAMPERING = {
    "empty": lambda c: "",
    "garbage": lambda c: "not-a-cookie",
    "flipped payload": lambda c: c[:5] + ("A" if c[5] != "A" else "B") + c[6:],
    "flipped signature": lambda c: c[:-2] + ("A" if c[-2] != "A" else "B") + c[-1],
    "truncated": lambda c: c[:-10],
    "no signature": lambda c: c.rsplit(".", 1)[0],
    "non-ascii": lambda c: c + "é",
    "sessionware-signed": lambda c: TimestampSigner(SECRET).sign(b"x").decode(),
}


@pytest.mark.parametrize("transform", TAMPERING.values(), ids=TAMPERING.keys())
def test_tampered_cookies_are_no_session(made, at_signing_time, transform, caplog):
    cookie = made["cookies"]["seed"]
    with caplog.at_level(logging.DEBUG, logger="sessionware"):
        assert FlaskCookie(FLASK_SECRET).read([transform(cookie)]) is None
    assert cookie not in caplog.text


def signed_json(raw: bytes, compress=False):
    if compress:
        return flask_signer().sign(b"." + b64(zlib.compress(raw, 9))).decode()
    return flask_signer().sign(b64(raw)).decode()


BOUNDS = {
    # A verified cookie is still decoded within bounds (a leaked or old key).
    "zlib bomb": lambda: signed_json(b'{"a":"' + b"x" * (64 << 20) + b'"}', compress=True),
    "deep JSON": lambda: signed_json(b"[" * 3000 + b"]" * 3000, compress=True),
    "deep tags": lambda: signed_json(b'{" t":' * 200 + b"1" + b"}" * 200, compress=True),
    "too long": lambda: signed_json(b'{"a":"' + b"y" * 9000 + b'"}'),
    "not a dict": lambda: signed_json(b"[1, 2]"),
    "bad tag": lambda: signed_json(b'{"a": {" u": "not-a-uuid"}}'),
    "non-string tag": lambda: signed_json(b'{"a": {" b": 5}}'),
    "not json": lambda: signed_json(b"\xff\xfe"),
}


@pytest.mark.parametrize("make", BOUNDS.values(), ids=BOUNDS.keys())
def test_bounded_decoding(make):
    cookie = make()
    assert FlaskCookie(FLASK_SECRET).read([cookie]) is None


def test_zlib_bomb_is_not_inflated_beyond_the_cap():
    import tracemalloc

    cookie = BOUNDS["zlib bomb"]()
    assert len(cookie) < 100_000  # 64 MiB of JSON in a small cookie
    tracemalloc.start()
    try:
        FlaskCookie(FLASK_SECRET).read([cookie])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_reader_configuration_errors():
    with pytest.raises(ConfigurationError, match="secret_key"):
        FlaskCookie(None)
    with pytest.raises(ConfigurationError, match="fallback_keys"):
        FlaskCookie(FLASK_SECRET, fallback_keys=FLASK_OLD_SECRET)
    with pytest.raises(ConfigurationError, match="max_age"):
        FlaskCookie(FLASK_SECRET, max_age="a month")
    with pytest.raises(ConfigurationError, match="migrate_from"):
        SessionMiddleware(handler_app(lambda s, e: ""), SECRET, migrate_from="flask")
    with pytest.raises(ConfigurationError, match=r"migrate_from\[0\]"):
        SessionMiddleware(handler_app(lambda s, e: ""), SECRET, migrate_from=[object()])


# -- migration through the middleware --------------------------------------------------


def page(session, environ):
    return json.dumps(
        {"data": {k: repr(v) for k, v in session.items()}, "new": session.new,
         "permanent": session.permanent, "sid": session.sid}
    )  # fmt: skip


def migrating_client(store=None, readers=None, **options):
    readers = [FlaskCookie(FLASK_SECRET)] if readers is None else readers
    middleware = SessionMiddleware(
        handler_app(page), SECRET, store=store, migrate_from=readers, **options
    )
    return Client(middleware), middleware


def flask_cookie(data, permanent=False, key=FLASK_SECRET):
    """A cookie made by the installed (real) Flask's session."""
    app = flask.Flask("old")
    app.secret_key = key

    @app.route("/")
    def view():
        flask.session.update(data)
        flask.session.permanent = permanent
        return "ok"

    client = app.test_client()
    client.get("/")
    return client.get_cookie("session").value


def test_migrated_on_the_same_response(any_store):
    client, middleware = migrating_client(any_store)
    client.set_cookie("session", flask_cookie({"user": "alice", "n": (1, 2)}, permanent=True))
    response = client.get("/")
    first = json.loads(response.text)
    assert first["new"] is False and first["permanent"] is True
    assert first["data"] == {"user": "'alice'", "n": "(1, 2)"}
    [header] = response.headers.getlist("Set-Cookie")
    assert "Max-Age=" in header  # permanent, as the Flask session was
    new_cookie = cookie_value(response)
    assert client.get_cookie("session").value == new_cookie
    # The next request is a plain sessionware session: same sid, no re-migration.
    second = client.get("/")
    assert json.loads(second.text) == first
    assert second.headers.getlist("Set-Cookie") == [] or "Max-Age" in second.headers["Set-Cookie"]
    # The new cookie is sessionware's: it verifies without any reader.
    plain = Client(SessionMiddleware(handler_app(page), SECRET, store=any_store))
    plain.set_cookie("session", new_cookie)
    assert json.loads(plain.get("/").text)["sid"] == first["sid"]


def test_untouched_request_does_not_migrate():
    client, _ = migrating_client()
    client.set_cookie("session", flask_cookie({"user": "alice"}))
    middleware = SessionMiddleware(
        lambda environ, start_response: (start_response("200 OK", []), [b"ok"])[1],
        SECRET, migrate_from=[FlaskCookie(FLASK_SECRET)],
    )  # fmt: skip
    untouched = Client(middleware)
    untouched.set_cookie("session", client.get_cookie("session").value)
    response = untouched.get("/")
    assert response.headers.getlist("Set-Cookie") == []


def test_unreadable_cookie_is_a_new_session_without_set_cookie():
    client, _ = migrating_client()
    client.set_cookie("session", flask_cookie({"user": "mallory"}, key=FLASK_OLD_SECRET))
    response = client.get("/")
    assert json.loads(response.text)["new"] is True
    assert response.headers.getlist("Set-Cookie") == []


def test_old_cookie_of_another_name_is_deleted():
    client, _ = migrating_client(cookie_name="sw")
    client.set_cookie("session", flask_cookie({"user": "alice"}))
    response = client.get("/")
    assert json.loads(response.text)["data"] == {"user": "'alice'"}
    headers = response.headers.getlist("Set-Cookie")
    assert any(h.startswith("sw=") for h in headers)
    assert any(h.startswith("session=;") and "Max-Age=0" in h for h in headers)
    assert client.get_cookie("session") is None
    # Logging out then cannot bring the old session back.
    client.delete_cookie("sw")
    assert json.loads(client.get("/").text)["new"] is True


def test_permanent_by_default():
    client, _ = migrating_client(readers=[], permanent_by_default=True)
    assert json.loads(client.get("/").text)["permanent"] is True
    store_app = SessionMiddleware(
        handler_app(lambda s, e: s.update(x=1)), SECRET, permanent_by_default=True
    )
    assert "Max-Age=" in Client(store_app).get("/").headers["Set-Cookie"]
    # A migrated session keeps the old format's permanence, whatever the default.
    client, _ = migrating_client(permanent_by_default=True)
    client.set_cookie("session", flask_cookie({"user": "alice"}, permanent=False))
    assert json.loads(client.get("/").text)["permanent"] is False


class CountingReader(FlaskCookie):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tried = 0

    def read(self, values):
        self.tried += len(values)
        return super().read(values)


def test_reader_attempts_are_bounded_per_request():
    valid = flask_cookie({"user": "alice"})
    forged = flask_cookie({"user": "mallory"}, key=FLASK_OLD_SECRET)  # well shaped, wrong key
    first, second = CountingReader(FLASK_SECRET), CountingReader(FLASK_SECRET, cookie_name="old")
    _, middleware = migrating_client(readers=[first, second])
    client = Client(middleware, use_cookies=False)  # the header exactly as given
    stuffed = "; ".join([f"session={forged}"] * 500 + [f"old={valid}"] * 50)
    response = client.get("/", headers={"Cookie": stuffed})
    assert json.loads(response.text)["new"] is True  # the valid ones came too late
    assert first.tried == MAX_ATTEMPTS and second.tried == 0  # 8 signature checks in all
    # Values without a Flask cookie's shape cost no attempt (no HMAC): junk
    # tossed in front of a real cookie cannot keep it from migrating.
    junk = "; ".join([f"session=junk{i}" for i in range(500)] + [f"session={valid}"])
    response = client.get("/", headers={"Cookie": junk})
    assert json.loads(response.text)["data"] == {"user": "'alice'"}
    within = "; ".join([f"session={forged}"] * (MAX_ATTEMPTS - 1) + [f"session={valid}"])
    response = client.get("/", headers={"Cookie": within})
    assert json.loads(response.text)["data"] == {"user": "'alice'"}


# -- FlaskSessionRedis against real Flask-Session ---------------------------------


def flask_session_app(client, prefix, **config):
    from flask_session import Session as FlaskSession

    app = flask.Flask("flask_session_app")
    app.config.update(
        SECRET_KEY=FLASK_SECRET, SESSION_TYPE="redis", SESSION_REDIS=client,
        SESSION_KEY_PREFIX=prefix, **config,
    )  # fmt: skip

    @app.route("/login")
    def login():
        flask.session.update(
            user="alice", cart=("apple", "pear"), raw=b"\x00\x01",
            when=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), id=uuid.UUID(int=7),
        )  # fmt: skip
        return "ok"

    @app.route("/show")
    def show():
        return repr(dict(flask.session))

    FlaskSession(app)
    return app


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.mark.parametrize("signed", [False, True], ids=["plain-ids", "signed-ids"])
def test_flask_session_records_migrate_and_are_deleted(redis_client, redis_prefix, signed):
    with pytest.warns(DeprecationWarning) if signed else _no_warning():
        old_app = flask_session_app(redis_client, redis_prefix, SESSION_USE_SIGNER=signed)
    old = old_app.test_client()
    old.get("/login")
    old_cookie = old.get_cookie("session").value
    old_sid = old_cookie.split(".")[0] if signed else old_cookie
    assert redis_client.exists(redis_prefix + old_sid)

    reader = FlaskSessionRedis(
        redis_client, key_prefix=redis_prefix, use_signer=signed, secret_key=FLASK_SECRET
    )
    store = RedisStore(redis_client, prefix=redis_prefix + "sw:")
    client, _ = migrating_client(store, readers=[reader])
    client.set_cookie("session", old_cookie)
    first = json.loads(client.get("/").text)
    assert first["new"] is False
    assert first["permanent"] is True  # Flask-Session's default SESSION_PERMANENT
    assert first["data"] == {
        # What Flask-Session itself reads back (msgpack keeps no tuples or UUIDs).
        "user": "'alice'", "cart": "['apple', 'pear']", "raw": "b'\\x00\\x01'",
        "when": repr(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        "id": repr(str(uuid.UUID(int=7))),
    }  # fmt: skip
    assert not redis_client.exists(redis_prefix + old_sid)  # deleted once saved
    assert redis_client.exists(redis_prefix + "sw:" + first["sid"])
    assert json.loads(client.get("/").text)["sid"] == first["sid"]


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_signed_ids_are_verified_before_any_lookup(redis_client, redis_prefix):
    sid = "A" * 43
    redis_client.set(redis_prefix + sid, b"\x81\xa4user\xa5alice")  # msgpack {"user": "alice"}
    unsigned = FlaskSessionRedis(redis_client, key_prefix=redis_prefix)
    assert unsigned.read([sid]).data == {"user": "alice"}
    signed = FlaskSessionRedis(
        redis_client, key_prefix=redis_prefix, use_signer=True, secret_key=FLASK_SECRET
    )
    assert signed.read([sid]) is None  # an unsigned id is never looked up
    assert signed.read([sid + ".forged"]) is None


class Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_pickled_record_is_never_unpickled(redis_client, redis_prefix, tmp_path):
    proof = tmp_path / "unpickled"
    payload = pickle.dumps({"user": Evil(str(proof))})
    # The payload is live: unpickling it (elsewhere) creates the file.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps({"user": Evil(str(control))}))
    assert control.exists()

    sid = "P" * 43
    redis_client.set(redis_prefix + sid, payload)
    reader = FlaskSessionRedis(redis_client, key_prefix=redis_prefix)
    assert reader.read([sid]) is None
    client, _ = migrating_client(MemoryStore(), readers=[reader])
    client.set_cookie("session", sid)
    assert json.loads(client.get("/").text)["new"] is True
    assert not proof.exists()
    assert "pickle" not in sys.modules or not proof.exists()


RECORDS = {
    "json format": (b'{"user": "alice", "_permanent": false}', {"user": "alice"}),
    "msgpack": (b"\x81\xa4user\xa5alice", {"user": "alice"}),
    "unknown ext": (b"\x81\xa4user\xd4\x05\x00", None),
    "not a map": (b"\x92\x01\x02", None),
    "int keys": (b"\x81\x01\x02", None),
    "garbage": (b"\x00\xff\x00", None),
    # No key is reserved: a NUL-prefixed key is stored escaped, as any other.
    "NUL-prefixed key": (b"\x81\xa5\x00meta\x01", {"\x00meta": 1}),
}


@pytest.mark.parametrize(("raw", "expected"), RECORDS.values(), ids=RECORDS.keys())
def test_record_formats(redis_client, redis_prefix, raw, expected):
    sid = "R" * 43
    redis_client.set(redis_prefix + sid, raw)
    found = FlaskSessionRedis(redis_client, key_prefix=redis_prefix).read([sid])
    assert (found and found.data) == expected


def test_sessionware_hash_under_the_same_prefix_is_no_session(redis_client, redis_prefix):
    sid = "H" * 22
    redis_client.hset(redis_prefix + sid, "x", b"1")  # a sessionware record's shape
    assert FlaskSessionRedis(redis_client, key_prefix=redis_prefix).read([sid]) is None


def test_only_id_shaped_values_are_looked_up(redis_client, redis_prefix):
    reader = FlaskSessionRedis(redis_client, key_prefix=redis_prefix)
    before = redis_client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
    assert reader.read(["a.b.c", "x" * 300, "short", "sp ace"]) is None
    after = redis_client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
    assert after == before  # nothing shaped like a Flask-Session id: no round trip
    reader.read(["B" * 43, "C" * 43, "D" * 43])
    after_three = redis_client.info("commandstats")["cmdstat_mget"]["calls"]
    assert after_three == after + 1  # all candidates in one round trip


def test_redis_down_is_a_store_error(fresh_redis):
    reader = FlaskSessionRedis(fresh_redis.url)
    fresh_redis.stop()
    with pytest.raises(StoreError) as info:
        reader.read(["A" * 43])
    assert info.value.store is reader


def test_flask_session_reader_configuration():
    with pytest.raises(ConfigurationError, match="secret_key"):
        FlaskSessionRedis("redis://127.0.0.1:1/0", use_signer=True)
    with pytest.raises(ConfigurationError, match="decode_responses"):
        FlaskSessionRedis(redis.Redis(decode_responses=True))
    with pytest.raises(ConfigurationError, match="URL or a redis.Redis"):
        FlaskSessionRedis(42)
    reader = FlaskSessionRedis("redis://:hunter2@127.0.0.1:1/3")
    assert "hunter2" not in repr(reader) and "/3" in repr(reader)
    assert os.environ.get("SESSIONWARE_NEVER") is None
