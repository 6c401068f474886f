"""A real gunicorn for live tests: started in a subprocess, torn down after.

Import as ``from gunicorn_server import Gunicorn`` (``tests/`` is on sys.path).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from servers import free_port, require_binary, wait_for

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


class Gunicorn:
    """``gunicorn APP`` on 127.0.0.1 with sync workers.

    ``app`` is a gunicorn app spec (``"module:callable"``); ``pythonpath``
    entries are added so apps under ``tests/`` or ``examples/`` import.
    Use as a context manager; ``.url`` is the base URL, ``.log`` the path of
    gunicorn's error log (worker tracebacks land there).
    """

    def __init__(
        self, app, *, workers=2, env=None, pythonpath=(), args=(), log_dir=None, ready_path="/"
    ):
        require_binary("gunicorn")
        self.app = app
        self.workers = workers
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        self.pythonpath = [str(ROOT), str(TESTS), *map(str, pythonpath)]
        self.args = list(args)
        self.log = Path(log_dir or "/tmp") / f"gunicorn-{self.port}.log"
        self.ready_path = ready_path
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        command = [
            sys.executable, "-m", "gunicorn", self.app,
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers),
            "--worker-class", "sync",
            "--pythonpath", ",".join(self.pythonpath),
            "--error-logfile", str(self.log),
            "--graceful-timeout", "2",
            "--timeout", "30",
            *self.args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(self._ready, timeout=30, what=f"gunicorn {self.app} on {self.url}")
            wait_for(
                lambda: len(self.worker_pids()) >= self.workers,
                timeout=30,
                what="all gunicorn workers",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {self.process.returncode}:\n{self.log_text()}"
            )
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                response.read()
            return True
        except urllib.error.HTTPError:
            return True  # it answers; the status is the app's business
        except OSError:
            return False

    def worker_pids(self):
        """PIDs of the live workers (children of the master)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def kill_worker(self):
        """SIGKILL one worker; the master starts a replacement. Returns its PID."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def answer_from_two_workers(self, request_pid, attempts=60):
        """Call ``request_pid()`` (a request plus its assertions, returning the
        pid of the worker that answered) until two workers have answered.

        Sync workers close every connection, so the kernel spreads requests
        over the workers; if one happens to take them all, it is killed half
        way (its pid stays counted), so that another process has to answer.
        """
        seen = set()
        for attempt in range(attempts):
            seen.add(request_pid())
            if len(seen) >= 2:
                return seen
            if attempt == attempts // 2:
                os.kill(next(iter(seen)), signal.SIGKILL)
                wait_for(lambda: len(self.worker_pids()) >= 2, what="a new worker")
        raise AssertionError(f"only one worker ever answered: {seen}")

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self):
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # gunicorn's workers are in its process group; make sure none is left.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
