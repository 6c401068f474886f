"""The Store contract, run against every server-side store.

Decision: a record whose keys have all been removed loads as ``None`` (no
live record), in every store; Redis cannot hold an empty hash anyway.
"""

import threading
import time
import uuid

import pytest

from sessionware.stores import MemoryStore, Store
from sessionware.stores.redis import RedisStore
from sessionware.stores.sqlite import SQLiteStore


class DictStore:
    """The smallest correct user store: a dict under a lock, with TTLs, and
    no base class (the protocol is structural)."""

    def __init__(self):
        self.records = {}
        self.lock = threading.Lock()

    def load(self, sid):
        with self.lock:
            entry = self.records.get(sid)
            if entry is None or entry[0] <= time.monotonic():
                return None
            return dict(entry[1]) or None

    def save(self, sid, changes, ttl):
        with self.lock:
            entry = self.records.get(sid)
            live = entry is not None and entry[0] > time.monotonic()
            record = entry[1] if live else {}
            for key, value in changes.items():
                if value is None:
                    record.pop(key, None)
                else:
                    record[key] = value
            self.records[sid] = (time.monotonic() + ttl, record)

    def delete(self, sid):
        with self.lock:
            self.records.pop(sid, None)

    def touch(self, sid, ttl):
        with self.lock:
            entry = self.records.get(sid)
            if entry is not None and entry[0] > time.monotonic():
                self.records[sid] = (time.monotonic() + ttl, entry[1])


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster", "postgresql", "dict"])
def store(request, tmp_path):
    kind = request.param
    if kind == "memory":
        yield MemoryStore()
    elif kind == "dict":
        yield DictStore()
    elif kind == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.db")
        yield store
        store.close()
    elif kind == "postgresql":
        pytest.importorskip("psycopg")
        from sessionware.stores.postgresql import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        store = PostgreSQLStore(server.url, table=request.getfixturevalue("pg_table"))
        yield store
        store.close()
    else:
        # Looked up lazily, so a missing redis-server skips only these.
        server = request.getfixturevalue("redis_server" if kind == "redis" else "redis_cluster")
        store = RedisStore(server.url, prefix=f"test:{uuid.uuid4().hex}:")
        yield store
        store.close()


def new_sid():
    return uuid.uuid4().hex


class TestStoreContract:
    def test_is_a_store(self, store):
        assert isinstance(store, Store)

    def test_unknown_sid_loads_none(self, store):
        assert store.load(new_sid()) is None

    def test_save_creates(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1", "b": b"2"}, 60)
        assert store.load(sid) == {"a": b"1", "b": b"2"}

    def test_save_merges_only_given_keys(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1", "b": b"2"}, 60)
        store.save(sid, {"b": b"22", "c": b"3"}, 60)
        assert store.load(sid) == {"a": b"1", "b": b"22", "c": b"3"}

    def test_none_removes_a_key(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1", "b": b"2"}, 60)
        store.save(sid, {"a": None, "missing": None}, 60)
        assert store.load(sid) == {"b": b"2"}

    def test_removing_every_key_leaves_no_record(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 60)
        store.save(sid, {"a": None}, 60)
        assert store.load(sid) is None

    def test_sessions_are_separate(self, store):
        one, two = new_sid(), new_sid()
        store.save(one, {"a": b"1"}, 60)
        store.save(two, {"a": b"2"}, 60)
        assert store.load(one) == {"a": b"1"}
        assert store.load(two) == {"a": b"2"}

    def test_delete(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 60)
        store.delete(sid)
        assert store.load(sid) is None
        store.save(sid, {"b": b"2"}, 60)
        assert store.load(sid) == {"b": b"2"}

    def test_delete_unknown_sid_is_fine(self, store):
        store.delete(new_sid())

    def test_touch_never_creates(self, store):
        sid = new_sid()
        store.touch(sid, 60)
        assert store.load(sid) is None

    def test_touch_keeps_the_data(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 60)
        store.touch(sid, 120)
        assert store.load(sid) == {"a": b"1"}

    @pytest.mark.slow
    def test_record_expires(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 1)
        assert store.load(sid) == {"a": b"1"}
        time.sleep(2.1)
        assert store.load(sid) is None

    @pytest.mark.slow
    def test_expired_keys_do_not_come_back(self, store):
        sid = new_sid()
        store.save(sid, {"old": b"1"}, 1)
        time.sleep(2.1)
        store.save(sid, {"new": b"2"}, 60)
        assert store.load(sid) == {"new": b"2"}

    @pytest.mark.slow
    def test_touch_extends(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 2)
        time.sleep(1.0)
        store.touch(sid, 4)
        time.sleep(1.5)  # past the first TTL
        assert store.load(sid) == {"a": b"1"}

    @pytest.mark.slow
    def test_save_sets_the_ttl(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 60)
        store.save(sid, {"b": b"2"}, 1)
        time.sleep(2.1)
        assert store.load(sid) is None

    def test_all_byte_values_round_trip(self, store):
        sid = new_sid()
        value = bytes(range(256)) * 3
        store.save(sid, {"blob": value, "empty": b""}, 60)
        assert store.load(sid) == {"blob": value, "empty": b""}

    def test_large_value(self, store):
        sid = new_sid()
        value = bytes(range(256)) * 4096  # 1 MiB
        store.save(sid, {"big": value}, 60)
        assert store.load(sid) == {"big": value}

    def test_unicode_keys(self, store):
        sid = new_sid()
        changes = {"naïve": b"1", "日本語": b"2", "emoji 🍪": b"3", "": b"4"}
        store.save(sid, changes, 60)
        assert store.load(sid) == changes
        store.save(sid, {"日本語": None}, 60)
        assert "日本語" not in store.load(sid)

    def test_many_keys(self, store):
        sid = new_sid()
        changes = {f"k{i}": str(i).encode() for i in range(3000)}
        store.save(sid, changes, 60)
        assert store.load(sid) == changes
        store.save(sid, {f"k{i}": None for i in range(2999)}, 60)
        assert store.load(sid) == {"k2999": b"2999"}

    def test_loaded_record_is_a_copy(self, store):
        sid = new_sid()
        store.save(sid, {"a": b"1"}, 60)
        store.load(sid)["a"] = b"changed"
        assert store.load(sid) == {"a": b"1"}

    def test_threads_saving_different_keys_all_survive(self, store):
        sid = new_sid()
        store.save(sid, {"base": b"0"}, 60)
        n_threads, n_rounds = 8, 20
        errors = []
        barrier = threading.Barrier(n_threads)

        def work(t):
            try:
                barrier.wait()
                for r in range(n_rounds):
                    store.save(sid, {f"t{t}-{r}": b"x" * r, "shared": str(t).encode()}, 60)
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        record = store.load(sid)
        expected = {f"t{t}-{r}" for t in range(n_threads) for r in range(n_rounds)}
        assert set(record) == expected | {"base", "shared"}
        assert record["shared"] in {str(t).encode() for t in range(n_threads)}

    def test_load_many_if_the_store_has_it(self, store):
        # Optional capability: one round trip for several verified ids.
        if not hasattr(store, "load_many"):
            pytest.skip(f"{type(store).__name__} has no load_many")
        one, two, missing = new_sid(), new_sid(), new_sid()
        store.save(one, {"a": b"1"}, 60)
        store.save(two, {"b": b"2", "c": b""}, 60)
        assert store.load_many([]) == []
        assert store.load_many([missing, two, one, two]) == [
            None,
            {"b": b"2", "c": b""},
            {"a": b"1"},
            {"b": b"2", "c": b""},
        ]
