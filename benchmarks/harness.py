"""Driving WSGI apps in process: the environ, the timed loops, the scenario apps.

Every benchmark here calls a WSGI app directly (no server, no test client):
a small GET environ, copied per request; a no-op ``start_response``; the
returned iterable consumed and closed, as a server does. A *contender* is one
session setup with the same small app for each scenario. Uses only
sessionware's public API, so it can drive any version of the package
(``compare_trees.py`` relies on that).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import SEED

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
SCENARIOS = ("untouched", "read", "modify", "new")
LABELS = {
    "untouched": "(a) never touched, valid cookie",
    "read": "(b) read-only, valid cookie",
    "modify": "(c) read + modify + save",
    "new": "(d) new session saved, no cookie",
}
MAX_AGE = 31 * 24 * 3600
#: The payload every scenario's cookie carries: the seed plus the counter (c) bumps.
PAYLOAD = {**SEED, "counter": 0}


# -- driving a WSGI app --------------------------------------------------------


def _write(data: bytes) -> None:
    pass


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _write


def make_environ(path: str = "/", cookie: str | None = None) -> dict[str, Any]:
    """A minimal GET environ; each request gets a shallow copy of it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    return environ


def run_requests(
    app: WSGIApp,
    environ: dict[str, Any],
    number: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds for ``number`` requests, as a server would make them (by
    ``clock``: wall time, or ``time.process_time`` for CPU time)."""
    copy = environ.copy
    start_response = _start_response
    start = clock()
    for _ in range(number):
        result = app(copy(), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return clock() - start


def run_calls(function: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        function()
    return time.perf_counter() - start


def first_cookie(app: WSGIApp, environ: dict[str, Any]) -> str:
    """``name=value`` of the first Set-Cookie the app sends for ``environ``."""
    captured: list[tuple[str, str]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured.extend(headers)
        return _write

    result = app(environ.copy(), start_response)
    try:
        for _chunk in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    for name, value in captured:
        if name.lower() == "set-cookie":
            return value.split(";", 1)[0]
    raise RuntimeError(f"no Set-Cookie from {app!r}: {captured}")


# -- timing ----------------------------------------------------------------------


class Timer:
    """Best-of and median per-call time (µs) of many loops, timeit-style.

    Loops are registered with :meth:`request`/:meth:`call`, then :meth:`run`
    calibrates each (as ``timeit.autorange``) and takes the repeats round-robin
    over all of them, so a burst of load from other processes hits every
    contender alike instead of skewing one of them.
    """

    def __init__(self, repeat: int, min_time: float) -> None:
        self.repeat = repeat
        self.min_time = min_time
        self.loops: dict[Any, Callable[[int], float]] = {}

    def request(self, key: Any, app: WSGIApp, environ: dict[str, Any]) -> None:
        self.loops[key] = lambda n: run_requests(app, environ, n)

    def call(self, key: Any, function: Callable[[], object]) -> None:
        self.loops[key] = lambda n: run_calls(function, n)

    def calibrate(self, loop: Callable[[int], float]) -> int:
        """The number of calls of ``loop`` that take at least ``min_time``."""
        loop(20)  # warm up (first-call caches, lazy imports, script loading)
        number = 1
        while True:
            elapsed = loop(number)
            if elapsed >= self.min_time:
                return number
            number = max(number * 2, int(number * self.min_time / max(elapsed, 1e-9) * 1.1))

    def samples(
        self, progress: Callable[[str], None], numbers: dict[Any, int] | None = None
    ) -> tuple[dict[Any, int], dict[Any, list[float]]]:
        """Loop counts (calibrated unless given) and the seconds per call of every repeat."""
        numbers = dict(numbers or {})
        for key, loop in self.loops.items():
            if key not in numbers:
                progress(f"calibrating {key}")
                numbers[key] = self.calibrate(loop)
        samples: dict[Any, list[float]] = {key: [] for key in self.loops}
        for index in range(self.repeat):
            progress(f"repeat {index + 1}/{self.repeat}")
            for key, loop in self.loops.items():
                samples[key].append(loop(numbers[key]) / numbers[key])
        return numbers, samples

    def run(self, progress: Callable[[str], None]) -> dict[Any, tuple[float, float]]:
        """Best-of and median µs per call of every loop."""
        _, samples = self.samples(progress)
        return {
            key: (min(values) * 1e6, statistics.median(values) * 1e6)
            for key, values in samples.items()
        }


# -- the scenario apps and contenders ------------------------------------------------


def _no_save(session: Any) -> None:
    """Sessions that save themselves at the end of the request (sessionware, Flask)."""


def wsgi_apps(key: str, save: Callable[[Any], None] = _no_save) -> dict[str, WSGIApp]:
    """One plain WSGI app per scenario (and ``setup``), using ``environ[key]`` as the session.

    Each is written out in full (no shared helper call), so the bare app's
    time is the least a WSGI app costs here.
    """

    def untouched(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def read(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ[key]["username"].encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    def modify(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        session = environ[key]
        session["counter"] = session.get("counter", 0) + 1
        save(session)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def new(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        session = environ[key]
        session.update(SEED)
        save(session)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def setup(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        session = environ[key]
        session.update(PAYLOAD)
        save(session)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return {"untouched": untouched, "read": read, "modify": modify, "new": new, "setup": setup}


class Contender:
    """One session setup: each scenario's app and the cookie its ``setup`` minted."""

    def __init__(self, name: str, apps: dict[str, WSGIApp], *, flask: bool = False) -> None:
        self.name = name
        self.flask = flask
        self.apps = apps
        self.cookie = first_cookie(apps["setup"], self.environ("setup", None))

    @classmethod
    def wrapping(
        cls,
        name: str,
        wrap: Callable[[WSGIApp], WSGIApp],
        key: str = "session",
        save: Callable[[Any], None] = _no_save,
    ) -> Contender:
        """The plain WSGI apps, each wrapped by ``wrap`` (a session middleware)."""
        return cls(name, {s: wrap(app) for s, app in wsgi_apps(key, save).items()})

    @classmethod
    def of_flask(cls, name: str, app: Any) -> Contender:
        """A Flask app with one route per scenario (see ``scenarios.flask.flask_app``)."""
        return cls(name, dict.fromkeys((*SCENARIOS, "setup"), app), flask=True)

    def environ(self, scenario: str, cookie: str | None) -> dict[str, Any]:
        return make_environ(f"/{scenario}" if self.flask else "/", cookie)

    def scenario(self, scenario: str) -> tuple[WSGIApp, dict[str, Any]]:
        """The app and environ of one scenario (no cookie for ``new``)."""
        cookie = None if scenario == "new" else self.cookie
        return self.apps[scenario], self.environ(scenario, cookie)

    def baseline(self) -> tuple[WSGIApp, dict[str, Any]]:
        """The same Flask app on a route that never touches the session, no cookie."""
        return self.apps["untouched"], self.environ("untouched", None)


# -- Redis round trips -----------------------------------------------------------


def count_round_trips(app: WSGIApp, environ: dict[str, Any], requests: int = 50) -> float:
    """Redis round trips per request, counted client-side.

    redis-py sends each command, or each pipeline/transaction batch, with one
    ``send_packed_command`` call and then waits for the reply, so counting
    those calls counts round trips (every client here uses redis-py).
    """
    import redis.connection

    cls = redis.connection.AbstractConnection
    original = cls.send_packed_command
    calls = 0

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    run_requests(app, environ, 5)  # connect, load scripts
    cls.send_packed_command = counting  # type: ignore[method-assign]
    try:
        run_requests(app, environ, requests)
    finally:
        cls.send_packed_command = original  # type: ignore[method-assign]
    return calls / requests


def progress(text: str) -> None:
    """A progress line on stderr (stdout carries only the report)."""
    print(f"  {text}…", file=sys.stderr, flush=True)
