"""itsdangerous signers for one purpose (salt): current key, fallbacks, expiry."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from itsdangerous import BadSignature, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, bytes_to_int


class BadToken(Exception):
    """A token did not verify; the message is the reason (logged at DEBUG)."""


class KeyRing:
    """Signs with the current key; verifies with the current key, then fallbacks.

    itsdangerous derives the HMAC key from the secret on every call. Keys are
    derived once here (with itsdangerous' own ``hmac`` derivation) and the
    per-request signers use ``key_derivation="none"``, which is identical on
    the wire and skips one HMAC per request.
    """

    __slots__ = ("signers",)

    def __init__(self, secret_keys: Sequence[bytes], salt: str) -> None:
        # secret_keys[0] is the current key; the rest are fallbacks.
        self.signers = tuple(
            TimestampSigner(
                TimestampSigner(
                    key, salt=salt, digest_method=hashlib.sha256, key_derivation="hmac"
                ).derive_key(),
                salt=salt,
                digest_method=hashlib.sha256,
                key_derivation="none",
            )
            for key in secret_keys
        )

    def sign(self, value: bytes) -> str:
        """Sign ``value`` with the current key and the current time."""
        return self.signers[0].sign(value).decode("ascii")

    def unsign(self, token: str, max_age: int) -> tuple[bytes, int, int]:
        """Verify ``token``; return ``(value, issued_at, key_index)``.

        ``key_index`` is 0 for the current key, 1.. for fallbacks. Raises
        :class:`BadToken` when no key verifies, the token is malformed, or it
        is older than ``max_age`` seconds. The HMAC is checked (in constant
        time, by itsdangerous) before anything else of the token is trusted.
        """
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise BadToken("cookie is not ASCII") from None
        for index, signer in enumerate(self.signers):
            try:
                # Signer.unsign checks the signature over "value.timestamp";
                # the timestamp is parsed below, only once it is authentic.
                signed = Signer.unsign(signer, raw)
            except BadSignature:
                continue
            value, sep, stamp = signed.rpartition(b".")
            if not sep:
                raise BadToken("signed value has no timestamp")
            try:
                issued = bytes_to_int(base64_decode(stamp))
            except Exception:  # itsdangerous raises BadData/binascii errors here
                raise BadToken("malformed timestamp") from None
            age = int(time.time()) - issued
            if age > max_age:
                raise BadToken(f"expired {age - max_age} s ago (max_age {max_age} s)")
            return value, issued, index
        raise BadToken("signature does not match any key")
