"""itsdangerous signers for one purpose (salt): current key, fallbacks, expiry."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence

from itsdangerous import TimestampSigner

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64encode(data: bytes) -> bytes:
    """URL-safe base64 without padding (as itsdangerous writes it), in one C call."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def b64decode(data: bytes) -> bytes:
    """Inverse of :func:`b64encode`; raises ``binascii.Error`` on bad input."""
    return binascii.a2b_base64(data.translate(_TO_STANDARD) + b"=" * (-len(data) % 4))


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
        signed, sep, signature = raw.rpartition(b".")
        if not sep:
            raise BadToken("no signature")
        for index, signer in enumerate(self.signers):  # noqa: B007 (index used below)
            # itsdangerous computes the HMAC; comparing its base64 form in
            # constant time saves decoding the signature (a non-canonical
            # encoding of a right signature is refused, which is stricter).
            if hmac.compare_digest(signer.get_signature(signed), signature):
                break
        else:
            raise BadToken("signature does not match any key")
        # Authentic from here on: the timestamp and value were signed by us.
        value, sep, stamp = signed.rpartition(b".")
        if not sep:
            raise BadToken("signed value has no timestamp")
        try:
            issued = int.from_bytes(b64decode(stamp), "big")
        except (binascii.Error, ValueError):
            raise BadToken("malformed timestamp") from None
        age = int(time.time()) - issued
        if age > max_age:
            raise BadToken(f"expired {age - max_age} s ago (max_age {max_age} s)")
        return value, issued, index
