"""Per-request cost of sessionware, in-process, against Flask's session and Beaker.

Run: ``python benchmarks/bench_requests.py [--quick] [--markdown]``

Every WSGI app is called directly with a small prepared environ (copied per
request) and a no-op ``start_response``; the returned iterable is consumed
and closed, as a server does. Times are per request, in microseconds: the
best of R repeats (the ``timeit`` convention: the minimum is the code, the
rest is other processes) and the median of the same repeats. Overheads and
PASS/FAIL use the best-of figures. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
from itsdangerous import TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from _common import SECRET, SEED, TESTS, machine_lines, table, verdict  # noqa: E402

from sessionware import SessionMiddleware  # noqa: E402
from sessionware.stores import MemoryStore, RedisStore, SQLiteStore  # noqa: E402

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


def run_requests(app: WSGIApp, environ: dict[str, Any], number: int) -> float:
    """Seconds for ``number`` requests, as a server would make them."""
    copy = environ.copy
    start_response = _start_response
    start = time.perf_counter()
    for _ in range(number):
        result = app(copy(), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - start


def run_calls(function: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        function()
    return time.perf_counter() - start


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

    def _calibrate(self, loop: Callable[[int], float]) -> int:
        loop(20)  # warm up (first-call caches, lazy imports, script loading)
        number = 1
        while True:
            elapsed = loop(number)
            if elapsed >= self.min_time:
                return number
            number = max(number * 2, int(number * self.min_time / max(elapsed, 1e-9) * 1.1))

    def run(self, progress: Callable[[str], None]) -> dict[Any, tuple[float, float]]:
        numbers = {}
        for key, loop in self.loops.items():
            progress(f"calibrating {key}")
            numbers[key] = self._calibrate(loop)
        samples: dict[Any, list[float]] = {key: [] for key in self.loops}
        for index in range(self.repeat):
            progress(f"repeat {index + 1}/{self.repeat}")
            for key, loop in self.loops.items():
                samples[key].append(loop(numbers[key]) / numbers[key])
        return {
            key: (min(values) * 1e6, statistics.median(values) * 1e6)
            for key, values in samples.items()
        }


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


# -- the apps ------------------------------------------------------------------


def wsgi_apps(key: str, save: Callable[[Any], None] = lambda session: None) -> dict[str, WSGIApp]:
    """One plain WSGI app per scenario, using ``environ[key]`` as the session."""

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


def flask_app(configure: Callable[[Any], None] | None = None) -> Any:
    """A Flask app with one route per scenario; ``configure`` adds a session backend."""
    import flask

    app = flask.Flask("bench")
    app.secret_key = SECRET
    session = flask.session

    @app.route("/untouched")
    def untouched() -> str:
        return "ok"

    @app.route("/read")
    def read() -> str:
        return str(session["username"])

    @app.route("/modify")
    def modify() -> str:
        session["counter"] = session.get("counter", 0) + 1
        return "ok"

    @app.route("/new")
    def new() -> str:
        session.update(SEED)
        return "ok"

    @app.route("/setup")
    def setup() -> str:
        session.update(PAYLOAD)
        return "ok"

    if configure is not None:
        configure(app)
    return app


def flask_sessionware(store: Any = None) -> Callable[[Any], None] | None:
    """Configures Flask with ``sessionware.flask.Sessionware``; None if not there yet."""
    try:
        from sessionware.flask import Sessionware
    except ImportError:
        return None

    def configure(app: Any) -> None:
        if store is not None:
            app.config["SESSIONWARE_STORE"] = store
        Sessionware(app)

    return configure


def beaker_cookie(app: WSGIApp) -> WSGIApp:
    from beaker.middleware import SessionMiddleware as BeakerMiddleware

    config = {"session.type": "cookie", "session.validate_key": SECRET, "session.key": "session"}
    return BeakerMiddleware(app, config)  # type: ignore[no-any-return]


def beaker_save(session: Any) -> None:
    session.save()


class Contender:
    """One session setup: how to build each scenario's app and its cookie."""

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
        key: str,
        save: Callable[[Any], None] = lambda session: None,
    ) -> Contender:
        return cls(name, {s: wrap(app) for s, app in wsgi_apps(key, save).items()})

    @classmethod
    def of_flask(cls, name: str, app: Any) -> Contender:
        return cls(name, dict.fromkeys((*SCENARIOS, "setup"), app), flask=True)

    def environ(self, scenario: str, cookie: str | None) -> dict[str, Any]:
        return make_environ(f"/{scenario}" if self.flask else "/", cookie)

    def scenario(self, scenario: str) -> tuple[WSGIApp, dict[str, Any]]:
        cookie = None if scenario == "new" else self.cookie
        return self.apps[scenario], self.environ(scenario, cookie)


# -- the codec floor -------------------------------------------------------------


def codec_floor(timer: Timer) -> None:
    """Registers the bare codec work for the payload: sign/unsign, msgpack, base64."""
    derived = TimestampSigner(
        SECRET, salt="sessionware.cookie", digest_method=hashlib.sha256
    ).derive_key()
    signer = TimestampSigner(
        derived, salt="sessionware.cookie", digest_method=hashlib.sha256, key_derivation="none"
    )
    packb, unpackb = msgpack.packb, msgpack.unpackb
    token = signer.sign(base64_encode(packb(PAYLOAD)))
    assert unpackb(base64_decode(signer.unsign(token, max_age=MAX_AGE))) == PAYLOAD

    def load() -> object:
        return unpackb(base64_decode(signer.unsign(token, max_age=MAX_AGE)))

    def save() -> object:
        return signer.sign(base64_encode(packb(PAYLOAD)))

    timer.call(("floor", "load"), load)
    timer.call(("floor", "save"), save)


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
        return original(self, *args, **kwargs)

    run_requests(app, environ, 5)  # connect, load scripts
    cls.send_packed_command = counting  # type: ignore[method-assign]
    try:
        run_requests(app, environ, requests)
    finally:
        cls.send_packed_command = original  # type: ignore[method-assign]
    return calls / requests


# -- the report ------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--markdown", action="store_true", help="print README-ready tables")
    args = parser.parse_args(argv)
    timer = Timer(repeat=5, min_time=0.02) if args.quick else Timer(repeat=9, min_time=0.1)
    md = args.markdown
    warnings_off()

    sys.path.insert(0, str(TESTS))
    from servers import RedisServer

    with tempfile.TemporaryDirectory(prefix="sessionware-bench-") as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            report = measure_all(timer, Path(tmp), redis_server.url)
        finally:
            redis_server.stop()
    print_report(report, timer, md)
    return 0


def warnings_off() -> None:
    import warnings

    # Flask-Session and Beaker emit deprecation noise; not what is measured.
    warnings.simplefilter("ignore")


def measure_all(timer: Timer, tmp: Path, redis_url: str) -> dict[str, Any]:
    import redis
    from flask_session import Session as FlaskSession

    out: dict[str, Any] = {"times": {}, "rt": {}}
    times: dict[tuple[str, str], tuple[float, float]] = out["times"]

    def progress(text: str) -> None:
        print(f"  {text}…", file=sys.stderr, flush=True)

    # Cookie sessions --------------------------------------------------------
    bare = wsgi_apps("session")["untouched"]
    timer.request(("bare", "untouched"), bare, make_environ("/", None))
    contenders = [
        Contender.wrapping(
            "sessionware (cookie)", lambda app: SessionMiddleware(app, SECRET), "session"
        ),
        Contender.of_flask("Flask default session", flask_app()),
        Contender.wrapping("Beaker (cookie)", beaker_cookie, "beaker.session", beaker_save),
    ]
    configure = flask_sessionware()
    if configure is not None:
        contenders.append(Contender.of_flask("Flask + sessionware (cookie)", flask_app(configure)))
    out["cookie_contenders"] = [c.name for c in contenders]
    for contender in contenders:
        for scenario in SCENARIOS:
            timer.request((contender.name, scenario), *contender.scenario(scenario))
        if contender.flask:
            # The same Flask app, a route that never touches the session, no cookie.
            timer.request(
                (contender.name, "baseline"),
                contender.apps["untouched"],
                contender.environ("untouched", None),
            )
    codec_floor(timer)

    # Server-side stores -----------------------------------------------------
    sw_redis = RedisStore(redis_url, prefix="bench-sessionware:")
    fs_clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    sqlite_store = SQLiteStore(tmp / "sessions.db")

    def flask_session(client: Any, refresh: bool) -> Callable[[Any], None]:
        def configure(app: Any) -> None:
            app.config.update(
                SESSION_TYPE="redis",
                SESSION_REDIS=client,
                SESSION_KEY_PREFIX="bench-flask-session:",
                SESSION_REFRESH_EACH_REQUEST=refresh,
            )
            FlaskSession(app)

        return configure

    def beaker_redis(app: WSGIApp) -> WSGIApp:
        from beaker.middleware import SessionMiddleware as BeakerMiddleware

        config = {"session.type": "ext:redis", "session.url": redis_url, "session.key": "session"}
        return BeakerMiddleware(app, config)  # type: ignore[no-any-return]

    def sessionware_with(store: Any) -> Callable[[WSGIApp], WSGIApp]:
        return lambda app: SessionMiddleware(app, SECRET, store=store)

    try:
        servers = [
            Contender.wrapping(
                "sessionware MemoryStore", sessionware_with(MemoryStore()), "session"
            ),
            Contender.wrapping(
                "sessionware SQLiteStore", sessionware_with(sqlite_store), "session"
            ),
            Contender.wrapping("sessionware RedisStore", sessionware_with(sw_redis), "session"),
        ]
        configure = flask_sessionware(sw_redis)
        if configure is not None:
            servers.append(
                Contender.of_flask("Flask + sessionware RedisStore", flask_app(configure))
            )
        servers += [
            Contender.of_flask(
                "Flask-Session redis (defaults)", flask_app(flask_session(fs_clients[0], True))
            ),
            Contender.of_flask(
                "Flask-Session redis (no refresh)",
                flask_app(flask_session(fs_clients[1], False)),
            ),
            Contender.wrapping("Beaker ext:redis", beaker_redis, "beaker.session", beaker_save),
        ]
        out["server_contenders"] = [c.name for c in servers]
        for contender in servers:
            for scenario in ("read", "modify"):
                app, environ = contender.scenario(scenario)
                timer.request((contender.name, scenario), app, environ)
                if "redis" in contender.name.lower():
                    out["rt"][contender.name, scenario] = count_round_trips(app, environ)
        times.update(timer.run(progress))
    finally:
        sw_redis.close()
        for client in fs_clients:
            client.close()
        from beaker.ext.redisnm import RedisNamespaceManager

        for client in list(RedisNamespaceManager.clients.dict.values()):
            client.close()
        sqlite_store.close()
    return out


def print_report(report: dict[str, Any], timer: Timer, md: bool) -> None:
    times = report["times"]
    floor = {"load": times["floor", "load"][0], "save": times["floor", "save"][0]}
    floor["total"] = floor["load"] + floor["save"]
    bare = times["bare", "untouched"][0]
    flask_base = times["Flask default session", "baseline"][0]

    def overhead(name: str, scenario: str) -> float | None:
        if (name, scenario) not in times:
            return None
        base = times[name, "baseline"][0] if (name, "baseline") in times else bare
        if "Flask-Session" in name or (name.startswith("Flask") and "Store" in name):
            base = flask_base  # Flask apps over server stores: over Flask without a session
        return times[name, scenario][0] - base

    h = "##" if md else "=="
    print()
    if md:
        print("\n".join(machine_lines()))
    else:
        print("\n".join(line[2:] for line in machine_lines()))
    print(
        f"\nTimes: µs per request, best of {timer.repeat} repeats / median of the same "
        f"repeats (each repeat ≥ {timer.min_time * 1000:.0f} ms of back-to-back requests). "
        "Overheads use the best-of times."
    )

    # Table 1: raw times
    print(f"\n{h} Per-request time, cookie sessions (µs, best / median)\n")
    rows = [
        ["bare WSGI app (no session)"]
        + [f"{fmt(times['bare', 'untouched'][0])} / {fmt(times['bare', 'untouched'][1])}"] * 4
    ]
    for name in report["cookie_contenders"]:
        rows.append(
            [name] + [f"{fmt(times[name, s][0])} / {fmt(times[name, s][1])}" for s in SCENARIOS]
        )
        if (name, "baseline") in times:
            b = times[name, "baseline"]
            rows.append(
                [f"{name}: same app, route not touching the session, no cookie"]
                + [f"{fmt(b[0])} / {fmt(b[1])}"] * 4
            )
    print(table(["app", *(LABELS[s] for s in SCENARIOS)], rows, md))

    # Table 2: overheads and targets
    print(f"\n{h} Session overhead and targets (µs over the same app without a session)\n")
    floor_for = {"read": floor["load"], "modify": floor["total"], "new": floor["save"]}
    rows = []
    results = []
    for scenario in SCENARIOS:
        sw = overhead("sessionware (cookie)", scenario)
        fl = overhead("Flask default session", scenario)
        bk = overhead("Beaker (cookie)", scenario)
        fsw = overhead("Flask + sessionware (cookie)", scenario)
        assert sw is not None and fl is not None
        if scenario == "untouched":
            ok = sw <= 1.0
            target = "≤ 1 µs"
            flo = None
        else:
            flo = floor_for[scenario]
            ok = sw <= fl / 8 and sw <= 1.5 * flo
            target = f"≤ {fl / 8:.2f} (Flask/8) and ≤ {1.5 * flo:.2f} (1.5x floor)"
        results.append(ok)
        rows.append(
            [
                LABELS[scenario],
                fmt(sw),
                fmt(fl),
                ratio(sw, fl),
                fmt(bk),
                ratio(sw, bk),
                fmt(fsw),
                fmt(flo),
                ratio(sw, flo),
                target,
                verdict(ok),
            ]
        )
    print(
        table(
            [
                "scenario",
                "sessionware",
                "Flask session",
                "sw ÷ Flask",
                "Beaker",
                "sw ÷ Beaker",
                "Flask+sessionware",
                "codec floor",
                "sw ÷ floor",
                "target",
                "result",
            ],
            rows,
            md,
        )
    )
    print(
        "\nFlask's overhead: the Flask app's time minus the same app serving a route that "
        "never touches the session, without a cookie"
        f" ({fmt(flask_base)} µs). Beaker and sessionware: minus the bare WSGI app "
        f"({fmt(bare)} µs)."
    )

    print(f"\n{h} Codec floor (µs, best of {timer.repeat})\n")
    print(
        table(
            ["part", "µs", "what"],
            [
                [
                    "load",
                    fmt(floor["load"]),
                    "TimestampSigner.unsign (pre-derived key, sha256, "
                    "max_age) + base64 decode + msgpack.unpackb",
                ],
                [
                    "save",
                    fmt(floor["save"]),
                    "msgpack.packb + base64 encode + TimestampSigner.sign",
                ],
                ["total", fmt(floor["total"]), "load + save"],
            ],
            md,
        )
    )
    print(
        f"\nPayload: the seed session plus a counter ({len(msgpack.packb(PAYLOAD))} bytes "
        "of msgpack)."
    )

    # Table 3: server-side stores
    print(
        f"\n{h} Server-side stores (µs per request, best / median; overhead; "
        "Redis round trips per request)\n"
    )
    rows = []
    for name in report["server_contenders"]:
        row = [name]
        for scenario in ("read", "modify"):
            t = times[name, scenario]
            row += [f"{fmt(t[0])} / {fmt(t[1])}", fmt(overhead(name, scenario))]
            rt = report["rt"].get((name, scenario))
            row.append("-" if rt is None else f"{rt:g}")
        rows.append(row)
    print(
        table(
            [
                "store",
                "read-only",
                "overhead",
                "round trips",
                "read-modify-save",
                "overhead",
                "round trips",
            ],
            rows,
            md,
        )
    )
    print(
        "\nRound trips are counted client-side: calls to redis-py's "
        "Connection.send_packed_command (one per command, or per pipeline/transaction) "
        "over 50 requests. Flask-based rows: overhead over the Flask app without session "
        f"work ({fmt(flask_base)} µs); others over the bare WSGI app."
    )

    sw = "sessionware RedisStore"
    fs = "Flask-Session redis (no refresh)"
    fsd = "Flask-Session redis (defaults)"
    checks = [
        (f"{sw}: ≤ 1 round trip read-only", report["rt"][sw, "read"] <= 1),
        (f"{sw}: ≤ 2 round trips read-modify-save", report["rt"][sw, "modify"] <= 2),
    ]
    for peer in (fs, fsd):
        r_sw, r_fs = overhead(sw, "read"), overhead(peer, "read")
        m_sw, m_fs = overhead(sw, "modify"), overhead(peer, "modify")
        assert r_sw is not None and r_fs is not None and m_sw is not None and m_fs is not None
        checks.append(
            (
                f"read-only overhead ≥ 2x faster than {peer} "
                f"({fmt(r_sw)} vs {fmt(r_fs)} µs, {r_fs / r_sw:.2f}x)",
                r_fs >= 2 * r_sw,
            )
        )
        checks.append(
            (
                f"read-modify-save overhead no slower than {peer} ({fmt(m_sw)} vs {fmt(m_fs)} µs)",
                m_sw <= m_fs,
            )
        )
    print(f"\n{h} Targets\n")
    for scenario, ok in zip(SCENARIOS, results, strict=True):
        print(f"- {verdict(ok)}: cookie {LABELS[scenario]}")
    for text, ok in checks:
        print(f"- {verdict(ok)}: {text}")


if __name__ == "__main__":
    sys.exit(main())
