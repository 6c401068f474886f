"""PostgreSQLStore under real gunicorn: fork safety and a database outage.

- ``--preload`` with the store used at import: gunicorn's master holds a
  connection when it forks three workers; the workers must each open their
  own (a shared one would mix up the protocol between processes) and every
  concurrent write to different keys of one session must survive.
- The database stops mid-run: requests fail loudly (500, StoreError in the
  log, never a silent new session) and, once it is back, the next request
  succeeds with no restart of anything.
"""

from pathlib import Path

import pytest
import requests
from test_lost_updates import put_keys, start_session

from gunicorn_server import Gunicorn

pytest.importorskip("psycopg")

LIVE = Path(__file__).resolve().parent


def serve(tmp_path, url, table, *args, warm=False):
    env = {"SW_TEST_STORE": "postgresql", "SW_TEST_POSTGRESQL": url, "SW_TEST_TABLE": table}
    if warm:  # the store is used at import (a worker booting later needs the database)
        env["SW_TEST_WARM"] = "1"
    return Gunicorn("apps:app", workers=3, env=env, pythonpath=[LIVE], log_dir=tmp_path, args=args)


def test_preloaded_store_is_not_shared_across_fork(tmp_path, postgresql_server, pg_table):
    with serve(tmp_path, postgresql_server.url, pg_table, "--preload", warm=True) as server:
        wanted, stored, _ = put_keys(server.url)
        assert stored == wanted, f"lost keys: {sorted(wanted - stored)}"
        # A connection shared across the fork would interleave the workers'
        # protocol messages: errors, 500s, tracebacks in the log.
        assert "Traceback" not in server.log_text()


def test_database_outage_fails_loudly_then_recovers(tmp_path, fresh_postgresql, pg_table):
    with serve(tmp_path, fresh_postgresql.url + "?timeout=2", pg_table) as server:
        cookie = start_session(server.url)
        http = requests.Session()
        http.cookies.set("session", cookie)
        assert http.get(server.url + "/incr", timeout=10).json()["count"] == 1
        fresh_postgresql.stop()
        for _ in range(6):  # every worker, whichever answers
            response = http.get(server.url + "/incr", timeout=10)
            assert response.status_code == 500
        assert "StoreError: PostgreSQLStore(" in server.log_text()
        assert fresh_postgresql.password not in server.log_text()
        fresh_postgresql.start()
        counts = [http.get(server.url + "/incr", timeout=10).json()["count"] for _ in range(6)]
        assert counts == [2, 3, 4, 5, 6, 7], "the first request after the outage failed"
