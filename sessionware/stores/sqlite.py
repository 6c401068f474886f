"""``SQLiteStore``: sessions in one SQLite file shared by the worker processes
of one machine (WAL mode, busy timeout, one connection per process)."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from sessionware.errors import ConfigurationError, StoreError
from sessionware.stores import _url
from sessionware.stores._sqlite_file import create_private

__all__ = ["SQLiteStore"]

_TABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _sqlite_accepts(table: str) -> bool:
    """Whether SQLite takes ``table`` and the names made from it (asked of an
    in-memory database, so a keyword is refused now, not at the first save)."""
    probe = sqlite3.connect(":memory:")
    try:
        for sql in (
            f"CREATE TABLE {table} (expires)",
            f"CREATE INDEX {table}_expires ON {table} (expires)",
            f"CREATE TABLE {table}_owners (expires)",
            f"CREATE INDEX {table}_owners_expires ON {table}_owners (expires)",
        ):
            probe.execute(sql)
    except sqlite3.Error:
        return False
    finally:
        probe.close()
    return True


#: Seconds between two automatic sweeps of expired records (per process).
SWEEP_INTERVAL: Final = 60.0
#: Rows removed at most by one automatic sweep, so one save never pays for a
#: large backlog; :meth:`SQLiteStore.cleanup` removes everything.
SWEEP_LIMIT: Final = 1000

# Connections inherited through fork(): never used, never closed (see below).
_INHERITED: list[sqlite3.Connection] = []


class SQLiteStore:
    """Sessions in an SQLite file, shared safely by many processes.

    One row per ``(sid, key)``; every row of a session carries the session's
    expiry time (wall-clock seconds, shared by all processes). A save writes
    only the keys it is given, inside one ``BEGIN IMMEDIATE`` transaction, so
    two processes changing different keys of one session both keep their
    change. Expired records are never loaded, are swept by saves (at most every
    60 seconds per process, bounded) and by :meth:`cleanup`.

    The file (mode 0600, readable by its owner only, as are its ``-wal`` and
    ``-shm`` files) and its table are created on first use; the directory is
    not: a missing or unwritable directory raises
    :class:`~sessionware.StoreError` on first use.

    Each process opens its own connection lazily (and again after a fork,
    because an SQLite connection must not cross a fork). Threads share it
    under a lock. Any number of stores, in one process or many, may share a
    file: only SQLite opens it, so opening or closing one never drops
    another's locks. The database runs in WAL mode with ``synchronous=NORMAL``:
    a committed save survives a crash of the application, though not
    necessarily a power loss.

    :param path: the database file.
    :param table: the table name (letters, digits and ``_``).
    :param timeout: seconds to wait for another process's write lock before
        failing with :class:`~sessionware.StoreError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "sessionware_sessions",
        timeout: float = 5.0,
    ) -> None:
        if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
            raise ConfigurationError(
                f"SQLiteStore table name {table!r} is not a plain identifier; "
                "use letters, digits and '_'"
            )
        if not _sqlite_accepts(table):
            raise ConfigurationError(
                f"SQLiteStore table name {table!r} is refused by SQLite (a keyword?); "
                "choose another name"
            )
        self.path = os.fspath(path)
        self.table = table
        self.timeout = _url.seconds("SQLiteStore", timeout)
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        self._next_owner_sweep = 0.0
        self._owners_ready = False
        # The table name is checked above, so formatting it into SQL is safe.
        t = table
        self._sql_load = f"SELECT key, value FROM {t} WHERE sid = ? AND expires > ?"
        self._sql_drop_expired = f"DELETE FROM {t} WHERE sid = ? AND expires <= ?"
        self._sql_set = (
            f"INSERT INTO {t} (sid, key, value, expires) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (sid, key) DO UPDATE SET value = excluded.value"
        )
        self._sql_unset = f"DELETE FROM {t} WHERE sid = ? AND key = ?"
        self._sql_expire = f"UPDATE {t} SET expires = ? WHERE sid = ?"
        self._sql_touch = f"UPDATE {t} SET expires = ? WHERE sid = ? AND expires > ?"
        self._sql_delete = f"DELETE FROM {t} WHERE sid = ?"
        self._sql_count_dead = f"SELECT COUNT(DISTINCT sid) FROM {t} WHERE expires <= ?"
        self._sql_sweep = (
            f"DELETE FROM {t} WHERE rowid IN "
            f"(SELECT rowid FROM {t} WHERE expires <= ? LIMIT {SWEEP_LIMIT})"
        )
        self._sql_sweep_all = f"DELETE FROM {t} WHERE expires <= ?"

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- the Store protocol ------------------------------------------------

    def load(self, sid: str) -> dict[str, bytes] | None:
        with self._connection("load a session") as conn:
            rows = conn.execute(self._sql_load, (sid, time.time())).fetchall()
        # A record with no keys left is no record (it loads as None).
        return {key: bytes(value) for key, value in rows} or None

    def load_many(self, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
        """:meth:`load` for each of ``sids``, in order, in one query."""
        marks = ",".join("?" * len(sids))
        sql = f"SELECT sid, key, value FROM {self.table} WHERE sid IN ({marks}) AND expires > ?"
        with self._connection("load sessions") as conn:
            rows = conn.execute(sql, (*sids, time.time())).fetchall()
        records: dict[str, dict[str, bytes]] = {}
        for sid, key, value in rows:
            records.setdefault(sid, {})[key] = bytes(value)
        return [records.get(sid) for sid in sids]

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        now = time.time()
        expires = now + ttl
        sets = [(sid, k, v, expires) for k, v in changes.items() if v is not None]
        unsets = [(sid, k) for k, v in changes.items() if v is None]
        with self._transaction("save a session") as conn:
            # An expired record is gone: its keys must not come back merged
            # with the new ones.
            conn.execute(self._sql_drop_expired, (sid, now))
            if sets:
                conn.executemany(self._sql_set, sets)
            if unsets:
                conn.executemany(self._sql_unset, unsets)
            conn.execute(self._sql_expire, (expires, sid))
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_INTERVAL
                conn.execute(self._sql_sweep, (now,))

    def delete(self, sid: str) -> None:
        with self._connection("delete a session") as conn:
            conn.execute(self._sql_delete, (sid,))

    def touch(self, sid: str, ttl: int) -> None:
        now = time.time()
        # Only a live record is extended; a missing one is not created.
        with self._connection("extend a session") as conn:
            conn.execute(self._sql_touch, (now + ttl, sid, now))

    # -- OwnerIndex (listing and revoking sessions) ------------------------
    #
    # A second table, ``<table>_owners (owner, sid, expires)``: owners are
    # bound as SQL parameters, never formatted into SQL. Expired entries are
    # dropped per owner on every index write, and for every owner at most
    # once per SWEEP_INTERVAL (bounded by SWEEP_LIMIT, like the records).

    def index_owner(self, owner: str, sid: str, ttl: int) -> None:
        now = time.time()
        o = self._owners_table()
        with self._transaction("index a session's owner") as conn:
            conn.execute(f"DELETE FROM {o} WHERE owner = ? AND expires <= ?", (owner, now))
            conn.execute(
                f"INSERT INTO {o} (owner, sid, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (owner, sid) DO UPDATE SET expires = max(expires, excluded.expires)",
                (owner, sid, now + ttl),
            )
            if now >= self._next_owner_sweep:
                self._next_owner_sweep = now + SWEEP_INTERVAL
                conn.execute(
                    f"DELETE FROM {o} WHERE rowid IN (SELECT rowid FROM {o} "
                    f"WHERE expires <= ? LIMIT {SWEEP_LIMIT})",
                    (now,),
                )

    def unindex_owner(self, owner: str, sids: Collection[str]) -> None:
        o = self._owners_table()
        with self._transaction("unindex sessions of an owner") as conn:
            conn.executemany(
                f"DELETE FROM {o} WHERE owner = ? AND sid = ?", [(owner, sid) for sid in sids]
            )

    def owner_records(self, owner: str) -> list[tuple[str, dict[str, bytes], float]]:
        now = time.time()
        o, t = self._owners_table(), self.table
        with self._connection("list sessions of an owner") as conn:
            (entries,) = conn.execute(
                f"SELECT COUNT(*) FROM {o} WHERE owner = ?", (owner,)
            ).fetchone()
            rows = conn.execute(
                f"SELECT s.sid, s.key, s.value, s.expires FROM {o} AS i JOIN {t} AS s "
                "ON s.sid = i.sid WHERE i.owner = ? AND i.expires > ? AND s.expires > ?",
                (owner, now, now),
            ).fetchall()
        records: dict[str, tuple[dict[str, bytes], float]] = {}
        for sid, key, value, expires in rows:
            records.setdefault(sid, ({}, float(expires)))[0][key] = bytes(value)
        if len(records) < entries:
            # Entries whose record is gone (revoked, logged out, expired) go;
            # only then does listing write.
            with self._transaction("unindex sessions of an owner") as conn:
                conn.execute(
                    f"DELETE FROM {o} WHERE owner = ? AND (expires <= ? OR NOT EXISTS "
                    f"(SELECT 1 FROM {t} AS s WHERE s.sid = {o}.sid AND s.expires > ?))",
                    (owner, now, now),
                )
        return [(sid, record, expires) for sid, (record, expires) in records.items()]

    def _owners_table(self) -> str:
        """Name of the owner index table, created on first use."""
        name = f"{self.table}_owners"
        if not self._owners_ready:
            with self._connection("create the owner index") as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} (owner TEXT NOT NULL, "
                    "sid TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (owner, sid))"
                )
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_expires ON {name} (expires)")
            self._owners_ready = True
        return name

    # -- maintenance -------------------------------------------------------

    def cleanup(self) -> int:
        """Remove every expired record now; return how many were removed.

        Saves also sweep expired records by themselves (bounded, at most every
        60 seconds per process); this removes the whole backlog at once."""
        now = time.time()
        with self._transaction("remove expired sessions") as conn:
            (count,) = conn.execute(self._sql_count_dead, (now,)).fetchone()
            conn.execute(self._sql_sweep_all, (now,))
        return int(count)

    def close(self) -> None:
        """Close this process's connection (the next call reopens it)."""
        if self._pid != os.getpid():
            self._after_fork()
            return
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None

    # -- internals ---------------------------------------------------------

    @contextmanager
    def _connection(self, action: str) -> Iterator[sqlite3.Connection]:
        """Lock and yield this process's connection; turn sqlite3 errors into
        a StoreError that names the file, the action and the cause."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._open()
                yield self._conn
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc

    def _after_fork(self) -> None:
        # The parent's connection (and a lock some parent thread may have
        # held) must not be used here. Drop them, but never close that
        # connection (SQLite forbids using it across a fork, closing
        # included), so keep it referenced where no GC will close it.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        if self._conn is not None:
            _INHERITED.append(self._conn)
        self._conn = None

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._connection(action) as conn:
            # IMMEDIATE takes the write lock up front (waiting up to the busy
            # timeout), so the read-modify-write below cannot interleave with
            # another process's save.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we issue BEGIN
        # IMMEDIATE / COMMIT ourselves. The lock above makes sharing the
        # connection between threads safe.
        if self.path not in ("", ":memory:"):
            create_private(self.path)  # mode 0600, without opening it (see there)
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                "sid TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, "
                "expires REAL NOT NULL, PRIMARY KEY (sid, key))"
            )
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS {self.table}_expires ON {self.table} (expires)"
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _error(self, action: str, exc: sqlite3.Error) -> StoreError:
        message = f"{self!r} could not {action}: {exc}"
        directory = os.path.dirname(os.path.abspath(self.path))
        if "unable to open" in str(exc):
            if os.path.exists(directory) and not os.path.isdir(directory):
                message += f" ({directory!r} is not a directory)"
            elif not os.path.isdir(directory):
                message += f" (the directory {directory!r} does not exist; create it)"
            else:
                message += f" (check that {directory!r} is writable)"
        elif "locked" in str(exc):
            message += f" (still locked after the {self.timeout} s timeout)"
        return StoreError(message, store=self)
