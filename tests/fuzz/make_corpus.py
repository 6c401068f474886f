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
    for name, content in sorted(files.items()):
        (out / name).write_bytes(content)
    print(f"wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()
