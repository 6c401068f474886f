"""The owner index of :class:`~sessionware.stores.PostgreSQLStore`: the
:class:`~sessionware.stores.OwnerIndex` methods, mixed into the store.

A second table, ``<table>_owners (owner bytea, sid text, expires)``, created
on first use: owners are bound as parameters (bytea, so any string, NUL
included), never formatted into SQL. Each index write drops that owner's
expired entries, and every owner's at most once per ``SWEEP_INTERVAL``
(bounded by ``SWEEP_LIMIT``); a listing drops the entries whose session is
gone. Every call is one round trip (a pipeline where it runs two
statements).

An owner longer than :data:`RAW_LIMIT` bytes (UTF-8) is indexed by ``0xFF``
and its SHA-256 instead (no UTF-8 text holds a ``0xFF`` byte, so the two
forms never meet): a btree entry holds at most about 2,700 bytes, and an
owner may have 1,024 characters of 4 bytes each. Tables made by older
versions need no change; their entries of such owners, in the long form,
are still found and removed until they expire.

For a role that may not create tables, create it beforehand::

    CREATE TABLE sessionware_sessions_owners (owner bytea NOT NULL,
        sid text NOT NULL, expires timestamptz NOT NULL, PRIMARY KEY (owner, sid));
    CREATE INDEX sessionware_sessions_owners_expires
        ON sessionware_sessions_owners (expires);
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    import psycopg

_T = TypeVar("_T")

#: As the store's: seconds between two sweeps, rows removed at most by one.
SWEEP_INTERVAL = 60.0
SWEEP_LIMIT = 1000
#: Owners up to this many bytes are indexed as they are, longer ones by digest.
RAW_LIMIT: Final = 1024


def owner_keys(owner: str) -> list[bytes]:
    """The index keys of ``owner``: the one written first, then any form an
    older version may have written."""
    raw = owner.encode("utf-8", "surrogatepass")
    if len(raw) <= RAW_LIMIT:
        return [raw]
    return [b"\xff" + hashlib.sha256(raw).digest(), raw]


class PostgreSQLOwners:
    """``index_owner``, ``unindex_owner`` and ``owner_records`` over the
    store's connections (its ``_run``, ``_pipeline`` and ``_execute``)."""

    table: str
    _owners_ready = False
    _next_owner_sweep = 0.0

    if TYPE_CHECKING:

        def _run(self, action: str, work: Callable[..., _T], *args: Any) -> _T: ...
        def _pipeline(
            self, conn: psycopg.Connection[Any], statements: list[tuple[str, Any]]
        ) -> None: ...
        def _execute(self, conn: psycopg.Connection[Any], sql: str, params: Any) -> int: ...

    def index_owner(self, owner: str, sid: str, ttl: int) -> None:
        o = self._owners_table()
        keys = owner_keys(owner)
        statements: list[tuple[str, Any]] = [
            (f"DELETE FROM {o} WHERE owner = ANY(%s) AND expires <= now()", (keys,)),
            (
                f"INSERT INTO {o} AS i (owner, sid, expires) VALUES "
                "(%s, %s, now() + %s * interval '1 second') ON CONFLICT (owner, sid) "
                "DO UPDATE SET expires = greatest(i.expires, excluded.expires)",
                (keys[0], sid, int(ttl)),
            ),
        ]
        now = time.monotonic()
        if now >= self._next_owner_sweep:
            self._next_owner_sweep = now + SWEEP_INTERVAL
            statements.append(
                (
                    f"DELETE FROM {o} WHERE ctid IN (SELECT ctid FROM {o} WHERE "
                    f"expires <= now() LIMIT {SWEEP_LIMIT} FOR UPDATE SKIP LOCKED)",
                    (),
                )
            )
        self._run("index a session's owner", self._pipeline, statements)

    def unindex_owner(self, owner: str, sids: Collection[str]) -> None:
        if not sids:
            return
        o = self._owners_table()
        sql = f"DELETE FROM {o} WHERE owner = ANY(%s) AND sid = ANY(%s)"
        params = (owner_keys(owner), list(sids))
        self._run("unindex sessions of an owner", self._execute, sql, params)

    def owner_records(self, owner: str) -> list[tuple[str, dict[str, bytes], float]]:
        o, t = self._owners_table(), self.table
        keys = owner_keys(owner)
        select = (
            f"SELECT s.sid, s.keys, s.vals, extract(epoch FROM s.expires)::float8 "
            f"FROM {o} AS i JOIN {t} AS s ON s.sid = i.sid "
            "WHERE i.owner = ANY(%s) AND i.expires > now() AND s.expires > now()"
        )
        prune = (
            f"DELETE FROM {o} AS i WHERE i.owner = ANY(%s) AND (i.expires <= now() OR NOT EXISTS "
            f"(SELECT 1 FROM {t} AS s WHERE s.sid = i.sid AND s.expires > now()))"
        )
        rows = self._run("list sessions of an owner", self._select_and_prune, select, prune, keys)
        found = []
        for sid, keys, vals, expires in rows:
            record = {
                k.decode("utf-8", "surrogatepass"): v for k, v in zip(keys, vals, strict=True)
            }
            if record:
                found.append((sid, record, float(expires)))
        return found

    def _select_and_prune(
        self, conn: psycopg.Connection[Any], select: str, prune: str, keys: list[bytes]
    ) -> list[Any]:
        """The listing and the removal of stale entries, in one pipeline."""
        with conn.pipeline():
            cursor = conn.execute(select, (keys,), binary=True)
            conn.execute(prune, (keys,))
        return cursor.fetchall()

    def _owners_table(self) -> str:
        """Name of the owner index table, created on first use."""
        name = f"{self.table}_owners"
        if not self._owners_ready:
            index = name.rpartition(".")[2]
            self._run("create the owner index", self._create_owners, name, index)
            self._owners_ready = True
        return name

    def _create_owners(self, conn: psycopg.Connection[Any], name: str, index: str) -> None:
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if found and found[0]:
            return
        with conn.transaction():
            # Workers starting together: one creates, the others wait.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {name} (owner bytea NOT NULL, sid text NOT NULL, "
                "expires timestamptz NOT NULL, PRIMARY KEY (owner, sid))"
            )
            conn.execute(f"CREATE INDEX IF NOT EXISTS {index}_expires ON {name} (expires)")
