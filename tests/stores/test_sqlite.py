"""SQLiteStore beyond the contract: processes, fork, failures, expiry."""

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from sessionware.errors import ConfigurationError, StoreError
from sessionware.stores import from_url
from sessionware.stores.sqlite import SQLiteStore


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "sessions.db"


@pytest.fixture
def store(db_path):
    store = SQLiteStore(db_path)
    yield store
    store.close()


def rows(path, table="sessionware_sessions"):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT sid, key, expires FROM {table} ORDER BY sid, key").fetchall()
    finally:
        conn.close()


def test_repr_names_the_path(store, db_path):
    assert repr(store) == f"SQLiteStore({str(db_path)!r})"


def test_from_url(tmp_path):
    store = from_url(f"sqlite:///{tmp_path}/x.db")
    try:
        assert isinstance(store, SQLiteStore)
        assert store.path == f"{tmp_path}/x.db"
    finally:
        store.close()


def test_table_name_must_be_an_identifier(db_path):
    with pytest.raises(ConfigurationError, match="table name"):
        SQLiteStore(db_path, table="x; DROP TABLE y")


def test_custom_table(db_path):
    store = SQLiteStore(db_path, table="my_sessions")
    try:
        store.save("s", {"a": b"1"}, 60)
    finally:
        store.close()
    assert [r[:2] for r in rows(db_path, "my_sessions")] == [("s", "a")]


def test_wal_mode(store, db_path):
    store.save("s", {"a": b"1"}, 60)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_statements_per_call(store):
    """load is one SELECT; save is one BEGIN IMMEDIATE ... COMMIT transaction."""
    store.save("s", {"a": b"1"}, 60)  # opens the connection
    statements = []
    store._conn.set_trace_callback(statements.append)
    store._next_sweep = float("inf")

    store.load("s")
    assert len(statements) == 1 and statements[0].startswith("SELECT")

    statements.clear()
    store.save("s", {"a": b"2", "b": b"3", "c": None}, 60)
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert sum(s.startswith("BEGIN") for s in statements) == 1

    statements.clear()
    store.touch("s", 60)
    assert len(statements) == 1 and statements[0].startswith("UPDATE")


WRITER = textwrap.dedent(
    """
    import sys
    from sessionware.stores.sqlite import SQLiteStore

    path, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SQLiteStore(path)
    for r in range(rounds):
        store.save("shared", {f"{name}-{r}": name.encode(), "last": name.encode()}, 60)
    store.close()
    """
)


def test_processes_saving_different_keys_all_survive(store, db_path):
    store.save("shared", {"base": b"0"}, 60)
    n_procs, rounds = 4, 50
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), f"p{i}", str(rounds)])
        for i in range(n_procs)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    record = store.load("shared")
    expected = {f"p{i}-{r}" for i in range(n_procs) for r in range(rounds)}
    assert set(record) == expected | {"base", "last"}


def fork():
    # Python 3.12+ warns about fork() in a process that has threads (pytest
    # may have some); the child below only runs the store and _exits.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_safety(store):
    store.save("s", {"parent": b"1"}, 60)
    parent_conn = store._conn
    pid = fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            assert store.load("s") == {"parent": b"1"}
            store.save("s", {"child": b"2"}, 60)
            assert store._conn is not parent_conn
            store.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection still works and sees the child's write.
    assert store._conn is parent_conn
    assert store.load("s") == {"parent": b"1", "child": b"2"}
    store.save("s", {"parent": b"3"}, 60)
    assert store.load("s") == {"parent": b"3", "child": b"2"}


def test_missing_directory(tmp_path):
    path = tmp_path / "missing" / "db.sqlite"
    store = SQLiteStore(path)
    with pytest.raises(StoreError) as info:
        store.save("s", {"a": b"1"}, 60)
    assert str(path) in str(info.value)
    assert "does not exist" in str(info.value)
    assert info.value.store is store
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert not (tmp_path / "missing").exists()  # never created behind your back


def test_unwritable_path(tmp_path):
    # A regular file used as a directory: unwritable even for root.
    (tmp_path / "afile").write_bytes(b"")
    path = tmp_path / "afile" / "db.sqlite"
    store = SQLiteStore(path)
    for call in (lambda: store.load("s"), lambda: store.save("s", {"a": b"1"}, 60)):
        with pytest.raises(StoreError) as info:
            call()
        assert str(path) in str(info.value)
        assert "not a directory" in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.Error)


def test_corrupt_file(db_path):
    db_path.write_bytes(b"this is not a database\x00" * 500)
    store = SQLiteStore(db_path)
    calls = {
        "load": lambda: store.load("s"),
        "save": lambda: store.save("s", {"a": b"1"}, 60),
        "touch": lambda: store.touch("s", 60),
        "delete": lambda: store.delete("s"),
        "cleanup": store.cleanup,
    }
    for name, call in calls.items():
        with pytest.raises(StoreError, match="not a database") as info:
            call()
        assert str(db_path) in str(info.value), name
        assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    store.close()


def test_locked_past_the_timeout(db_path):
    store = SQLiteStore(db_path, timeout=0.2)
    store.save("s", {"a": b"1"}, 60)
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked") as info:
            store.save("s", {"a": b"2"}, 60)
        assert time.monotonic() - started >= 0.2
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert store.load("s") == {"a": b"1"}  # WAL: readers are not blocked
        other.execute("ROLLBACK")
        store.save("s", {"a": b"3"}, 60)  # and the store recovers
        assert store.load("s") == {"a": b"3"}
    finally:
        other.close()
        store.close()


def insert_expired(path, sid, keys):
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO sessionware_sessions VALUES (?, ?, ?, ?)",
                [(sid, key, b"old", time.time() - 10) for key in keys],
            )
    finally:
        conn.close()


def test_cleanup_removes_expired_records(store, db_path):
    store.save("live", {"a": b"1"}, 60)
    insert_expired(db_path, "dead1", ["a", "b"])
    insert_expired(db_path, "dead2", ["a"])
    assert store.load("dead1") is None
    assert store.cleanup() == 2
    assert {sid for sid, _, _ in rows(db_path)} == {"live"}
    assert store.cleanup() == 0


@pytest.mark.slow
def test_cleanup_after_a_real_ttl(store, db_path):
    store.save("short", {"a": b"1"}, 1)
    store.save("long", {"a": b"1"}, 60)
    time.sleep(1.5)
    assert store.cleanup() == 1
    assert {sid for sid, _, _ in rows(db_path)} == {"long"}


def test_saves_sweep_expired_records(store, db_path):
    store.save("live", {"a": b"1"}, 60)
    insert_expired(db_path, "dead", ["a", "b"])
    store.save("live", {"b": b"2"}, 60)  # no sweep yet: one ran at the first save
    assert {sid for sid, _, _ in rows(db_path)} == {"dead", "live"}
    store._next_sweep = 0.0  # the sweep interval has passed
    store.save("live", {"c": b"3"}, 60)
    assert {sid for sid, _, _ in rows(db_path)} == {"live"}


def test_touch_does_not_revive_an_expired_record(store, db_path):
    store.save("s", {"x": b"1"}, 60)
    insert_expired(db_path, "dead", ["a"])
    store.touch("dead", 60)
    assert store.load("dead") is None


def test_close_then_reuse(store):
    store.save("s", {"a": b"1"}, 60)
    store.close()
    assert store.load("s") == {"a": b"1"}


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_files_are_created_mode_0600(tmp_path, umask):
    # The database and its -wal and -shm files hold session data: readable
    # by their owner only, whatever the process umask.
    path = tmp_path / "sessions.db"
    old = os.umask(umask)
    try:
        store = SQLiteStore(path)
        store.save("s", {"a": b"1"}, 60)
        other = SQLiteStore(path)  # a second connection while the first is open
        assert other.load("s") == {"a": b"1"}
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["sessions.db", "sessions.db-shm", "sessions.db-wal"]
        modes = {name: (tmp_path / name).stat().st_mode & 0o777 for name in files}
        assert modes == dict.fromkeys(files, 0o600)
        other.close()
        store.close()
    finally:
        os.umask(old)


def test_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "sessions.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    store = SQLiteStore(path)
    try:
        store.save("s", {"a": b"1"}, 60)
    finally:
        store.close()
    assert path.stat().st_mode & 0o777 == 0o640


def test_memory_database_creates_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore(":memory:")
    try:
        store.save("s", {"a": b"1"}, 60)
        assert store.load("s") == {"a": b"1"}
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []
