"""Per-request cost of sessionware, in-process, against Flask's session and Beaker.

Run: ``python benchmarks/bench_requests.py [--quick] [--markdown]``

Every WSGI app is called directly with a small prepared environ (copied per
request) and a no-op ``start_response``; the returned iterable is consumed
and closed, as a server does. Times are per request, in microseconds: the
best of R repeats (the ``timeit`` convention: the minimum is the code, the
rest is other processes) and the median of the same repeats. Overheads and
PASS/FAIL use the best-of figures. See benchmarks/README.md.

This file is the command line and the report; the timed loops live in
``harness.py``, the contenders in ``scenarios/``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgpack

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from _common import TESTS, machine_lines, table, verdict  # noqa: E402
from harness import LABELS, PAYLOAD, SCENARIOS, Timer, count_round_trips, progress  # noqa: E402
from scenarios import beaker, flask, reference, sessionware  # noqa: E402

from sessionware.stores import MemoryStore, RedisStore, SQLiteStore  # noqa: E402


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

    out: dict[str, Any] = {"times": {}, "rt": {}}

    # Cookie sessions --------------------------------------------------------
    reference.bare(timer)
    contenders = [
        sessionware.bare("sessionware (cookie)"),
        flask.default_session(),
        beaker.cookie(),
    ]
    flask_cookie = sessionware.under_flask("Flask + sessionware (cookie)")
    if flask_cookie is not None:
        contenders.append(flask_cookie)
    out["cookie_contenders"] = [c.name for c in contenders]
    for contender in contenders:
        for scenario in SCENARIOS:
            timer.request((contender.name, scenario), *contender.scenario(scenario))
        if contender.flask:
            timer.request((contender.name, "baseline"), *contender.baseline())
    reference.codec_floor(timer)

    # Server-side stores -----------------------------------------------------
    sw_redis = RedisStore(redis_url, prefix="bench-sessionware:")
    fs_clients = [redis.Redis.from_url(redis_url) for _ in range(2)]
    sqlite_store = SQLiteStore(tmp / "sessions.db")
    try:
        servers = [
            sessionware.bare("sessionware MemoryStore", MemoryStore()),
            sessionware.bare("sessionware SQLiteStore", sqlite_store),
            sessionware.bare("sessionware RedisStore", sw_redis),
        ]
        flask_redis = sessionware.under_flask("Flask + sessionware RedisStore", sw_redis)
        if flask_redis is not None:
            servers.append(flask_redis)
        servers += [
            flask.flask_session_redis(
                "Flask-Session redis (defaults)", fs_clients[0], refresh=True
            ),
            flask.flask_session_redis(
                "Flask-Session redis (no refresh)", fs_clients[1], refresh=False
            ),
            beaker.redis(redis_url),
        ]
        out["server_contenders"] = [c.name for c in servers]
        for contender in servers:
            for scenario in ("read", "modify"):
                app, environ = contender.scenario(scenario)
                timer.request((contender.name, scenario), app, environ)
                if "redis" in contender.name.lower():
                    out["rt"][contender.name, scenario] = count_round_trips(app, environ)
        out["times"].update(timer.run(progress))
    finally:
        sw_redis.close()
        for client in fs_clients:
            client.close()
        beaker.close_redis_clients()
        sqlite_store.close()
    return out


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"


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
        return float(times[name, scenario][0] - base)

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

    sw_redis = "sessionware RedisStore"
    fs = "Flask-Session redis (no refresh)"
    fsd = "Flask-Session redis (defaults)"
    checks = [
        (f"{sw_redis}: ≤ 1 round trip read-only", report["rt"][sw_redis, "read"] <= 1),
        (f"{sw_redis}: ≤ 2 round trips read-modify-save", report["rt"][sw_redis, "modify"] <= 2),
    ]
    for peer in (fs, fsd):
        r_sw, r_fs = overhead(sw_redis, "read"), overhead(peer, "read")
        m_sw, m_fs = overhead(sw_redis, "modify"), overhead(peer, "modify")
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
