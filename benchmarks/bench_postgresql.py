"""PostgreSQLStore against Flask-Session's SQLAlchemy backend, on one database.

Run: ``python benchmarks/bench_postgresql.py [--quick] [--markdown]``

Starts a private PostgreSQL server (``initdb`` + ``postgres`` on a free port,
as in the tests), then times the same Flask app (routes of
``bench_requests.py``) with each session backend, round-robin in one run:

- Flask + ``sessionware.flask.Sessionware`` with ``PostgreSQLStore``;
- Flask-Session 0.8 ``SESSION_TYPE="sqlalchemy"`` (Flask-SQLAlchemy, psycopg 3
  driver) with its defaults (permanent sessions refreshed on each request) and
  with ``SESSION_REFRESH_EACH_REQUEST=False``;
- the bare WSGI ``SessionMiddleware`` with ``PostgreSQLStore``, for reference.

Scenarios: read-only (b), read + modify + save (c), new session saved (d).
Round trips per request are counted by a TCP proxy in front of the server
(``tests/servers.py: RoundTripProxy``), in a separate pass on separate app
instances so that the proxy's own latency never enters the timings.
Target: sessionware at least 2x faster than Flask-Session on each scenario
and at most one round trip per read.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from _common import TESTS, machine_lines, table, verdict  # noqa: E402
from bench_requests import warnings_off  # noqa: E402
from harness import Contender, Timer, run_requests  # noqa: E402
from scenarios import sessionware  # noqa: E402
from scenarios.flask import flask_app  # noqa: E402

SCENARIOS = {"read": "(b) read-only", "modify": "(c) read + modify + save", "new": "(d) new"}
SW = "Flask + sessionware PostgreSQLStore"
FS = "Flask-Session sqlalchemy (defaults)"
FS_NO_REFRESH = "Flask-Session sqlalchemy (no refresh)"
BARE = "sessionware PostgreSQLStore (bare WSGI)"


def flask_session_sqlalchemy(url: str, refresh: bool) -> Callable[[Any], None]:
    def configure(app: Any) -> None:
        from flask_session import Session as FlaskSession
        from flask_sqlalchemy import SQLAlchemy

        app.config.update(
            SQLALCHEMY_DATABASE_URI=url.replace("postgresql://", "postgresql+psycopg://", 1),
            SESSION_TYPE="sqlalchemy",
            SESSION_SQLALCHEMY_TABLE=f"fs_{uuid.uuid4().hex[:8]}",
            SESSION_REFRESH_EACH_REQUEST=refresh,
        )
        app.config["SESSION_SQLALCHEMY"] = SQLAlchemy(app)
        FlaskSession(app)

    return configure


def contenders(url: str) -> tuple[list[Contender], list[Any]]:
    """Every contender on the database at ``url`` (and what to close after)."""
    from sessionware.stores import PostgreSQLStore

    sw_store = PostgreSQLStore(url, table=f"sw_{uuid.uuid4().hex[:8]}")
    bare_store = PostgreSQLStore(url, table=f"sw_{uuid.uuid4().hex[:8]}")
    under_flask = sessionware.under_flask(SW, sw_store)
    assert under_flask is not None
    built = [
        under_flask,
        Contender.of_flask(FS, flask_app(flask_session_sqlalchemy(url, True))),
        Contender.of_flask(FS_NO_REFRESH, flask_app(flask_session_sqlalchemy(url, False))),
        sessionware.bare(BARE, bare_store),
    ]
    return built, [sw_store, bare_store]


def count_round_trips(server: Any, requests: int = 30) -> dict[tuple[str, str], float]:
    from servers import RoundTripProxy

    counts = {}
    with RoundTripProxy(server.host, server.port) as proxy:
        url = server.url.replace(f":{server.port}/", f":{proxy.port}/")
        built, stores = contenders(url)
        try:
            for contender in built:
                for scenario in SCENARIOS:
                    app, environ = contender.scenario(scenario)
                    run_requests(app, environ, 10)  # connect, prepare, warm caches
                    proxy.reset()
                    run_requests(app, environ, requests)
                    counts[contender.name, scenario] = proxy.round_trips / requests
        finally:
            for store in stores:
                store.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--markdown", action="store_true", help="print README-ready tables")
    args = parser.parse_args(argv)
    timer = Timer(repeat=5, min_time=0.05) if args.quick else Timer(repeat=9, min_time=0.2)
    warnings_off()
    sys.path.insert(0, str(TESTS))
    from servers import PostgreSQLServer

    def progress(text: str) -> None:
        print(f"  {text}…", file=sys.stderr, flush=True)

    server = PostgreSQLServer().start()
    try:
        built, stores = contenders(server.url)
        try:
            for contender in built:
                for scenario in SCENARIOS:
                    timer.request((contender.name, scenario), *contender.scenario(scenario))
            times = timer.run(progress)
        finally:
            for store in stores:
                store.close()
        progress("counting round trips")
        trips = count_round_trips(server)
    finally:
        server.remove()

    md = args.markdown
    h = "###" if md else "=="
    print(f"\n{h} PostgreSQL: sessionware vs Flask-Session (SQLAlchemy), same database\n")
    print("\n".join(machine_lines("PostgreSQL 15 on 127.0.0.1, fsync off (both alike)")))
    print(
        "\nµs per request, best of R / median (round trips per request in brackets); "
        "ratio = Flask-Session's best / sessionware's best\n"
    )
    headers = ["app", *SCENARIOS.values()]
    rows = []
    for contender in built:
        cells = [contender.name]
        for scenario in SCENARIOS:
            best, median = times[contender.name, scenario]
            cells.append(f"{best:.0f} / {median:.0f} [{trips[contender.name, scenario]:.1f}]")
        rows.append(cells)
    for peer in (FS, FS_NO_REFRESH):
        rows.append(
            [f"ratio {peer} / sessionware"]
            + [f"{times[peer, s][0] / times[SW, s][0]:.2f}x" for s in SCENARIOS]
        )
    print(table(headers, rows, md))
    print(f"\n{h} Targets\n")
    for scenario, label in SCENARIOS.items():
        for peer in (FS, FS_NO_REFRESH):
            ratio = times[peer, scenario][0] / times[SW, scenario][0]
            print(f"- {verdict(ratio >= 2)}: {label} ≥ 2x faster than {peer} ({ratio:.2f}x)")
    rt = trips[SW, "read"]
    print(f"- {verdict(rt <= 1)}: at most one round trip per read ({rt:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
