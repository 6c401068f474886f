"""PostgreSQLStore's configuration: no option silently overrides another,
and a table name PostgreSQL would refuse is refused at construction.

Refusals need no server (nothing is contacted when a store is refused);
what is accepted is checked against the real PostgreSQL server.
"""

import pytest

psycopg = pytest.importorskip("psycopg")

from sessionware import ConfigurationError  # noqa: E402
from sessionware.stores import SQLiteStore, from_url  # noqa: E402
from sessionware.stores._pg_config import MAX_TABLE, RESERVED  # noqa: E402
from sessionware.stores._pg_owners import RAW_LIMIT, owner_keys  # noqa: E402
from sessionware.stores.postgresql import PostgreSQLStore  # noqa: E402

U = "postgresql://u:pw@h:5432/db"

# (url, keyword arguments, words the message must hold)
CLASHES = [
    (U + "?options=-c%20statement_timeout%3D0", {}, ["?options=", "statement_timeout"]),
    (U + "?options=--statement-timeout%3D0", {}, ["?options=", "statement_timeout"]),
    (U, {"options": "-c Statement_Timeout=0"}, ["options= argument", "statement_timeout"]),
    (U + "?connect_timeout=30", {}, ["?connect_timeout=", "timeout"]),
    (U, {"connect_timeout": 30}, ["connect_timeout= argument", "timeout"]),
    (U + "?host=other", {}, ["?host=", "URL's own host"]),
    (U + "?hostaddr=10.0.0.1", {}, ["?hostaddr=", "URL's own host"]),
    (U, {"host": "other"}, ["host= argument", "URL's own host"]),
    (U + "?port=5433", {}, ["?port=", "URL's own port"]),
    (U + "?dbname=other", {}, ["?dbname=", "URL's own database name"]),
    (U + "?user=other", {}, ["?user=", "URL's own user name"]),
    (U + "?password=other", {}, ["?password=", "URL's own password"]),
    (U, {"password": "other"}, ["password= argument", "URL's own password"]),
    (U + "?sslmode=require", {"sslmode": "disable"}, ["sslmode is given both"]),
    (U, {"frobnicate": 1}, ["'frobnicate' is not a libpq connection parameter"]),
]


@pytest.mark.parametrize("url, kwargs, words", CLASHES, ids=[f"{u[27:]}{k}" for u, k, _ in CLASHES])
def test_clashing_options_are_refused_naming_them(url, kwargs, words):
    with pytest.raises(ConfigurationError) as info:
        PostgreSQLStore(url, **kwargs)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert "pw" not in str(info.value).replace("password", "")
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(
    "table",
    sorted(RESERVED) + ["USER", "Select", "select.t", "public.user", "t" * (MAX_TABLE + 1)],
)
def test_table_names_postgresql_would_refuse_are_refused(table):
    with pytest.raises(ConfigurationError, match="reserved word|too long"):
        PostgreSQLStore("postgresql://h/db", table=table)
    with pytest.raises(ConfigurationError, match="reserved word|too long"):
        from_url(f"postgresql://h/db?table={table}")


def test_the_reserved_words_are_the_servers(postgresql_server):
    words = postgresql_server.psql(
        "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T') ORDER BY word"
    ).split()
    # Words reserved by newer releases than this server are refused as well:
    # a table must keep working after an upgrade.
    assert set(words) <= RESERVED
    assert RESERVED - set(words) <= {"system_user"}  # PostgreSQL 16


@pytest.mark.parametrize("name", ["user", "select", "window"])
def test_a_reserved_word_is_refused_by_the_server_too(postgresql_server, name):
    with psycopg.connect(postgresql_server.url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute(f"CREATE TABLE {name} (x int)")


def test_the_longest_name_allowed_works_with_its_owner_index(postgresql_server):
    table = "t" + "x" * (MAX_TABLE - 1)
    store = PostgreSQLStore(postgresql_server.url, table=table)
    try:
        store.save("s", {"a": b"1", "\x00\x00marker": b"m"}, 60)
        store.index_owner("alice", "s", 60)
        assert [sid for sid, _, _ in store.owner_records("alice")] == ["s"]
        names = postgresql_server.psql(
            f"SELECT relname FROM pg_class WHERE relname LIKE '{table}%' ORDER BY relname"
        ).split()
        assert names == [
            table,
            f"{table}_expires",
            f"{table}_owners",
            f"{table}_owners_expires",
            f"{table}_owners_pkey",
            f"{table}_pkey",
        ]
    finally:
        postgresql_server.psql(f"DROP TABLE {table}, {table}_owners")
        store.close()


def test_options_that_do_not_clash_are_kept_with_the_timeout(postgresql_server, pg_table):
    url = postgresql_server.url + "?options=-c%20search_path%3Dpublic&timeout=3"
    store = PostgreSQLStore(url, table=pg_table)
    try:
        store.save("s", {"a": b"1"}, 60)
        with store._connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("3s",)
            assert conn.execute("SHOW search_path").fetchone() == ("public",)
    finally:
        store.close()


def test_parts_given_once_in_the_query_are_used(postgresql_server, pg_table):
    """``?host=``/``?port=`` where the URL has none: one source, no clash."""
    server = postgresql_server
    url = f"postgresql://postgres:{server.password}@/postgres?host={server.host}&port={server.port}"
    store = PostgreSQLStore(url, table=pg_table)
    try:
        store.save("s", {"a": b"1"}, 60)
        assert store.load("s") == {"a": b"1"}
    finally:
        store.close()


def test_sqlite_table_names_sqlite_would_refuse_are_refused(tmp_path):
    for table in ("select", "x;drop", "a-b", "1x"):
        with pytest.raises(ConfigurationError):
            SQLiteStore(tmp_path / "s.db", table=table)
        with pytest.raises(ConfigurationError):
            from_url(f"sqlite:///{tmp_path}/s.db?table={table}")


def test_owners_written_by_older_versions_are_still_found(postgresql_server, pg_table):
    """An owner over RAW_LIMIT bytes is indexed by digest now; an entry an
    older version wrote (the owner as it is) is still listed and removed."""
    store = PostgreSQLStore(postgresql_server.url, table=pg_table)
    owner = "é" * 700  # 1,400 bytes: an older version indexed it as it is
    assert len(owner.encode()) > RAW_LIMIT
    try:
        store.save("old", {"\x00\x00marker": b"m"}, 60)
        store.save("new", {"\x00\x00marker": b"m"}, 60)
        store.index_owner(owner, "new", 60)
        with store._connection() as conn:
            conn.execute(
                f"INSERT INTO {pg_table}_owners VALUES (%s, 'old', now() + interval '1 minute')",
                (owner.encode(),),
            )
        assert sorted(sid for sid, _, _ in store.owner_records(owner)) == ["new", "old"]
        store.unindex_owner(owner, ["old", "new"])
        assert store.owner_records(owner) == []
        assert owner_keys("a" * RAW_LIMIT) == [b"a" * RAW_LIMIT]
    finally:
        store.close()
