"""Checks every setting of SessionMiddleware once, at construction."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sessionware.errors import ConfigurationError, SessionWarning

MIN_KEY_BYTES = 32
_KEY_HINT = "generate a strong one with `python -m sessionware secret`"
# RFC 6265 cookie-name = token: visible ASCII without separators.
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


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


def seconds(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """A duration given as ``timedelta`` or whole ``int`` seconds, in seconds."""
    if isinstance(value, timedelta):
        result = int(value.total_seconds())
    elif isinstance(value, int) and not isinstance(value, bool):
        result = value
    else:
        raise ConfigurationError(
            f"{name} must be a datetime.timedelta or whole seconds (int), "
            f"not {type(value).__name__}"
        )
    if result < 0 or (result == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be positive, got {value!r}")
    return result


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
        warnings.warn(
            f"secret_key is only {len(current)} bytes; use at least {MIN_KEY_BYTES} "
            f"random bytes ({_KEY_HINT})",
            SessionWarning,
            stacklevel=4,
        )
    fallbacks = _fallbacks(fallback_keys)

    if not isinstance(cookie_name, str) or not _TOKEN_RE.match(cookie_name):
        raise ConfigurationError(f"cookie_name {cookie_name!r} is not a valid cookie name")
    if cookie_domain is not None and (not isinstance(cookie_domain, str) or not cookie_domain):
        raise ConfigurationError(
            f"cookie_domain must be a non-empty str or None: {cookie_domain!r}"
        )
    if not isinstance(cookie_path, str) or not cookie_path.startswith("/"):
        raise ConfigurationError(f"cookie_path must be a str starting with '/': {cookie_path!r}")
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
    if cookie_name.startswith("__Host-"):
        if not secure or cookie_domain is not None or cookie_path != "/":
            raise ConfigurationError(
                f"a __Host- cookie ({cookie_name!r}) requires cookie_secure=True, "
                "cookie_domain=None and cookie_path='/'"
            )
    elif cookie_name.startswith("__Secure-") and not secure:
        raise ConfigurationError(
            f"a __Secure- cookie ({cookie_name!r}) requires cookie_secure=True"
        )

    lifetime = seconds(settings["permanent_lifetime"], "permanent_lifetime")
    interval = settings["refresh_interval"]
    if interval is not None:
        interval = seconds(interval, "refresh_interval", allow_zero=True)
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
