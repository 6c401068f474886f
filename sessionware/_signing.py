"""itsdangerous signers for one purpose (salt): current key, fallbacks, expiry."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence

from itsdangerous import TimestampSigner
from itsdangerous.encoding import int_to_bytes

#: Longest token looked at (browsers keep cookies of about 4 KB).
MAX_TOKEN_SIZE = 8192
#: Length of the base64 HMAC-SHA256 that ends every token (written as a
#: literal in :meth:`KeyRing.unsign`; a test keeps them in step).
_SIGNATURE = 43
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
#: A token dated more than this many seconds ahead of this machine's clock is
#: refused (API.md section 5): clocks may differ a little between machines,
#: never a token's lifetime's worth.
MAX_FUTURE = 60


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

    Tokens are exactly itsdangerous ``TimestampSigner`` tokens (HMAC-SHA256,
    ``hmac`` key derivation, ``value.timestamp.signature``; a test checks
    both directions against ``TimestampSigner``). itsdangerous derives each
    key once, here, instead of on every call; per request only the HMAC of
    the token is computed, with the standard library's ``hmac`` (the same
    HMAC as itsdangerous' ``hmac.new(key, msg, sha256).digest()``).
    """

    __slots__ = ("_macs", "_stamp")

    def __init__(self, secret_keys: Sequence[bytes], salt: str) -> None:
        # secret_keys[0] is the current key; the rest are fallbacks. One
        # keyed HMAC per key (itsdangerous derives the key), copied per use:
        # a copy skips the key schedule and OpenSSL's digest lookup, which
        # dominate a one-shot HMAC of a small cookie (about 2x faster hot, 2x
        # again with cold CPU caches, which is how a server runs it).
        self._macs = tuple(
            hmac.new(
                TimestampSigner(
                    key, salt=salt, digest_method=hashlib.sha256, key_derivation="hmac"
                ).derive_key(),
                digestmod=hashlib.sha256,
            )
            for key in secret_keys
        )
        self._stamp: tuple[int, bytes] = (-1, b"")  # (second, its encoded form)

    def sign(self, value: bytes) -> str:
        """Sign ``value`` with the current key and the current time."""
        now = int(time.time())
        second, stamp = self._stamp
        if second != now:
            stamp = b64encode(int_to_bytes(now))
            self._stamp = (now, stamp)
        signed = value + b"." + stamp
        mac = self._macs[0].copy()
        mac.update(signed)
        signature = b64encode(mac.digest())
        return (signed + b"." + signature).decode("ascii")

    def unsign(self, token: str, max_age: int) -> tuple[bytes, int, int]:
        """Verify ``token``; return ``(value, issued_at, key_index)``.

        ``key_index`` is 0 for the current key, 1.. for fallbacks. Raises
        :class:`BadToken` when no key verifies, the token is malformed, or it
        is older than ``max_age`` seconds or dated more than
        :data:`MAX_FUTURE` seconds in the future. A structural check comes first
        (cheap, linear); then the HMAC is checked, in constant time, before
        anything else of the token is trusted.
        """
        # The shape of ``value.timestamp.signature``, checked before any HMAC
        # is paid for: junk (tossed cookies, another app's cookie of the same
        # name) is refused at the cost of a length test, an ASCII encode and
        # a split. Literals, not the constants: this runs for every cookie of
        # every request (a test keeps them in step).
        if len(token) > 8192:  # MAX_TOKEN_SIZE
            raise BadToken("not a token of ours (too long)")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise BadToken("not a token of ours (not ASCII)") from None
        signed, _, signature = raw.rpartition(b".")
        if len(signature) != 43:  # _SIGNATURE
            raise BadToken("not a token of ours (malformed)")
        for index, keyed in enumerate(self._macs):  # noqa: B007 (index used below)
            mac = keyed.copy()
            mac.update(signed)
            # Comparing the base64 forms in constant time saves decoding the
            # signature (a non-canonical encoding of a right signature is
            # refused, which is stricter than itsdangerous).
            if hmac.compare_digest(b64encode(mac.digest()), signature):
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
        if age < -60:  # MAX_FUTURE (a literal, as above)
            raise BadToken(f"dated {-age} s in the future")
        return value, issued, index
