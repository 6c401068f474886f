"""``python -m sessionware``: serve the demo, decode a cookie, make a secret
key, clean up a server-side store, list and revoke sessions."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn
from urllib.parse import unquote

from sessionware import __version__
from sessionware._decode import (
    DECODE_HELP,
    DEFAULT_MAX_AGE,
    decode_cookie,
    dump_json,
    printable,
    to_json,
)
from sessionware.errors import ConfigurationError, StoreError
from sessionware.stores import from_url
from sessionware.stores._redact import hidden_parts
from sessionware.stores.cookie import CookieStore
from sessionware.stores.memory import MemoryStore

__all__ = ["decode_cookie", "main", "to_json"]  # decode's functions, importable here

#: What the command line must never print: every part of a URL argument that
#: the redactor hides, and its pieces (see :func:`_never_shown`). Set by main().
_NEVER_SHOWN: list[str] = []
_SEPARATORS = re.compile(r"[/?#&@:=,;]")
_URL_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


class _Fail(Exception):
    """A user error: print the message on stderr and exit with ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# -- commands -----------------------------------------------------------------


def _decode(args: argparse.Namespace) -> int:
    try:
        report = decode_cookie(
            args.cookie,
            args.secret_key,
            args.fallback_key,
            max_age=args.max_age,
            encrypted=args.encrypted,
            cookie_name=args.cookie_name,
        )
    except ValueError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise _Fail(f"cannot decode the cookie: {exc}") from None
    print(dump_json(report, indent=2))  # control and bidi characters escaped
    return 0


def _secret(args: argparse.Namespace) -> int:
    print(secrets.token_urlsafe(32))
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    store = from_url(args.store)
    if isinstance(store, CookieStore):
        raise _Fail(
            "cookie:// keeps sessions in the browser, there is nothing to clean up; "
            "give a server-side store URL (sqlite:///..., redis://...)",
            status=2,
        )
    if isinstance(store, MemoryStore):
        raise _Fail(
            "memory:// lives inside each server process, out of reach of this command; "
            "give sqlite:///... or redis://...",
            status=2,
        )
    cleanup = getattr(store, "cleanup", None)
    if cleanup is None:
        raise _Fail(f"{store!r} has no cleanup() method", status=2)
    try:
        # Also for a store that expires records by itself (Redis): its
        # cleanup() checks that it answers, so an unreachable store fails.
        count = int(cleanup())
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    if getattr(store, "expires_by_itself", False):
        print(f"{store!r} answers and expires sessions by itself (TTLs): nothing to remove")
    else:
        print(f"removed {count} expired session(s) from {store!r}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from werkzeug.serving import run_simple

    from sessionware._demo import make_app, store_problem

    secret_key = args.secret_key or os.environ.get("SESSIONWARE_SECRET_KEY") or None
    store = args.store or os.environ.get("SESSIONWARE_STORE") or "cookie://"
    # Errors first (bad store, port in use), so an error is the only line.
    app = make_app(
        secret_key,
        store,
        cookie_samesite=args.cookie_samesite,
        cookie_secure=args.cookie_secure,
    )
    _check_bindable(args.host, args.port)
    problem = store_problem(app.store)
    if problem is not None:
        print(f"sessionware demo: {_one_line(problem)}", file=sys.stderr, flush=True)
    if secret_key is None:
        print(
            "no --secret-key or SESSIONWARE_SECRET_KEY: using a random key, "
            "sessions end when the demo stops",
            file=sys.stderr,
        )
    # SIGTERM stops the server like Ctrl+C: sockets closed, exit status 0.
    signal.signal(signal.SIGTERM, _interrupt)
    print(
        f"sessionware demo on http://{args.host}:{args.port}/ (store {app.store!r}); "
        "Ctrl+C stops it",
        flush=True,
    )
    run_simple(args.host, args.port, app, threaded=True)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _check_bindable(host: str, port: int) -> None:
    """Refuse, in one line, an address the server could not listen on.

    werkzeug would print several lines and exit; a port in use or a host that
    does not resolve is a user error like any other.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
            probe.bind(address)
    except OSError as exc:
        raise _Fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _port(value: str) -> int:
    try:
        port = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


# -- argument parsing -----------------------------------------------------------


def _samesite(value: str) -> str | None:
    choices = {"lax": "Lax", "strict": "Strict", "none": "None"}
    if value.lower() not in choices:
        raise argparse.ArgumentTypeError("choose Lax, Strict or None")
    return choices[value.lower()]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: no usage block, a pointer to ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see `{self.prog} --help`)\n")


def _one_line(message: str) -> str:
    """``message`` on one line, with no secret of a URL argument in it and
    unprintable characters (controls, bidirectional overrides) escaped.

    Messages show store URLs redacted already; this is the last line of
    defence, for a message that quotes an argument itself (argparse's
    "unrecognized arguments", a library's error).
    """
    message = " ".join(message.split())
    for secret in _NEVER_SHOWN:
        message = message.replace(secret, "***")
    return printable(message)


def _never_shown(argv: Sequence[str]) -> list[str]:
    """The hidden parts of every URL among ``argv`` and ``$SESSIONWARE_STORE``
    (as given, percent-decoded, and their pieces of 4 characters or more),
    longest first."""
    found: set[str] = set()
    for arg in [*argv, os.environ.get("SESSIONWARE_STORE", "")]:
        for text in (arg, arg.partition("=")[2]):
            for part in hidden_parts(text) if _URL_LIKE.match(text) else ():
                for form in (part, unquote(part)):
                    found.add(form)
                    found.update(p for p in _SEPARATORS.split(form) if len(p) >= 4)
    return sorted(found, key=len, reverse=True)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sessionware", description="sessionware: Flask's session API for every WSGI app."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="serve the demo app (every session operation) on localhost",
        description="Serve the demo app with werkzeug's development server.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    demo.add_argument("--port", type=_port, default=8000, help="1-65535 (default: %(default)s)")
    demo.add_argument(
        "--store", help="store URL (default: $SESSIONWARE_STORE or cookie://)", metavar="URL"
    )
    demo.add_argument(
        "--secret-key",
        metavar="KEY",
        help="default: $SESSIONWARE_SECRET_KEY, else a random key",
    )
    demo.add_argument(
        "--cookie-samesite",
        type=_samesite,
        default="Lax",
        metavar="{Lax,Strict,None}",
        help="the cookie's SameSite attribute (default: %(default)s); None needs --cookie-secure",
    )
    demo.add_argument(
        "--cookie-secure",
        action="store_true",
        help="mark the cookie Secure: browsers then send it over HTTPS (and to localhost) only",
    )
    demo.set_defaults(func=_demo)

    decode = commands.add_parser(
        "decode",
        help="verify and show a cookie of the cookie store as JSON",
        description=DECODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decode.add_argument("cookie", metavar="COOKIE")
    decode.add_argument("--secret-key", required=True, metavar="KEY")
    decode.add_argument(
        "--fallback-key", action="append", default=[], metavar="KEY", help="repeatable"
    )
    decode.add_argument(
        "--max-age",
        type=int,
        default=DEFAULT_MAX_AGE,
        metavar="SECONDS",
        help="refuse cookies issued longer ago (default: %(default)s, 31 days)",
    )
    decode.add_argument(
        "--encrypted", action="store_true", help="the cookie is from CookieStore(encrypt=True)"
    )
    decode.add_argument("--cookie-name", default="session", help="default: %(default)s")
    decode.set_defaults(func=_decode)

    secret = commands.add_parser(
        "secret",
        help="print a strong random secret key",
        description="Print secrets.token_urlsafe(32): 256 random bits.",
    )
    secret.set_defaults(func=_secret)

    cleanup = commands.add_parser(
        "cleanup",
        help="remove expired sessions from a server-side store",
        description=(
            "Remove expired records now: SQLite and PostgreSQL (whose saves also sweep "
            "a bounded number by themselves); Redis expires records by itself, so for "
            "Redis this only checks that the server answers. An unreachable store "
            "exits with status 1."
        ),
    )
    cleanup.add_argument("--store", required=True, metavar="URL")
    cleanup.set_defaults(func=_cleanup)

    from sessionware._cli_control import add_commands

    add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Bad arguments exit with status 2 (argparse); a store or configuration
    error or an undecodable cookie prints the reason and returns 1. Every
    error is one line on stderr (URL passwords shown as ``***``), never a
    traceback.
    """
    _NEVER_SHOWN[:] = _never_shown(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(_cookie_last(list(sys.argv[1:] if argv is None else argv)))
    if args.command == "demo" and args.cookie_samesite == "None" and not args.cookie_secure:
        # Browsers drop a SameSite=None cookie that is not Secure.
        parser.error("--cookie-samesite None needs --cookie-secure (browsers require Secure)")
    try:
        status: int = args.func(args)
    except _Fail as exc:
        _error(args.command, str(exc))
        return exc.status
    except (ConfigurationError, StoreError) as exc:
        _error(args.command, str(exc))
        return 1
    except Exception as exc:  # the promise: one line on stderr, never a traceback
        _error(args.command, f"unexpected {type(exc).__name__}: {exc}")
        return 1
    return status


#: decode's options that take a value; any argument of decode that is no option
#: is the cookie, even one that begins with "-" as a token may (base64url).
_DECODE_VALUED = frozenset({"--secret-key", "--fallback-key", "--max-age", "--cookie-name"})
_DECODE_FLAGS = frozenset({"-h", "--help", "--encrypted"})


def _cookie_last(argv: list[str]) -> list[str]:
    """Move a ``decode`` cookie that begins with ``-`` after ``--``, where
    argparse reads it as the positional argument it is. An unknown short
    ``--option`` stays an option (argparse refuses it); a token is longer."""
    if not argv or argv[0] != "decode" or "--" in argv:
        return argv
    rest: list[str] = []
    cookies: list[str] = []
    value_next = False
    for arg in argv[1:]:
        name = arg.split("=", 1)[0]
        if value_next or not arg.startswith("-") or arg == "-":
            rest.append(arg)
            value_next = False
        elif name in _DECODE_VALUED or name in _DECODE_FLAGS:
            rest.append(arg)
            value_next = name in _DECODE_VALUED and "=" not in arg
        elif arg.startswith("--") and len(arg) < 24:
            rest.append(arg)
        else:
            cookies.append(arg)
    return ["decode", *rest, "--", *cookies] if cookies else argv


def _error(command: str, message: str) -> None:
    print(f"sessionware {command}: {_one_line(message)}", file=sys.stderr)
