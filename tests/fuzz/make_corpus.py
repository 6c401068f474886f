"""Write the seed corpus of ``fuzz_cookie.py``: real cookies for each entry point.

Run ``python tests/fuzz/make_corpus.py`` from the repository root; the files in
``tests/fuzz/corpus/`` are committed. Each file is one mode byte (an index into
``fuzz_cookie.MODES``) followed by that mode's data.
"""

from __future__ import annotations

import datetime
import decimal
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fuzz_cookie as fc  # noqa: E402 - needs the path above

from sessionware import SessionMiddleware  # noqa: E402
from sessionware._codec import encode, encode_envelope  # noqa: E402
from sessionware.stores import CookieStore  # noqa: E402

SMALL = {"username": "admin", "age": 25, "is_vip": True, "hobbies": ["coding", "reading"]}
RICH = {
    "when": datetime.datetime(2024, 5, 1, 12, 30, 1, 5, tzinfo=datetime.UTC),
    "naive": datetime.datetime(2024, 5, 1, 12, 30),
    "day": datetime.date(2024, 5, 1),
    "span": datetime.timedelta(days=2, seconds=3),
    "id": uuid.UUID(int=7),
    "price": decimal.Decimal("1.10"),
    "pair": (1, "a"),
    "tags": {"x", "y"},
    "frozen": frozenset({1}),
    "nested": {"a": [1, 2, {"b": None}], 3: b"bytes"},
}
#: Compressible: long enough that the sealer picks zlib.
BIG = {"text": "lorem ipsum " * 60, "list": list(range(100))}


def envelope(data, permanent=False):
    return encode_envelope(["1", "sid-" + "A" * 18, 1 if permanent else 0, 1700000000], data)


def payload(data, permanent=False):
    # The real layout: [version, sid, flags, created, data].
    return encode_envelope([1, "A" * 22, 1 if permanent else 0, 1700000000], data)


def seal(middleware, data, permanent=False):
    return middleware.backend.sealer.seal(payload(data, permanent))


def long_headers(cookie, size=65536):
    """Adversarial Cookie headers of ``size`` characters; ``cookie`` a real value."""
    headers = {
        "no_semicolon": "session= " * (size // 9),  # the quadratic case of issue 8
        "no_space": "session=" * (size // 8),
        "after_other": "x session=" * (size // 10),
        "semicolons": ";" * size,
        "pairs": "a=b; " * (size // 5),
        "short_values": "session=ab;" * (size // 11),
        "quotes": '"session=' * (size // 9),
        "huge_value": "session=" + "x" * (size - 8),
        "tossed": f"session=junk{'x' * 40}; " * ((size - 200) // 55) + f"session={cookie}",
        "last_of_many": "a=b; " * ((size - 200) // 5) + f"session={cookie}",
    }
    return {name: text[:size] for name, text in headers.items()}


def main():
    out = HERE / "corpus"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    old_key = SessionMiddleware(
        fc._app, fc.OLD_SECRET, store=CookieStore(), permanent_lifetime=fc.LIFETIME
    )
    files = {}
    mode = {f.__name__: bytes([i]) for i, f in enumerate(fc.MODES)}

    def header(*values):
        return "; ".join(f"session={v}" for v in values).encode("latin-1")

    for name, data in (("small", SMALL), ("rich", RICH), ("big", BIG)):
        plain = seal(fc.PLAIN, data)
        files[f"plain_{name}"] = mode["mode_plain_header"] + header(plain)
        files[f"encrypted_{name}"] = mode["mode_encrypted_header"] + header(
            seal(fc.ENCRYPTED, data, permanent=True)
        )
        files[f"rotated_{name}"] = mode["mode_plain_header"] + header(seal(old_key, data))
        files[f"payload_{name}"] = mode["mode_sealed_payload"] + payload(data)
        files[f"encrypted_payload_{name}"] = mode["mode_encrypted_payload"] + payload(data)
        files[f"body_{name}"] = mode["mode_signed_body"] + plain.rsplit(".", 2)[0].encode()
        files[f"codec_{name}"] = mode["mode_codec"] + payload(data)
        files[f"record_{name}"] = mode["mode_record_value"] + encode(data)
    compressed = seal(fc.PLAIN, BIG)
    assert compressed.startswith("."), "BIG must be compressed"
    files["zlib_big"] = mode["mode_signed_zlib"] + __import__("zlib").compress(payload(BIG))
    files["tossed"] = mode["mode_plain_header"] + header("junk", seal(fc.PLAIN, SMALL))
    files["server_sid"] = mode["mode_server_header"] + header(fc.SID_COOKIE)
    files["server_other"] = mode["mode_server_header"] + header(
        fc.SERVER.backend.keys.sign(b"B" * 22)
    )
    files["record_marker"] = mode["mode_record_marker"] + encode([1700000000, 1])
    files["wrong_layout"] = mode["mode_sealed_payload"] + envelope(SMALL)
    # Long adversarial Cookie headers (64 KiB, as real headers get) for the
    # parser and for whole requests through each store (second byte).
    real = [seal(fc.PLAIN, SMALL), seal(fc.ENCRYPTED, SMALL), fc.SID_COOKIE]
    for name, text in long_headers(real[0]).items():
        files[f"header_{name}"] = mode["mode_cookie_parser"] + text.encode("latin-1")
        for store, cookie in enumerate(real):
            if name in ("no_semicolon", "tossed", "quotes") or store == 0:
                body = long_headers(cookie)[name].encode("latin-1")
                files[f"request{store}_{name}"] = (
                    mode["mode_cookie_request"] + bytes([store]) + body
                )
    for name, content in sorted(files.items()):
        (out / name).write_bytes(content)
    print(f"wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()
