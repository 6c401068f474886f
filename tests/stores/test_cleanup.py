"""``python -m sessionware cleanup`` for each server-side store: it does the
work or says why none is needed, and an unreachable store fails loudly (one
line on stderr, exit status 1, no traceback)."""

import subprocess
import sys

import pytest

from servers import free_port


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "sessionware", *args], capture_output=True, text=True, timeout=60
    )


def assert_loud(result, *words):
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("sessionware cleanup: ")
    assert "<" not in result.stderr, "an object repr instead of the nodes"
    for word in words:
        assert word in result.stderr, result.stderr


def test_postgresql_cleanup_removes_expired_sessions(postgresql_server, pg_table):
    pytest.importorskip("psycopg")
    from sessionware.stores.postgresql import PostgreSQLStore

    url = f"{postgresql_server.url}?table={pg_table}"
    store = PostgreSQLStore(url)
    try:
        for sid in ("dead1", "dead2", "live"):
            store.save(sid, {"a": b"1", "b": b"2"}, 60)
    finally:
        store.close()
    postgresql_server.psql(
        f"UPDATE {pg_table} SET expires = now() - interval '1 second' WHERE sid LIKE 'dead%'"
    )
    result = run("cleanup", "--store", url)
    assert result.returncode == 0, result.stderr
    assert f"removed 2 expired session(s) from PostgreSQLStore({postgresql_server.address}" in (
        result.stdout
    )
    assert postgresql_server.psql(f"SELECT sid FROM {pg_table}").split() == ["live"]
    assert "removed 0 expired session(s)" in run("cleanup", "--store", url).stdout


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:{port}/0",
        "redis+sentinel://127.0.0.1:{port}/sessions",
        "redis+cluster://127.0.0.1:{port}?timeout=0.5",
        "postgresql://u:pw@127.0.0.1:{port}/db?timeout=1",
    ],
    ids=["redis", "sentinel", "cluster", "postgresql"],
)
def test_unreachable_store_fails_loudly(url):
    port = free_port()
    result = run("cleanup", "--store", url.format(port=port))
    assert_loud(result, f"127.0.0.1:{port}")


def test_unreachable_sqlite_directory_fails_loudly(tmp_path):
    assert_loud(run("cleanup", "--store", f"sqlite:///{tmp_path}/missing/s.db"), "does not exist")


def test_bad_url_fails_loudly():
    assert_loud(run("cleanup", "--store", "redis://h:6379/0?prefx=a"), "unknown option 'prefx'")
