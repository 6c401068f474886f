"""``FlaskSessionRedis``: reads Flask-Session (0.6 and later) records from Redis.

Flask-Session keeps ``msgpack`` (or JSON) of the session dict under
``key_prefix + sid`` and puts the sid in the cookie, signed with
``itsdangerous.Signer`` (salt ``"flask-session"``) when ``SESSION_USE_SIGNER``
is on. Older releases pickled the records, and 0.6-0.8 still fall back to
``pickle.loads`` for what does not decode: this reader never does. A record
that is neither msgpack nor JSON is no session; pickle is never imported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import msgpack  # type: ignore[import-untyped]
from itsdangerous import BadSignature, Signer

from sessionware._codec import MAX_SIZE, DecodeError
from sessionware._config import check_keys
from sessionware.errors import ConfigurationError, StoreError, install_hint
from sessionware.migrate._common import Found, accept, debug

if TYPE_CHECKING:
    import redis

__all__ = ["FlaskSessionRedis"]

#: Flask-Session ids are ``secrets.token_urlsafe(SESSION_ID_LENGTH)``: only
#: values of this shape are looked up (a sessionware token, with its dots, is not).
_SID_RE = re.compile(r"[A-Za-z0-9_-]{8,256}")
_SIGNED_RE = re.compile(r"[A-Za-z0-9_-]{8,256}\.[A-Za-z0-9_-]{27}")  # sid.HMAC-SHA1


def _refuse_ext(code: int, data: bytes) -> Any:
    raise DecodeError(f"unknown msgpack extension type {code}")


def load_record(raw: bytes) -> Any:
    """A Flask-Session record (msgspec's msgpack or JSON), decoded within bounds.

    msgpack first, as Flask-Session's default; one-shot ``unpackb`` bounds
    every length by the record's own and limits nesting. Never pickle.
    """
    if len(raw) > MAX_SIZE:
        raise DecodeError(f"record larger than {MAX_SIZE} bytes")
    try:
        # The decode boundary: msgpack raises outside its own hierarchy too.
        return msgpack.unpackb(
            raw, raw=False, strict_map_key=True, timestamp=3, ext_hook=_refuse_ext
        )
    except Exception:  # noqa: BLE001 (any failure means "not msgpack")
        pass
    try:
        return json.loads(raw)
    except RecursionError:
        raise DecodeError("nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise DecodeError("neither msgpack nor JSON (a pickled record is never read)") from None


def check_prefix(key_prefix: object) -> None:
    """Refuse a ``key_prefix`` that lets a cookie name keys outside the old store.

    A cookie names the record ``key_prefix + id``, with any id of the
    Flask-Session shape (:data:`_SID_RE`): that record is read into the
    session and deleted. An empty prefix would let a client name any Redis
    key holding a map, and one ending with a letter or digit (``"app"``) any
    key that merely starts with it (``"application…"``): the prefix must end
    with a separator (Flask-Session's default ``"session:"``), so that only
    keys of that namespace can be named.
    """
    if not isinstance(key_prefix, str):
        raise ConfigurationError(f"key_prefix must be a str, not {type(key_prefix).__name__}")
    if not key_prefix:
        raise ConfigurationError(
            "FlaskSessionRedis key_prefix must not be empty: a cookie could then name any "
            "Redis key (it is read into the session and deleted); use Flask-Session's "
            "SESSION_KEY_PREFIX (default 'session:')"
        )
    if key_prefix[-1].isascii() and key_prefix[-1].isalnum():
        raise ConfigurationError(
            f"FlaskSessionRedis key_prefix {key_prefix!r} must end with a separator such as "
            "':' (not a letter or digit): a cookie could otherwise name any Redis key that "
            "starts with it"
        )


class FlaskSessionRedis:
    """Reads sessions Flask-Session 0.6+ stored in Redis; deletes each once migrated.

    :param url_or_client: a ``redis://`` URL or a ``redis.Redis`` client
        (Flask-Session's ``SESSION_REDIS``), with ``decode_responses=False``.
    :param key_prefix: Flask-Session's ``SESSION_KEY_PREFIX``; not empty, and
        ending with a separator (see ``check_prefix``), so that a cookie
        can name only records of the old store.
    :param cookie_name: Flask's ``SESSION_COOKIE_NAME``.
    :param use_signer: Flask-Session's ``SESSION_USE_SIGNER``: cookies hold
        signed ids, and only ids that verify with ``secret_key`` are looked up.
    :param secret_key: the Flask ``SECRET_KEY`` that signed the ids.
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        key_prefix: str = "session:",
        cookie_name: str = "session",
        use_signer: bool = False,
        secret_key: str | bytes | None = None,
    ) -> None:
        try:
            import redis
        except ImportError as exc:
            raise ConfigurationError(
                f"FlaskSessionRedis needs the redis package; {install_hint('redis')}"
            ) from exc
        if isinstance(url_or_client, str):
            try:
                client = redis.Redis.from_url(
                    url_or_client, socket_timeout=5.0, socket_connect_timeout=5.0
                )
            except ValueError:
                raise ConfigurationError("FlaskSessionRedis URL is malformed") from None
        elif isinstance(url_or_client, redis.Redis):
            client = url_or_client
        else:
            raise ConfigurationError(
                "FlaskSessionRedis needs a redis:// URL or a redis.Redis client, "
                f"not {type(url_or_client).__name__}"
            )
        if client.get_encoder().decode_responses:
            raise ConfigurationError(
                "FlaskSessionRedis needs a client with decode_responses=False (records are bytes)"
            )
        check_prefix(key_prefix)
        self.client = client
        self.key_prefix = key_prefix
        self.cookie_name = cookie_name
        self._signer: Signer | None = None
        if use_signer:
            (key,) = check_keys(secret_key, (), "FlaskSessionRedis (use_signer=True)")
            self._signer = Signer(key, salt="flask-session", key_derivation="hmac")
        self._errors = (redis.exceptions.RedisError,)
        kwargs = client.get_connection_kwargs()
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        self._where = f"{where}/{kwargs.get('db', 0)}"  # never the password

    def __repr__(self) -> str:
        return f"FlaskSessionRedis({self._where}, key_prefix={self.key_prefix!r})"

    def plausible(self, value: str) -> bool:
        """Whether ``value`` has the shape of a (signed) Flask-Session id."""
        if self._signer is not None:
            return _SIGNED_RE.fullmatch(value) is not None
        return _SID_RE.fullmatch(value) is not None

    def _sid(self, value: str) -> str | None:
        if self._signer is not None:
            try:
                value = self._signer.unsign(value.encode("ascii")).decode("ascii")
            except (BadSignature, UnicodeError):
                debug(self, "the session id's signature does not verify")
                return None
        if _SID_RE.fullmatch(value) is None:
            debug(self, "not a Flask-Session id")
            return None
        return value

    def read(self, values: Sequence[str]) -> Found | None:
        """The first of ``values`` whose record holds a readable session.

        All of them are looked up in one round trip (``MGET``, which answers
        nothing for keys of another type, such as sessionware's own hashes).
        """
        keys = []
        for value in values:
            sid = self._sid(value)
            if sid is not None:
                keys.append(self.key_prefix + sid)
        if not keys:
            return None
        try:
            records = self.client.mget(keys)
        except self._errors as exc:
            raise StoreError(
                f"{self!r} could not read Flask-Session records: {type(exc).__name__}", store=self
            ) from exc
        for key, raw in zip(keys, records, strict=True):
            if not isinstance(raw, bytes):  # None: no record (or not a string key)
                debug(self, "no record for this session id")
                continue
            try:
                data = load_record(raw)
            except DecodeError as exc:
                debug(self, str(exc))
                continue
            found = accept(self, data, partial(self._delete, key), token=key)
            if found is not None:
                return found
        return None

    def _delete(self, key: str) -> None:
        try:
            self.client.delete(key)
        except self._errors as exc:
            raise StoreError(
                f"{self!r} could not delete a migrated record: {type(exc).__name__}", store=self
            ) from exc
