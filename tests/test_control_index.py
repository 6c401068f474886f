"""The OwnerIndex contract, run against every store of the package (memory,
SQLite, Redis, Redis Cluster): what ``mw.sessions()``/``revoke_owner()``
stand on. The index may list more than is live (the middleware checks each
record), never less, never a dead record, and never grows without bound."""

import time
import uuid

import pytest

from sessionware.stores import MemoryStore, OwnerIndex, PostgreSQLStore, Store
from sessionware.stores.base import load_many
from sessionware.stores.sqlite import SQLiteStore

OWNERS = [
    "alice",
    "user:1",
    "{tag}",
    "a'; DROP TABLE sessionware_sessions; --",
    "line\nbreak\r\x00nul",
    "ünïcödé ✓",
    "*",
    "",
]


@pytest.fixture
def store(server_store):
    return server_store


def sid():
    return uuid.uuid4().hex


def live(store, owner, *sids, ttl=60):
    for s in sids:
        store.save(s, {"k": b"v"}, ttl)
        store.index_owner(owner, s, ttl)


def listed(store, owner):
    return sorted(s for s, _, _ in store.owner_records(owner))


def test_every_store_of_the_package_is_an_owner_index(store):
    assert isinstance(store, Store)
    assert isinstance(store, OwnerIndex)


def test_a_store_without_the_methods_is_not_an_owner_index():
    class Plain:
        def load(self, sid): ...
        def save(self, sid, changes, ttl): ...
        def delete(self, sid): ...
        def touch(self, sid, ttl): ...

    assert isinstance(Plain(), Store)
    assert not isinstance(Plain(), OwnerIndex)


def test_lists_live_records_with_their_data_and_expiry(store):
    a, b = sid(), sid()
    live(store, "alice", a, b)
    records = {s: (record, expires) for s, record, expires in store.owner_records("alice")}
    assert sorted(records) == sorted([a, b])
    record, expires = records[a]
    assert record == {"k": b"v"}
    assert time.time() + 50 < expires <= time.time() + 61


@pytest.mark.parametrize("owner", OWNERS, ids=range(len(OWNERS)))
def test_owners_are_data_never_syntax(store, owner):
    # Each hostile owner gets exactly its own sessions: no key, SQL or glob
    # meaning leaks (a '*' owner does not list everyone's sessions).
    mine, other = sid(), sid()
    live(store, owner, mine)
    live(store, owner + "x", other)
    live(store, "somebody else", sid())
    assert listed(store, owner) == [mine]
    store.unindex_owner(owner, [mine])
    assert listed(store, owner) == []
    assert listed(store, owner + "x") == [other]


def test_a_dead_record_is_never_listed_and_its_entry_goes(store):
    gone, kept = sid(), sid()
    live(store, "bob", gone, kept)
    store.delete(gone)
    assert listed(store, "bob") == [kept]
    # The stale entry was removed while listing: re-creating a record under
    # that sid (never done by sessionware) does not bring it back.
    store.save(gone, {"k": b"v"}, 60)
    assert listed(store, "bob") == [kept]


def test_index_entries_are_extended_never_shortened(store):
    s = sid()
    live(store, "carol", s, ttl=60)
    store.index_owner("carol", s, 1)
    time.sleep(1.2)
    assert listed(store, "carol") == [s]


def test_unknown_owner_and_unknown_sids_are_not_errors(store):
    assert store.owner_records("nobody-" + uuid.uuid4().hex) == []
    store.unindex_owner("nobody", [sid()])
    store.unindex_owner("nobody", [])


@pytest.mark.slow
def test_entries_expire_with_their_sessions(store):
    # Records and index entries with a 1 s TTL: after they expire, nothing is
    # listed, and the index holds nothing for the owner any more.
    owner = "dave-" + uuid.uuid4().hex
    a, b = sid(), sid()
    live(store, owner, a, b, ttl=1)
    assert listed(store, owner) == sorted([a, b])
    time.sleep(2.1)
    assert listed(store, owner) == []
    assert index_size(store, owner) == 0


def test_a_new_entry_drops_the_expired_ones_of_that_owner(store):
    # Never without bound: an owner who logs in again and again without ever
    # listing keeps only the entries that can still be live.
    owner = "erin-" + uuid.uuid4().hex
    for _ in range(5):
        live(store, owner, sid(), ttl=1)
    time.sleep(1.2)
    live(store, owner, sid(), ttl=60)
    assert index_size(store, owner) == 1


def index_size(store, owner):
    if isinstance(store, MemoryStore):
        return len(store._owners.get(owner, {}))
    if isinstance(store, SQLiteStore):
        with store._connection("count") as conn:
            table = store._owners_table()
            return conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE owner = ?", (owner,)
            ).fetchone()[0]
    if isinstance(store, PostgreSQLStore):
        table = store._owners_table()
        return store._run(
            "count",
            lambda conn: conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE owner = %s", (owner.encode(),)
            ).fetchone()[0],
        )
    return store._client.zcard(store._owner_key(owner))


def test_load_many_is_load_for_each(store):
    a, b, missing = sid(), sid(), sid()
    store.save(a, {"x": b"1"}, 60)
    store.save(b, {"y": b"2"}, 60)
    assert load_many(store, [a, missing, b]) == [{"x": b"1"}, None, {"y": b"2"}]
    assert load_many(store, []) == []
