"""One SQLite file, three stores in each of three gunicorn workers (#16):
an app, its admin app and a revocation store. Whichever worker and app
answer, every logout is seen by all of them, by a process that opens the
file afresh, and by workers started later, while ``sessionware cleanup``
runs again and again."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from gunicorn_server import Gunicorn
from servers import wait_for

pytestmark = pytest.mark.slow
LIVE = Path(__file__).resolve().parent
MOUNTS = ("app", "admin")


def cleanup(path):
    result = subprocess.run(
        [sys.executable, "-m", "sessionware", "cleanup", "--store", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def users(server, cookie, attempts=80):
    """``{(pid, mount): user}`` from requests with ``cookie`` to both apps,
    until two workers have answered on each. Should one worker take every
    request, it is killed half way (a new one replaces it), as in
    ``Gunicorn.answer_from_two_workers``."""
    seen = {}
    for attempt in range(attempts):
        mount = MOUNTS[attempt % 2]
        response = requests.get(
            f"{server.url}/{mount}/show", cookies={"session": cookie}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen[body["pid"], mount] = body["user"]
        pids = [{pid for pid, m in seen if m == mount} for mount in MOUNTS]
        if min(map(len, pids)) >= 2:
            return seen
        if attempt == attempts // 2:
            os.kill(body["pid"], signal.SIGKILL)
            wait_for(lambda: len(server.worker_pids()) >= 3, what="a new worker")
    raise AssertionError(f"not two workers on each app: {seen}")


def records(path):
    """Session ids a fresh process reads from the file."""
    result = subprocess.run(
        [
            sys.executable, "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(sorted(r[0] for r in c.execute('SELECT sid FROM sessionware_sessions')))",
            str(path),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_worker_and_app_sees_every_logout_while_cleanup_runs(tmp_path):
    path = tmp_path / "sessions.db"
    env = {"SW_TEST_SQLITE": str(path)}
    stop = threading.Event()
    failures = []

    def clean_all_the_time():
        while not stop.is_set():
            try:
                cleanup(path)
            except BaseException as exc:  # reported below
                failures.append(exc)
                return

    cleaner = threading.Thread(target=clean_all_the_time)
    with Gunicorn(
        "shared_file_app:app", workers=3, env=env, pythonpath=[LIVE], log_dir=tmp_path
    ) as server:
        try:
            cleanup(path)  # with every worker's three stores open
            cleaner.start()
            for r in range(6):
                login = requests.get(f"{server.url}/{MOUNTS[r % 2]}/login", timeout=30)
                cookie = login.cookies["session"]
                seen = users(server, cookie)
                assert set(seen.values()) == {"alice"}, seen
                how = ("clear", "invalidate")[r % 2]
                logout = requests.get(
                    f"{server.url}/{MOUNTS[(r + 1) % 2]}/logout?how={how}",
                    cookies={"session": cookie},
                    timeout=30,
                )
                assert logout.json()["user"] is None
                seen = users(server, cookie)  # the old cookie, replayed
                assert set(seen.values()) == {None}, f"logged out, yet {seen}"
                assert records(path) == "[]"
                if r == 2:
                    server.kill_worker()  # a worker started now sees the same
        finally:
            stop.set()
            if cleaner.is_alive():
                cleaner.join()
        assert failures == []
        assert "Traceback" not in server.log_text()
