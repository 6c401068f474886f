"""What the other rows are measured against: the bare WSGI app and the codec floor."""

from __future__ import annotations

import hashlib

import msgpack
from _common import SECRET
from harness import MAX_AGE, PAYLOAD, Timer, WSGIApp, make_environ, wsgi_apps
from itsdangerous import TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode


def bare(timer: Timer, key: object = ("bare", "untouched")) -> WSGIApp:
    """Registers the bare WSGI app (no session, no cookie) under ``key``."""
    app = wsgi_apps("session")["untouched"]
    timer.request(key, app, make_environ("/", None))
    return app


def codec_floor(timer: Timer) -> None:
    """Registers the bare codec work for the payload: sign/unsign, msgpack, base64.

    The least work any signed-cookie session must do: ``("floor", "load")`` is
    ``TimestampSigner.unsign`` (key derived once, sha256, ``max_age``) + base64
    decode + ``msgpack.unpackb``; ``("floor", "save")`` the reverse.
    """
    derived = TimestampSigner(
        SECRET, salt="sessionware.cookie", digest_method=hashlib.sha256
    ).derive_key()
    signer = TimestampSigner(
        derived, salt="sessionware.cookie", digest_method=hashlib.sha256, key_derivation="none"
    )
    packb, unpackb = msgpack.packb, msgpack.unpackb
    token = signer.sign(base64_encode(packb(PAYLOAD)))
    assert unpackb(base64_decode(signer.unsign(token, max_age=MAX_AGE))) == PAYLOAD

    def load() -> object:
        return unpackb(base64_decode(signer.unsign(token, max_age=MAX_AGE)))

    def save() -> object:
        return signer.sign(base64_encode(packb(PAYLOAD)))

    timer.call(("floor", "load"), load)
    timer.call(("floor", "save"), save)
