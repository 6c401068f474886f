"""Fault-injection soak: real clients against gunicorn while Redis restarts and
a worker is SIGKILLed.

Each client has its own cookie (its own session) and increments its own
counter; the bookkeeping in :func:`soak` then checks the README's promises
("Choosing a store") under faults: no acknowledged write is lost, no client
sees another's session, failures are loud (5xx, ``StoreError`` in the log)
and the service recovers by itself. A fire-and-forget store run through the same
bookkeeping is caught losing acknowledged writes, so the soak can fail.
"""

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

from gunicorn_server import Gunicorn
from servers import RedisServer

pytestmark = pytest.mark.soak

LIVE = Path(__file__).resolve().parent
CLIENTS = 6
#: The last this many requests of every client must all succeed (recovery).
LAST = 10
#: After a fault ends, failures may go on this long (worker respawn, reconnect).
GRACE = 3.0


@dataclass
class Client:
    """What one client saw: its own session's counter, request by request."""

    id: str
    acked: int = 0  # 2xx increments
    status_5xx: int = 0
    conn_errors: int = 0
    other: int = 0  # any other status, e.g. 410: the session was gone
    cross: int = 0  # answers carrying another client's owner id
    stale: int = 0  # an acked count not above an earlier acked count
    highest: int = 0  # highest count acknowledged
    final: int | None = None
    # (sent, answered, "ok"|"5xx"|"error"|"other"), monotonic times
    outcomes: list = field(default_factory=list)

    @property
    def unacked(self):
        """Attempts without a 2xx answer: each may or may not have been applied."""
        return self.status_5xx + self.conn_errors

    @property
    def lost(self):
        """Acknowledged increments missing from the final count."""
        if self.final is None:
            return max(self.acked, self.highest)
        return max(0, self.acked - self.final, self.highest - self.final)


@dataclass
class Report:
    clients: list
    windows: list  # (start, end) of every fault, monotonic
    elapsed: float

    def total(self, name):
        return sum(getattr(c, name) for c in self.clients)

    @property
    def requests(self):
        return sum(len(c.outcomes) for c in self.clients)

    def failures_outside_faults(self):
        """Failed requests that were not in flight during a fault (or its grace)."""

        def in_fault(sent, answered):
            return any(sent <= end + GRACE and answered >= begin for begin, end in self.windows)

        return [
            (c.id, round(sent, 2), kind)
            for c in self.clients
            for sent, answered, kind in c.outcomes
            if kind != "ok" and not in_fault(sent, answered)
        ]

    def summary(self):
        return (
            f"soak: {self.elapsed:.1f} s, {len(self.clients)} clients, "
            f"{self.requests} requests, {self.total('acked')} 2xx, "
            f"{self.total('status_5xx')} 5xx, {self.total('conn_errors')} connection errors, "
            f"{self.total('other')} other, {self.total('lost')} lost acknowledged writes, "
            f"{self.total('stale')} stale reads, {self.total('cross')} cross-session reads"
        )


def run_client(url, client, deadline, pause):
    with requests.Session() as http:
        start_by = time.monotonic() + 15
        while True:
            try:
                if http.get(url + "/start", params={"owner": client.id}, timeout=10).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < start_by, f"{client.id} could not start a session"
            time.sleep(0.1)
        time.sleep(pause)
        while time.monotonic() < deadline:
            at = time.monotonic()
            try:
                response = http.get(url + "/incr", timeout=10)
            except requests.RequestException:
                client.conn_errors += 1
                client.outcomes.append((at, time.monotonic(), "error"))
                time.sleep(0.05)  # a real client backs off a little
                continue
            if response.ok:
                body = response.json()
                client.acked += 1
                if body["owner"] != client.id:
                    client.cross += 1
                elif body["count"] <= client.highest:
                    client.stale += 1
                client.highest = max(client.highest, body["count"] or 0)
                client.outcomes.append((at, time.monotonic(), "ok"))
                # Jittered, so clients are out of phase with each other.
                time.sleep(pause * random.uniform(0.8, 1.25))
            elif response.status_code >= 500:
                client.status_5xx += 1
                client.outcomes.append((at, time.monotonic(), "5xx"))
                time.sleep(0.05)
            else:
                client.other += 1
                client.outcomes.append((at, time.monotonic(), "other"))
                time.sleep(0.05)
        # The final count, read once the store is healthy again.
        read_by = time.monotonic() + 15
        while client.final is None and time.monotonic() < read_by:
            try:
                response = http.get(url + "/peek", timeout=10)
                if response.ok and response.json()["owner"] == client.id:
                    client.final = response.json()["count"]
                elif response.status_code == 410:
                    client.final = 0  # the whole session is gone
            except requests.RequestException:
                time.sleep(0.1)


def soak(url, *, duration, faults, pause=0.0):
    """Run CLIENTS clients for ``duration`` seconds while ``faults`` fire.

    ``faults`` is a list of ``(seconds after the start, callable)``; each
    callable returns when its fault is over. Returns a :class:`Report`.
    """
    started = time.monotonic()
    deadline = started + duration
    clients = [Client(f"client-{i}") for i in range(CLIENTS)]
    windows = []
    errors = []

    def inject():
        for at, fault in faults:
            time.sleep(max(0.0, started + at - time.monotonic()))
            begin = time.monotonic()
            try:
                fault()
            except BaseException as exc:  # reported by the test, not lost in a thread
                errors.append(exc)
            windows.append((begin, time.monotonic()))

    threads = [threading.Thread(target=run_client, args=(url, c, deadline, pause)) for c in clients]
    threads.append(threading.Thread(target=inject))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    report = Report(clients, windows, time.monotonic() - started)
    print(report.summary())
    return report


def check(report, *, loud_5xx):
    """The promises under faults; ``loud_5xx``: the faults must have produced 5xx."""
    assert len(report.windows) > 0
    for c in report.clients:
        assert c.final is not None, f"{c.id}: the final count could not be read"
        # Unacknowledged attempts may or may not have been applied.
        assert c.acked <= c.final <= c.acked + c.unacked, (
            f"{c.id}: final count {c.final}, {c.acked} acknowledged, {c.unacked} unacknowledged"
        )
        tail = [kind for _, _, kind in c.outcomes[-LAST:]]
        assert tail == ["ok"] * LAST, f"{c.id} did not recover by itself: {tail}"
    assert report.total("lost") == 0
    assert report.total("stale") == 0
    assert report.total("cross") == 0
    assert report.total("other") == 0
    outside = report.failures_outside_faults()
    assert not outside, f"failures outside the fault windows: {outside[:10]}"
    if loud_5xx:
        assert report.total("status_5xx") > 0, "the Redis restart went unnoticed"


@pytest.fixture
def durable_redis(tmp_path):
    """A redis-server of this test, with an fsync'ed append-only file, so
    writes it acknowledged survive a crash and restart (as in production)."""
    args = ["--appendonly", "yes", "--appendfsync", "always"]
    server = RedisServer(tmp_path / "redis", args=args).start()
    client = redis.Redis.from_url(server.url)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        client.close()
    yield server
    server.stop()


def crash_and_restart(server, down=1.0):
    """SIGKILL redis-server, leave it down ``down`` s, start it on the same port."""

    def fault():
        server.process.kill()
        server.process.wait()
        time.sleep(down)
        server.stop()  # reaps the dead process's pipes
        server.start()

    return fault


def kill_worker(gunicorn):
    def fault():
        pid = gunicorn.kill_worker()
        # The fault lasts until the master has replaced the worker.
        deadline = time.monotonic() + 15
        while pid in gunicorn.worker_pids() or len(gunicorn.worker_pids()) < gunicorn.workers:
            assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
            time.sleep(0.05)

    return fault


def serve(tmp_path, store, **env):
    env = {"SW_TEST_STORE": store, "SW_TEST_SQLITE": str(tmp_path / "sessions.db"), **env}
    return Gunicorn("apps:app", workers=3, env=env, pythonpath=[LIVE], log_dir=tmp_path)


def test_soak_redis_restart_and_worker_kill(tmp_path, durable_redis, redis_prefix):
    env = {"SW_TEST_REDIS": durable_redis.url, "SW_TEST_PREFIX": redis_prefix}
    with serve(tmp_path, "redis", **env) as gunicorn:
        report = soak(
            gunicorn.url,
            duration=40,
            faults=[(10, crash_and_restart(durable_redis)), (22, kill_worker(gunicorn))],
        )
        log = gunicorn.log_text()
    check(report, loud_5xx=True)
    assert "StoreError" in log, "the failures were not logged as StoreError"


def test_soak_sqlite_worker_kill(tmp_path):
    with serve(tmp_path, "sqlite") as gunicorn:
        report = soak(
            gunicorn.url,
            duration=40,
            faults=[(10, kill_worker(gunicorn)), (22, kill_worker(gunicorn))],
        )
    check(report, loud_5xx=False)


def test_soak_catches_fire_and_forget_saving(tmp_path, durable_redis, redis_prefix):
    # The control: a store that answers before its write is stored, and
    # drops the writes pending when Redis goes down, must be caught.
    env = {"SW_TEST_REDIS": durable_redis.url, "SW_TEST_PREFIX": redis_prefix}
    with serve(tmp_path, "fire-and-forget", **env) as gunicorn:
        # Clients pause longer than the store's write lag (0.3 s), so that
        # only the faults, not the lag itself, lose writes.
        report = soak(
            gunicorn.url,
            duration=15,
            pause=0.45,
            faults=[
                (4, crash_and_restart(durable_redis)),
                (8, kill_worker(gunicorn)),
                (10, crash_and_restart(durable_redis)),
            ],
        )
    assert report.total("lost") > 0, "the soak did not notice fire-and-forget saving"
