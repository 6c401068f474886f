"""WSGI apps that gunicorn serves for the live tests (``apps:app``).

Each worker builds its middleware at import, from environment variables:

- ``SW_TEST_STORE``: ``sqlite``, ``redis``, ``postgresql``, ``whole-record`` (a deliberately
  lossy last-writer-wins store over SQLite) or ``fire-and-forget`` (Redis
  saves in a background thread, errors swallowed);
- ``SW_TEST_SQLITE``: the SQLite file; ``SW_TEST_REDIS``: the Redis URL;
  ``SW_TEST_PREFIX``: the Redis key prefix; ``SW_TEST_POSTGRESQL``: the
  PostgreSQL URL; ``SW_TEST_TABLE``: its table;
- ``SW_TEST_DELAY``: seconds ``/put`` sleeps between loading and saving
  (``/put?delay=S`` overrides it);
- ``SW_TEST_WARM``: use the store once at import (before gunicorn forks,
  with ``--preload``).

Routes: ``/`` (readiness, never touches the session), ``/start?owner=ID``,
``/put?key=K``, ``/keys``, ``/clear``, ``/incr``, ``/peek``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from urllib.parse import parse_qs

from sessionware import SessionMiddleware
from sessionware.stores import RedisStore, SQLiteStore

SECRET = "live-test-secret-key-0123456789abcdef"


class WholeRecordStore:
    """A lossy store, for showing that the lost-update test can fail.

    It behaves like a store that pickles the whole session: ``save`` writes
    the record as this process last loaded it plus this request's changes,
    replacing whatever is stored. Two overlapping requests of one session
    both start from the same snapshot, so the later save forgets the
    earlier one's key (last writer wins). Sync workers run one request at a
    time, so "last loaded by this process" is this request's snapshot.
    """

    def __init__(self, path):
        self.inner = SQLiteStore(path, table="whole_record_sessions")
        self.snapshots = {}

    def load(self, sid):
        record = self.inner.load(sid)
        self.snapshots[sid] = dict(record or {})
        return record

    def save(self, sid, changes, ttl):
        record = {**self.snapshots.pop(sid, {}), **changes}
        record = {key: value for key, value in record.items() if value is not None}
        current = self.inner.load(sid) or {}
        # Replace: every stored key this snapshot lacks is removed.
        replace = {key: None for key in current if key not in record}
        self.inner.save(sid, {**replace, **record}, ttl)

    def delete(self, sid):
        self.inner.delete(sid)

    def touch(self, sid, ttl):
        self.inner.touch(sid, ttl)


class FireAndForgetStore:
    """A lossy store, for showing that the soak can fail.

    ``save`` hands the write to a background thread and returns at once,
    as a fire-and-forget (write-behind) client does; the thread writes after
    ``lag`` seconds and swallows errors. The response therefore goes out
    before the write is stored, and writes pending while Redis is down (or
    when the worker dies) are silently dropped.
    """

    def __init__(self, url, prefix, lag=0.3):
        self.inner = RedisStore(url, prefix=prefix)
        self.lag = lag
        self.pending = queue.Queue()
        threading.Thread(target=self._writer, daemon=True).start()

    def _writer(self):
        while True:
            due, sid, changes, ttl = self.pending.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                self.inner.save(sid, changes, ttl)
            except Exception:  # fire and forget: nobody hears about the failure
                pass

    def load(self, sid):
        return self.inner.load(sid)

    def save(self, sid, changes, ttl):
        self.pending.put((time.monotonic() + self.lag, sid, dict(changes), ttl))

    def delete(self, sid):
        self.inner.delete(sid)

    def touch(self, sid, ttl):
        self.inner.touch(sid, ttl)


def make_store():
    kind = os.environ["SW_TEST_STORE"]
    if kind == "sqlite":
        return SQLiteStore(os.environ["SW_TEST_SQLITE"])
    if kind == "whole-record":
        return WholeRecordStore(os.environ["SW_TEST_SQLITE"])
    if kind == "redis":
        return RedisStore(os.environ["SW_TEST_REDIS"], prefix=os.environ["SW_TEST_PREFIX"])
    if kind == "postgresql":
        from sessionware.stores import PostgreSQLStore

        return PostgreSQLStore(os.environ["SW_TEST_POSTGRESQL"], table=os.environ["SW_TEST_TABLE"])
    if kind == "fire-and-forget":
        return FireAndForgetStore(os.environ["SW_TEST_REDIS"], os.environ["SW_TEST_PREFIX"])
    raise ValueError(f"unknown SW_TEST_STORE {kind!r}")


DELAY = float(os.environ.get("SW_TEST_DELAY", "0.05"))


def _json(start_response, status, body):
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def bare_app(environ, start_response):
    """The app under the middleware: one small handler per route."""
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    session = environ["session"]
    if path == "/":
        return _json(start_response, "200 OK", "ready")
    if path == "/start":
        session["owner"] = query["owner"]
        session["count"] = 0
        return _json(start_response, "200 OK", {"sid": session.sid})
    if path == "/put":
        seen = sorted(session)  # loads the session now...
        loaded = time.time()
        time.sleep(float(query.get("delay", DELAY)))  # ...so concurrent requests overlap here
        session[query["key"]] = True
        body = {"seen": seen, "pid": os.getpid(), "loaded": loaded, "done": time.time()}
        return _json(start_response, "200 OK", body)
    if path == "/keys":
        return _json(start_response, "200 OK", {"new": session.new, "keys": sorted(session)})
    if path == "/clear":
        session.clear()
        return _json(start_response, "200 OK", "cleared")
    if path in ("/incr", "/peek"):
        if "owner" not in session:
            # The session is gone: say so instead of starting a new count.
            return _json(start_response, "410 Gone", {"owner": None, "count": None})
        if path == "/incr":
            session["count"] += 1
        return _json(
            start_response, "200 OK", {"owner": session["owner"], "count": session["count"]}
        )
    return _json(start_response, "404 Not Found", "no such route")


STORE = make_store()
if os.environ.get("SW_TEST_WARM"):
    # Use the store at import: under --preload that is in gunicorn's master,
    # before it forks the workers (which must not share its connection).
    STORE.load("warm-up")
app = SessionMiddleware(bare_app, SECRET, store=STORE)
