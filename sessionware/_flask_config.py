"""Reads a Flask app's session settings into SessionMiddleware arguments.

Flask's own keys and sessionware's (:data:`CONFIG_KEYS`), Flask-Session's
keys where they mean something here (:data:`FLASK_SESSION_KEYS`), and a
:class:`~sessionware.ConfigurationError` for every Flask-Session key that
does not (:data:`REFUSED_KEYS`): a session setting is never silently ignored.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import flask
from flask.config import ConfigAttribute

from sessionware._config import seconds
from sessionware.errors import ConfigurationError

#: ``app.config`` key -> :class:`~sessionware.SessionMiddleware` argument.
#: (``SECRET_KEY`` is read as Flask reads it: ``app.secret_key``.)
CONFIG_KEYS: dict[str, str] = {
    "SECRET_KEY": "secret_key",
    "SECRET_KEY_FALLBACKS": "fallback_keys",
    "PERMANENT_SESSION_LIFETIME": "permanent_lifetime",
    "SESSION_COOKIE_NAME": "cookie_name",
    "SESSION_COOKIE_DOMAIN": "cookie_domain",
    "SESSION_COOKIE_PATH": "cookie_path",
    "SESSION_COOKIE_SECURE": "cookie_secure",
    "SESSION_COOKIE_HTTPONLY": "cookie_httponly",
    "SESSION_COOKIE_SAMESITE": "cookie_samesite",
    "SESSION_COOKIE_PARTITIONED": "cookie_partitioned",
    "SESSION_REFRESH_EACH_REQUEST": "refresh_each_request",
    "SESSION_PERMANENT": "permanent_by_default",
    "SESSIONWARE_STORE": "store",
    "SESSIONWARE_REFRESH_INTERVAL": "refresh_interval",
    "SESSIONWARE_ABSOLUTE_LIFETIME": "absolute_lifetime",
    "SESSIONWARE_DETECT_NESTED_CHANGES": "detect_nested_changes",
}
#: Keys that choose the migration readers and the Flask-Session Redis store.
MIGRATE_KEY = "SESSIONWARE_MIGRATE_FLASK_COOKIE"
FLASK_SESSION_KEYS = ("SESSION_TYPE", "SESSION_REDIS", "SESSION_KEY_PREFIX", "SESSION_USE_SIGNER")
_USE_STORE = "set SESSIONWARE_STORE to a store URL (sqlite:///..., redis://..., memory://)"
#: Flask-Session keys with no meaning here -> what to use instead.
REFUSED_KEYS: dict[str, str] = {
    "SESSION_ID_LENGTH": "sessionware ids are always 128 random bits; remove it",
    "SESSION_SERIALIZATION_FORMAT": "sessionware has its own format (msgpack); remove it",
    "SESSION_CLEANUP_N_REQUESTS": "run `flask sessionware cleanup` (e.g. from cron) instead",
    "SESSION_MEMCACHED": _USE_STORE,
    "SESSION_CACHELIB": _USE_STORE,
    "SESSION_FILE_DIR": f"{_USE_STORE}; sqlite:///path/sessions.db keeps sessions in a file",
    "SESSION_FILE_THRESHOLD": _USE_STORE,
    "SESSION_FILE_MODE": _USE_STORE,
    "SESSION_MONGODB": _USE_STORE,
    "SESSION_MONGODB_DB": _USE_STORE,
    "SESSION_MONGODB_COLLECT": _USE_STORE,
    "SESSION_SQLALCHEMY": _USE_STORE,
    "SESSION_SQLALCHEMY_TABLE": _USE_STORE,
    "SESSION_SQLALCHEMY_SEQUENCE": _USE_STORE,
    "SESSION_SQLALCHEMY_SCHEMA": _USE_STORE,
    "SESSION_SQLALCHEMY_BIND_KEY": _USE_STORE,
    "SESSION_DYNAMODB": _USE_STORE,
    "SESSION_DYNAMODB_TABLE": _USE_STORE,
}
#: Every ``app.config`` key that is a session setting: a change to any of
#: them (a refused key set late included) is applied from the next request on.
SETTING_KEYS = frozenset(
    {*CONFIG_KEYS, MIGRATE_KEY, *FLASK_SESSION_KEYS, *REFUSED_KEYS, "APPLICATION_ROOT"}
)
#: The keys that choose the store: while they are unchanged, a re-read keeps
#: the store (and its connections).
STORE_KEYS = ("SESSIONWARE_STORE", "SESSION_TYPE", "SESSION_REDIS", "SESSION_KEY_PREFIX")
#: Flask defaults weaker than sessionware's: left out while they equal
#: ``flask.Flask.default_config`` (a user-set value always wins).
_WEAKER_FLASK_DEFAULTS = frozenset({"SESSION_COOKIE_SAMESITE"})


class Settings:
    """The session settings of a Flask app as they were read, and a test of
    whether they changed since, cheap enough for every request.

    Flask reads its settings on every request; so does this test, as one
    C-level ``itemgetter`` call over the keys the config had (values compared
    by identity, then equality; lists copied, so a change in place counts)
    and ``len(config)`` for the keys it had not: a key added changes it. (One
    change it misses until the next: a session key added while an unrelated
    key is deleted between the same two requests.) Checking every absent key
    instead costs as much again (measured: 0.5 µs a request), and a tuple of
    ``config.get`` calls three times as much.
    """

    __slots__ = ("_keys", "_size", "_get", "_values", "_secret", "_own_secret")

    def __init__(self, app: flask.Flask) -> None:
        config = app.config
        present = tuple(sorted(key for key in SETTING_KEYS if key in config))
        self._keys = present
        self._size = len(config)
        if len(present) > 1:
            self._get: Callable[[Any], tuple[Any, ...]] = operator.itemgetter(*present)
        else:  # itemgetter of one key returns the value, not a tuple
            self._get = lambda config: tuple(config[key] for key in present)
        self._values = tuple(
            list(value) if type(value) is list else value for value in self._get(config)
        )
        # ``app.secret_key`` is app.config["SECRET_KEY"], read above, unless a
        # subclass of Flask made it something else (a class attribute).
        self._own_secret = not isinstance(
            inspect.getattr_static(type(app), "secret_key", None), ConfigAttribute
        )
        self._secret = app.secret_key

    def changed(self, app: flask.Flask) -> bool:
        """Whether a session setting of ``app`` differs from what was read."""
        config = app.config
        try:
            values = self._get(config)
        except KeyError:
            return True  # a key was deleted
        return (
            values != self._values
            or len(config) != self._size
            or (self._own_secret and app.secret_key != self._secret)
        )

    def same(self, other: Settings) -> bool:
        """Whether ``other`` read the same settings (an unrelated key was added)."""
        return (self._keys, self._values, self._secret) == (
            other._keys,
            other._values,
            other._secret,
        )


def store_inputs(app: flask.Flask) -> tuple[Any, ...]:
    """The settings that choose ``app``'s store, to tell whether they changed."""
    config = app.config
    return tuple(config.get(key, _MISSING) for key in STORE_KEYS)


_MISSING = object()


def _refuse_flask_session_keys(config: Any) -> None:
    for key, instead in REFUSED_KEYS.items():
        if key in config:
            raise ConfigurationError(
                f"app.config[{key!r}] is a Flask-Session setting sessionware has no use "
                f"for; instead, {instead}"
            )
    kind = config.get("SESSION_TYPE")
    if kind not in (None, "redis"):
        raise ConfigurationError(
            f"app.config['SESSION_TYPE'] = {kind!r} (Flask-Session) is not supported: "
            f"{_USE_STORE}, or use SESSION_TYPE = 'redis' with SESSION_REDIS"
        )
    if kind is None:
        for key in ("SESSION_REDIS", "SESSION_KEY_PREFIX"):
            if key in config:
                raise ConfigurationError(
                    f"app.config[{key!r}] only has a meaning with SESSION_TYPE = 'redis'; "
                    "set that too, or give SESSIONWARE_STORE a RedisStore(client, prefix=...)"
                )
    elif "SESSIONWARE_STORE" in config:
        raise ConfigurationError(
            "app.config: both SESSION_TYPE = 'redis' and SESSIONWARE_STORE; keep one"
        )
    elif config.get("SESSION_REDIS") is None:
        raise ConfigurationError(
            "app.config: SESSION_TYPE = 'redis' needs SESSION_REDIS (a redis.Redis client): "
            "sessionware never falls back to a default server; or set "
            "SESSIONWARE_STORE = 'redis://...'"
        )
    signer = config.get("SESSION_USE_SIGNER", False)
    if not isinstance(signer, bool):
        raise ConfigurationError(
            f"app.config: SESSION_USE_SIGNER must be True or False, not {signer!r}"
        )


def middleware_options(app: flask.Flask, overrides: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~sessionware.SessionMiddleware` keyword arguments for ``app``.

    :param app: the Flask app; its config and ``app.secret_key`` are read.
    :param overrides: keyword arguments given to ``Sessionware``; they win
        over ``app.config``, before anything is checked.
    """
    config = app.config
    _refuse_flask_session_keys(config)
    defaults = flask.Flask.default_config
    options: dict[str, Any] = {"secret_key": app.secret_key}  # as Flask reads it
    for key, argument in CONFIG_KEYS.items():
        if key == "SECRET_KEY" or key not in config:
            continue
        value = config[key]
        if key in _WEAKER_FLASK_DEFAULTS and value == defaults.get(key):
            continue
        options[argument] = value
    if options.get("cookie_path") is None:
        # As Flask's SessionInterface.get_cookie_path does.
        options["cookie_path"] = config.get("APPLICATION_ROOT") or "/"
    if options.get("fallback_keys") is None:
        options["fallback_keys"] = ()  # Flask's default is None
    if options.get("store") is None:
        options.pop("store", None)
    redis_client = config.get("SESSION_REDIS") if config.get("SESSION_TYPE") == "redis" else None
    prefix = config.get("SESSION_KEY_PREFIX", "session:")
    if redis_client is not None and "SESSION_PERMANENT" not in config:
        options["permanent_by_default"] = True  # Flask-Session's default
    if redis_client is not None and "store" not in overrides:
        from sessionware.stores import RedisStore

        options["store"] = RedisStore(redis_client, prefix=prefix)
    options.update(overrides)
    if not options.get("secret_key"):
        raise ConfigurationError(
            "app.secret_key (app.config['SECRET_KEY']) is not set; sessionware needs it to "
            "sign every session cookie. Generate a strong one with `python -m sessionware secret`"
        )
    if "migrate_from" not in overrides:
        options["migrate_from"] = _readers(app, options, redis_client, prefix)
    return options


def _readers(
    app: flask.Flask, options: dict[str, Any], redis_client: Any, prefix: str
) -> list[Any]:
    """Flask's own cookie (unless turned off) and Flask-Session's Redis records."""
    from sessionware.migrate import FlaskCookie, FlaskSessionRedis

    config = app.config
    readers: list[Any] = []
    # The keys that signed the old sessions: Flask's, even when the keyword
    # arguments give sessionware another one.
    old_key = app.secret_key or options["secret_key"]
    cookie_name = config.get("SESSION_COOKIE_NAME") or "session"
    # Flask's cookies are plaintext: an app that chose encrypted cookies
    # does not read them unless it says so.
    encrypted = getattr(options.get("store"), "encrypt", False) is True
    migrate = config.get(MIGRATE_KEY, not encrypted)
    if not isinstance(migrate, bool):
        raise ConfigurationError(f"{MIGRATE_KEY} must be True or False, not {migrate!r}")
    if migrate:
        lifetime = options.get("permanent_lifetime", timedelta(days=31))
        readers.append(
            FlaskCookie(
                old_key,
                fallback_keys=config.get("SECRET_KEY_FALLBACKS") or (),
                cookie_name=cookie_name,
                max_age=seconds(lifetime, "permanent_lifetime"),
            )
        )
    if redis_client is not None:
        readers.append(
            FlaskSessionRedis(
                redis_client,
                key_prefix=prefix,
                cookie_name=cookie_name,
                use_signer=config.get("SESSION_USE_SIGNER", False),
                secret_key=old_key,
            )
        )
    return readers


def config_hint(message: str) -> str:
    """Name the app.config keys behind the middleware arguments an error mentions."""
    if message.startswith("app.config"):
        return ""  # the message names the key already
    keys = [key for key, argument in CONFIG_KEYS.items() if argument in message]
    return f" (set by app.config: {', '.join(keys)})" if keys else ""
