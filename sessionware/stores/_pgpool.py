"""The per-process connections of PostgreSQLStore (opened on demand, never
shared across a fork) and how a connection string is shown."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

__all__ = ["Pool", "describe", "is_pool"]

#: Idle connections kept per process (more are opened when threads need them).
MAX_IDLE: Final = 8

# Connections inherited through fork(): never used, never closed (closing one
# would end the parent's session with the server), kept from the GC.
_INHERITED: list[Any] = []


class Pool:
    """Idle connections of this process, opened on demand, never across a fork."""

    def __init__(self, psycopg: Any, conninfo: str) -> None:
        self._psycopg = psycopg
        self._conninfo = conninfo
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        conn, reused = self._get()
        try:
            yield conn
        except self._psycopg.OperationalError as exc:
            if reused and conn.broken:
                # The server went away since: every idle connection is as
                # stale as this one. The caller may retry on a new one.
                self.close()
                setattr(exc, "_sessionware_stale", True)  # noqa: B010
            raise
        finally:
            self._put(conn)

    def _get(self) -> tuple[Any, bool]:
        with self._lock:
            if self._pid != os.getpid():
                _INHERITED.extend(self._idle)  # the parent's: not ours to use or close
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop(), True
        # prepare_threshold=0: each statement is prepared at its first use on
        # a connection (one round trip more, that once), then only executed.
        conn = self._psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=0)
        return conn, False

    def _put(self, conn: Any) -> None:
        idle = conn.info.transaction_status == self._psycopg.pq.TransactionStatus.IDLE
        with self._lock:
            if idle and not conn.closed and len(self._idle) < MAX_IDLE:
                if self._pid == os.getpid():
                    self._idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                _INHERITED.extend(self._idle)
                self._idle, self._pid = [], os.getpid()
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def is_pool(value: object) -> bool:
    """Whether ``value`` is a ``psycopg_pool.ConnectionPool``."""
    try:
        import psycopg_pool
    except ImportError:
        return False
    return isinstance(value, psycopg_pool.ConnectionPool)


def describe(psycopg: Any, conninfo: str) -> str:
    """host:port/dbname of a connection string (never its password)."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "?"
    hosts = str(params.get("host") or os.environ.get("PGHOST") or "localhost").split(",")
    ports = str(params.get("port") or os.environ.get("PGPORT") or "5432").split(",")
    ports += [ports[-1]] * (len(hosts) - len(ports))
    where = ",".join(
        f"{host}:{port}" if not host.startswith("/") else f"{host}/.s.PGSQL.{port}"
        for host, port in zip(hosts, ports, strict=False)
    )
    dbname = params.get("dbname") or params.get("user") or os.environ.get("PGDATABASE") or ""
    return f"{where}/{dbname}"
