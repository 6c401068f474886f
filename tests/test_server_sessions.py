"""Session semantics with a server-side store (the README's "Choosing a store"), on
real in-process stores."""

from __future__ import annotations

import logging

import pytest
from freezegun import freeze_time
from werkzeug.test import Client

from helpers import SECRET, SEED, cookie_value, dead_record, set_cookies
from sessionware import SessionMiddleware, StoreError
from sessionware._backends.server import MARKER
from sessionware._codec import encode
from sessionware.stores import MemoryStore


class RecordingStore(MemoryStore):
    """A real MemoryStore that also records which methods were called."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def load(self, sid):
        self.calls.append(("load", sid))
        return super().load(sid)

    def save(self, sid, changes, ttl):
        self.calls.append(("save", sid, dict(changes), ttl))
        return super().save(sid, changes, ttl)

    def delete(self, sid):
        self.calls.append(("delete", sid))
        return super().delete(sid)

    def touch(self, sid, ttl):
        self.calls.append(("touch", sid, ttl))
        return super().touch(sid, ttl)

    def writes(self):
        return [c for c in self.calls if c[0] != "load"]


class BrokenStore:
    """A store whose backend is down: every call fails loudly."""

    def _fail(self, *args):
        raise StoreError("BrokenStore: backend is down", store=self) from ConnectionError("down")

    load = save = delete = touch = _fail


def app(environ, start_response):
    session = environ["session"]
    path = environ["PATH_INFO"]
    body = ""
    if path == "/set":
        session.update(SEED)
    elif path.startswith("/put/"):
        _, _, key, value = path.split("/")
        session[key] = value
    elif path == "/read":
        body = repr(dict(session))
    elif path == "/sid":
        body = session.sid
    elif path == "/clear":
        session.clear()
    elif path == "/login":
        session.regenerate()
    elif path == "/logout":
        session.invalidate()
    elif path == "/perm":
        session.permanent = True
        session["p"] = 1
    elif path == "/touch":
        session.get("x")
    elif path == "/cart":
        session["cart"].append("apple")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


@pytest.fixture
def store():
    return RecordingStore()


@pytest.fixture
def client(store):
    return Client(SessionMiddleware(app, SECRET, store=store))


def test_cookie_carries_only_the_signed_sid(client, store):
    response = client.get("/set")
    value = cookie_value(response)
    sid = client.get("/sid").text
    assert value.startswith(sid + ".")
    assert "admin" not in value and len(value) < 80
    record = store.load(sid)
    assert set(record) == set(SEED) | {MARKER}


def test_read_only_request_never_writes(client, store):
    client.get("/set")
    store.calls.clear()
    assert "admin" in client.get("/read").text
    assert store.writes() == []
    assert [c[0] for c in store.calls] == ["load"]


def test_untouched_request_never_loads(client, store):
    client.get("/set")
    store.calls.clear()
    client.get("/nothing")
    assert store.calls == []


def test_empty_new_session_is_never_stored(client, store):
    client.get("/read")
    client.get("/sid")
    assert store.writes() == []


def test_save_writes_only_changed_keys(client, store):
    client.get("/set")
    store.calls.clear()
    client.get("/put/age/26")
    (save,) = store.writes()
    assert save[0] == "save" and save[2].keys() == {"age"}


def test_nested_change_detected_per_key(client, store):
    client.get("/put/cart/x")
    client.application.store  # noqa: B018
    sid = client.get("/sid").text
    store.save(sid, {"cart": encode([])}, 60)
    store.calls.clear()
    client.get("/cart")
    (save,) = store.writes()
    assert save[2].keys() == {"cart"}
    assert "apple" in client.get("/read").text


def test_concurrent_requests_changing_different_keys_both_survive(store):
    mw = SessionMiddleware(app, SECRET, store=store)
    client = Client(mw)
    client.get("/set")
    cookie = {"HTTP_COOKIE": f"session={client.get_cookie('session').value}"}
    # Two requests load the same session, then save in turn (interleaved).
    first, second = mw.open_session(dict(cookie)), mw.open_session(dict(cookie))
    first["a"] = 1
    second["b"] = 2
    second["age"] = 99
    mw.save_session(first)
    mw.save_session(second)
    data = client.get("/read").text
    assert "'a': 1" in data and "'b': 2" in data and "'age': 99" in data


def test_clear_wins_over_a_concurrent_write(store):
    mw = SessionMiddleware(app, SECRET, store=store)
    client = Client(mw)
    client.get("/set")
    cookie = {"HTTP_COOKIE": f"session={client.get_cookie('session').value}"}
    writer, clearer = mw.open_session(dict(cookie)), mw.open_session(dict(cookie))
    writer["late"] = "write"
    len(clearer)
    clearer.clear()
    mw.save_session(clearer)
    mw.save_session(writer)  # lands after the clear: must not resurrect the session
    late = mw.open_session(dict(cookie))
    assert late.new and dict(late) == {}


def test_forged_or_unknown_sid_gets_a_fresh_id(client, store):
    client.get("/set")
    real_sid = client.get("/sid").text
    other = Client(client.application)
    other.set_cookie("session", real_sid)  # unsigned: a client-chosen id
    assert other.get("/read").text == "{}"
    assert other.get("/sid").text != real_sid
    # A validly signed id whose record is gone is a new session with a new id.
    store.delete(real_sid)
    assert client.get("/read").text == "{}"
    client.get("/put/k/v")
    assert client.get("/sid").text != real_sid


def test_regenerate_moves_data_and_kills_the_old_id(client, store):
    client.get("/set")
    old_cookie = client.get_cookie("session").value
    old_sid = client.get("/sid").text
    client.get("/login")
    new_sid = client.get("/sid").text
    assert new_sid != old_sid
    assert dead_record(store.load(old_sid))
    assert "admin" in client.get("/read").text
    replay = Client(client.application)
    replay.set_cookie("session", old_cookie)
    assert replay.get("/read").text == "{}"


def test_clear_and_invalidate_delete_record_and_cookie(client, store):
    client.get("/set")
    sid = client.get("/sid").text
    (header,) = set_cookies(client.get("/clear"))
    assert "Max-Age=0" in header and dead_record(store.load(sid))
    client.get("/set")
    sid = client.get("/sid").text
    (header,) = set_cookies(client.get("/logout"))
    assert "Max-Age=0" in header and dead_record(store.load(sid))


def test_due_refresh_only_extends_the_ttl(store):
    client = Client(SessionMiddleware(app, SECRET, store=store, permanent_lifetime=3600))
    with freeze_time("2026-01-01 00:00:00"):
        client.get("/perm")
    store.calls.clear()
    with freeze_time("2026-01-01 00:10:00"):
        response = client.get("/touch")
    assert [c[0] for c in store.writes()] == ["touch"]
    assert store.writes()[0][2] == 3600
    assert "Max-Age=3600" in set_cookies(response)[0]


def test_ttl_is_capped_by_absolute_lifetime(store):
    client = Client(SessionMiddleware(app, SECRET, store=store, absolute_lifetime=600))
    with freeze_time("2026-01-01 00:00:00"):
        client.get("/set")
    with freeze_time("2026-01-01 00:05:00"):
        client.get("/put/k/v")
    assert store.writes()[-1][3] == 300


def test_corrupt_record_is_a_new_session_with_a_warning(client, store, caplog):
    client.get("/set")
    sid = client.get("/sid").text
    store.save(sid, {"username": b"\xc1\xc1garbage"}, 60)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        assert client.get("/read").text == "{}"
    assert any("cannot be decoded" in r.getMessage() for r in caplog.records)


def test_broken_store_fails_loudly_on_load_and_save():
    client = Client(SessionMiddleware(app, SECRET, store=BrokenStore()))
    with pytest.raises(StoreError, match="backend is down"):
        client.get("/put/a/b")
    working = Client(SessionMiddleware(app, SECRET, store=MemoryStore()))
    working.get("/put/a/b")
    broken = Client(SessionMiddleware(app, SECRET, store=BrokenStore()))
    broken.set_cookie("session", working.get_cookie("session").value)
    with pytest.raises(StoreError):
        broken.get("/read")


def test_no_session_key_is_reserved_nor_can_pass_for_the_marker(client):
    """Keys that look like the backend's own record keys are plain session
    keys: stored escaped, read back as given, never taken for the marker."""
    client.get("/put/%00sessionware/x")
    client.get("/put/%00meta/y")
    assert client.get("/read").text == repr({"\x00sessionware": "x", "\x00meta": "y"})
