"""Where a sessionware request spends its time: a step-by-step breakdown and cProfile.

Run: ``python benchmarks/profile_requests.py [--scenario read|modify|new|untouched]
[--cprofile]``

The breakdown times each internal step of the cookie store's path on its own
(best of 7, µs), with the same inputs the middleware sees, so the steps can
be compared with the codec floor that bench_requests.py reports. These are
internals: when they change, adjust this script, not the package.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from _common import SECRET  # noqa: E402
from harness import (  # noqa: E402
    MAX_AGE,
    PAYLOAD,
    Contender,
    make_environ,
    run_requests,
    wsgi_apps,
)

from sessionware import SessionMiddleware  # noqa: E402
from sessionware._backends.cookie import read_cookie  # noqa: E402
from sessionware._codec import decode_envelope, encode_envelope  # noqa: E402
from sessionware.session import Session  # noqa: E402


def best(function: Any, number: int = 20000) -> float:
    """Best of 7 of ``number`` calls, in µs per call."""
    return min(timeit.repeat(function, number=number, repeat=7)) / number * 1e6


def breakdown() -> list[tuple[str, float]]:
    contender = Contender.wrapping(
        "sessionware", lambda app: SessionMiddleware(app, SECRET), "session"
    )
    middleware = contender.apps["read"]
    backend = middleware.backend
    sealer = backend.sealer
    cookie = contender.cookie
    token = cookie.split("=", 1)[1]
    payload, issued, _ = sealer.open(token, MAX_AGE)
    envelope = decode_envelope(payload)
    header = [1, envelope[1], envelope[2], envelope[3]]
    environ = make_environ("/", cookie)
    data, state = backend.load(environ)
    body = sealer.seal(payload).rsplit(".", 2)[0].encode("ascii")

    def load_and_save() -> object:
        loaded, loaded_state = backend.load(environ)
        return backend.save(loaded, loaded_state, False)

    steps = [
        ("environ.copy() (in every row, bare app too)", lambda: environ.copy()),
        ("Session(backend, environ) construction", lambda: Session(backend, environ)),
        ("CookieHeaders.candidates(header)", lambda: backend.cookies.candidates(cookie)),
        ("KeyRing.unsign(token) (HMAC verify + timestamp)",
         lambda: sealer.keys.unsign(token, MAX_AGE)),
        ("CookieSealer.open(token) (unsign + base64 decode)", lambda: sealer.open(token, MAX_AGE)),
        ("decode_envelope(payload)", lambda: decode_envelope(payload)),
        ("read_cookie(sealer, token) (open + decode + layout check)",
         lambda: read_cookie(sealer, token, MAX_AGE)),
        ("backend.load(environ) (all of the load)", lambda: backend.load(environ)),
        ("encode_envelope(header, data)", lambda: encode_envelope(header, envelope[4])),
        ("backend._payload(state, data) (nested-change check on save)",
         lambda: backend._payload(state, data)),
        ("CookieSealer.seal(payload) (base64 + sign)", lambda: sealer.seal(payload)),
        ("  of which KeyRing.sign(body)", lambda: sealer.keys.sign(body)),
        ("CookieHeaders.set_header(value, None)",
         lambda: backend.cookies.set_header(token, None)),
        ("backend.save(data, state, False) after a load (unmodified)", load_and_save),
        ("  minus: backend.load(environ) alone", lambda: backend.load(environ)),
    ]  # fmt: skip
    return [(name, best(function)) for name, function in steps]


def profile(scenario: str, requests: int) -> str:
    contender = Contender.wrapping(
        "sessionware", lambda app: SessionMiddleware(app, SECRET), "session"
    )
    app, environ = contender.scenario(scenario)
    run_requests(app, environ, 1000)
    profiler = cProfile.Profile()
    profiler.enable()
    run_requests(app, environ, requests)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", default="read", choices=("untouched", "read", "modify", "new")
    )
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile stats")
    args = parser.parse_args(argv)
    bare = wsgi_apps("session")["untouched"]
    env = make_environ("/")
    bare_us = best(lambda: run_requests(bare, env, 1), 20000)
    print(f"payload: {len(PAYLOAD)} keys; bare app request: {bare_us:.2f} µs\n")
    print("| step | µs (best of 7) |\n| --- | --- |")
    for name, micros in breakdown():
        print(f"| {name} | {micros:.2f} |")
    if args.cprofile:
        print(f"\ncProfile, {args.scenario}, 20000 requests (tottime order):\n")
        print(profile(args.scenario, 20000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
