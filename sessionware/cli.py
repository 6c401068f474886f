"""``python -m sessionware``: serve the demo, decode a cookie, make a secret
key, clean up a server-side store."""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import secrets
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import FrameType
from typing import Any, NoReturn
from uuid import UUID

from werkzeug.http import parse_cookie

from sessionware._backends.base import FLAG_PERMANENT
from sessionware._backends.cookie import read_cookie
from sessionware._codec import DecodeError
from sessionware._signing import BadToken, KeyRing
from sessionware.errors import ConfigurationError, StoreError
from sessionware.stores import from_url
from sessionware.stores.cookie import CookieStore
from sessionware.stores.memory import MemoryStore

#: ``decode`` refuses cookies older than this unless ``--max-age`` says
#: otherwise: the middleware's default ``permanent_lifetime`` (31 days).
DEFAULT_MAX_AGE = 31 * 24 * 3600
#: ``scheme://user:password@``: the password is masked in every error line.
_PASSWORD_RE = re.compile(r"(://[^/\s:@]*:)[^@\s]*@")

_DECODE_HELP = """\
Verify a cookie of the cookie store and print it as JSON: sid, permanent,
created and issued (ISO 8601, UTC), the key that verified it ("current" or
"fallback N", counting --fallback-key options from 1) and the data.

Values JSON has no type for are tagged, as a one-key object:
{"$bytes": base64}, {"$tuple": [...]}, {"$set": [...]}, {"$frozenset": [...]},
{"$datetime": ISO 8601}, {"$date": ...}, {"$time": ...},
{"$timedelta": {"days", "seconds", "microseconds"}}, {"$uuid": "..."},
{"$decimal": "1.10"}, {"$markup": "..."}, {"$float": "nan"|"inf"|"-inf"},
and {"$dict": [[key, value], ...]} for a dict whose keys are not all strings
(or that has a key starting with "$", so tags stay unambiguous).

COOKIE is the cookie value, or a header fragment such as "session=...; Path=/"
(the cookie named by --cookie-name is taken from it). A bad signature, an
expired or undecodable cookie exits with status 1 and the reason on stderr."""


class _Fail(Exception):
    """A user error: print the message on stderr and exit with ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# -- JSON rendering of session values -----------------------------------------


def to_json(value: Any) -> Any:
    """``value`` as JSON-native data; other types become tagged objects."""
    # Checked by exact type first: bool is an int, Markup a str.
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": str(value)}
    if kind is list:
        return [to_json(item) for item in value]
    if kind is dict:
        if all(type(key) is str and not key.startswith("$") for key in value):
            return {key: to_json(item) for key, item in value.items()}
        return {"$dict": [[to_json(key), to_json(item)] for key, item in value.items()]}
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if kind is tuple:
        return {"$tuple": [to_json(item) for item in value]}
    if kind in (set, frozenset):
        items = [to_json(item) for item in value]
        items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return {"$" + kind.__name__: items}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {
            "$timedelta": {
                "days": value.days,
                "seconds": value.seconds,
                "microseconds": value.microseconds,
            }
        }
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, str):  # markupsafe.Markup, the only str subclass decoded
        return {"$markup": str(value)}
    if isinstance(value, int):
        return int(value)
    return {"$repr": repr(value)}  # the codec decodes nothing else; never crash


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


# -- commands -----------------------------------------------------------------


def _cookie_value(text: str, name: str) -> str:
    text = text.strip()
    for prefix in ("set-cookie:", "cookie:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
    if "=" not in text:
        return text  # the bare value (signed tokens never contain "=")
    cookies = parse_cookie(text)
    if name not in cookies:
        raise _Fail(f"no cookie named {name!r} in {text[:80]!r} (see --cookie-name)")
    return cookies[name]


def decode_cookie(
    cookie: str,
    secret_key: str,
    fallback_keys: Sequence[str] = (),
    *,
    max_age: int = DEFAULT_MAX_AGE,
    encrypted: bool = False,
    cookie_name: str = "session",
) -> dict[str, Any]:
    """Verify and decode a cookie of the cookie store; return the JSON report.

    Raises :class:`ValueError` with the reason when it does not verify or
    decode, or is older than ``max_age`` seconds.
    """
    keys = [key.encode("utf-8") for key in (secret_key, *fallback_keys)]
    if not all(keys):
        raise ConfigurationError("a secret key is empty; give the key the app was run with")
    sealer = CookieStore(encrypt=encrypted).bind(keys)
    token = _cookie_value(cookie, cookie_name)
    try:
        sid, flags, created, data, issued, index, _ = read_cookie(sealer, token, max_age)
    except (BadToken, DecodeError) as exc:
        raise ValueError(_what_it_is(token, keys, encrypted) or str(exc)) from None
    return {
        "sid": sid,
        "permanent": bool(flags & FLAG_PERMANENT),
        "created": _iso(created),
        "issued": _iso(issued),
        "key": "current" if index == 0 else f"fallback {index}",
        "data": to_json(data),
    }


def _what_it_is(token: str, keys: list[bytes], encrypted: bool) -> str | None:
    """Name a cookie that verifies but is not a cookie-store session of this kind."""
    # The age does not matter here: only what the cookie is.
    forever = 2**62
    try:
        KeyRing(keys, "sessionware.sid").unsign(token, forever)
    except BadToken:
        pass
    else:
        return (
            "this is the signed session id of a server-side store (--store sqlite://, "
            "redis://, ...), not a cookie-store session: its data lives in that store, "
            "not in the cookie"
        )
    try:
        CookieStore(encrypt=not encrypted).bind(keys).open(token, forever)
    except BadToken:
        return None
    if encrypted:
        return "this cookie is signed but not encrypted: run decode without --encrypted"
    return "this cookie is encrypted (CookieStore(encrypt=True)): add --encrypted"


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
    print(json.dumps(report, indent=2, ensure_ascii=False))
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
        count = int(cleanup())
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    print(f"removed {count} expired session(s)")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from werkzeug.serving import run_simple

    from sessionware._demo import make_app

    secret_key = args.secret_key or os.environ.get("SESSIONWARE_SECRET_KEY") or None
    store = args.store or os.environ.get("SESSIONWARE_STORE") or "cookie://"
    # Errors first (bad store, port in use), so an error is the only line.
    app = make_app(secret_key, store, cookie_samesite=args.cookie_samesite)
    _check_bindable(args.host, args.port)
    if secret_key is None:
        print(
            "no --secret-key or SESSIONWARE_SECRET_KEY: using a random key, "
            "sessions end when the demo stops",
            file=sys.stderr,
        )
    # SIGTERM stops the server like Ctrl+C: sockets closed, exit status 0.
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"sessionware demo on http://{args.host}:{args.port}/ (store {store})", flush=True)
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
    """``message`` on one line, with any URL password shown as ``***``."""
    return _PASSWORD_RE.sub(r"\1***@", " ".join(message.split()))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sessionware", description="sessionware: Flask's session API for every WSGI app."
    )
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
        "--cookie-samesite", type=_samesite, default="Lax", metavar="{Lax,Strict,None}"
    )
    demo.set_defaults(func=_demo)

    decode = commands.add_parser(
        "decode",
        help="verify and show a cookie of the cookie store as JSON",
        description=_DECODE_HELP,
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
        description="Remove expired records now (SQLite sweeps by itself too).",
    )
    cleanup.add_argument("--store", required=True, metavar="URL")
    cleanup.set_defaults(func=_cleanup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Bad arguments exit with status 2 (argparse); a store or configuration
    error or an undecodable cookie prints the reason and returns 1. Every
    error is one line on stderr (URL passwords shown as ``***``), never a
    traceback.
    """
    args = _parser().parse_args(argv)
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


def _error(command: str, message: str) -> None:
    print(f"sessionware {command}: {_one_line(message)}", file=sys.stderr)
