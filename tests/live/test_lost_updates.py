"""No lost updates between keys, proved through real gunicorn workers.

Many concurrent requests of ONE session each set their own key; every
request loads the session, sleeps, then saves, so they overlap across the
three worker processes. Every key must survive (the README's "Choosing a
store": concurrent requests that change different keys both keep them). A
deliberately whole-record store run through the same test loses keys, which
shows the test can fail.
"""

import threading
import time
from pathlib import Path

import pytest
import requests

from gunicorn_server import Gunicorn

LIVE = Path(__file__).resolve().parent
REQUESTS = 60
THREADS = 12


def serve(tmp_path, store, **env):
    env = {"SW_TEST_STORE": store, "SW_TEST_SQLITE": str(tmp_path / "sessions.db"), **env}
    return Gunicorn("apps:app", workers=3, env=env, pythonpath=[LIVE], log_dir=tmp_path)


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def server(request, tmp_path):
    env = {}
    if request.param == "postgresql":
        pytest.importorskip("psycopg")
        env = {
            "SW_TEST_POSTGRESQL": request.getfixturevalue("postgresql_server").url,
            "SW_TEST_TABLE": request.getfixturevalue("pg_table"),
            # Each worker connects (password auth) before serving, so that no
            # timed request pays for it.
            "SW_TEST_WARM": "1",
        }
    if request.param == "redis":
        redis_server = request.getfixturevalue("redis_server")
        env = {
            "SW_TEST_REDIS": redis_server.url,
            "SW_TEST_PREFIX": request.getfixturevalue("redis_prefix"),
        }
    with serve(tmp_path, request.param, **env) as gunicorn:
        yield gunicorn


@pytest.fixture
def whole_record_server(tmp_path):
    with serve(tmp_path, "whole-record") as gunicorn:
        yield gunicorn


def start_session(url):
    """The session cookie after a first request that creates the session."""
    with requests.Session() as client:
        response = client.get(url + "/start", params={"owner": "lost-updates"}, timeout=10)
        response.raise_for_status()
        return client.cookies["session"]


def in_threads(url, cookie, paths, threads=THREADS):
    """GET every path with ``cookie``, ``threads`` at a time; return the JSON bodies."""
    todo = list(enumerate(paths))
    results = [None] * len(todo)
    lock = threading.Lock()

    def worker():
        with requests.Session() as client:
            while True:
                with lock:
                    if not todo:
                        return
                    index, path = todo.pop(0)
                response = client.get(url + path, cookies={"session": cookie}, timeout=30)
                response.raise_for_status()
                results[index] = response.json()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert None not in results, "some request did not complete (see the thread's traceback)"
    return results


def keys(url, cookie):
    response = requests.get(url + "/keys", cookies={"session": cookie}, timeout=10)
    response.raise_for_status()
    return response.json()


def overlapping_pairs(results):
    return sum(
        1
        for i, a in enumerate(results)
        for b in results[i + 1 :]
        if a["pid"] != b["pid"] and a["loaded"] < b["done"] and b["loaded"] < a["done"]
    )


def put_keys(url):
    """Send the overlapping puts; return (expected keys, stored keys, seconds)."""
    cookie = start_session(url)
    wanted = {f"k{i}" for i in range(REQUESTS)}
    started = time.monotonic()
    results = in_threads(url, cookie, [f"/put?key={key}" for key in sorted(wanted)])
    elapsed = time.monotonic() - started
    # The puts did overlap in different processes (load-to-save windows
    # intersect), or every key would trivially survive.
    assert overlapping_pairs(results) > 0, "no two requests overlapped in different workers"
    stored = set(keys(url, cookie)["keys"]) - {"owner", "count"}
    return wanted, stored, elapsed


def test_concurrent_writes_to_different_keys_all_survive(server):
    wanted, stored, elapsed = put_keys(server.url)
    print(f"{REQUESTS} overlapping puts in {elapsed:.2f} s; {len(stored)} keys stored")
    assert stored == wanted, f"lost keys: {sorted(wanted - stored)}"


def test_whole_record_store_loses_keys(whole_record_server):
    # The control: the same test against a last-writer-wins whole-record
    # store must lose keys, otherwise the test above proves nothing.
    wanted, stored, _ = put_keys(whole_record_server.url)
    lost = wanted - stored
    print(f"whole-record store lost {len(lost)} of {REQUESTS} keys")
    assert stored <= wanted
    assert lost, "a last-writer-wins store lost nothing: the requests did not overlap"


def test_clear_wins_over_racing_writes(server):
    url = server.url
    cookie = start_session(url)
    results = {}

    def put(key):
        response = requests.get(
            url + f"/put?key={key}&delay=1.5", cookies={"session": cookie}, timeout=30
        )
        results[key] = (time.monotonic(), response.status_code, response.json())

    # Two puts load the session, then sleep 1.5 s before saving (room for a
    # slow clear on a busy machine); the clear is answered while they sleep;
    # their saves arrive after it.
    puts = [threading.Thread(target=put, args=(f"late{i}",)) for i in range(2)]
    for thread in puts:
        thread.start()
    time.sleep(0.2)
    with requests.Session() as client:
        client.cookies.set("session", cookie)
        cleared = client.get(url + "/clear", timeout=10)
    cleared_at = time.monotonic()
    for thread in puts:
        thread.join()

    assert sorted(results) == ["late0", "late1"], "a racing put did not complete"
    assert cleared.status_code == 200
    assert "Max-Age=0" in cleared.headers["Set-Cookie"]
    for key, (done_at, status, body) in results.items():
        assert status == 200
        assert "owner" in body["seen"], f"{key} loaded after the clear; the race was not run"
        assert done_at > cleared_at, f"{key} finished before the clear; the race was not run"
    after = keys(url, cookie)
    assert after == {"new": True, "keys": []}, "a write racing clear() resurrected the session"
