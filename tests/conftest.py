"""Shared fixtures: real servers (see ``servers.py``) and unique names.

Add fixtures by section; keep each one generic (no test-specific data).
"""

import uuid

import pytest

from servers import PostgreSQLServer, RedisServer, require_binary
from servers import redis_cluster as start_redis_cluster

# -- Redis ------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One redis-server shared by the whole run (a ``RedisServer``; ``.url``).

    Tests share it: give keys a unique prefix (``redis_prefix``) and never
    FLUSHALL. Stopping it is forbidden; use ``fresh_redis`` for that.
    """
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A 3-master Redis Cluster shared by the run (``RedisClusterServers``;
    ``.url`` is ``redis+cluster://host:port``, ``.nodes`` the servers)."""
    require_binary("redis-cli")
    with start_redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def fresh_redis(tmp_path):
    """A redis-server of this test alone (a started ``RedisServer``), free to
    be stopped and restarted (``.stop()``, ``.start()``) on the same port."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def redis_prefix():
    """A key prefix no other test uses, e.g. ``test:1f2e...:``."""
    return f"test:{uuid.uuid4().hex}:"


# -- PostgreSQL -------------------------------------------------------------


@pytest.fixture(scope="session")
def postgresql_server():
    """One PostgreSQL server shared by the run (a ``PostgreSQLServer``;
    ``.url`` has the superuser's password). Tests share it: give each its
    own table (``pg_table``). Use ``fresh_postgresql`` to stop one."""
    with PostgreSQLServer() as server:
        yield server


@pytest.fixture
def fresh_postgresql():
    """A PostgreSQL server of this test alone, free to be stopped and
    restarted (``.stop()``, ``.start()``, same port, same data)."""
    with PostgreSQLServer() as server:
        yield server


@pytest.fixture
def pg_table():
    """A table name no other test uses, e.g. ``t_1f2e...``."""
    return f"t_{uuid.uuid4().hex}"


# -- Stores -----------------------------------------------------------------


@pytest.fixture(params=["cookie", "memory", "sqlite", "redis", "postgresql"])
def any_store(request, tmp_path):
    """Each store in turn, for tests of code above the stores: ``None`` (the
    default cookie store), a MemoryStore, an SQLiteStore in ``tmp_path``, a
    RedisStore on ``redis_server`` with a unique prefix and a PostgreSQLStore
    on ``postgresql_server`` with a table of its own."""
    from sessionware.stores import MemoryStore, RedisStore, SQLiteStore

    kind = request.param
    if kind == "cookie":
        yield None
        return
    if kind == "memory":
        instance = MemoryStore()
    elif kind == "sqlite":
        instance = SQLiteStore(str(tmp_path / "sessions.db"))
    elif kind == "postgresql":
        pytest.importorskip("psycopg")
        from sessionware.stores import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        instance = PostgreSQLStore(server.url, table=request.getfixturevalue("pg_table"))
    else:
        server = request.getfixturevalue("redis_server")
        instance = RedisStore(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield instance
    if hasattr(instance, "close"):
        instance.close()


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-cluster", "postgresql"])
def server_store(request, tmp_path):
    """Each server-side store of the package in turn, Redis Cluster included
    (with a unique prefix, or a table of its own)."""
    from sessionware.stores import MemoryStore, RedisStore, SQLiteStore

    kind = request.param
    if kind == "memory":
        yield MemoryStore()
        return
    if kind == "sqlite":
        instance = SQLiteStore(tmp_path / "sessions.db")
    elif kind == "postgresql":
        pytest.importorskip("psycopg")
        from sessionware.stores import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        instance = PostgreSQLStore(server.url, table=request.getfixturevalue("pg_table"))
    else:
        server = request.getfixturevalue("redis_server" if kind == "redis" else "redis_cluster")
        instance = RedisStore(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield instance
    instance.close()


# -- Reporting ----------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every skip is reported at the test it skipped and names it (pytest
    shows the line of the helper or fixture that raised it, which a shared
    fixture's skip repeats for many tests)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2].removeprefix("Skipped: ")
        test_path, test_line, _ = item.location
        report.longrepr = (test_path, test_line + 1, f"{item.name}: {reason}")


def pytest_runtest_setup(item):
    """Name each soak test as it starts: it runs up to a minute in silence."""
    if item.get_closest_marker("soak") is None:
        return
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    capture = item.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and reporter.verbosity <= 0:
        with capture.global_and_fixture_disabled():  # else the setup's capture eats it
            # On the file's progress line, before the test's own dot.
            reporter.write(f" {item.name} (up to a minute) ", flush=True)


# -- Cleanup ----------------------------------------------------------------


@pytest.fixture
def closing(request):
    """``closing(store)`` closes ``store`` when the test ends, so its
    connections never reach the garbage collector (which warns); returns it."""

    def close(store):
        request.addfinalizer(store.close)
        return store

    return close
