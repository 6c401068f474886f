"""Real servers for the test suite: free ports, redis-server, a Redis Cluster,
Redis behind Sentinel, PostgreSQL.

Import as ``from servers import ...`` (pytest puts ``tests/`` on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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
    "setpriv": "util-linux",
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


# -- Redis behind Sentinel ---------------------------------------------------


def _redis_info(port, section, password=None):
    """``INFO section`` of the server on ``port`` as a dict ({} when down)."""
    import redis

    client = redis.Redis(port=port, password=password, socket_timeout=1, socket_connect_timeout=1)
    try:
        return client.info(section)
    except redis.RedisError:
        return {}
    finally:
        client.close()


class RedisSentinelSet:
    """One master, one replica and three sentinels watching ``service``.

    ``url`` is ``redis+sentinel://[:password@]s1,s2,s3/service``. Failover is
    quick (``down-after-milliseconds`` 1000). ``master_port()`` asks a
    sentinel which server is the master now.
    """

    def __init__(self, directory, *, service="sessions", password=None, sentinels=3):
        self.directory = Path(directory)
        self.service = service
        self.password = password
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        # No delay before a full sync (Redis waits 5 s for more replicas by default).
        auth += ["--repl-diskless-sync-delay", "0"]
        self.master = RedisServer(self.directory / "master", args=auth)
        self.master.password = None  # --requirepass is in args (and masterauth with it)
        self.replica = RedisServer(self.directory / "replica", args=auth)
        self.replica.args += ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels = {}

    @property
    def url(self):
        auth = f":{self.password}@" if self.password else ""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{auth}{hosts}/{self.service}"

    def start(self):
        binary = require_binary("redis-sentinel")
        try:
            self.master.start()
            self.replica.start()
            wait_for(
                lambda: self.in_sync(self.replica),
                timeout=20,
                what="the replica in sync with the master",
            )
            for port in self.sentinel_ports:
                self._start_sentinel(binary, port)
            wait_for(self._sentinels_ready, timeout=30, what="three sentinels seeing each other")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_sentinel(self, binary, port):
        directory = self.directory / f"sentinel-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        conf = directory / "sentinel.conf"
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {directory}",
            f"logfile {directory / 'sentinel.log'}",
            f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 2",
            f"sentinel down-after-milliseconds {self.service} 1000",
            f"sentinel failover-timeout {self.service} 4000",
            f"sentinel parallel-syncs {self.service} 1",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {self.service} {self.password}")
        conf.write_text("\n".join(lines) + "\n")
        self.sentinels[port] = subprocess.Popen(
            [binary, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _sentinel(self, port, *command):
        import redis

        client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return client.execute_command(*command)
        except redis.RedisError:
            return None
        finally:
            client.close()

    def _sentinels_ready(self):
        for port, process in self.sentinels.items():
            if process.poll() is not None:
                raise RuntimeError(f"redis-sentinel on {port} exited with {process.returncode}")
            master = self._sentinel(port, "SENTINEL", "MASTER", self.service)
            if not master:
                return False
            # redis-py parses the reply into a dict (bytes keys and values).
            if int(master.get(b"num-other-sentinels", 0)) < len(self.sentinels) - 1:
                return False
            if int(master.get(b"num-slaves", 0)) < 1:
                return False
        return True

    def in_sync(self, server):
        """Whether ``server`` is a replica whose link to its master is up."""
        info = _redis_info(server.port, "replication", self.password)
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    def master_port(self):
        """The port of the master according to the first sentinel that answers."""
        for port in self.sentinel_ports:
            reply = self._sentinel(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            if reply:
                return int(reply[1])
        return None

    def stop(self):
        for process in self.sentinels.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.sentinels.clear()
        self.replica.stop()
        self.master.stop()

    def __repr__(self):
        return f"RedisSentinelSet({self.url})"


# -- PostgreSQL -------------------------------------------------------------


def postgres_binaries():
    """The directory holding ``initdb`` and ``postgres``: on PATH, else the
    newest Debian ``postgresql`` package's. Skips the test when there is none
    (fails under CI)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    reason = (
        "initdb is not installed (not on PATH or in /usr/lib/postgresql/*/bin); install it: "
        f"apt-get install --no-install-recommends {DEBIAN_PACKAGES['initdb']}"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
    pytest.skip(reason)


def _as_user(user):
    """``(prefix, uid, gid)`` to run a command as ``user`` when we are root
    (PostgreSQL refuses to run as root); no prefix otherwise."""
    if os.geteuid() != 0:
        return [], None, None
    import pwd

    entry = pwd.getpwnam(user)
    setpriv = require_binary("setpriv")
    prefix = [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    return prefix, entry.pw_uid, entry.pw_gid


class PostgreSQLServer:
    """A throw-away PostgreSQL cluster: ``initdb`` into a fresh directory
    under /tmp and ``postgres`` on a free loopback port, run as ``nobody``
    when we are root. Password authentication over TCP (``.url`` carries the
    superuser's password), no durability (fsync off: tests only).

    ``stop()`` then ``start()`` restarts it on the same port with its data.
    """

    def __init__(self, port=None, *, user="nobody", password="pg-Secret-pa55"):
        self.bin = postgres_binaries()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.password = password
        self.prefix, uid, gid = _as_user(user)
        # Not under pytest's tmp dirs: those are root-only (0700), and the
        # server's user must reach its directory.
        self.directory = Path(tempfile.mkdtemp(prefix="sessionware-pg-"))
        self.data = self.directory / "data"
        pwfile = self.directory / "pw"
        pwfile.write_text(password + "\n")
        if uid is not None:
            os.chown(self.directory, uid, gid)
            os.chown(pwfile, uid, gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
            "-N", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        pwfile.unlink()
        self.process = None

    def _run(self, *command):
        result = subprocess.run(
            [*self.prefix, *command], capture_output=True, timeout=120, cwd=self.directory
        )
        if result.returncode:
            raise RuntimeError(
                f"{command[0]} failed ({result.returncode}): "
                + (result.stdout + result.stderr).decode(errors="replace")[-2000:]
            )

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    @property
    def url(self):
        return f"postgresql://postgres:{self.password}@{self.host}:{self.port}/postgres"

    def start(self):
        log = open(self.directory / "postgres.log", "ab")
        try:
            self.process = subprocess.Popen(
                [
                    *self.prefix,
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.directory),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=32MB",
                ],  # fmt: skip
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        try:
            wait_for(self._up, timeout=30, what=f"postgres on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _up(self):
        if self.process.poll() is not None:
            tail = (self.directory / "postgres.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"postgres exited with {self.process.returncode}: {tail}")
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-t", "1"],
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self):
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: clients are cut off
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def psql(self, sql, dbname="postgres"):
        """Run ``sql`` as the superuser over the local socket; return stdout."""
        result = subprocess.run(
            [
                *self.prefix,
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                str(self.directory),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],  # fmt: skip
            capture_output=True,
            timeout=60,
            cwd=self.directory,
        )
        if result.returncode:
            raise RuntimeError(result.stderr.decode(errors="replace"))
        return result.stdout.decode()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.remove()

    def __repr__(self):
        return f"PostgreSQLServer({self.address})"


# -- Counting round trips -----------------------------------------------------


class RoundTripProxy:
    """A TCP proxy on a free port in front of ``(host, port)`` that counts
    round trips: each time a client sends after the server last spoke (or
    first sends), that is one more round trip. Works for any protocol
    (PostgreSQL, Redis), for any client library, as the network sees it.

    ``with RoundTripProxy(host, port) as proxy:`` ... ``proxy.round_trips``;
    ``proxy.reset()`` sets the count back to 0.
    """

    def __init__(self, host, port):
        self.upstream = (host, port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.round_trips = 0
        self._lock = threading.Lock()
        self._sockets = []
        self._closed = False

    def reset(self):
        with self._lock:
            self.round_trips = 0

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"client_turn": False}  # False: the client has not sent yet
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(
                target=self._pump, args=(client, server, state, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, state, False), daemon=True
            ).start()

    def _pump(self, source, target, state, from_client):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                for sock in (source, target):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                return
            with self._lock:
                if from_client and not state["client_turn"]:
                    self.round_trips += 1
                state["client_turn"] = from_client
            try:
                target.sendall(data)
            except OSError:
                return

    def stop(self):
        self.listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
