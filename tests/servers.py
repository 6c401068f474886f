"""Real servers for the test suite: free ports, redis-server, a Redis Cluster.

Import as ``from servers import ...`` (pytest puts ``tests/`` on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: The Debian packages that provide each binary the tests run, named in the
#: skip message. Binaries not listed come with the test extra (pip).
DEBIAN_PACKAGES = {
    "redis-server": "redis-server",
    "redis-cli": "redis-tools",
    "redis-sentinel": "redis-sentinel",
    "chromium": "chromium chromium-driver",
    "chromedriver": "chromium chromium-driver",
    "initdb": "postgresql",
    "pg_ctl": "postgresql",
    "postgres": "postgresql",
}


def require_binary(name, package=None):
    """Return the path of executable ``name``; skip the test when it is
    missing, except on CI (``CI`` set), where a missing binary fails it.

    The directory of the running interpreter is searched first, so a
    virtualenv's own scripts (gunicorn) are found without activating it.
    ``package`` names what to install (default: :data:`DEBIAN_PACKAGES`).
    """
    path = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if path is None:
        package = package or DEBIAN_PACKAGES.get(name)
        fix = (
            f"apt-get install --no-install-recommends {package}"
            if package
            else 'pip install -e ".[test]"'
        )
        reason = f"{name} is not installed (not on PATH); install it: {fix}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port():
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        if _port_is_free(port) and _port_is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def wait_for(condition, timeout=10.0, what="condition"):
    """Poll ``condition()`` until it is truthy; raise after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _ping(port, host="127.0.0.1"):
    """True when a Redis server answers on the port (NOAUTH counts as up)."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


class RedisServer:
    """One ``redis-server`` subprocess on 127.0.0.1, no persistence.

    ``start()`` waits until it answers PING; ``stop()`` then ``start()``
    again restarts it on the same port (empty, for "Redis down" tests).
    """

    def __init__(self, directory, port=None, *, password=None, args=()):
        self.directory = Path(directory)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.password = password
        self.args = list(args)
        self.process = None

    @property
    def url(self):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self):
        binary = require_binary("redis-server")
        command = [
            binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / f"redis-{self.port}.log"),
            *self.args,
        ]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password]
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for(self._up, what=f"redis-server on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _up(self):
        if self.process.poll() is not None:
            err = self.process.stderr.read().decode(errors="replace")
            log = self.directory / f"redis-{self.port}.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server exited with {self.process.returncode}: {err}{tail}")
        return _ping(self.port, self.host)

    def stop(self):
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return f"RedisServer({self.address})"


class RedisClusterServers:
    """``n`` cluster-enabled redis-server masters (no replicas) forming one
    cluster; ``url`` is ``redis+cluster://`` naming the first node."""

    def __init__(self, directory, n=3):
        self.directory = Path(directory)
        self.nodes = []
        for _ in range(n):
            port = free_cluster_port()
            args = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "2000",
            ]  # fmt: skip
            self.nodes.append(RedisServer(self.directory / str(port), port, args=args))

    @property
    def url(self):
        return f"redis+cluster://{self.nodes[0].address}"

    @property
    def addresses(self):
        return [node.address for node in self.nodes]

    def start(self):
        cli = require_binary("redis-cli")
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [cli, "--cluster", "create", *self.addresses, "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for node in self.nodes:
                wait_for(
                    lambda node=node: self._cluster_ok(cli, node),
                    timeout=30,
                    what=f"cluster_state:ok on {node.address}",
                )
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _cluster_ok(cli, node):
        result = subprocess.run(
            [cli, "-p", str(node.port), "cluster", "info"], capture_output=True, timeout=10
        )
        return b"cluster_state:ok" in result.stdout

    def stop(self):
        for node in self.nodes:
            node.stop()

    def __repr__(self):
        return f"RedisClusterServers({','.join(self.addresses)})"


@contextlib.contextmanager
def redis_cluster(tmpdir, n=3):
    """Start an ``n``-master Redis Cluster under ``tmpdir``; stop it on exit."""
    cluster = RedisClusterServers(tmpdir, n).start()
    try:
        yield cluster
    finally:
        cluster.stop()
