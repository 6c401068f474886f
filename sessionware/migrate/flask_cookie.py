"""``FlaskCookie``: reads the cookies of Flask's built-in session (Flask 2.x, 3.x).

Flask signs ``base64(json)`` (zlib-compressed and prefixed with ``.`` when
that is shorter) with itsdangerous' ``TimestampSigner`` (HMAC-SHA1, ``hmac``
key derivation, salt ``"cookie-session"``), and the JSON carries Flask's tags
(``flask.json.tag``) for the types JSON lacks. Nothing of a value is decoded
before its signature verified, and decoding is bounded at every step: the
value's length, the decompressed size, and the nesting depth.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from itsdangerous import BadSignature, TimestampSigner
from itsdangerous.encoding import base64_decode
from werkzeug.http import parse_date

from sessionware._codec import MAX_DEPTH, DecodeError
from sessionware._config import check_keys, seconds
from sessionware.errors import ConfigurationError
from sessionware.migrate._common import Found, accept, debug

__all__ = ["FlaskCookie"]

#: Longest cookie value considered (browsers keep at most ~4 KB per cookie).
MAX_VALUE_CHARS = 8192
#: A Flask cookie: ``[.]payload.timestamp.signature``, base64url parts
#: (the HMAC-SHA1 signature is 27 characters).
_SHAPE = re.compile(r"\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{1,12}\.[A-Za-z0-9_-]{27}")
#: Largest JSON document a compressed value may inflate to.
MAX_JSON_BYTES = 128 * 1024


def _markup(value: Any) -> Any:
    from markupsafe import Markup  # Flask depends on it: a Markup cookie came from Flask

    return Markup(_text(value))


def _text(value: Any) -> str:
    if type(value) is not str:
        raise DecodeError("a tagged value is not a string")
    return value


def _tagged_dict(value: Any) -> dict[str, Any]:
    # Flask's TagDict: a one-item dict whose key looked like a tag, suffixed "__".
    if type(value) is not dict or len(value) != 1:
        raise DecodeError("malformed ' di' tag")
    key = next(iter(value))
    return {key[:-2]: value[key]}


def _tuple(value: Any) -> tuple[Any, ...]:
    if type(value) is not list:
        raise DecodeError("malformed ' t' tag")
    return tuple(value)


def _bytes(value: Any) -> bytes:
    try:
        return binascii.a2b_base64(_text(value))
    except binascii.Error as exc:
        raise DecodeError(f"malformed ' b' tag: {exc}") from None


def _uuid(value: Any) -> UUID:
    try:
        return UUID(_text(value))
    except ValueError:
        raise DecodeError("malformed ' u' tag") from None


#: Flask's default tags (flask/json/tag.py), key -> to_python.
TAGS: dict[str, Callable[[Any], Any]] = {
    " di": _tagged_dict,
    " t": _tuple,
    " b": _bytes,
    " m": _markup,
    " u": _uuid,
    " d": lambda value: parse_date(_text(value)),  # as Flask: None if unparsable
}


def untag(value: Any, depth: int = 0) -> Any:
    """Flask's ``TaggedJSONSerializer._untag_scan``, with a depth limit."""
    if depth > MAX_DEPTH:
        raise DecodeError(f"nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind is dict:
        value = {key: untag(item, depth + 1) for key, item in value.items()}
        if len(value) == 1:
            key = next(iter(value))
            to_python = TAGS.get(key)
            if to_python is not None:
                return to_python(value[key])
    elif kind is list:
        return [untag(item, depth + 1) for item in value]
    return value


def load_payload(payload: bytes) -> Any:
    """The session a verified Flask cookie payload holds (bounded)."""
    compressed = payload.startswith(b".")
    try:
        raw = base64_decode(payload[1:] if compressed else payload)
    except BadSignature:  # itsdangerous' error for bad base64
        raise DecodeError("malformed base64") from None
    if compressed:
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(raw, MAX_JSON_BYTES)
        except zlib.error as exc:
            raise DecodeError(f"bad zlib data: {exc}") from None
        if inflater.unconsumed_tail:
            raise DecodeError(f"inflates to more than {MAX_JSON_BYTES} bytes")
    elif len(raw) > MAX_JSON_BYTES:
        raise DecodeError(f"more than {MAX_JSON_BYTES} bytes")
    try:
        return untag(json.loads(raw))
    except RecursionError:
        raise DecodeError("nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not Flask's tagged JSON: {type(exc).__name__}") from None


def _until(until: object) -> float | None:
    if until is None:
        return None
    if not isinstance(until, datetime):
        raise ConfigurationError(
            f"FlaskCookie until must be a datetime, not {type(until).__name__}"
        )
    if until.tzinfo is None or until.utcoffset() is None:
        raise ConfigurationError(
            "FlaskCookie until must be an aware datetime (e.g. datetime(..., tzinfo=UTC))"
        )
    return until.timestamp()


class FlaskCookie:
    """Reads cookies written by Flask's built-in session (Flask 2.x and 3.x).

    Values of types Flask's tagged JSON keeps come back as those types:
    ``tuple``, ``bytes``, ``Markup``, ``UUID``, ``datetime`` (UTC, whole
    seconds, as Flask stores it); ``_permanent`` becomes ``permanent``.
    Only cookies whose signature verifies with ``secret_key`` or one of
    ``fallback_keys`` and that are at most ``max_age`` old are read.

    :param secret_key: Flask's ``SECRET_KEY``.
    :param fallback_keys: Flask's ``SECRET_KEY_FALLBACKS`` (older keys).
    :param salt: Flask's ``SecureCookieSessionInterface.salt``.
    :param cookie_name: Flask's ``SESSION_COOKIE_NAME``.
    :param max_age: Flask's ``PERMANENT_SESSION_LIFETIME``: older cookies are refused.
    :param until: an aware ``datetime``: from then on no cookie is read
        (migration has ended). With the cookie store and no ``revocation=``,
        nothing server-side remembers that a cookie was migrated, so a copy
        of an old cookie keeps starting a session until it expires, as it
        did before the switch; ``until`` ends that at a time of your choice.
    """

    def __init__(
        self,
        secret_key: str | bytes,
        fallback_keys: Sequence[str | bytes] = (),
        salt: str = "cookie-session",
        cookie_name: str = "session",
        max_age: timedelta | int = timedelta(days=31),
        until: datetime | None = None,
    ) -> None:
        keys = check_keys(secret_key, fallback_keys, "FlaskCookie")
        self.until = _until(until)
        self.cookie_name = cookie_name
        self.max_age = seconds(max_age, "FlaskCookie max_age")
        # itsdangerous tries the last key first: the current one, then fallbacks.
        self._signer = TimestampSigner(
            list(reversed(keys)),
            salt=salt,
            key_derivation="hmac",
            digest_method=hashlib.sha1,
        )

    def __repr__(self) -> str:
        return f"FlaskCookie(cookie_name={self.cookie_name!r})"

    def plausible(self, value: str) -> bool:
        """Whether ``value`` has the shape of a Flask cookie (no HMAC yet)."""
        return len(value) <= MAX_VALUE_CHARS and _SHAPE.fullmatch(value) is not None

    def read(self, values: Sequence[str]) -> Found | None:
        """The first of ``values`` that is a valid Flask session cookie."""
        if self.until is not None and time.time() >= self.until:
            debug(self, "migration ended (until=)")
            return None
        for value in values:
            if not self.plausible(value):
                debug(self, "not shaped like a Flask cookie (or too long)")
                continue
            try:
                payload, signed_at = self._signer.unsign(
                    value.encode("ascii"), max_age=self.max_age, return_timestamp=True
                )
            except (BadSignature, UnicodeEncodeError) as exc:
                debug(self, type(exc).__name__)  # expired, wrong key, not Flask's...
                continue
            try:
                data = load_payload(payload)
            except DecodeError as exc:
                debug(self, str(exc))
                continue
            found = accept(self, data, token=value, issued=int(signed_at.timestamp()))
            if found is not None:
                return found
        return None
