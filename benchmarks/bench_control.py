"""What session control costs: ``revocation=`` on cookie-store requests, and
the owner index on server-store saves, each against the same store without it.

Run: ``python benchmarks/bench_control.py [--quick] [--markdown]``

In-process, with the harness of ``bench_requests.py`` (its request driver,
timer and round-trip counter): every app is the same small WSGI app, only
the session setup differs. Times are µs per request, best / median of R repeats taken
round-robin; **round trips** are Redis commands or pipelines per request,
counted client-side over 50 requests (see benchmarks/README.md).

Targets: revocation at most one round trip per request that loads a cookie
session; the owner index at most +1 round trip on the save that sets or
changes the owner and none on other requests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SECRET, SEED, TESTS, machine_lines, table  # noqa: E402
from harness import (  # noqa: E402
    Timer,
    count_round_trips,
    first_cookie,
    make_environ,
)

from sessionware import SessionMiddleware  # noqa: E402
from sessionware.stores import RedisStore, SQLiteStore  # noqa: E402

WSGIApp = Callable[..., Any]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """``/login`` stores the seed (and sets the owner when ``?owner=1``);
    ``/read`` reads a key; ``/modify`` bumps a counter."""
    session = environ["session"]
    path = environ["PATH_INFO"]
    if path == "/login":
        session.update(SEED)
        session["counter"] = 0
        if environ["QUERY_STRING"] == "owner=1":
            session.owner = "user-42"
    elif path == "/read":
        session.get("username")
    elif path == "/modify":
        session["counter"] += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def environ_for(mw: WSGIApp, path: str, owner: bool) -> dict[str, Any]:
    login = make_environ("/login")
    login["QUERY_STRING"] = "owner=1" if owner else ""
    return make_environ(path, first_cookie(mw, login))


class ColdCache:
    """The middleware with the revocation verdict cache emptied before each
    request: the cost when every request is another session's."""

    def __init__(self, mw: SessionMiddleware) -> None:
        self.mw = mw
        self.cache = mw.backend.revocations._cache  # type: ignore[attr-defined]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.cache.clear()
        return self.mw(environ, start_response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    repeat, min_time = (5, 0.02) if args.quick else (9, 0.1)
    sys.path.insert(0, str(TESTS))
    from servers import RedisServer

    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        try:
            return run(redis_server.url, Path(tmp), repeat, min_time, args.markdown)
        finally:
            redis_server.stop()


def run(redis_url: str, tmp: Path, repeat: int, min_time: float, md: bool) -> int:
    timer = Timer(repeat, min_time)
    rows: dict[str, tuple[WSGIApp, dict[str, Any], str, bool]] = {}

    # 1. The cookie store, a valid cookie of an owned session, the app reads a key.
    plain = SessionMiddleware(app, SECRET)
    redis_rev = SessionMiddleware(app, SECRET, revocation=RedisStore(redis_url, prefix="r:"))
    sqlite_rev = SessionMiddleware(app, SECRET, revocation=SQLiteStore(tmp / "revoked.db"))
    cookie_rows = {
        "cookie": (plain, "cookie"),
        "cookie + revocation=Redis, cached": (redis_rev, "cookie"),
        "cookie + revocation=Redis, cold": (ColdCache(redis_rev), "cookie"),
        "cookie + revocation=SQLite, cold": (ColdCache(sqlite_rev), "cookie"),
    }
    for name, (mw, base) in cookie_rows.items():
        rows[name] = (mw, environ_for(plain, "/read", True), base, "Redis" in name)

    # 2. Server stores: the save that sets the owner, and later requests.
    for label, make in (
        ("Redis", lambda: RedisStore(redis_url, prefix="s:")),
        ("SQLite", lambda: SQLiteStore(tmp / "sessions.db")),
    ):
        mw = SessionMiddleware(app, SECRET, store=make())
        login_owned = make_environ("/login")
        login_owned["QUERY_STRING"] = "owner=1"
        rows[f"{label}: new session saved"] = (mw, make_environ("/login"), "", label == "Redis")
        rows[f"{label}: new session saved, owner set"] = (
            mw,
            login_owned,
            f"{label}: new session saved",
            label == "Redis",
        )
        for scenario in ("read", "modify"):
            base = f"{label}: {scenario}"
            rows[base] = (mw, environ_for(mw, f"/{scenario}", False), "", label == "Redis")
            rows[f"{base}, owned session"] = (
                mw,
                environ_for(mw, f"/{scenario}", True),
                base,
                label == "Redis",
            )

    for name, (mw, environ, _, _) in rows.items():
        timer.request(name, mw, environ)
    times = timer.run(lambda message: print(f"  {message}", file=sys.stderr))
    trips = {
        name: count_round_trips(mw, environ)
        for name, (mw, environ, _, redis) in rows.items()
        if redis
    }

    h = "###" if md else "=="
    print("\n".join(machine_lines("in-process, one thread; Redis on 127.0.0.1")))
    print(
        f"\n{h} Session control: µs per request (best / median), "
        "ratio to the same store without it\n"
    )
    out = []
    for name, (_, _, base, _) in rows.items():
        best, median = times[name]
        ratio = f"{best / times[base][0]:.2f}x" if base else "1.00x"
        rt = trips.get(name)
        out.append([name, f"{best:.1f} / {median:.1f}", ratio, "-" if rt is None else f"{rt:g}"])
    print(table(["request", "µs", "vs without", "Redis round trips"], out, md))
    failed = [
        name
        for name, limit in (
            ("cookie + revocation=Redis, cold", 1),
            ("cookie + revocation=Redis, cached", 1),
            ("Redis: new session saved, owner set", trips.get("Redis: new session saved", 0) + 1),
            ("Redis: read, owned session", trips.get("Redis: read", 0)),
            ("Redis: modify, owned session", trips.get("Redis: modify", 0)),
        )
        if trips[name] > limit
    ]
    print("\nround-trip targets:", "FAIL " + ", ".join(failed) if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
