"""Issue 8, class 3: clear()/invalidate() always win (API.md section 4).

Two requests of one session both load it; the first logs out (``clear()``,
``invalidate()``, or ``clear()`` then a new key) and answers;
only then the second changes ``permanent``, adds a key, clears then writes,
or regenerates. Nothing the second wrote may survive under the session, and
the cleared session never comes back: a later request with either cookie is
a new empty session. Real requests through the middleware in two threads,
on every server store; the gunicorn half is ``live/test_clear_wins_live.py``.
"""

from __future__ import annotations

import itertools
import json

import pytest
from werkzeug.test import Client

import race_app
from sessionware._backends.liveness import MARKER, is_tombstone
from sessionware._signing import KeyRing

NAMES = itertools.count()


@pytest.fixture
def store(server_store):
    """Each server-side store in turn (conftest's ``server_store``)."""
    return server_store


def wsgi_get(middleware):
    def get(path, cookie):
        client = Client(middleware, use_cookies=False)
        headers = {"Cookie": f"session={cookie}"} if cookie else {}
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_data()
        return json.loads(response.get_data()), response.headers.getlist("Set-Cookie")

    return get


def live_records(store, middleware, cookies):
    """The sids among ``cookies`` whose record is still live in the store
    (it carries the backend's liveness marker and is no tombstone left by a
    move or a logout, so it would load)."""
    keys = KeyRing(middleware.backend.config.secret_keys, "sessionware.sid")
    sids = [keys.unsign(cookie, 10**6)[0].decode().rstrip("+") for cookie in cookies]
    records = {sid: store.load(sid) or {} for sid in sids}
    return [sid for sid, r in records.items() if MARKER in r and not is_tombstone(r)]


def test_a_logout_wins_over_every_stale_write(store, tmp_path):
    # The old backend rewrote the liveness marker when `permanent` changed,
    # and a regenerate (or a clear() then a write) re-created the record
    # under a fresh sid: either way the logged-out session came back.
    middleware = race_app.make_app(store, tmp_path)
    get = wsgi_get(middleware)
    failures = {}
    for how in race_app.LOGOUTS:
        for op in race_app.OPS:
            problems, cookies = race_app.race(get, tmp_path, how, op, f"race{next(NAMES)}")
            alive = live_records(store, middleware, cookies)
            if alive:
                problems.append(f"live records remain under {alive}")
            if problems:
                failures[f"{how} then {op}"] = problems
    assert failures == {}
