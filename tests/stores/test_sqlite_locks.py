"""Many SQLiteStore objects on one file, in one process and in many (#16).

On POSIX, closing any descriptor of a file drops every lock the process
holds on it. A store that opened and closed the database file itself (to
give it mode 0600) silently cost every other connection of its process its
locks; another process closing its connection (``sessionware cleanup``)
then took the file as its own, checkpointed and deleted the write-ahead log
still in use, and the first process's writes (a logout) went to a deleted
file nobody else reads. These tests watch the locks from another process
and check that every logout is seen everywhere.
"""

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import pytest

from sessionware.stores import from_url
from sessionware.stores.sqlite import SQLiteStore

TABLES = ("sessionware_sessions", "admin_sessions")


def in_another_process(code, *args):
    """Run ``code`` in a fresh interpreter (its own locks, its own
    connections); return what it printed, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def shared_lock_holder(path):
    """The pid holding a lock on the database's SHARED byte range (0 if
    none): every open connection of a process in WAL mode holds one, and it
    is what tells another process that the file and its WAL are in use."""
    if sys.platform != "linux":
        pytest.skip("reads the kernel's lock table with Linux's struct flock")
    return in_another_process(
        """
        import fcntl, json, os, struct, sys
        fd = os.open(sys.argv[1], os.O_RDONLY)
        # SQLite's SHARED lock: 510 bytes from PENDING_BYTE + 2 (0x40000002).
        query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0x40000002, 510, 0)
        kind, _, _, _, pid = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))
        print(json.dumps(0 if kind == fcntl.F_UNLCK else pid))
        """,
        path,
    )


def exclusive_elsewhere(path):
    """Another process tries to take the database for itself (leaving WAL
    mode needs every other connection gone); return its error, or what it
    got."""
    return in_another_process(
        """
        import json, sqlite3, sys
        conn = sqlite3.connect(sys.argv[1], timeout=0.1, isolation_level=None)
        try:
            print(json.dumps(conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]))
        except sqlite3.OperationalError as exc:
            print(json.dumps(str(exc)))
        """,
        path,
    )


def sids_elsewhere(path, table="sessionware_sessions"):
    """The session ids another process reads, through a connection it opens
    and closes (closing the last connection checkpoints and deletes the WAL,
    which a process that still uses it must prevent with its lock)."""
    return in_another_process(
        f"""
        import json, sqlite3, sys
        conn = sqlite3.connect(sys.argv[1])
        print(json.dumps(sorted(r[0] for r in conn.execute("SELECT DISTINCT sid FROM {table}"))))
        conn.close()
        """,
        path,
    )


def cleanup(path):
    result = subprocess.run(
        [sys.executable, "-m", "sessionware", "cleanup", "--store", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def prepare(path):
    """The file and both tables, made by a store that is closed again, so
    that stores opened later write nothing while they open."""
    for table in TABLES:
        setup = SQLiteStore(path, table=table)
        setup.load("none")
        setup.close()


def others(path):
    """Stores opened on ``path`` in this process the ways an application
    does: one per app, from a URL, an admin app's own table."""
    return [
        SQLiteStore(path),
        from_url(f"sqlite:///{path}"),
        SQLiteStore(path, table="admin_sessions"),
        SQLiteStore(path, timeout=1),
    ]


@pytest.mark.parametrize("state", ["idle", "reading", "writing"])
def test_opening_more_stores_keeps_the_first_ones_locks(tmp_path, state):
    path = tmp_path / "sessions.db"
    prepare(path)
    first = SQLiteStore(path)
    first.save("alice", {"user": b"alice"}, 60)
    stores = others(path)
    with first._connection("hold a transaction") as conn:
        if state == "reading":
            conn.execute("BEGIN")
            conn.execute("SELECT COUNT(*) FROM sessionware_sessions").fetchall()
        elif state == "writing":
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM sessionware_sessions WHERE sid = 'nobody'")
        # Each opens its own connection (the admin table has no alice), and
        # some close again.
        alice = {"user": b"alice"}
        assert [store.load("alice") for store in stores] == [alice, alice, None, alice]
        stores[1].close()
        stores[3].close()
        # Seen from another process, the first connection still holds its lock.
        assert shared_lock_holder(path) == os.getpid()
        assert "locked" in exclusive_elsewhere(path)
        if conn.in_transaction:
            conn.execute("COMMIT")
    # Other processes opening and closing a connection (sessionware cleanup
    # among them) leave the WAL alone...
    assert cleanup(path).startswith("removed 0 expired session(s)")
    assert sids_elsewhere(path) == ["alice"]
    assert (tmp_path / "sessions.db-wal").exists()
    # ...so a logout through the first store is seen by everyone.
    first.delete("alice")
    assert sids_elsewhere(path) == []
    assert [store.load("alice") for store in stores[:2]] == [None, None]
    assert exclusive_elsewhere(path) != "delete"
    for store in (first, *stores):
        store.close()


@pytest.mark.parametrize("through", ["path", "symlink"])
def test_stores_opening_a_new_file_at_once_keep_their_locks(tmp_path, through):
    """Threads of one process open stores on a file that does not exist yet
    (one creates it, mode 0600; SQLite follows a symlink, so its target),
    then one more each once it does: none costs another its locks."""
    target = tmp_path / "data" / "sessions.db"
    target.parent.mkdir()
    path = target
    if through == "symlink":
        path = tmp_path / "sessions.db"
        path.symlink_to(target)
    count = 6
    start, opened = threading.Barrier(count), threading.Barrier(count)
    stores, errors = {}, []

    def use(i):
        try:
            start.wait()
            stores[i] = SQLiteStore(path)
            stores[i].save(f"s{i}", {"n": str(i).encode()}, 60)
            opened.wait()  # every thread holds a connection
            stores[count + i] = SQLiteStore(path)
            assert stores[count + i].load(f"s{i}") == {"n": str(i).encode()}
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=use, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert shared_lock_holder(target) == os.getpid()
    assert sids_elsewhere(target) == [f"s{i}" for i in range(count)]
    stores[0].delete("s0")
    assert sids_elsewhere(target) == [f"s{i}" for i in range(1, count)]
    assert [stores[i].load("s0") for i in range(2 * count)] == [None] * (2 * count)
    # Nothing left behind (no temporary file), and all of it private.
    files = sorted(os.listdir(target.parent))
    assert files == ["sessions.db", "sessions.db-shm", "sessions.db-wal"]
    for name in files:
        assert (target.parent / name).stat().st_mode & 0o777 == 0o600, name
    for store in stores.values():
        store.close()


def test_a_filesystem_without_hard_links_still_gets_a_0600_file(tmp_path, monkeypatch):
    # Some filesystems (vfat, some FUSE and network ones) refuse link(2),
    # which cannot be made to fail for real here: the file is then created
    # in place, new (O_EXCL), so no connection can hold it yet.
    def refuse(source, target):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    path = tmp_path / "sessions.db"
    store = SQLiteStore(path)
    store.save("s", {"a": b"1"}, 60)
    second = SQLiteStore(path)
    assert second.load("s") == {"a": b"1"}
    assert shared_lock_holder(path) == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sessions.db",
        "sessions.db-shm",
        "sessions.db-wal",
    ]
    for name in os.listdir(tmp_path):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    second.close()
    store.close()


def fork():
    # Python 3.12+ warns about fork() in a process that has threads (pytest
    # may have some); the child below only runs the stores and _exits.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_file_is_created_opens_stores_that_keep_their_locks(tmp_path):
    from sessionware.stores import _sqlite_file

    path = tmp_path / "sessions.db"
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    # As if another thread of the parent were creating a file when it forks:
    # the child has no such thread to ever release the lock.
    _sqlite_file._creating.acquire()
    pid = fork()
    if pid == 0:  # the child: report through the pipe and the exit status only
        code = 1
        try:
            SQLiteStore(path).save("s", {"a": b"1"}, 60)
            assert SQLiteStore(path).load("s") == {"a": b"1"}
            os.write(ready_w, b"1")
            os.read(done_r, 1)
            code = 0
        finally:
            os._exit(code)
    _sqlite_file._creating.release()
    readable = []
    try:
        readable, _, _ = select.select([ready_r], [], [], 60)
        assert readable, "the child never got its stores open"
        assert shared_lock_holder(path) == pid
    finally:
        os.write(done_w, b"1")
        if not readable:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (path.stat().st_mode & 0o777) == 0o600


# -- several processes, several stores each, cleanup running ------------------

WORKER = """
import json, sys
from sessionware.stores.sqlite import SQLiteStore

stores = []
for line in sys.stdin:
    op, *args = json.loads(line)
    if op == "open":  # one more store on the file, used at once
        stores.append(SQLiteStore(sys.argv[1]))
        stores[-1].load("nobody")
        answer = len(stores) - 1
    elif op == "login":
        stores[args[0]].save(args[1], {"user": b"alice"}, 60)
        answer = True
    elif op == "logout":
        stores[args[0]].delete(args[1])
        answer = True
    elif op == "seen":  # whether each store of this process sees the session
        answer = [store.load(args[0]) is not None for store in stores]
    print(json.dumps(answer), flush=True)
"""


class Worker:
    """A process holding SQLiteStore objects on one file, driven line by line."""

    def __init__(self, path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, *command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"worker died on {command}"
        return json.loads(line)

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.mark.slow
def test_processes_with_many_stores_agree_on_every_logout_while_cleanup_runs(tmp_path):
    path = tmp_path / "sessions.db"
    workers = [Worker(path) for _ in range(3)]
    stop = threading.Event()
    failures = []

    def clean_all_the_time():
        while not stop.is_set():
            try:
                cleanup(path)
            except BaseException as exc:  # reported below
                failures.append(exc)
                return

    cleaner = threading.Thread(target=clean_all_the_time)
    try:
        for worker in workers:
            worker("open")
        cleaner.start()
        for r in range(6):
            for worker in workers:  # one more store per process, others in use
                assert worker("open") == r + 1
            cleanup(path)  # at least one cleanup now, whatever the thread does
            sid = f"s{r}"
            stores = r + 2
            workers[r % 3]("login", r % stores, sid)
            assert [worker("seen", sid) for worker in workers] == [[True] * stores] * 3
            assert sids_elsewhere(path) == [sid]
            workers[(r + 1) % 3]("logout", (r + 1) % stores, sid)
            assert [worker("seen", sid) for worker in workers] == [[False] * stores] * 3
            assert sids_elsewhere(path) == []
            fresh = SQLiteStore(path)
            assert fresh.load(sid) is None
            fresh.close()
    finally:
        stop.set()
        if cleaner.is_alive():
            cleaner.join()
        for worker in workers:
            worker.stop()
    assert failures == []
    assert cleanup(path).startswith("removed 0 expired session(s)")
