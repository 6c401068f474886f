"""``memory://`` under a real ``gunicorn -w 2`` (the demo app, no
``--preload``: each worker builds its own store) warns once per worker,
naming the stores that share sessions; under ``-w 1`` it stays silent."""

import pytest
import requests

from gunicorn_server import Gunicorn
from helpers import SECRET


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_memory_store_warns_under_several_workers(workers, tmp_path):
    env = {"SESSIONWARE_SECRET_KEY": SECRET, "SESSIONWARE_STORE": "memory://"}
    with Gunicorn(
        "sessionware._demo:app",
        workers=workers,
        env=env,
        log_dir=tmp_path,
        args=["--capture-output"],  # the workers' stderr (warnings) into the log
    ) as server:
        with requests.Session() as http:
            for _ in range(6):
                assert http.get(server.url + "/", timeout=10).ok
        log = server.log_text()
    warned = log.count("SessionWarning: MemoryStore keeps sessions inside one process")
    if workers == 1:
        assert warned == 0, log
    else:
        assert 1 <= warned <= workers, log  # once per worker that answered
        assert "SQLiteStore (sqlite:///path), RedisStore" in log
    assert "Traceback" not in log
