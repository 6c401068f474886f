"""``PostgreSQLStore``: sessions in PostgreSQL (psycopg 3), one round trip per
call, one connection pool per process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sessionware.errors import ConfigurationError, StoreError, install_hint
from sessionware.stores import _url
from sessionware.stores._pg_config import check_table
from sessionware.stores._pg_config import conninfo as make_conninfo
from sessionware.stores._pg_owners import PostgreSQLOwners
from sessionware.stores._pgpool import Pool, describe, is_pool

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
SCHEMA: Final = """\
CREATE TABLE IF NOT EXISTS {t} (
    sid     text PRIMARY KEY,
    expires timestamptz NOT NULL,
    keys    bytea[] NOT NULL,
    vals    bytea[] NOT NULL
);
CREATE INDEX IF NOT EXISTS {i}_expires ON {t} (expires);"""


class PostgreSQLStore(PostgreSQLOwners):
    """Sessions in a PostgreSQL database, shared by every process and machine.

    One table, created on first use if missing (under an advisory lock, so
    that workers starting together do not race), one row per session:

    .. code-block:: sql

        CREATE TABLE sessionware_sessions (
            sid     text PRIMARY KEY,
            expires timestamptz NOT NULL,    -- indexed: the sweeps use it
            keys    bytea[] NOT NULL,        -- UTF-8 keys (text cannot hold NUL)
            vals    bytea[] NOT NULL         -- their encoded values, in order
        );
        CREATE INDEX sessionware_sessions_expires ON sessionware_sessions (expires);

    To create it yourself (for an app whose role may not create tables), run
    :data:`~sessionware.stores.postgresql.SCHEMA` with your table name; the
    store then only reads and writes rows. The owner index (``mw.sessions``,
    ``mw.revoke_owner``) is a second table, ``<table>_owners``, also created on first use (see
    :class:`~sessionware.stores._pg_owners.PostgreSQLOwners`).

    ``load`` is one ``SELECT`` (expired sessions are excluded by the
    database's clock: every process agrees). ``save`` is one ``INSERT ... ON
    CONFLICT DO UPDATE`` that merges the changes into the stored keys inside
    the database, under the row's lock: concurrent saves of one session
    serialise on the row and each merges into what the other wrote, so
    changes to different keys all survive; the keys of a record that had
    expired are dropped, not merged. ``touch``, ``delete`` and ``load_many``
    (several sids) are one statement each. Saves also remove expired sessions
    (at most 1000, at most every 60 seconds per process, in the same round
    trip); :meth:`cleanup` removes them all.

    Connections: from a URL, each process opens its own connections lazily
    (again after a fork, so gunicorn's workers never share one) and connects
    synchronously when it needs one, so the first request after the database
    comes back succeeds; a connection found broken (the server restarted) is
    replaced and the call retried once. A given ``psycopg_pool.ConnectionPool``
    is used as is (its connections are switched to autocommit) in the first
    process that uses it; used again after a fork, it raises
    :class:`~sessionware.StoreError` rather than share connections. Every failure is a
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
        ``schema.table``).
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
                f"PostgreSQLStore needs psycopg 3; {install_hint('postgresql')}"
            ) from exc
        #: Never shown: the URL's password and other secrets, or the pool's.
        self._secrets: list[str] = []
        self._pool: Pool | None = None
        self._given: Any = None
        self._given_pid: int | None = None
        options: dict[str, Any] = {}
        if isinstance(url_or_pool, str):
            parsed = _url.parse(url_or_pool)
            if parsed.scheme not in ("postgresql", "postgres"):
                raise ConfigurationError(
                    f"PostgreSQLStore URL {parsed.shown!r} is not a postgresql:// URL"
                )
            options = parsed.options
            self._secrets = parsed.secrets + [
                v for k, v in connect_kwargs.items() if "pass" in k and isinstance(v, str)
            ]
        elif is_pool(url_or_pool):
            self._given = url_or_pool
        else:
            raise ConfigurationError(
                "PostgreSQLStore needs a postgresql:// URL or a psycopg_pool.ConnectionPool, "
                f"not {type(url_or_pool).__name__}"
            )
        table = _url.pick("PostgreSQLStore", "table", table, options, "sessionware_sessions")
        timeout = _url.pick("PostgreSQLStore", "timeout", timeout, options, DEFAULT_TIMEOUT)
        self.table = check_table(table)
        self.timeout = _url.seconds("PostgreSQLStore", timeout)
        if isinstance(url_or_pool, str):
            conninfo = make_conninfo(psycopg, parsed, connect_kwargs, self.timeout)
            self._where = describe(psycopg, conninfo)
            self._pool = Pool(psycopg, conninfo)
        else:
            conninfo = str(url_or_pool.conninfo)
            self._where = describe(psycopg, conninfo)
            params = psycopg.conninfo.conninfo_to_dict(conninfo)
            kwargs = url_or_pool.kwargs if isinstance(url_or_pool.kwargs, dict) else {}
            password = params.get("password") or kwargs.get("password")
            self._secrets = [password] if isinstance(password, str) else []
        self._errors: tuple[type[Exception], ...] = (psycopg.Error,)
        self._schema_ready = False
        self._next_sweep = 0.0
        self._sql(table)

    def _sql(self, table: str) -> None:
        t = table
        self._schema = SCHEMA.format(t=t, i=t.rpartition(".")[2])
        self._sql_load = f"SELECT keys, vals FROM {t} WHERE sid = %s AND expires > now()"
        self._sql_load_many = (
            f"SELECT sid, keys, vals FROM {t} WHERE sid = ANY(%s) AND expires > now()"
        )
        # The merge runs on the row as it is when the row lock is taken (ON
        # CONFLICT reads the latest version, not the statement's snapshot).
        self._sql_save = (
            f"INSERT INTO {t} AS s (sid, expires, keys, vals) VALUES (%(sid)s, "
            "now() + %(ttl)s * interval '1 second', %(keys)s::bytea[], %(vals)s::bytea[]) "
            "ON CONFLICT (sid) DO UPDATE SET expires = excluded.expires, (keys, vals) = ("
            "SELECT coalesce(array_agg(m.k), '{}'), coalesce(array_agg(m.v), '{}') FROM ("
            "SELECT o.k, o.v FROM unnest(s.keys, s.vals) AS o(k, v) WHERE s.expires > now() "
            "AND o.k <> ALL(excluded.keys || %(unsets)s::bytea[]) "
            "UNION ALL SELECT n.k, n.v FROM unnest(excluded.keys, excluded.vals) AS n(k, v)"
            ") AS m)"
        )
        self._sql_touch = (
            f"UPDATE {t} SET expires = now() + %s * interval '1 second' "
            "WHERE sid = %s AND expires > now()"
        )
        self._sql_delete = f"DELETE FROM {t} WHERE sid = %s"
        # Rows locked by a save in progress are skipped, never waited for.
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
        return _record(*rows[0]) if rows else None

    def load_many(self, sids: Sequence[str]) -> list[dict[str, bytes] | None]:
        """The records of ``sids`` (``None`` for each without one), in order,
        in one query."""
        if not sids:
            return []
        rows = self._run("load sessions", self._fetch, self._sql_load_many, (list(sids),))
        found = {sid: _record(keys, vals) for sid, keys, vals in rows}
        return [found.get(sid) for sid in sids]

    def save(self, sid: str, changes: Mapping[str, bytes | None], ttl: int) -> None:
        keys: list[bytes] = []
        vals: list[bytes] = []
        unsets: list[bytes] = []
        for key, value in changes.items():
            if value is None:
                unsets.append(key.encode("utf-8", "surrogatepass"))
            else:
                keys.append(key.encode("utf-8", "surrogatepass"))
                vals.append(value)
        params = {"sid": sid, "ttl": int(ttl), "keys": keys, "vals": vals, "unsets": unsets}
        now = time.monotonic()
        if now < self._next_sweep:
            self._run("save a session", self._execute, self._sql_save, params)
            return
        self._next_sweep = now + SWEEP_INTERVAL
        statements = [(self._sql_save, params), (self._sql_sweep, ())]
        self._run("save a session", self._pipeline, statements)

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

    def _pipeline(self, conn: psycopg.Connection[Any], statements: list[tuple[str, Any]]) -> None:
        """Run ``statements`` queued in one pipeline: one round trip."""
        with conn.pipeline():
            for sql, params in statements:
                conn.execute(sql, params)

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
                    f"{_url.scrub(' '.join(str(exc).split()), self._secrets)}",
                    store=self,
                ) from _url.scrubbed(exc, self._secrets)
        raise AssertionError("unreachable")

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield conn
            return
        # A pool's connections and threads must not cross a fork: a pool that
        # served another process (gunicorn's master, before the fork) is
        # refused loudly here instead of sharing its connections.
        if self._given_pid is None:
            self._given_pid = os.getpid()
        elif self._given_pid != os.getpid():
            raise StoreError(
                f"{self!r}: the psycopg_pool.ConnectionPool it was given was used in "
                f"process {self._given_pid} before a fork; give a postgresql:// URL "
                "(connections per process) or create the pool in each worker",
                store=self,
            )
        with self._given.connection(timeout=self.timeout) as conn:
            if not conn.autocommit:
                conn.autocommit = True  # one statement, one round trip: no BEGIN/COMMIT
            yield conn

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table,)).fetchone()
        if not (found and found[0]):
            with conn.transaction():
                # Workers starting together: one creates, the others wait.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
                for statement in self._schema.split(";"):
                    conn.execute(statement)
        self._schema_ready = True


def _record(keys: list[bytes], vals: list[bytes]) -> dict[str, bytes] | None:
    """A stored row as a record; a row with no keys left is no record."""
    return {k.decode("utf-8", "surrogatepass"): v for k, v in zip(keys, vals, strict=True)} or None
