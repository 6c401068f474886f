"""An old cookie becomes its new session once (issue #16 item 2; API.md section 10).

Replaying a migrated cookie reaches the session it became while that lives
(parallel first requests land on one session) and is no session once that
session is logged out, regenerated away or revoked, on every store that can
record it (every server-side store; the cookie store with ``revocation=``),
for every reader (``FlaskCookie``, ``FlaskSessionRedis``). Races are forced
with barriers and events, never with sleeps.
"""

import json
import threading
from datetime import UTC, datetime, timedelta

import flask
import pytest
import redis
from freezegun import freeze_time
from werkzeug.test import Client

from helpers import SECRET
from sessionware import ConfigurationError, SessionMiddleware
from sessionware.migrate import FlaskCookie, FlaskSessionRedis
from sessionware.stores import MemoryStore, RedisStore, SQLiteStore

FLASK_SECRET = "the-old-flask-secret-key-0123456789"


def flask_cookie(data, permanent=False):
    """A cookie made by the installed (real) Flask's session."""
    app = flask.Flask("old")
    app.secret_key = FLASK_SECRET
    app.add_url_rule("/", "v", lambda: (flask.session.update(data), "ok")[1])
    client = app.test_client()
    client.get("/")
    return client.get_cookie("session").value


class App:
    """A WSGI app with one route per session operation; ``gate`` (if set)
    is called after the session is loaded and before the response, to
    hold a request between its load and its save."""

    def __init__(self):
        self.gate = None

    def __call__(self, environ, start_response):
        session = environ["session"]
        path = environ["PATH_INFO"]
        session.get("user")  # loads (and migrates)
        gate = self.gate
        if gate is not None and path == "/gated":
            gate()
        if path == "/clear":
            session.clear()
        elif path == "/invalidate":
            session.invalidate()
        elif path == "/pop":
            for key in list(session):
                del session[key]
        elif path == "/regenerate":
            session.regenerate()
        elif path == "/login":
            session.owner = "alice"
        elif path.startswith("/set/"):
            session["n"] = path[5:]
        body = {"sid": session.sid if not session.new else None, "data": dict(session)}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body, default=repr).encode()]


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster", "postgresql", "revocation"])
def recorded(request, tmp_path):
    """``SessionMiddleware`` arguments of every setup that can record a
    migration: each server-side store, and the cookie store with revocation=."""
    kind = request.param
    if kind == "revocation":
        yield {"revocation": SQLiteStore(tmp_path / "revoked.db")}
        return
    if kind == "memory":
        store = MemoryStore()
    elif kind == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.db")
    elif kind == "postgresql":
        pytest.importorskip("psycopg")
        from sessionware.stores import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        store = PostgreSQLStore(server.url, table=request.getfixturevalue("pg_table"))
    else:
        server = request.getfixturevalue("redis_server" if kind == "redis" else "redis_cluster")
        store = RedisStore(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield {"store": store}
    if hasattr(store, "close"):
        store.close()


def middleware(options, readers=None, app=None):
    app = App() if app is None else app
    readers = [FlaskCookie(FLASK_SECRET)] if readers is None else readers
    return SessionMiddleware(app, SECRET, migrate_from=readers, **options), app


def get(mw, path, cookie):
    """One request with exactly this ``session`` cookie: ``(body, new cookie or None)``."""
    client = Client(mw)
    client.set_cookie("session", cookie)
    response = client.get(path)
    new = client.get_cookie("session")
    return json.loads(response.text), (None if new is None else new.value)


OLD = {"user": "alice", "cart": ["apple"]}


# -- replay reaches the session it became ------------------------------------------


def test_replay_reaches_the_session_it_became(recorded):
    mw, _ = middleware(recorded)
    old = flask_cookie(OLD)
    first, cookie = get(mw, "/", old)
    assert first["data"] == OLD and first["sid"]
    again, _ = get(mw, "/", old)
    assert again["sid"] == first["sid"]  # the same session, not another one
    get(mw, "/set/2", cookie)
    if "store" in recorded:  # there, it is that session as it is now
        assert get(mw, "/", old)[0]["data"] == {**OLD, "n": "2"}
    else:  # a cookie session left its derived sid at its first change
        assert get(mw, "/", old)[0]["data"] == {}


@pytest.mark.parametrize("store", ["cookie", "memory"])
def test_replay_without_a_record_stays_one_sid(store):
    # Nothing can record it (the cookie store alone): still one sid, not many.
    mw, _ = middleware({} if store == "cookie" else {"store": MemoryStore()})
    old = flask_cookie(OLD)
    assert get(mw, "/", old)[0]["sid"] == get(mw, "/", old)[0]["sid"]


def parallel(mw, app, cookie, paths=("/gated", "/gated")):
    """Requests with the same old cookie, all loaded before any saves."""
    barrier = threading.Barrier(len(paths))
    app.gate = lambda: barrier.wait(timeout=30)
    results = [None] * len(paths)

    def run(index):
        results[index] = get(mw, paths[index], cookie)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    app.gate = None
    return results


def test_parallel_first_requests_are_one_session(recorded):
    mw, app = middleware(recorded)
    old = flask_cookie(OLD)
    (a, cookie_a), (b, cookie_b) = parallel(mw, app, old)
    assert a["sid"] == b["sid"] and a["data"] == b["data"] == OLD
    # Either cookie, and the old one, are the one session: a logout through
    # one ends them all.
    get(mw, "/invalidate", cookie_a)
    for cookie in (cookie_b, old):
        assert get(mw, "/", cookie)[0]["data"] == {}


# -- dead once logged out, regenerated away, or revoked ----------------------------

LOGOUTS = ["/clear", "/invalidate", "/pop", "/regenerate", "/login"]


@pytest.mark.parametrize("logout", LOGOUTS)
def test_old_cookie_is_dead_once_the_session_leaves_it(recorded, logout):
    mw, _ = middleware(recorded)
    old = flask_cookie(OLD)
    _, cookie = get(mw, "/", old)
    after, _ = get(mw, logout, cookie)
    replay, replayed_cookie = get(mw, "/", old)
    assert replay["data"] == {} and replay["sid"] is None
    if logout in ("/regenerate", "/login"):  # the session lives on, under a new sid
        assert after["data"] == OLD and after["sid"] != replay["sid"]


@pytest.mark.parametrize("logout", LOGOUTS)
def test_old_cookie_is_dead_when_its_first_request_logs_out(recorded, logout):
    mw, _ = middleware(recorded)
    old = flask_cookie(OLD)
    get(mw, logout, old)
    assert get(mw, "/", old)[0]["data"] == {}


def test_revoke_and_revoke_owner(recorded):
    mw, _ = middleware(recorded)
    old = flask_cookie(OLD)
    first, cookie = get(mw, "/", old)
    assert mw.revoke(first["sid"]) or "revocation" in recorded
    assert get(mw, "/", old)[0]["data"] == {}
    # Logged in (given an owner) after migrating, then every session of the
    # owner revoked: neither the new cookie nor the old one is a session.
    other = flask_cookie({"user": "alice", "device": "phone"})
    _, cookie = get(mw, "/", other)
    _, owned = get(mw, "/login", cookie)
    mw.revoke_owner("alice")
    assert get(mw, "/", owned)[0]["data"] == {}
    assert get(mw, "/", other)[0]["data"] == {}


# -- the races: a request that loaded the old cookie before a logout --------------


@pytest.mark.parametrize("logout", ["/invalidate", "/pop", "/login+revoke_owner"])
def test_a_logout_wins_over_a_migration_that_loaded_before_it(recorded, logout):
    mw, app = middleware(recorded)
    old = flask_cookie(OLD)
    loaded, release = threading.Event(), threading.Event()

    def gate():
        loaded.set()
        assert release.wait(timeout=30)

    app.gate = gate
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(result=get(mw, "/gated", old)))
    thread.start()
    assert loaded.wait(timeout=30)
    app.gate = None
    _, cookie = get(mw, "/", old)  # migrates, answers
    if logout == "/login+revoke_owner":
        _, cookie = get(mw, "/login", cookie)
        mw.revoke_owner("alice")
    else:
        get(mw, logout, cookie)  # the logout answered
    release.set()
    thread.join(timeout=60)
    _, slow_cookie = slow["result"]
    # Nothing the slow request saved brings the session back.
    for replayed in (old, slow_cookie, cookie):
        if replayed:
            assert get(mw, "/", replayed)[0]["data"] == {}


# -- FlaskSessionRedis: the same promises ------------------------------------------


@pytest.fixture
def flask_session_records(redis_server, redis_prefix):
    client = redis.Redis.from_url(redis_server.url)

    def record(data):
        sid = "F" + threading.get_ident().to_bytes(8).hex() + str(id(data))
        sid = (sid + "x" * 43)[:43]
        client.set(redis_prefix + "old:" + sid, json.dumps(data).encode(), ex=3600)
        return sid

    reader = FlaskSessionRedis(client, key_prefix=redis_prefix + "old:")
    yield reader, record
    client.close()


def test_flask_session_records_once(recorded, flask_session_records):
    reader, record = flask_session_records
    mw, app = middleware(recorded, readers=[reader])
    old = record(OLD)
    (a, cookie_a), (b, _) = parallel(mw, app, old)
    assert a["sid"] == b["sid"] and a["data"] == OLD
    get(mw, "/invalidate", cookie_a)
    assert get(mw, "/", old)[0]["data"] == {}  # the record was deleted too


def test_flask_session_records_logout_race(recorded, flask_session_records):
    reader, record = flask_session_records
    mw, app = middleware(recorded, readers=[reader])
    old = record(OLD)
    loaded, release = threading.Event(), threading.Event()
    app.gate = lambda: (loaded.set(), release.wait(timeout=30))
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(result=get(mw, "/gated", old)))
    thread.start()
    assert loaded.wait(timeout=30)
    app.gate = None
    _, cookie = get(mw, "/", old)
    get(mw, "/invalidate", cookie)
    release.set()
    thread.join(timeout=60)
    slow_cookie = slow["result"][1]
    assert slow_cookie is None or get(mw, "/", slow_cookie)[0]["data"] == {}


# -- the cookie store alone: until=, and the age limit ------------------------------


def test_until_ends_migration_at_a_fixed_time():
    old = flask_cookie(OLD)
    now = datetime.now(UTC)
    ended, _ = middleware({}, readers=[FlaskCookie(FLASK_SECRET, until=now)])
    assert get(ended, "/", old)[0]["data"] == {}
    running, _ = middleware({}, readers=[FlaskCookie(FLASK_SECRET, until=now + timedelta(1))])
    assert get(running, "/", old)[0]["data"] == OLD
    with freeze_time(now + timedelta(days=2)):
        assert get(running, "/", old)[0]["data"] == {}
    for bad in (datetime(2030, 1, 1), "2030-01-01", 1893456000):  # naive, str, number
        with pytest.raises(ConfigurationError, match="until"):
            FlaskCookie(FLASK_SECRET, until=bad)


@pytest.mark.parametrize("limit", ["permanent_lifetime", "absolute_lifetime"])
def test_old_cookies_older_than_the_new_lifetime_do_not_migrate(limit):
    old = flask_cookie(OLD)
    mw, _ = middleware({limit: 3600})
    with freeze_time(datetime.now(UTC) + timedelta(seconds=3500)):
        assert get(mw, "/", old)[0]["data"] == OLD
    with freeze_time(datetime.now(UTC) + timedelta(seconds=3700)):
        assert get(mw, "/", old)[0]["data"] == {}


class PausingStore:
    """A real store, passed through, that holds the thread named ``slow`` in
    its first save of a derived (24-character) sid until ``release`` is set:
    a migration that checked the store, paused before it creates the session."""

    def __init__(self, store):
        self._store = store
        self.paused, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self._store, name)

    def load(self, sid):
        return self._store.load(sid)

    def save(self, sid, changes, ttl):
        if threading.current_thread().name == "slow" and len(sid) == 24:
            if not self.paused.is_set():
                self.paused.set()
                assert self.release.wait(timeout=30)
        return self._store.save(sid, changes, ttl)

    def delete(self, sid):
        return self._store.delete(sid)

    def touch(self, sid, ttl):
        return self._store.touch(sid, ttl)


@pytest.mark.parametrize("logout", ["/invalidate", "/pop", "/regenerate"])
def test_a_logout_between_a_migrations_check_and_its_write_wins(recorded, logout):
    if "store" not in recorded:
        pytest.skip("a server-side store's race (the cookie store is covered above)")
    store = PausingStore(recorded["store"])
    mw, _ = middleware({"store": store})
    old = flask_cookie(OLD)
    slow = {}
    thread = threading.Thread(name="slow", target=lambda: slow.update(result=get(mw, "/", old)))
    thread.start()
    assert store.paused.wait(timeout=30)  # checked: nothing there yet; not yet written
    _, cookie = get(mw, "/", old)  # migrates, answers
    get(mw, logout, cookie)  # the logout answered
    store.release.set()
    thread.join(timeout=60)
    for cookie in (old, slow["result"][1]):
        if cookie:
            assert get(mw, "/", cookie)[0]["data"] == {}


class CountingStore(PausingStore):
    """A real store, passed through, that counts the calls made to it."""

    def __init__(self, store):
        super().__init__(store)
        self.calls = []

    def __getattr__(self, name):
        attribute = getattr(self._store, name)
        if name == "load_many":
            return lambda sids: (self.calls.append(name), attribute(sids))[1]
        return attribute

    def load(self, sid):
        self.calls.append("load")
        return super().load(sid)

    def save(self, sid, changes, ttl):
        self.calls.append("save")
        return super().save(sid, changes, ttl)

    def delete(self, sid):
        self.calls.append("delete")
        return super().delete(sid)

    def touch(self, sid, ttl):
        self.calls.append("touch")
        return super().touch(sid, ttl)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_no_extra_round_trip_for_sessions_that_were_not_migrated(kind, tmp_path):
    def calls(readers):
        real = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / f"{len(readers)}.db")
        store = CountingStore(real)
        mw = SessionMiddleware(App(), SECRET, store=store, migrate_from=readers)
        client = Client(mw)
        client.set_cookie("other", flask_cookie(OLD))  # a Flask cookie of another name
        for path in ("/set/1", "/", "/set/2", "/regenerate", "/", "/login", "/invalidate", "/"):
            client.get(path)
        return store.calls

    assert calls([FlaskCookie(FLASK_SECRET)]) == calls([])


def test_a_key_rotation_does_not_make_an_old_cookie_new_again(recorded):
    old, gone = flask_cookie(OLD), flask_cookie({"user": "bob"})
    before, app = middleware(recorded)
    first, _ = get(before, "/", old)
    _, cookie = get(before, "/", gone)
    get(before, "/invalidate", cookie)
    # sessionware's own key rotated (the old one kept as a fallback).
    rotated = SessionMiddleware(
        app, "a-new-sessionware-secret-key-0123456789", fallback_keys=[SECRET],
        migrate_from=[FlaskCookie(FLASK_SECRET)], **recorded,
    )  # fmt: skip
    assert get(rotated, "/", gone)[0]["data"] == {}
    if "store" in recorded:
        assert get(rotated, "/", old)[0]["sid"] == first["sid"]
