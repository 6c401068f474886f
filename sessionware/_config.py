"""Checks every setting of SessionMiddleware once, at construction."""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sessionware.errors import ConfigurationError, SessionWarning

MIN_KEY_BYTES = 32
_KEY_HINT = "generate a strong one with `python -m sessionware secret`"
# RFC 6265 cookie-name = token: visible ASCII without separators.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A host name: dot-separated labels of letters, digits, "-" and "_" (no label
# empty, none starting or ending with "-"); one leading dot is allowed, as
# RFC 6265 ignores it. No port, no space, no ";": nothing that werkzeug would
# rewrite or that could end the attribute.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DOMAIN_RE = re.compile(rf"\.?{_LABEL}(?:\.{_LABEL})*")
# A path werkzeug sends unchanged (its quote() keeps exactly these) minus ","
# (RFC 6265 path-value excludes ";" and controls; "," splits header lists).
_PATH_RE = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+/:=@]|%[0-9A-Fa-f]{2})*")
#: Longest Domain (DNS) and Path (RFC 6265bis: longer attributes are ignored).
MAX_DOMAIN = 253
MAX_PATH = 1024
#: Every duration lies in [1 s, 400 days]: RFC 6265bis caps a cookie's
#: lifetime at 400 days, browsers enforce it, and a longer one overflows dates.
MIN_DURATION = 1
MAX_DURATION = 400 * 24 * 3600
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_PACKAGE = __name__.partition(".")[0]


def user_stacklevel(also: tuple[str, ...] = ()) -> int:
    """The ``stacklevel`` that makes a warning name the first frame outside sessionware
    (and outside the packages named in ``also``: frameworks that call it).

    Counted from the function that calls :func:`warnings.warn` (level 1), so
    a warning raised anywhere inside the package, however deep, names the
    user's line: the ``SessionMiddleware(...)`` call, ``Sessionware(app)`` or
    ``init_app(app)``. A fixed number breaks as soon as the call path changes.
    """
    frame = sys._getframe(1)  # the caller of this function: level 1
    level = 1
    packages = (_PACKAGE, *also)
    while frame.f_back is not None:
        module = frame.f_globals.get("__name__", "")
        if module.partition(".")[0] not in packages:
            break
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` naming the user's line (see :func:`user_stacklevel`)."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings; durations are whole seconds."""

    secret_keys: tuple[bytes, ...]  # current key first, then fallbacks
    cookie_name: str
    cookie_domain: str | None
    cookie_path: str
    cookie_secure: bool
    cookie_httponly: bool
    cookie_samesite: str | None
    cookie_partitioned: bool
    permanent_lifetime: int
    refresh_each_request: bool
    refresh_interval: int | None
    absolute_lifetime: int | None
    detect_nested_changes: bool
    environ_key: str
    permanent_by_default: bool  # new sessions start permanent
    migrate_from: tuple[Any, ...]  # readers of older formats (sessionware.migrate)


#: The names of the middleware's settings: :class:`Config`'s fields, with
#: ``secret_keys`` given as ``secret_key`` plus ``fallback_keys``.
SETTINGS = frozenset(
    {f for f in Config.__dataclass_fields__ if f != "secret_keys"} | {"secret_key", "fallback_keys"}
)


def _key(value: Any, what: str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise ConfigurationError(
            f"{what} must be str or bytes, not {type(value).__name__}; {_KEY_HINT}"
        )
    if not value:
        raise ConfigurationError(f"{what} is empty; {_KEY_HINT}")
    return bytes(value)


def _fallbacks(fallback_keys: Any, owner: str = "") -> tuple[bytes, ...]:
    if isinstance(fallback_keys, str | bytes | bytearray):
        raise ConfigurationError(
            f"{owner}fallback_keys must be a sequence of keys, not a single "
            f"{type(fallback_keys).__name__}; write fallback_keys=[old_key]"
        )
    if fallback_keys is None:
        fallback_keys = ()
    if not isinstance(fallback_keys, Sequence):
        raise ConfigurationError(
            f"{owner}fallback_keys must be a list or tuple of keys, "
            f"not {type(fallback_keys).__name__}"
        )
    return tuple(_key(k, f"{owner}fallback_keys[{i}]") for i, k in enumerate(fallback_keys))


def check_keys(secret_key: Any, fallback_keys: Any, owner: str) -> tuple[bytes, ...]:
    """``(secret_key, *fallback_keys)`` as bytes, checked (for readers of old formats)."""
    if secret_key is None:
        raise ConfigurationError(f"{owner} secret_key is required")
    return (_key(secret_key, f"{owner} secret_key"), *_fallbacks(fallback_keys, f"{owner} "))


def _readers(value: Any) -> tuple[Any, ...]:
    """``migrate_from``: a sequence of readers (``sessionware.migrate``)."""
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ConfigurationError(
            f"migrate_from must be a list of readers, not {type(value).__name__}; "
            "write migrate_from=[FlaskCookie(...)]"
        )
    for index, reader in enumerate(value):
        if not callable(getattr(reader, "read", None)) or not isinstance(
            getattr(reader, "cookie_name", None), str
        ):
            raise ConfigurationError(
                f"migrate_from[{index}] is a {type(reader).__name__}, not a reader "
                "(sessionware.migrate.FlaskCookie, FlaskSessionRedis or an object with "
                "cookie_name and read(values))"
            )
    return tuple(value)


def seconds(value: Any, name: str) -> int:
    """A duration given as ``timedelta`` or whole ``int`` seconds, in whole seconds.

    Refused outside 1 second .. 400 days (compared exactly, before a
    ``timedelta`` is truncated to whole seconds).
    """
    if isinstance(value, timedelta):
        exact: float | int = value.total_seconds()
        # Compared as timedeltas: no float rounding at the edges.
        too_short = value < timedelta(seconds=MIN_DURATION)
        too_long = value > timedelta(seconds=MAX_DURATION)
    elif isinstance(value, int) and not isinstance(value, bool):
        exact = int(value)  # an int subclass (IntEnum) counts as its value
        too_short, too_long = exact < MIN_DURATION, exact > MAX_DURATION
    else:
        raise ConfigurationError(
            f"{name} must be a datetime.timedelta or whole seconds (int), "
            f"not {type(value).__name__}"
        )
    if too_short or too_long:
        raise ConfigurationError(
            f"{name} must be between 1 second and 400 days (the longest cookie "
            f"lifetime browsers keep, RFC 6265bis), got {value!r}"
        )
    return int(exact)


def _cookie_name(value: Any) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
        raise ConfigurationError(
            f"cookie_name {value!r} is not a valid cookie name: use letters, digits and "
            "!#$%&'*+-.^_`|~ only (no space, ';', ',', '=', quotes or control characters)"
        )
    return value


def _cookie_domain(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"cookie_domain must be a non-empty str or None: {value!r}")
    if len(value) > MAX_DOMAIN or not _DOMAIN_RE.fullmatch(value):
        hint = ""
        if not value.isascii():
            try:
                hint = f"; write the ASCII form {value.encode('idna').decode('ascii')!r}"
            except UnicodeError:
                pass
        raise ConfigurationError(
            f"cookie_domain {value[:80]!r} is not a host name that can be sent as given "
            f"(dot-separated labels of letters, digits, '-' and '_', no port, at most "
            f"{MAX_DOMAIN} characters){hint}"
        )
    return value


def _cookie_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigurationError(f"cookie_path must be a str starting with '/': {value!r}")
    if len(value) > MAX_PATH or not _PATH_RE.fullmatch(value):
        raise ConfigurationError(
            f"cookie_path {value[:80]!r} cannot be sent as given: use letters, digits, "
            f"/-._~!$&'()*+:=@ and %XX escapes only (no ';', ',', whitespace, control "
            f"or non-ASCII characters), at most {MAX_PATH} characters"
        )
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def build_config(**settings: Any) -> Config:
    """Validate the middleware's arguments; raise ConfigurationError on the first fault.

    ``settings`` are :class:`~sessionware.SessionMiddleware`'s keyword
    arguments by their names (the signature is the one list of them; a test
    keeps it, :class:`Config` and the Flask key map in step).
    """
    unknown = settings.keys() - SETTINGS
    missing = SETTINGS - settings.keys()
    if unknown or missing:
        raise TypeError(f"unknown settings {sorted(unknown)}, missing {sorted(missing)}")
    secret_key = settings["secret_key"]
    fallback_keys = settings["fallback_keys"]
    cookie_name = settings["cookie_name"]
    cookie_domain = settings["cookie_domain"]
    cookie_path = settings["cookie_path"]
    cookie_samesite = settings["cookie_samesite"]
    environ_key = settings["environ_key"]
    if secret_key is None:
        raise ConfigurationError(f"secret_key is required; {_KEY_HINT}")
    current = _key(secret_key, "secret_key")
    if len(current) < MIN_KEY_BYTES:
        warn(
            f"secret_key is only {len(current)} bytes; use at least {MIN_KEY_BYTES} "
            f"random bytes ({_KEY_HINT})",
            SessionWarning,
        )
    fallbacks = _fallbacks(fallback_keys)

    cookie_name = _cookie_name(cookie_name)
    cookie_domain = _cookie_domain(cookie_domain)
    cookie_path = _cookie_path(cookie_path)
    secure = _flag(settings["cookie_secure"], "cookie_secure")
    httponly = _flag(settings["cookie_httponly"], "cookie_httponly")
    partitioned = _flag(settings["cookie_partitioned"], "cookie_partitioned")

    samesite: str | None
    if cookie_samesite is None:
        samesite = None
    elif isinstance(cookie_samesite, str) and cookie_samesite.lower() in _SAMESITE:
        samesite = _SAMESITE[cookie_samesite.lower()]
    else:
        raise ConfigurationError(
            f'cookie_samesite must be "Lax", "Strict", "None" or None, not {cookie_samesite!r}'
        )
    if samesite == "None" and not secure:
        raise ConfigurationError(
            'cookie_samesite="None" requires cookie_secure=True (browsers drop the cookie)'
        )
    if partitioned and not secure:
        raise ConfigurationError("cookie_partitioned=True requires cookie_secure=True")
    # Browsers match the prefixes in any letter case (RFC 6265bis), so do we.
    folded = cookie_name.lower()
    if folded.startswith("__host-"):
        if not secure or cookie_domain is not None or cookie_path != "/":
            raise ConfigurationError(
                f"a __Host- cookie ({cookie_name!r}) requires cookie_secure=True, "
                "cookie_domain=None and cookie_path='/'"
            )
    elif folded.startswith("__secure-") and not secure:
        raise ConfigurationError(
            f"a __Secure- cookie ({cookie_name!r}) requires cookie_secure=True"
        )

    lifetime = seconds(settings["permanent_lifetime"], "permanent_lifetime")
    interval = settings["refresh_interval"]
    if interval is not None:
        interval = seconds(interval, "refresh_interval")
    absolute = settings["absolute_lifetime"]
    if absolute is not None:
        absolute = seconds(absolute, "absolute_lifetime")
    if not isinstance(environ_key, str) or not environ_key:
        raise ConfigurationError(f"environ_key must be a non-empty str: {environ_key!r}")

    return Config(
        secret_keys=(current, *fallbacks),
        cookie_name=cookie_name,
        cookie_domain=cookie_domain,
        cookie_path=cookie_path,
        cookie_secure=secure,
        cookie_httponly=httponly,
        cookie_samesite=samesite,
        cookie_partitioned=partitioned,
        permanent_lifetime=lifetime,
        refresh_each_request=_flag(settings["refresh_each_request"], "refresh_each_request"),
        refresh_interval=interval,
        absolute_lifetime=absolute,
        detect_nested_changes=_flag(settings["detect_nested_changes"], "detect_nested_changes"),
        environ_key=environ_key,
        permanent_by_default=_flag(settings["permanent_by_default"], "permanent_by_default"),
        migrate_from=_readers(settings["migrate_from"]),
    )
