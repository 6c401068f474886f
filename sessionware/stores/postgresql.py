"""``PostgreSQLStore``: sessions in PostgreSQL (psycopg 3), one round trip per
call, one connection pool per process."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sessionware.errors import ConfigurationError, StoreError
from sessionware.stores import _url

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["PostgreSQLStore"]

_T = TypeVar("_T")

DEFAULT_TIMEOUT: Final = 5.0
#: Seconds between two automatic sweeps of expired records (per process).
SWEEP_INTERVAL: Final = 60.0
#: Sessions removed at most by one automatic sweep (bounded work per save).
SWEEP_LIMIT: Final = 1000
#: Idle connections kept per process (more are opened when threads need them).
MAX_IDLE: Final = 8

# Connections inherited through fork(): never used, never closed (closing one
# would end the parent's session with the server), kept from the GC.
_INHERITED: list[Any] = []

SCHEMA: Final = """\
CREATE TABLE IF NOT EXISTS {t} (
    sid     text PRIMARY KEY,
    expires timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS {i}_expires ON {t} (expires);
CREATE TABLE IF NOT EXISTS {t}_data (
    sid   text  NOT NULL REFERENCES {t} (sid) ON DELETE CASCADE,
    key   bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (sid, key)
);"""


class PostgreSQLStore:
    """Sessions in a PostgreSQL database, shared by every process and machine.

    Two tables (created on first use, if missing, under an advisory lock so
    that workers starting together do not race)::

        CREATE TABLE sessionware_sessions (          -- one row per session
            sid     text PRIMARY KEY,
            expires timestamptz NOT NULL             -- indexed: the sweeps use it
        );
        CREATE INDEX sessionware_sessions_expires ON sessionware_sessions (expires);
        CREATE TABLE sessionware_sessions_data (     -- one row per session key
            sid   text  NOT NULL REFERENCES sessionware_sessions (sid) ON DELETE CASCADE,
            key   bytea NOT NULL,                    -- UTF-8 (a text column cannot hold NUL)
            value bytea NOT NULL,
            PRIMARY KEY (sid, key)
        );

    To create them yourself (for an app whose role may not create tables),
    run the statements of :data:`SCHEMA` with your table name; the store
    then only reads and writes. Per-session facts live in the first table, so
    one more column (``ALTER TABLE ... ADD COLUMN owner text`` and an index
    on it) is all an owner index needs.

    ``load`` is one ``SELECT`` (a join on the primary keys, expired sessions
    excluded by the database's clock); ``save`` is one pipelined transaction
    (one round trip): drop the session if it expired, upsert its expiry,
    upsert the given keys and delete the removed ones. Concurrent saves of one
    session serialise on its row, so changes to different keys all survive.
    ``touch`` and ``delete`` are one statement each; ``load_many`` looks up
    several sids in one query. Saves also remove expired sessions (at most
    1000, at most every 60 seconds per process); :meth:`cleanup` removes all.

    Connections: from a URL, each process opens its own connections lazily
    (again after a fork, so gunicorn's workers never share one) and connects
    synchronously when it needs one, so the first request after the database
    comes back succeeds; a connection found broken (the server restarted) is
    replaced and the call retried once. A given ``psycopg_pool.ConnectionPool``
    is used as is (its connections are switched to autocommit); it must be
    created in the process that uses it. Every failure is a
    :class:`~sessionware.StoreError` naming host:port/database, never the
    password.

    The ``postgresql`` extra installs ``psycopg[binary]`` (libpq and psycopg's
    C speedups prebuilt in the wheel: nothing to compile, works on a machine
    with only ``python3``, and as fast as the local C build) and
    ``psycopg-pool``. To link your system's libpq instead (to get its security
    updates from your distribution), install ``psycopg[c]``: the store works
    the same with either.

    :param url_or_pool: ``postgresql://user:password@host:5432/dbname``
        (options ``?table=``, ``?timeout=``, and libpq's own such as
        ``?sslmode=require``) or a ``psycopg_pool.ConnectionPool``.
    :param table: the sessions table (an identifier, optionally
        ``schema.table``); its keys live in ``<table>_data``.
    :param timeout: seconds to connect and for each statement
        (``statement_timeout``), default 5.
    :param connect_kwargs: more libpq connection parameters.
    """

    def __init__(
        self,
        url_or_pool: str | psycopg_pool.ConnectionPool[Any],
        *,
        table: str | None = None,
        timeout: float | None = None,
        **connect_kwargs: Any,
    ) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigurationError(
                'PostgreSQLStore needs psycopg 3; pip install "sessionware[postgresql]"'
            ) from exc
        self._password: str | None = None
        self._pool: _Pool | None = None
        self._given: Any = None
        options: dict[str, Any] = {}
        if isinstance(url_or_pool, str):
            parsed = _url.parse(url_or_pool)
            if parsed.scheme not in ("postgresql", "postgres"):
                raise ConfigurationError(
                    f"PostgreSQLStore URL {parsed.shown!r} is not a postgresql:// URL"
                )
            options = parsed.options
            self._password = parsed.extra.get("password", parsed.password)
        elif _is_pool(url_or_pool):
            self._given = url_or_pool
        else:
            raise ConfigurationError(
                "PostgreSQLStore needs a postgresql:// URL or a psycopg_pool.ConnectionPool, "
                f"not {type(url_or_pool).__name__}"
            )
        table = _pick("table", table, options, "sessionware_sessions")
        timeout = _pick("timeout", timeout, options, DEFAULT_TIMEOUT)
        if not isinstance(table, str) or not _url.TABLE_NAME.fullmatch(table):
            raise ConfigurationError(
                f"PostgreSQLStore table {table!r} is not a plain identifier "
                "(letters, digits, '_'; optionally schema.table)"
            )
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ConfigurationError(f"timeout must be a positive number, not {timeout!r}")
        self.table = table
        self.timeout = float(timeout)
        if isinstance(url_or_pool, str):
            conninfo = self._conninfo(parsed, connect_kwargs)
            self._where = _describe(psycopg, conninfo)
            self._pool = _Pool(psycopg, conninfo)
        else:
            conninfo = url_or_pool.conninfo
            self._where = _describe(psycopg, conninfo)
            params = psycopg.conninfo.conninfo_to_dict(conninfo)
            password = params.get("password") or url_or_pool.kwargs.get("password")
            self._password = password if isinstance(password, str) else None
        self._errors: tuple[type[Exception], ...] = (psycopg.Error,)
        self._schema_ready = False
        self._next_sweep = 0.0
        self._sql(table)

    def _conninfo(self, parsed: _url.StoreURL, connect_kwargs: dict[str, Any]) -> str:
        import psycopg.conninfo

        params: dict[str, Any] = {
            "connect_timeout": max(2, round(self.timeout)),  # libpq: whole seconds, >= 2
            "options": f"-c statement_timeout={int(self.timeout * 1000)}",
        }
        if parsed.hosts:
            params["host"] = ",".join(host for host, _ in parsed.hosts)
            params["port"] = ",".join(str(port) for _, port in parsed.hosts)
        if parsed.database:
            params["dbname"] = parsed.database
        if parsed.username:
            params["user"] = parsed.username
        if parsed.password is not None:
            params["password"] = parsed.password
        params.update(parsed.extra)
        params.update(connect_kwargs)
        try:
            return psycopg.conninfo.make_conninfo("", **params)
        except psycopg.Error as exc:
            raise ConfigurationError(
                f"PostgreSQLStore URL {parsed.shown!r}: {_url.scrub(str(exc), self._password)}"
            ) from None

    def _sql(self, table: str) -> None:
        t, d = table, table + "_data"
        self._schema = SCHEMA.format(t=t, i=t.rpartition(".")[2])
        self._sql_load = (
            f"SELECT d.key, d.value FROM {t} s JOIN {d} d ON d.sid = s.sid "
            "WHERE s.sid = %s AND s.expires > now()"
        )
        self._sql_load_many = (
            f"SELECT d.sid, d.key, d.value FROM {t} s JOIN {d} d ON d.sid = s.sid "
            "WHERE s.sid = ANY(%s) AND s.expires > now()"
        )
        self._sql_drop_expired = f"DELETE FROM {t} WHERE sid = %s AND expires <= now()"
        self._sql_expire = (
            f"INSERT INTO {t} (sid, expires) VALUES (%s, now() + %s * interval '1 second') "
            "ON CONFLICT (sid) DO UPDATE SET expires = excluded.expires"
        )
        self._sql_set = (
            f"INSERT INTO {d} (sid, key, value) SELECT %s, k, v "
            "FROM unnest(%s::bytea[], %s::bytea[]) AS c(k, v) "
            "ON CONFLICT (sid, key) DO UPDATE SET value = excluded.value"
        )
        self._sql_unset = f"DELETE FROM {d} WHERE sid = %s AND key = ANY(%s::bytea[])"
        self._sql_touch = (
            f"UPDATE {t} SET expires = now() + %s * interval '1 second' "
            "WHERE sid = %s AND expires > now()"
        )
        self._sql_delete = f"DELETE FROM {t} WHERE sid = %s"
        self._sql_sweep = (
            f"DELETE FROM {t} WHERE sid IN (SELECT sid FROM {t} WHERE expires <= now() "
            f"LIMIT {SWEEP_LIMIT} FOR UPDATE SKIP LOCKED)"
        )
        self._sql_sweep_all = f"DELETE FROM {t} WHERE expires <= now()"

    def __repr__(self) -> str:
        return f"PostgreSQLStore({self._where})"

    # -- the Store protocol ------------------------------------------------

    def load(self, sid: str) -> dict[str, bytes] | None:
        rows = self._run("load a session", self._fetch, self._sql_load, (sid,))
        return {_key(key): value for key, value in rows} or None

    def load_many(self, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
        """The records of ``sids`` (``None`` for each without one), in order,
        in one query."""
        if not sids:
            return []
        rows = self._run("load sessions", self._fetch, self._sql_load_many, (list(sids),))
        found: dict[str, dict[str, bytes]] = {}
        for sid, key, value in rows:
            found.setdefault(sid, {})[_key(key)] = value
        return [found.get(sid) for sid in sids]

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        keys: list[bytes] = []
        values: list[bytes] = []
        unsets: list[bytes] = []
        for key, value in changes.items():
            if value is None:
                unsets.append(key.encode("utf-8", "surrogatepass"))
            else:
                keys.append(key.encode("utf-8", "surrogatepass"))
                values.append(value)
        statements: list[tuple[str, tuple[Any, ...]]] = [
            # An expired record is gone: its keys must not come back merged
            # with the new ones (the data rows go with it: ON DELETE CASCADE).
            (self._sql_drop_expired, (sid,)),
            (self._sql_expire, (sid, int(ttl))),
        ]
        if keys:
            statements.append((self._sql_set, (sid, keys, values)))
        if unsets:
            statements.append((self._sql_unset, (sid, unsets)))
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            statements.append((self._sql_sweep, ()))
        self._run("save a session", self._transaction, statements)

    def delete(self, sid: str) -> None:
        self._run("delete a session", self._execute, self._sql_delete, (sid,))

    def touch(self, sid: str, ttl: int) -> None:
        # Only a live record is extended; a missing one is not created.
        self._run("extend a session", self._execute, self._sql_touch, (int(ttl), sid))

    # -- maintenance -------------------------------------------------------

    def cleanup(self) -> int:
        """Remove every expired session now; return how many were removed."""
        return self._run("remove expired sessions", self._execute, self._sql_sweep_all, ())

    def close(self) -> None:
        """Close this process's idle connections (a given pool is not closed;
        the next call reconnects)."""
        if self._pool is not None:
            self._pool.close()

    # -- internals ---------------------------------------------------------

    def _fetch(self, conn: psycopg.Connection[Any], sql: str, params: Any) -> list[Any]:
        # binary=True: bytea arrives as bytes, not as hex text to parse.
        return conn.execute(sql, params, binary=True).fetchall()

    def _execute(self, conn: psycopg.Connection[Any], sql: str, params: Any) -> int:
        return conn.execute(sql, params).rowcount

    def _transaction(
        self, conn: psycopg.Connection[Any], statements: list[tuple[str, tuple[Any, ...]]]
    ) -> None:
        # BEGIN ... COMMIT queued in one pipeline: one round trip to the server.
        with conn.pipeline():
            conn.execute("BEGIN")
            for sql, params in statements:
                conn.execute(sql, params)
            conn.execute("COMMIT")

    def _run(self, action: str, work: Callable[..., _T], *args: Any) -> _T:
        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    if not self._schema_ready:
                        self._create_schema(conn)
                    return work(conn, *args)
            except self._errors as exc:
                # A pooled connection the server closed since (a restart):
                # the statement never ran there; retry once on a new one.
                if attempt == 1 and getattr(exc, "_sessionware_stale", False):
                    continue
                raise StoreError(
                    f"{self!r} could not {action}: {type(exc).__name__}: "
                    f"{_url.scrub(' '.join(str(exc).split()), self._password)}",
                    store=self,
                ) from _scrubbed(exc, self._password)
        raise AssertionError("unreachable")

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield conn
            return
        with self._given.connection(timeout=self.timeout) as conn:
            if not conn.autocommit:
                conn.autocommit = True  # one statement, one round trip: no BEGIN/COMMIT
            yield conn

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        t = self.table
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
            (t, t + "_data"),
        ).fetchone()
        if not (exists and exists[0]):
            with conn.transaction():
                # Workers starting together: one creates, the others wait.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (t,))
                for statement in self._schema.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        self._schema_ready = True


class _Pool:
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


def _is_pool(value: object) -> bool:
    try:
        import psycopg_pool
    except ImportError:
        return False
    return isinstance(value, psycopg_pool.ConnectionPool)


def _key(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


def _describe(psycopg: Any, conninfo: str) -> str:
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


def _pick(name: str, given: Any, options: dict[str, Any], default: Any) -> Any:
    if given is not None and name in options:
        raise ConfigurationError(
            f"PostgreSQLStore {name} is given both as an argument and in the URL; give it once"
        )
    return given if given is not None else options.get(name, default)


def _scrubbed(exc: BaseException, password: str | None) -> BaseException:
    """``exc``, with ``password`` removed from its message and arguments."""
    if password and password in str(exc):
        exc.args = tuple(_url.scrub(a, password) if isinstance(a, str) else a for a in exc.args)
    return exc
