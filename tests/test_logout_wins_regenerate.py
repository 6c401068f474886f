"""Issue 16, item 9: a logout racing a ``regenerate()`` of the same session
wins, as it wins over writes (API.md sections 4 and 11).

A logout (``clear()``, ``invalidate()``, ``clear()`` then a new key) loads
the session; a ``regenerate()`` of the same session then moves it to a new
sid and has it saved, but has not answered yet; the logout answers; then the
regenerate answers with its new cookie. Once the logout answered, no session
carrying the data survives, under the new sid either. Real requests through
the middleware in threads, on every server store and on the cookie store
with ``revocation=`` (the other order, the regenerate running after the
logout answered, is ``test_clear_wins.py``).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from pathlib import Path

import pytest

import race_app
from test_clear_wins import live_records, wsgi_get

NAMES = itertools.count()
KINDS = [
    "memory",
    "sqlite",
    "redis",
    "redis-cluster",
    "postgresql",
    "cookie+memory",
    "cookie+sqlite",
    "cookie+redis",
]


@pytest.fixture(params=KINDS)
def kind(request, tmp_path):
    """``(store, options)`` for the middleware: each server-side store, or
    the cookie store with a revocation store of each kind."""
    from sessionware.stores import MemoryStore, RedisStore, SQLiteStore

    name = request.param
    what = name.partition("+")[2] or name
    closing = []
    if what == "memory":
        store = MemoryStore()
    elif what == "sqlite":
        store = SQLiteStore(tmp_path / "sessions.db")
    elif what == "postgresql":
        pytest.importorskip("psycopg")
        from sessionware.stores import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        store = PostgreSQLStore(server.url, table=f"t_{uuid.uuid4().hex}")
    else:
        server = request.getfixturevalue("redis_server" if what == "redis" else "redis_cluster")
        store = RedisStore(server.url, prefix=f"test:{uuid.uuid4().hex}:")
    closing.append(store)
    if name.startswith("cookie"):
        yield None, {"revocation": store}
    else:
        yield store, {}
    for each in closing:
        if hasattr(each, "close"):
            each.close()


def _cookie(set_cookies):
    return race_app.cookie_of(set_cookies)


def _race(get, gates, how, name):
    """Log in; the logout loads; the regenerate moves and saves; the logout
    answers; the regenerate answers. Returns (problems, every cookie)."""
    gates = Path(gates)
    _, login = get("/login", None)
    cookie = _cookie(login)
    results = {}

    def run(key, path):
        results[key] = get(path, cookie)

    logout = threading.Thread(target=run, args=("logout", f"/stale?op={how}&gate={name}L"))
    regenerate = threading.Thread(target=run, args=("regen", f"/regenerate-then-wait?gate={name}R"))
    logout.start()
    try:
        race_app.wait_for_file(gates / f"{name}L.loaded")
        regenerate.start()
        race_app.wait_for_file(gates / f"{name}R.saved")
    finally:
        (gates / f"{name}L.go").touch()  # the regenerate moved the session: log out
        logout.join(30)
        (gates / f"{name}R.done").touch()  # the logout has answered: answer
        if regenerate.ident is not None:
            regenerate.join(30)
    problems = []
    if set(results) != {"logout", "regen"}:
        return [f"a request did not answer: {sorted(results)}"], [cookie]
    if results["logout"][0] != {"loaded": {"user": "alice"}}:
        problems.append(f"the logout did not load the session: {results['logout'][0]}")
    if results["regen"][0] != {"loaded": {"user": "alice"}}:
        problems.append(f"the regenerate did not load the session: {results['regen'][0]}")
    cookies = [cookie]
    moved = _cookie(results["regen"][1])
    if moved:
        cookies.append(moved)
    for which, value in zip(["the login cookie", "the regenerated cookie"], cookies, strict=False):
        shown, _ = get("/show", value)
        if shown["data"] != {} or not shown["new"]:
            problems.append(f"{which} loads {shown}")
    return problems, cookies


def test_a_logout_wins_over_a_regenerate_that_answers_after_it(kind, tmp_path):
    # The old backend (server stores) checked that the old record was live,
    # then deleted it: a logout between the two never heard of the new sid.
    # The cookie store revoked only the old sid.
    store, options = kind
    middleware = race_app.make_app(store, tmp_path, **options)
    get = wsgi_get(middleware)
    failures = {}
    for how in ("clear", "invalidate", "clear-write"):
        problems, cookies = _race(get, tmp_path, how, f"r{next(NAMES)}")
        if store is not None:
            alive = live_records(store, middleware, cookies)
            if alive:
                problems.append(f"live records remain under {alive}")
        if problems:
            failures[how] = problems
    assert failures == {}


def test_a_logout_and_a_regenerate_running_freely(kind, tmp_path):
    # No gates: both requests start together, many times. Whenever the
    # logout saw the logged-in session, the regenerated cookie is dead once
    # both answered, whichever ran first.
    store, options = kind
    middleware = race_app.make_app(store, tmp_path, **options)
    get = wsgi_get(middleware)
    bad = []
    for attempt in range(15):
        _, login = get("/login", None)
        cookie = _cookie(login)
        results = {}
        start = threading.Barrier(2)

        def run(key, path, cookie=cookie, results=results, start=start):
            start.wait()
            results[key] = get(path, cookie)

        threads = [
            threading.Thread(target=run, args=("logout", "/logout?how=invalidate")),
            threading.Thread(target=run, args=("regen", "/regenerate")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        moved = _cookie(results["regen"][1])
        if moved and results["logout"][0] == {"loaded": {"user": "alice"}}:
            shown, _ = get("/show", moved)
            if shown["data"]:
                bad.append((attempt, shown))
    assert bad == []
