"""Issue 8, class 1 under real gunicorn: one 64 KiB Cookie header (the
largest gunicorn lets through once its 8 KiB field limit is lifted) is
answered at once, and the worker's peak memory barely moves.

The old parser copied the rest of the header for every ``session=``: one
unauthenticated 64 KiB request cost the worker hundreds of MiB.
"""

from pathlib import Path

import pytest
import requests

from gunicorn_server import Gunicorn

LIVE = Path(__file__).resolve().parent
KIB = 1024
BOMBS = {
    "session= repeated": ("session= " * 8000)[: 64 * KIB],
    "tiny pairs": ("session=x;" + "ab;" * 22000)[: 64 * KIB],
    "junk values": ("session=ab;" * 6000)[: 64 * KIB],
}

pytestmark = pytest.mark.slow


def peak_rss(pid):
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.fixture
def server(tmp_path):
    env = {"SW_TEST_STORE": "sqlite", "SW_TEST_SQLITE": str(tmp_path / "sessions.db")}
    # gunicorn refuses header fields over 8190 bytes unless told otherwise
    # (0 means the default too); a deployment that raises the limit must not
    # become a way to take workers down.
    args = ["--limit-request-field_size", str(70 * KIB)]
    with Gunicorn(
        "apps:app", workers=1, env=env, pythonpath=[LIVE], args=args, log_dir=tmp_path
    ) as gunicorn:
        yield gunicorn


def test_a_64_kib_bomb_is_answered_at_once_and_the_worker_stays_small(server):
    (pid,) = server.worker_pids()
    with requests.Session() as http:
        start = http.get(server.url + "/start", params={"owner": "victim"}, timeout=10)
        victim = start.cookies["session"]
    baseline = peak_rss(pid)
    for name, bomb in BOMBS.items():
        assert len(bomb) == 64 * KIB
        for _ in range(3):
            response = requests.get(server.url + "/keys", headers={"Cookie": bomb}, timeout=10)
            assert response.status_code == 200, (name, server.log_text())
            assert response.json() == {"new": True, "keys": []}, name
            assert response.elapsed.total_seconds() < 1.0, name
    grown = peak_rss(pid) - baseline
    # A few copies of each header at most, with room for the allocator.
    assert grown < 16 * 1024 * 1024, f"the worker's peak memory grew by {grown >> 20} MiB"
    for name, bomb in BOMBS.items():
        # The same bomb in front of the victim's cookie still loads it.
        cookie = f"{bomb}; session={victim}"
        response = requests.get(server.url + "/keys", headers={"Cookie": cookie}, timeout=10)
        assert response.json() == {"new": False, "keys": ["count", "owner"]}, name
    assert server.worker_pids() == [pid], "the worker was replaced"
    assert "Traceback" not in server.log_text()
