"""Keys and owners that no store could keep are refused when they are set,
identically on every store (cookie, cookie + revocation, memory, SQLite,
Redis, PostgreSQL); everything else works on every store.

- A key that is not valid UTF-8 (a ``str`` holding a lone surrogate) raises
  the same ``UnsupportedValueError`` (a ``TypeError``) as an unsupported
  value, through every route that sets a key, and the session still saves
  afterwards: never a sticky failure on every later save.
- Data arriving through a migration reader with such a key or value is no
  session (a new one), not a session that fails on every request.
- An owner longer than 1,024 characters raises ``ValueError``; every owner
  up to 1,024 characters, in any script (4-byte characters included), is
  listed by ``sessions(owner)`` and ended by ``revoke_owner(owner)``.
"""

import json
import random

import pytest
from werkzeug.test import Client

from helpers import SECRET, handler_app
from sessionware import (
    CookieTooLargeError,
    SessionMiddleware,
    SessionWarning,
    UnsupportedValueError,
)
from sessionware.stores import MemoryStore, PostgreSQLStore, RedisStore, SQLiteStore

BAD_KEYS = ["\ud800", "a\udfffb", "\udc80x"]


def random_text(low, high, seed):
    """1,024 characters drawn from ``low``..``high``: incompressible, as a
    database might otherwise squeeze a repeated one under its limits."""
    rng = random.Random(seed)
    return "".join(chr(rng.randint(low, high)) for _ in range(1024))


OWNERS = {
    "ascii": random_text(0x21, 0x7E, 1),
    "latin": random_text(0xC0, 0x24F, 2),
    "cjk": random_text(0x4E00, 0x9FFF, 3),
    "astral": random_text(0x20000, 0x2A6DF, 4),  # four UTF-8 bytes each: 4,096 bytes
    "mixed": random_text(0, 0x10FFFF, 5).encode("utf-8", "ignore").decode()[:1024],
    "repeated": "\U0001d11e" * 1024,
}


@pytest.fixture(params=["cookie", "cookie+revocation", "memory", "sqlite", "redis", "postgresql"])
def setup(request, tmp_path):
    """``(store, revocation)``: every store, and the cookie store with an
    SQLite revocation store."""
    kind = request.param
    if kind == "cookie":
        yield None, None
        return
    if kind == "cookie+revocation":
        revocation = SQLiteStore(tmp_path / "revoked.db")
        yield None, revocation
        revocation.close()
        return
    if kind == "memory":
        yield MemoryStore(), None
        return
    if kind == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.db")
    elif kind == "postgresql":
        pytest.importorskip("psycopg")
        server = request.getfixturevalue("postgresql_server")
        store = PostgreSQLStore(server.url, table=request.getfixturevalue("pg_table"))
    else:
        server = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield store, None
    store.close()


def outcome(call):
    try:
        call()
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None


def key_routes(session, environ):
    """Every route that sets a key, with a bad key; then a good key."""
    path = environ["PATH_INFO"]
    if path == "/refused":
        results = []
        for key in BAD_KEYS:
            results.append(outcome(lambda key=key: session.__setitem__(key, 1)))
            results.append(outcome(lambda key=key: session.update({key: 1})))
            results.append(outcome(lambda key=key: session.update(**{key: 1})))
            results.append(outcome(lambda key=key: session.setdefault(key, 1)))
        session["good"] = "kept"
        return json.dumps({"results": results, "keys": sorted(map(ascii, session))})
    if path == "/nested":
        session["nested"] = {"\ud800": 1}  # refused when saved: this response only
        return "unreachable"
    return json.dumps({"keys": sorted(session), "new": session.new})


def test_a_key_no_store_can_encode_is_refused_when_set(setup):
    store, revocation = setup
    client = Client(
        SessionMiddleware(handler_app(key_routes), SECRET, store=store, revocation=revocation)
    )
    body = json.loads(client.get("/refused").text)
    assert body["keys"] == ["'good'"]
    for result in body["results"]:
        assert result is not None and result[0] == "UnsupportedValueError", result
        assert "lone surrogate" in result[1]
    # Saved, and the session works on: nothing sticky.
    assert json.loads(client.get("/").text) == {"keys": ["good"], "new": False}
    with pytest.raises(UnsupportedValueError, match="lone surrogate"):
        client.get("/nested")
    assert json.loads(client.get("/").text) == {"keys": ["good"], "new": False}


def test_the_refusal_is_the_same_on_every_store(setup):
    def handler(session, environ):
        with pytest.raises(UnsupportedValueError) as info:
            session["\ud800"] = 1
        assert isinstance(info.value, TypeError)
        return f"{info.value}|{info.value.path}"

    store, revocation = setup
    client = Client(
        SessionMiddleware(handler_app(handler), SECRET, store=store, revocation=revocation)
    )
    assert client.get("/").text == (
        "cannot store the key '\\ud800': it holds a lone surrogate, not valid UTF-8; "
        "no store can keep it|session['\\ud800']"
    )


@pytest.mark.parametrize(
    "data", [{"\ud800": 1}, {"ok": "\udc80"}, {"ok": {"\ud800": 1}}], ids=["key", "value", "nested"]
)
def test_migrated_data_no_store_can_keep_is_no_session(setup, data):
    pytest.importorskip("flask")
    from test_migrate import flask_cookie, migrating_client

    store, revocation = setup
    client, _ = migrating_client(store, revocation=revocation)
    client.set_cookie("session", flask_cookie(data))
    for _ in range(2):  # the same old cookie again: the same answer, never a 500
        response = client.get("/")
        assert response.status_code == 200
        assert json.loads(response.text)["new"] is True


def owner_routes(session, environ):
    if environ["PATH_INFO"] == "/login":
        session.regenerate()
        session.owner = environ["sessionware.test.owner"]
    return json.dumps({"sid": session.sid, "owner": session.owner})


def get(client, path, owner=None):
    response = client.get(path, environ_overrides={"sessionware.test.owner": owner})
    assert response.status_code == 200, response.text
    return json.loads(response.text)


@pytest.mark.parametrize("owner", list(OWNERS.values()), ids=list(OWNERS))
def test_every_owner_up_to_1024_characters_works_on_every_store(setup, owner):
    store, revocation = setup
    mw = SessionMiddleware(handler_app(owner_routes), SECRET, store=store, revocation=revocation)
    first, second = Client(mw), Client(mw)
    try:
        one = get(first, "/login", owner)
    except (CookieTooLargeError, SessionWarning):
        # The cookie store carries the owner in the cookie: past the
        # browsers' 4 KB, the cookie's own rule applies (section 3), loudly.
        assert store is None and len(owner.encode()) > 2048
        return
    two = get(second, "/login", owner)
    assert one["owner"] == two["owner"] == get(first, "/me")["owner"] == owner
    if store is None and revocation is None:
        return  # the cookie store alone can neither list nor revoke
    if revocation is None:
        assert {info.sid for info in mw.sessions(owner)} == {one["sid"], two["sid"]}
    ended = mw.revoke_owner(owner, keep=two["sid"])
    assert ended == (1 if store is not None else 0)  # the cookie store cannot count
    assert get(first, "/me")["owner"] is None  # ended
    assert get(second, "/me")["owner"] == owner  # kept
    if revocation is None:
        assert [info.sid for info in mw.sessions(owner)] == [two["sid"]]


@pytest.mark.parametrize("owner", ["a" * 1025, "\U0001d11e" * 1025, "x" * 100_000])
def test_a_longer_owner_is_refused_on_every_store_alike(setup, owner):
    def handler(session, environ):
        with pytest.raises(ValueError) as info:
            session.owner = owner
        assert session.owner is None and not session.modified
        return str(info.value)

    store, revocation = setup
    client = Client(
        SessionMiddleware(handler_app(handler), SECRET, store=store, revocation=revocation)
    )
    assert client.get("/").text == (
        f"session.owner is {len(owner)} characters long; at most 1024 are kept"
    )


def test_an_owner_with_a_lone_surrogate_is_refused_when_set():
    def handler(session, environ):
        with pytest.raises(UnsupportedValueError, match="lone surrogate"):
            session.owner = "a\ud800"
        return "ok"

    client = Client(SessionMiddleware(handler_app(handler), SECRET))
    assert client.get("/").text == "ok"
