"""Issue 16, item 8: an owned session is never left out of the owner index
(API.md section 11): when the index write fails, the save fails loudly and
the owner is written again by the next save, whatever set it.

The index write fails for real: on Redis the owner's index key holds a value
of the wrong type; on SQLite and PostgreSQL the index table is renamed away
behind the store's back. (MemoryStore cannot fail.)
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid

import pytest
from werkzeug.test import Client

from sessionware import SessionMiddleware, StoreError
from sessionware.stores import RedisStore, SQLiteStore

SECRET = "index-retry-secret-0123456789abcdef"


def app(environ, start_response):
    session = environ["session"]
    path = environ["PATH_INFO"]
    owner = environ.get("QUERY_STRING", "").partition("=")[2]
    if path == "/anonymous":
        session["cart"] = [1]
    elif path == "/own":
        session.owner = owner
    elif path == "/login":
        session.regenerate()
        session.owner = owner
        session["user"] = owner
    elif path == "/rename":  # an owned session moves to another owner
        session.owner = owner
    body = json.dumps({"sid": session.sid, "owner": session.owner})
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]


class Breaker:
    """Makes the owner index of one store fail for real, and mends it."""

    def __init__(self, kind, store, request):
        self.kind, self.store, self.request = kind, store, request

    def break_(self, owner):
        store = self.store
        if self.kind == "redis":
            encoded = base64.urlsafe_b64encode(owner.encode()).decode()
            self.key = f"{store.prefix}owner:{encoded}"
            store._client.delete(self.key)
            store._client.set(self.key, "not a sorted set")  # WRONGTYPE for ZADD
            return
        store.owner_records("warm-up")  # the index table exists now
        self._rename(f"{store.table}_owners", f"{store.table}_owners_away")

    def mend(self):
        if self.kind == "redis":
            self.store._client.delete(self.key)
            return
        self._rename(f"{self.store.table}_owners_away", f"{self.store.table}_owners")

    def _rename(self, old, new):
        if self.kind == "sqlite":
            with sqlite3.connect(self.store.path) as conn:
                conn.execute(f"ALTER TABLE {old} RENAME TO {new}")
            return
        import psycopg

        url = self.request.getfixturevalue("postgresql_server").url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def setup(request, tmp_path):
    kind = request.param
    if kind == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.db")
    elif kind == "redis":
        server = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=f"test:{uuid.uuid4().hex}:")
    else:
        pytest.importorskip("psycopg")
        from sessionware.stores import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        store = PostgreSQLStore(server.url, table=f"t_{uuid.uuid4().hex}")
    yield SessionMiddleware(app, SECRET, store=store), Breaker(kind, store, request)
    store.close()


# How a session comes to be owned: (requests before, the request that sets it).
WAYS = {
    "a new session": ([], "/own"),
    "an anonymous session logs in": (["/anonymous"], "/own"),
    "a login that regenerates": (["/anonymous"], "/login"),
    "an owned session changes owner": (["/login?owner=before"], "/rename"),
}


@pytest.mark.parametrize("way", list(WAYS))
def test_a_failed_index_write_is_tried_again(setup, way):
    mw, breaker = setup
    before, setting = WAYS[way]
    owner = f"owner-{uuid.uuid4().hex}"
    client = Client(mw)
    for path in before:
        assert client.get(path).status_code == 200
    breaker.break_(owner)
    with pytest.raises(StoreError):
        client.get(f"{setting}?owner={owner}")
    breaker.mend()

    def never_left_out():
        # Whatever the browser's cookie loads: if it is owned, it is listed.
        me = json.loads(client.get("/me").text)
        if me["owner"] is not None:
            listed = [info.sid for info in mw.sessions(me["owner"])]
            assert me["sid"] in listed, (way, me, listed)
        return me

    never_left_out()
    # The app tries again (the user logs in again): now it is listed.
    again = json.loads(client.get(f"{setting}?owner={owner}").text)
    assert again["owner"] == owner
    assert never_left_out()["owner"] == owner
    assert [info.sid for info in mw.sessions(owner)] == [again["sid"]]
