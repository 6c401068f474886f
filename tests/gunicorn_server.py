"""Real HTTP servers for live tests, each started in a subprocess and torn down after.

``Served`` runs any command that serves HTTP on a port (the demo's
``python -m sessionware demo``, ``python -m http.server``); ``Gunicorn`` is a
real gunicorn with sync workers. Import as ``from gunicorn_server import
Gunicorn, Served`` (``tests/`` is on sys.path).
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


class Served:
    """``command`` serving HTTP on 127.0.0.1:``port``, in its own process group.

    Use as a context manager: it returns once ``ready_path`` answers (any
    status) and stops the whole process group on exit. ``.url`` is the base
    URL; ``.log`` the file the command's stdout and stderr go to.
    """

    #: Whether the command's stdout/stderr go to ``.log`` (gunicorn writes its own).
    capture_output = True

    def __init__(self, command, port, *, env=None, log_dir=None, ready_path="/", name="server"):
        self.command = list(command)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.log = Path(log_dir or "/tmp") / f"{name}-{port}.log"
        self.ready_path = ready_path
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        output = open(self.log, "ab") if self.capture_output else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if self.capture_output else subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if self.capture_output:
                output.close()  # the child holds its own copy
        try:
            wait_for(self._ready, timeout=30, what=f"{self.command[:4]} on {self.url}")
            self._started()
        except BaseException:
            self.stop()
            raise
        return self

    def _started(self):
        """Called once the server answers; subclasses wait for more here."""

    def _ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.command[:4]} exited with {self.process.returncode}:\n{self.log_text()}"
            )
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                response.read()
            return True
        except urllib.error.HTTPError:
            return True  # it answers; the status is the app's business
        except OSError:
            return False

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
        # Children (gunicorn's workers) are in its process group; make sure none is left.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def demo_server(tmp_path, *options):
    """The demo (``python -m sessionware demo``) on a free port, with the
    tests' secret key and ``options`` (``"--store", url``, ...)."""
    from helpers import SECRET

    port = free_port()
    command = [
        sys.executable, "-m", "sessionware", "demo", "--port", str(port),
        "--secret-key", SECRET, *options,
    ]  # fmt: skip
    return Served(command, port, log_dir=tmp_path, name="demo")


class OtherSite(Served):
    """A second site for cross-site browser tests: ``python -m http.server``
    serving the fresh folder ``.directory`` on a free port; pages are written
    there with ``page(name, html)``, reached as ``http://localhost:port/name``
    (localhost and 127.0.0.1 are different sites)."""

    def __init__(self, tmp_path, name="site-b"):
        self.directory = Path(tmp_path) / name
        self.directory.mkdir()
        port = free_port()
        command = [
            sys.executable, "-m", "http.server", str(port),
            "--bind", "127.0.0.1", "--directory", str(self.directory),
        ]  # fmt: skip
        super().__init__(command, port, log_dir=tmp_path, name=name)

    def page(self, name, html):
        (self.directory / name).write_text(html, encoding="utf-8")
        return f"http://localhost:{self.port}/{name}"


class Gunicorn(Served):
    """``gunicorn APP`` on 127.0.0.1 with sync workers.

    ``app`` is a gunicorn app spec (``"module:callable"``); ``pythonpath``
    entries are added so apps under ``tests/`` or ``examples/`` import.
    Use as a context manager; ``.url`` is the base URL, ``.log`` the path of
    gunicorn's error log (worker tracebacks land there).
    """

    capture_output = False

    def __init__(
        self, app, *, workers=2, env=None, pythonpath=(), args=(), log_dir=None, ready_path="/"
    ):
        require_binary("gunicorn")
        self.app = app
        self.workers = workers
        port = free_port()
        log = Path(log_dir or "/tmp") / f"gunicorn-{port}.log"
        command = [
            sys.executable, "-m", "gunicorn", app,
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--pythonpath", ",".join([str(ROOT), str(TESTS), *map(str, pythonpath)]),
            "--error-logfile", str(log),
            "--graceful-timeout", "2",
            "--timeout", "30",
            *args,
        ]  # fmt: skip
        super().__init__(
            command, port, env=env, log_dir=log_dir, ready_path=ready_path, name="gunicorn"
        )

    def _started(self):
        wait_for(
            lambda: len(self.worker_pids()) >= self.workers,
            timeout=30,
            what="all gunicorn workers",
        )

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
