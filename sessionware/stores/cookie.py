"""``CookieStore``: the whole session, signed (optionally encrypted), in the cookie."""

from __future__ import annotations

import hashlib
import hmac
import os
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from sessionware._config import warn
from sessionware._signing import BadToken, KeyRing, b64decode, b64encode
from sessionware.errors import ConfigurationError, install_hint

if TYPE_CHECKING:
    from sessionware.stores.base import Store

#: Tokens longer than this are refused before any work (browsers cap at ~4 KB).
MAX_TOKEN_SIZE = 8192
#: Decompressed payloads are capped here, so a zlib bomb costs nothing.
MAX_PAYLOAD_SIZE = 64 * 1024
#: Payloads shorter than this are not worth a zlib attempt.
COMPRESS_MIN_SIZE = 200
_NONCE = 12
#: What a session that outgrows the cookie does without ``overflow=``.
OVERSIZE: Final = ("raise", "warn")


class CookieStore:
    """The default store: the session travels in a signed, timestamped cookie.

    The payload is compact msgpack, zlib-compressed only when that makes it
    shorter. Works with no server at all and with any number of workers;
    the user can read (not change) its content unless ``encrypt=True``.

    Browsers drop a cookie over 4093 bytes without a word, so a session that
    outgrows it is never sent as is. By default its save fails with
    :class:`~sessionware.CookieTooLargeError` (the request fails, the browser
    keeps the session it had); ``overflow=`` keeps it in a server-side store
    instead.

    :param oversize: without ``overflow``, what a session too large for the
        cookie does: ``"raise"`` (the default) raises
        :class:`~sessionware.CookieTooLargeError` naming the size, the limit
        and the largest keys; ``"warn"`` sends the cookie anyway with a
        :class:`~sessionware.SessionWarning`, as Flask does (browsers drop it).
    :param overflow: a server-side store (or its URL) that keeps a session
        once it outgrows the cookie, transparently for the app: its cookie
        then carries only the signed session id, and the session stays in
        that store, with a server-side store's guarantees, until it is
        emptied (cleared, invalidated, its last key deleted).
    :param strict_size: deprecated, use ``oversize``: ``True`` is
        ``oversize="raise"``, ``False`` is ``oversize="warn"``.
    :param encrypt: make the payload confidential with AES-GCM (needs
        ``pip install "sessionware[crypto]"``). Encrypted payloads are never
        compressed, so their length cannot leak how well secrets compress.
        (It concerns the cookie: an overflow store holds the data as any
        server-side store does.)

    .. versionchanged:: 1.2
        An oversized session raises by default; ``oversize`` and
        ``overflow`` added; ``strict_size`` deprecated.
    """

    def __init__(
        self,
        *,
        oversize: Literal["raise", "warn"] = "raise",
        overflow: Store | str | None = None,
        strict_size: bool | None = None,
        encrypt: bool = False,
    ) -> None:
        if oversize not in OVERSIZE:
            raise ConfigurationError(
                f'CookieStore(oversize=...) must be "raise" or "warn", not {oversize!r}'
            )
        if strict_size is not None:
            replacement = "raise" if strict_size else "warn"
            warn(
                f"CookieStore(strict_size={bool(strict_size)}) is deprecated; write "
                f'CookieStore(oversize="{replacement}") instead'
                + (" (raising is the default now)" if strict_size else ""),
                DeprecationWarning,
            )
            if oversize != "raise" and oversize != replacement:
                raise ConfigurationError(
                    f"CookieStore(strict_size={bool(strict_size)}, oversize={oversize!r}) "
                    "contradict each other; pass oversize= alone"
                )
            oversize = replacement  # type: ignore[assignment]
        self.oversize: Literal["raise", "warn"] = oversize
        #: The server-side store that keeps sessions too large for the cookie.
        self.overflow = _overflow(overflow)
        if self.overflow is not None and oversize == "warn":
            raise ConfigurationError(
                'CookieStore(overflow=..., oversize="warn") contradict each other: with '
                "overflow= a session too large for the cookie is kept there; remove oversize="
            )
        self.encrypt = bool(encrypt)
        if self.encrypt:
            try:
                import cryptography  # noqa: F401
            except ImportError:
                raise ConfigurationError(
                    "CookieStore(encrypt=True) needs the cryptography package: "
                    + install_hint("crypto")
                ) from None

    @property
    def strict_size(self) -> bool:
        """Deprecated: whether an oversized session raises (``oversize="raise"``)."""
        return self.oversize == "raise"

    def __repr__(self) -> str:
        overflow = "" if self.overflow is None else f", overflow={self.overflow!r}"
        return f"CookieStore(oversize={self.oversize!r}{overflow}, encrypt={self.encrypt})"

    def bind(self, secret_keys: Sequence[bytes]) -> CookieSealer:
        """Sealer for these keys (current first); used by the middleware."""
        return CookieSealer(secret_keys, self.encrypt)


class CookieSealer:
    """Turns payload bytes into a cookie value and back, for one key set."""

    __slots__ = ("keys", "_aeads")

    def __init__(self, secret_keys: Sequence[bytes], encrypt: bool) -> None:
        self.keys = KeyRing(secret_keys, "sessionware.cookie")
        self._aeads: tuple[Any, ...] = ()
        if encrypt:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            # One AES-256 key per secret key, derived for this purpose only.
            self._aeads = tuple(
                AESGCM(hmac.digest(key, b"sessionware.cookie.encrypt", hashlib.sha256))
                for key in secret_keys
            )

    def seal(self, payload: bytes) -> str:
        """Cookie value for ``payload``: compressed or encrypted, then signed."""
        if self._aeads:
            nonce = os.urandom(_NONCE)
            body = b"~" + b64encode(nonce + self._aeads[0].encrypt(nonce, payload, b"sessionware"))
        else:
            body = b64encode(payload)
            if len(payload) >= COMPRESS_MIN_SIZE:
                packed = zlib.compress(payload, 6)
                if len(packed) + 1 < len(payload):
                    body = b"." + b64encode(packed)
        return self.keys.sign(body)

    def open(self, token: str, max_age: int) -> tuple[bytes, int, int]:
        """Verify and unwrap a cookie value: ``(payload, issued_at, key_index)``.

        The signature is verified before anything else, so forged bytes never
        reach zlib, AES or msgpack. Raises :class:`BadToken` with the reason.
        """
        if len(token) > MAX_TOKEN_SIZE:
            raise BadToken(f"cookie is {len(token)} bytes, over {MAX_TOKEN_SIZE}")
        body, issued, index = self.keys.unsign(token, max_age)
        try:
            if self._aeads:
                # An encrypting store accepts encrypted bodies only. A merely
                # signed one, compressed (".") or not, from before encryption
                # was turned on or from another app sharing the key, carries
                # data that travelled in clear: it is no session here.
                if body[:1] != b"~":
                    raise BadToken("cookie is signed but not encrypted; this store decrypts")
                raw = b64decode(body[1:])
                payload = self._aeads[index].decrypt(raw[:_NONCE], raw[_NONCE:], b"sessionware")
            elif body[:1] == b"~":
                raise BadToken("cookie is encrypted but this store does not decrypt")
            elif body[:1] == b".":
                payload = _inflate(b64decode(body[1:]))
            else:
                payload = b64decode(body)
        except BadToken:
            raise
        except Exception as exc:  # binascii, zlib and cryptography errors alike
            raise BadToken(f"cannot unwrap payload: {type(exc).__name__}") from None
        return payload, issued, index


def _overflow(value: object) -> Store | None:
    """``overflow=``: a server-side store, built from its URL if need be."""
    if value is None:
        return None
    from sessionware.stores import server_side

    return server_side(value, "CookieStore(overflow=...)", "keep sessions too large for a cookie")


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    payload = inflater.decompress(data, MAX_PAYLOAD_SIZE)
    if inflater.unconsumed_tail or not inflater.eof:
        raise BadToken(f"compressed payload is over {MAX_PAYLOAD_SIZE} bytes or truncated")
    return payload
