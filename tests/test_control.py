"""Session control in process (werkzeug's client on the real middleware):
``session.owner``, ``mw.sessions``/``revoke``/``revoke_owner`` on every
server-side store, and the audit log. Cookie-store revocation is in
``test_control_revocation.py``; gunicorn runs are in ``live/``."""

import json
import time
import uuid
from datetime import UTC

import pytest
from werkzeug.test import Client

from control_app import make_app
from helpers import SECRET, PlainStore, cookie_value, make_client
from sessionware import ConfigurationError, SessionMiddleware
from sessionware.control import SessionInfo
from sessionware.stores import MemoryStore, OwnerIndex, SQLiteStore


def browser(mw):
    return Client(mw)


def get(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.text
    return json.loads(response.text)


# -- session.owner ---------------------------------------------------------


def test_owner_is_metadata_kept_by_regenerate_removed_by_invalidate(any_store):
    mw = make_app(any_store)
    client = browser(mw)
    assert get(client, "/me")["owner"] is None
    login = get(client, "/login?owner=alice")
    me = get(client, "/me")
    assert me["owner"] == "alice" and me["sid"] == login["sid"] and me["new"] is False
    assert me["user"] == "alice"  # the owner is never one of the keys
    get(client, "/logout")
    me = get(client, "/me")
    assert me["owner"] is None and me["user"] is None


@pytest.mark.parametrize("value", [1, b"alice", ["alice"], object()], ids=repr)
def test_a_non_str_owner_is_a_type_error(value):
    def handler(session, environ):
        with pytest.raises(TypeError, match="session.owner must be a str or None"):
            session.owner = value
        return repr(session.owner)

    client, _ = make_client(handler)
    assert client.get("/").text == "None"


def test_setting_the_owner_alone_saves_and_regenerate_keeps_it(any_store):
    steps = iter(["set", "read", "regenerate", "read", "clear", "read"])

    def handler(session, environ):
        step = next(steps)
        if step == "set":
            session["k"] = 1
            return "ok"
        if step == "regenerate":
            session.regenerate()
        elif step == "clear":
            session.clear()
            session["k"] = 2
        return f"{session.owner}"

    client, _ = make_client(handler, store=any_store)
    client.get("/")

    def owner_only(session, environ):
        session.owner = "bob"  # the only change of this request
        return "set"

    # A second middleware on the same store and secret, one handler each.
    owner_client, _ = make_client(owner_only, store=any_store)
    owner_client._cookies = client._cookies
    response = owner_client.get("/")
    assert cookie_value(response) is not None  # saved: a cookie went out
    assert client.get("/").text == "bob"
    assert client.get("/").text == "bob"  # regenerate() keeps it
    assert client.get("/").text == "bob"  # ... and it was saved so
    assert client.get("/").text == "None"  # clear() ends the ownership too
    assert client.get("/").text == "None"


def test_an_owner_alone_is_saved_even_without_keys(any_store):
    # A login that only sets the owner logs in: the session is not "empty".
    def handler(session, environ):
        if environ["PATH_INFO"] == "/login":
            session.owner = "nia"
        elif environ["PATH_INFO"] == "/logout":
            session.owner = None
        return f"{session.owner} {len(session)}"

    client, mw = make_client(handler, store=any_store)
    assert cookie_value(client.get("/login")) is not None
    assert client.get("/").text == "nia 0"
    if any_store is not None:
        assert [i.owner for i in mw.sessions("nia")] == ["nia"]
    assert client.get("/logout").text == "None 0"
    assert client.get("/").text == "None 0"
    assert client.get_cookie("session") is None  # nothing left: cookie deleted


def test_clear_and_invalidate_log_the_owner_out_of_the_listing(server_store):
    mw = make_app(server_store)
    client = browser(mw)
    get(client, "/login?owner=carol")
    assert len(mw.sessions("carol")) == 1
    get(client, "/logout")
    assert mw.sessions("carol") == []


# -- listing and revoking ----------------------------------------------------


def test_three_browsers_one_signs_out_everywhere_else(server_store):
    mw = make_app(server_store)
    owner = "alice-" + uuid.uuid4().hex
    a, b, c, other = browser(mw), browser(mw), browser(mw), browser(mw)
    sids = [get(x, f"/login?owner={owner}")["sid"] for x in (a, b, c)]
    time.sleep(1.05)
    get(a, f"/login?owner={owner}&permanent=1")  # newest now (created is kept)
    get(other, "/login?owner=someone-else")
    listed = mw.sessions(owner)
    assert sorted(info.sid for info in listed) == sorted([get(a, "/me")["sid"], sids[1], sids[2]])
    info = listed[0]
    assert isinstance(info, SessionInfo) and info.owner == owner
    assert info.created.tzinfo is UTC and info.last_seen.tzinfo is UTC
    assert info.created <= info.last_seen
    assert [i.created for i in listed] == sorted((i.created for i in listed), reverse=True)

    result = get(b, "/others-out")
    assert result["revoked"] == 2
    for gone in (a, c):
        me = get(gone, "/me")
        assert me["new"] is True and me["owner"] is None and me["user"] is None
    me = get(b, "/me")
    assert me["owner"] == owner and me["new"] is False
    assert [i.sid for i in mw.sessions(owner)] == [me["sid"]]
    assert get(other, "/me")["owner"] == "someone-else"


def test_revoke_one_session_and_unknown_ones(server_store):
    mw = make_app(server_store)
    client = browser(mw)
    sid = get(client, "/login?owner=dora")["sid"]
    assert mw.revoke(sid) is True
    assert get(client, "/me")["new"] is True
    assert mw.revoke(sid) is False
    assert mw.revoke("no-such-sid") is False
    assert mw.revoke_owner("nobody-" + uuid.uuid4().hex) == 0
    assert mw.sessions("nobody") == []


@pytest.mark.parametrize("owner", ["{x}", "a'; DROP TABLE t; --", "line\nbreak", "*", "ü✓"])
def test_hostile_owners_through_the_middleware(server_store, owner):
    mw = SessionMiddleware(lambda e, s: [], SECRET, store=server_store)
    mine, theirs = browser(make_app(server_store)), browser(make_app(server_store))
    get(mine, "/login?" + _query(owner))
    get(theirs, "/login?" + _query(owner + "2"))
    assert [i.owner for i in mw.sessions(owner)] == [owner]
    assert mw.revoke_owner(owner) == 1
    assert get(mine, "/me")["new"] is True and get(theirs, "/me")["new"] is False


def _query(owner):
    from urllib.parse import urlencode

    return urlencode({"owner": owner})


def test_owner_arguments_are_checked():
    mw = SessionMiddleware(lambda e, s: [], SECRET, store=MemoryStore())
    for call in (mw.sessions, mw.revoke_owner):
        with pytest.raises(TypeError):
            call(1)
    with pytest.raises(TypeError):
        mw.revoke(None)
    with pytest.raises(TypeError):
        mw.revoke_owner("a", keep=5)


def test_a_store_without_an_owner_index_refuses_with_what_to_implement():
    assert not isinstance(PlainStore(), OwnerIndex)
    mw = make_app(PlainStore())
    client = browser(mw)
    assert get(client, "/login?owner=erin")["owner"] == "erin"  # sessions still work
    assert get(client, "/me")["owner"] == "erin"
    for call in (lambda: mw.sessions("erin"), lambda: mw.revoke_owner("erin")):
        with pytest.raises(ConfigurationError, match="OwnerIndex"):
            call()
    with pytest.raises(ConfigurationError, match="OwnerIndex"):
        mw.revoke("x")


def test_cookie_store_sessions_are_not_listed():
    mw = SessionMiddleware(lambda e, s: [], SECRET)
    with pytest.raises(ConfigurationError, match="cannot be listed"):
        mw.sessions("alice")


class Counting:
    """A real store that records the calls the middleware makes on it."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = []

    def _record(self, name, *args):
        self.calls.append(name)
        return getattr(self.inner, name)(*args)

    def load(self, sid):
        return self._record("load", sid)

    def save(self, sid, changes, ttl):
        return self._record("save", sid, changes, ttl)

    def delete(self, sid):
        return self._record("delete", sid)

    def touch(self, sid, ttl):
        return self._record("touch", sid, ttl)

    def index_owner(self, owner, sid, ttl):
        return self._record("index_owner", owner, sid, ttl)

    def unindex_owner(self, owner, sids):
        return self._record("unindex_owner", owner, sids)

    def owner_records(self, owner):
        return self._record("owner_records", owner)


def test_the_owner_index_costs_one_call_on_the_save_that_sets_the_owner(server_store):
    store = Counting(server_store)
    steps = iter(["anonymous", "login", "write", "read", "refresh", "change-owner", "read"])

    def handler(session, environ):
        step = next(steps)
        if step == "anonymous":
            session["cart"] = [1]
            session.permanent = True
        elif step == "login":
            session.owner = "kim"
        elif step == "write":
            session["cart"] = [1, 2]
        elif step == "read":
            return session.get("cart")
        elif step == "refresh":
            return session.owner  # permanent: re-sent, TTL extended
        elif step == "change-owner":
            session.owner = "lee"
        return "ok"

    client, _ = make_client(handler, store=store)
    expected = [
        ["save"],  # no cookie yet: nothing to load; the new record
        # owner set: +1 call, the index first (a failed index write leaves
        # the record's owner unchanged: the next save tries again)
        ["load", "index_owner", "save"],
        ["load", "save"],
        ["load", "touch"],  # a due refresh only extends the TTL
        ["load", "touch"],
        ["load", "index_owner", "save"],
        ["load", "touch"],
    ]
    for calls in expected:
        store.calls.clear()
        client.get("/")
        assert store.calls == calls


@pytest.mark.slow
def test_sliding_refresh_never_outlives_the_index(tmp_path, closing):
    # permanent_lifetime of 2 s, refreshed every 0.5 s for 5 s: the record
    # lives on through several epochs, and is listed at every moment; the
    # index is written again once per epoch, not per request.
    store = Counting(closing(SQLiteStore(tmp_path / "sessions.db")))
    mw = make_app(store, permanent_lifetime=2)
    client = browser(mw)
    sid = get(client, "/login?owner=mia&permanent=1")["sid"]
    writes = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        store.calls.clear()
        assert get(client, "/me")["sid"] == sid
        writes += store.calls.count("index_owner")
        assert [i.sid for i in mw.sessions("mia")] == [sid]
        time.sleep(0.5)
    assert 1 <= writes <= 4


class IndexedDictStore:
    """The smallest user store that opts in: Store plus OwnerIndex over two
    dicts, no base class (both protocols are structural)."""

    def __init__(self):
        self.records, self.owners = {}, {}

    def load(self, sid):
        return dict(self.records[sid]) if sid in self.records else None

    def save(self, sid, changes, ttl):
        record = self.records.setdefault(sid, {})
        for key, value in changes.items():
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value

    def delete(self, sid):
        self.records.pop(sid, None)

    def touch(self, sid, ttl):
        pass

    def index_owner(self, owner, sid, ttl):
        self.owners.setdefault(owner, set()).add(sid)

    def unindex_owner(self, owner, sids):
        self.owners.get(owner, set()).difference_update(sids)

    def owner_records(self, owner):
        return [
            (sid, dict(self.records[sid]), time.time() + 60)
            for sid in self.owners.get(owner, ())
            if sid in self.records
        ]


def test_a_user_store_opts_in_through_the_protocol():
    store = IndexedDictStore()
    assert isinstance(store, OwnerIndex)
    mw = make_app(store)
    a, b = browser(mw), browser(mw)
    keep = get(a, "/login?owner=olga")["sid"]
    get(b, "/login?owner=olga")
    assert len(mw.sessions("olga")) == 2
    assert mw.revoke_owner("olga", keep=keep) == 1
    assert get(b, "/me")["new"] is True and get(a, "/me")["owner"] == "olga"
    assert store.owners["olga"] == {keep}
