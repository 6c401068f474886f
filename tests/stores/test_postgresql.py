"""PostgreSQLStore beyond the contract: round trips, schema, expiry, outages,
fork, processes, pools, secrets. Against a real PostgreSQL server."""

import os
import subprocess
import sys
import textwrap
import time
import traceback
import warnings

import pytest

psycopg = pytest.importorskip("psycopg")

from servers import RoundTripProxy  # noqa: E402
from sessionware.errors import ConfigurationError, StoreError  # noqa: E402
from sessionware.stores import from_url  # noqa: E402
from sessionware.stores.postgresql import PostgreSQLStore  # noqa: E402


@pytest.fixture
def store(postgresql_server, pg_table):
    store = PostgreSQLStore(postgresql_server.url, table=pg_table)
    yield store
    store.close()


def rows(server, sql):
    return server.psql(sql).split()


def test_repr_names_host_port_db_never_the_password(postgresql_server, store):
    assert repr(store) == f"PostgreSQLStore({postgresql_server.address}/postgres)"
    assert postgresql_server.password not in repr(store)
    assert isinstance(from_url(postgresql_server.url), PostgreSQLStore)


def test_one_round_trip_per_call(postgresql_server, pg_table):
    host, port = postgresql_server.host, postgresql_server.port
    with RoundTripProxy(host, port) as proxy:
        url = postgresql_server.url.replace(f":{port}/", f":{proxy.port}/")
        store = PostgreSQLStore(url, table=pg_table)
        try:
            store.load("warm-up")  # connects and creates the tables
            calls = {
                "save": lambda: store.save("s", {"a": b"1", "b": b"2", "c": None}, 60),
                "load": lambda: store.load("s"),
                "load_many": lambda: store.load_many(["s", "t", "u"]),
                "touch": lambda: store.touch("s", 60),
                "delete": lambda: store.delete("s"),
            }
            # The first use of a statement on a connection prepares it: that
            # once costs one round trip more (not in a save's pipeline).
            for name, call in calls.items():
                proxy.reset()
                call()
                assert proxy.round_trips <= 2, name
            for _ in range(3):
                for name, call in calls.items():
                    proxy.reset()
                    call()
                    assert proxy.round_trips == 1, name
            store._next_sweep = 0.0  # a save that also sweeps: still one
            proxy.reset()
            store.save("s", {"a": b"1"}, 60)
            assert proxy.round_trips == 1
        finally:
            store.close()


def test_schema_created_on_first_use(postgresql_server, store, pg_table):
    assert rows(postgresql_server, f"SELECT to_regclass('{pg_table}')") == []
    store.save("s", {"a": b"1"}, 60)
    columns = rows(
        postgresql_server,
        "SELECT column_name || ':' || udt_name FROM information_schema.columns "
        f"WHERE table_name = '{pg_table}' ORDER BY ordinal_position",
    )
    assert columns == ["sid:text", "expires:timestamptz", "keys:_bytea", "vals:_bytea"]
    indexes = rows(
        postgresql_server,
        f"SELECT indexname FROM pg_indexes WHERE tablename = '{pg_table}' ORDER BY 1",
    )
    assert indexes == [f"{pg_table}_expires", f"{pg_table}_pkey"]
    assert rows(postgresql_server, f"SELECT sid FROM {pg_table}") == ["s"]


def test_schema_made_by_hand_works_without_create_rights(postgresql_server, pg_table):
    from sessionware.stores.postgresql import SCHEMA

    role = f"r_{pg_table}"
    postgresql_server.psql(SCHEMA.format(t=pg_table, i=pg_table))
    postgresql_server.psql(
        f"CREATE ROLE {role} LOGIN PASSWORD 'role-pw-123'; "
        f"REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {pg_table} TO {role}"
    )
    url = f"postgresql://{role}:role-pw-123@{postgresql_server.address}/postgres"
    store = PostgreSQLStore(url, table=pg_table)
    try:
        store.save("s", {"a": b"1"}, 60)
        assert store.load("s") == {"a": b"1"}
        other = PostgreSQLStore(url, table=pg_table + "_new")  # it may not create this one
        with pytest.raises(StoreError, match="permission denied"):
            other.load("s")
        other.close()
    finally:
        store.close()


def test_schema_qualified_table(postgresql_server, pg_table):
    schema = f"s_{pg_table}"
    postgresql_server.psql(f"CREATE SCHEMA {schema}")
    store = from_url(f"{postgresql_server.url}?table={schema}.sessions")
    try:
        store.save("s", {"a": b"1"}, 60)
        assert store.load("s") == {"a": b"1"}
        assert rows(postgresql_server, f"SELECT sid FROM {schema}.sessions") == ["s"]
    finally:
        store.close()


def expire_now(server, table, sid):
    server.psql(f"UPDATE {table} SET expires = now() - interval '1 second' WHERE sid = '{sid}'")


def test_expired_records_are_never_loaded_and_are_removed(postgresql_server, store, pg_table):
    for sid in ("dead1", "dead2", "live"):
        store.save(sid, {"a": b"1", "b": b"2"}, 60)
    expire_now(postgresql_server, pg_table, "dead1")
    expire_now(postgresql_server, pg_table, "dead2")
    assert store.load("dead1") is None
    assert store.load_many(["dead1", "live"]) == [None, {"a": b"1", "b": b"2"}]
    store.touch("dead1", 60)  # touch never revives
    assert store.load("dead1") is None
    store.save("dead1", {"c": b"3"}, 60)  # expired keys never come back
    assert store.load("dead1") == {"c": b"3"}
    assert store.cleanup() == 1  # dead2
    assert rows(postgresql_server, f"SELECT sid FROM {pg_table} ORDER BY sid") == ["dead1", "live"]
    assert store.cleanup() == 0


def test_saves_sweep_expired_records_by_themselves(postgresql_server, store, pg_table):
    store.save("live", {"a": b"1"}, 60)  # the first save of a process sweeps
    store.save("dead", {"a": b"1"}, 60)
    expire_now(postgresql_server, pg_table, "dead")
    store.save("live", {"b": b"2"}, 60)  # not yet: one sweep a minute
    assert rows(postgresql_server, f"SELECT count(*) FROM {pg_table}") == ["2"]
    store._next_sweep = 0.0  # the sweep interval has passed
    store.save("live", {"c": b"3"}, 60)
    assert rows(postgresql_server, f"SELECT sid FROM {pg_table}") == ["live"]


def assert_no_password(exc, password):
    text = "".join(traceback.format_exception(exc))
    assert password not in text
    assert password not in repr(exc.store)


def test_outage_then_recovery_with_no_restart(fresh_postgresql, pg_table):
    store = PostgreSQLStore(fresh_postgresql.url, table=pg_table, timeout=2)
    try:
        store.save("s", {"a": b"1"}, 60)
        store.load("s")
        fresh_postgresql.stop()
        calls = {
            "load": lambda: store.load("s"),
            "load_many": lambda: store.load_many(["s"]),
            "save": lambda: store.save("s", {"a": b"2"}, 60),
            "touch": lambda: store.touch("s", 60),
            "delete": lambda: store.delete("s"),
            "cleanup": store.cleanup,
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(StoreError) as info:
                call()
            assert time.monotonic() - started < 2, f"{name} waited for nothing"
            message = str(info.value)
            assert message.startswith(
                f"PostgreSQLStore({fresh_postgresql.address}/postgres) could not"
            ), message
            assert "\n" not in message
            assert info.value.store is store
            assert isinstance(info.value.__cause__, psycopg.OperationalError)
            assert_no_password(info.value, fresh_postgresql.password)
        fresh_postgresql.start()  # same port, same data
        assert store.load("s") == {"a": b"1"}  # the very next call succeeds
    finally:
        store.close()


def test_server_restart_behind_idle_connections(fresh_postgresql, pg_table):
    # Idle pooled connections die with the server; the next call must not fail.
    store = PostgreSQLStore(fresh_postgresql.url, table=pg_table)
    try:
        store.save("s", {"a": b"1"}, 60)
        fresh_postgresql.stop()
        fresh_postgresql.start()
        assert store.load("s") == {"a": b"1"}
        store.save("s", {"b": b"2"}, 60)
        assert store.load("s") == {"a": b"1", "b": b"2"}
    finally:
        store.close()


def test_wrong_password_is_a_store_error_without_it(postgresql_server, pg_table):
    wrong = "Wrong-" + postgresql_server.password
    store = PostgreSQLStore(postgresql_server.url.replace(postgresql_server.password, wrong))
    with pytest.raises(StoreError, match="password authentication failed") as info:
        store.load("s")
    assert_no_password(info.value, wrong)
    store.close()


def test_statement_timeout(postgresql_server, store, pg_table):
    store.save("s", {"a": b"1"}, 60)
    quick = PostgreSQLStore(postgresql_server.url, table=pg_table, timeout=0.5)
    locker = psycopg.connect(postgresql_server.url, autocommit=False)
    try:
        locker.execute(f"SELECT * FROM {pg_table} WHERE sid = 's' FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(StoreError, match="statement timeout"):
            quick.save("s", {"a": b"2"}, 60)
        assert time.monotonic() - started < 2
        locker.rollback()
        quick.save("s", {"a": b"3"}, 60)  # and the store carries on
        assert store.load("s") == {"a": b"3"}
    finally:
        locker.close()
        quick.close()


def fork():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_safety(store):
    store.save("s", {"parent": b"1"}, 60)
    parent_conn = store._pool._idle[0]
    pid = fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            assert store.load("s") == {"parent": b"1"}
            store.save("s", {"child": b"2"}, 60)
            assert parent_conn not in store._pool._idle
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection was never touched by the child and still works.
    assert store._pool._idle == [parent_conn]
    assert store.load("s") == {"parent": b"1", "child": b"2"}


WRITER = textwrap.dedent(
    """
    import sys
    from sessionware.stores.postgresql import PostgreSQLStore

    url, table, name, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = PostgreSQLStore(url, table=table)
    for r in range(rounds):
        store.save("shared", {f"{name}-{r}": name.encode(), "last": name.encode()}, 60)
    store.close()
    """
)


def test_processes_creating_the_table_and_saving_different_keys(postgresql_server, pg_table):
    # Four processes start on a table that does not exist yet: one creates
    # it (under an advisory lock), and no key of any process is lost.
    n_procs, rounds = 4, 30
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, postgresql_server.url, pg_table, f"p{i}", str(rounds)],
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        for i in range(n_procs)
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    store = PostgreSQLStore(postgresql_server.url, table=pg_table)
    try:
        record = store.load("shared")
    finally:
        store.close()
    expected = {f"p{i}-{r}" for i in range(n_procs) for r in range(rounds)}
    assert set(record) == expected | {"last"}


def test_given_pool(postgresql_server, pg_table):
    psycopg_pool = pytest.importorskip("psycopg_pool")
    pool = psycopg_pool.ConnectionPool(postgresql_server.url, min_size=1, open=True)
    try:
        store = PostgreSQLStore(pool, table=pg_table)
        assert repr(store) == f"PostgreSQLStore({postgresql_server.address}/postgres)"
        store.save("s", {"a": b"1"}, 60)
        assert store.load("s") == {"a": b"1"}
        store.close()  # not ours to close
        assert store.load("s") == {"a": b"1"}
    finally:
        pool.close()


def test_bad_arguments():
    with pytest.raises(ConfigurationError, match="table"):
        PostgreSQLStore("postgresql://h/db", table="x; DROP TABLE y")
    with pytest.raises(ConfigurationError, match="given both"):
        PostgreSQLStore("postgresql://h/db?table=a", table="b")
    with pytest.raises(ConfigurationError, match="timeout"):
        PostgreSQLStore("postgresql://h/db", timeout=0)
    with pytest.raises(ConfigurationError, match="not a postgresql:// URL"):
        PostgreSQLStore("redis://h/0")
    with pytest.raises(ConfigurationError, match="ConnectionPool"):
        PostgreSQLStore(object())


def test_missing_psycopg(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError, match=r'pip install "sessionware\[postgresql\]"'):
        PostgreSQLStore("postgresql://h/db")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_given_pool_used_before_a_fork_is_refused_after_it(postgresql_server, pg_table):
    psycopg_pool = pytest.importorskip("psycopg_pool")
    pool = psycopg_pool.ConnectionPool(postgresql_server.url, min_size=1, open=True)
    try:
        store = PostgreSQLStore(pool, table=pg_table)
        store.save("s", {"a": b"1"}, 60)
        pid = fork()
        if pid == 0:
            code = 1
            try:
                with pytest.raises(StoreError, match="before a fork"):
                    store.load("s")
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.load("s") == {"a": b"1"}  # the parent carries on
    finally:
        pool.close()
