"""The ``decode`` command's work: verify a cookie of the cookie store and
render its session as JSON (values JSON has no type for are tagged)."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from werkzeug.http import parse_cookie

from sessionware._backends.base import FLAG_PERMANENT
from sessionware._backends.cookie import read_cookie
from sessionware._codec import DecodeError
from sessionware._signing import BadToken, KeyRing
from sessionware.errors import ConfigurationError
from sessionware.stores.cookie import CookieStore

#: ``decode`` refuses cookies older than this unless ``--max-age`` says
#: otherwise: the middleware's default ``permanent_lifetime`` (31 days).
DEFAULT_MAX_AGE = 31 * 24 * 3600

DECODE_HELP = """\
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


def dump_json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON that is safe to print on a terminal.

    Text stays readable (``ensure_ascii=False``), but every character that
    is not printable is written as a ``\\uXXXX`` escape, still valid JSON:
    JSON itself escapes only C0 controls, so DEL, C1 controls (U+0080 to
    U+009F, ESC's 8-bit twin among them), line separators and the
    bidirectional overrides and isolates (U+202A to U+202E, U+2066 to
    U+2069), which can make a terminal show other text than the data holds,
    would pass raw. Outside strings, JSON has only printable characters and
    the newlines of ``indent``.
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    if text.replace("\n", "").isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else _escape(c) for c in text)


def _escape(char: str) -> str:
    # json.dumps with ensure_ascii writes \uXXXX (a surrogate pair above U+FFFF).
    return json.dumps(char)[1:-1] if ord(char) > 0x7F else f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """``text`` for one line of a message: unprintable characters escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _cookie_value(text: str, name: str) -> str:
    text = text.strip()
    for prefix in ("set-cookie:", "cookie:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
    if "=" not in text:
        return text.strip('"')  # the bare value (signed tokens never contain "=")
    cookies = parse_cookie(text)
    if name not in cookies:
        names = ", ".join(sorted(cookies)) or "none"
        raise ValueError(f"no cookie named {name!r} (cookies given: {names}; see --cookie-name)")
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
        sid, flags, created, data, issued, index, _, owner, _ = read_cookie(sealer, token, max_age)
    except (BadToken, DecodeError) as exc:
        raise ValueError(_what_it_is(token, keys, encrypted) or str(exc)) from None
    report = {
        "sid": sid,
        "permanent": bool(flags & FLAG_PERMANENT),
        "created": _iso(created),
        "issued": _iso(issued),
        "key": "current" if index == 0 else f"fallback {index}",
        "data": to_json(data),
    }
    if owner is not None:
        report["owner"] = owner  # session.owner, for an owned session
    return report


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
