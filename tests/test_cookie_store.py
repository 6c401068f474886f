"""The cookie store: the README's "Security notes" (bad input is no session, rotation,
encryption, bounded decoding) on real cookies."""

from __future__ import annotations

import base64
import logging
import time
import tracemalloc
import zlib

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous.encoding import base64_encode
from werkzeug.test import Client

from helpers import OLD_SECRET, SECRET, SEED, cookie_value, set_cookies
from sessionware import SessionMiddleware
from sessionware.stores import CookieStore


def echo_app(environ, start_response):
    session = environ["session"]
    if environ["PATH_INFO"] == "/set":
        session.update(SEED)
    body = f"{session.new}|{session.get('username')}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def middleware(**options):
    options.setdefault("secret_key", SECRET)
    return SessionMiddleware(echo_app, **options)


def real_cookie(mw=None):
    client = Client(mw or middleware())
    return cookie_value(client.get("/set"))


def visit(cookie_header, mw=None):
    """Send a raw Cookie header; return (new, username) the app saw."""
    client = Client(mw or middleware(), use_cookies=False)
    response = client.get("/", headers={"Cookie": cookie_header})
    assert response.status_code == 200
    new, username = response.text.split("|")
    return new == "True", username


def test_a_real_cookie_loads():
    assert visit(f"session={real_cookie()}") == (False, "admin")


def _tampered(cookie):
    alphabet = "ABCabc012-_."
    for i, char in enumerate(cookie):
        replacement = alphabet[(alphabet.find(char) + 1) % len(alphabet)]
        yield f"flip-{i}", cookie[:i] + replacement + cookie[i + 1 :]
    for cut in range(0, len(cookie), 7):
        yield f"truncate-{cut}", cookie[:cut]
    yield "extend", cookie + "A"
    yield "extend-segment", cookie + ".AAAA"
    payload, stamp, sig = cookie.rsplit(".", 2)
    yield "swap-stamp-sig", f"{payload}.{sig}.{stamp}"
    yield "swap-payload-sig", f"{sig}.{stamp}.{payload}"
    yield "drop-sig", f"{payload}.{stamp}"
    yield "drop-stamp", f"{payload}.{sig}"
    yield "other-salt", cookie.replace(payload, base64.urlsafe_b64encode(b"x").decode())
    yield "garbage", "%%%$$$***"
    yield "unicode", "séssion✓"
    yield "empty", ""
    yield "huge", "A" * 20000


def test_every_tampered_variant_is_a_new_empty_session(caplog):
    cookie = real_cookie()
    variants = list(_tampered(cookie))
    assert len(variants) > len(cookie)
    with caplog.at_level(logging.DEBUG, logger="sessionware"):
        for name, variant in variants:
            start = time.perf_counter()
            assert visit(f"session={variant}") == (True, "None"), name
            assert time.perf_counter() - start < 0.5, name
    assert any("ignoring session cookie" in r.getMessage() for r in caplog.records)


def test_wrong_key_is_no_session():
    cookie = real_cookie(middleware(secret_key="another-secret-key-that-is-32-bytes!"))
    assert visit(f"session={cookie}") == (True, "None")


def test_cookie_tossing_first_that_verifies_wins():
    good = real_cookie()
    other = real_cookie(middleware(secret_key="another-secret-key-that-is-32-bytes!"))
    assert visit(f"session=forged; session={good}") == (False, "admin")
    assert visit(f"session={other}; session={good}") == (False, "admin")
    assert visit("session=forged; session=alsoforged") == (True, "None")


def test_payload_from_server_side_sid_cookie_does_not_load():
    # A signed sid cookie (other salt) must never verify as a cookie payload.
    sid_mw = middleware(store="memory://")
    client = Client(sid_mw)
    sid_cookie = cookie_value(client.get("/set"))
    assert visit(f"session={sid_cookie}") == (True, "None")


def visit_measured(cookie, mw):
    """``visit()`` plus the peak memory it allocated, in bytes."""
    tracemalloc.start()
    try:
        result = visit(f"session={cookie}", mw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def signed(mw, body: bytes) -> str:
    return mw.backend.sealer.keys.sign(body)


BOMBS = {
    "array32-claims-4G": b"\xdd\xff\xff\xff\xff",
    "map32-claims-4G": b"\xdf\xff\xff\xff\xff",
    "str32-claims-4G": b"\xdb\xff\xff\xff\xff",
    "deep-arrays": b"\x91" * 3000,
    "deep-maps": b"\x81\xa1a" * 1500,
    "not-a-list": b"\xa3abc",
    "wrong-version": b"\x95\x09\xa1x\x00\x00\x80",
    "bad-types": b"\x95\x01\x01\x01\x01\x01",
    "trailing-bytes": b"\x95\x01\xa1x\x00\x00\x80\xc0",
    "unknown-ext": b"\x95\x01\xa1x\x00\x00\x81\xa1k\xd4\x7f\x00",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_signed_hostile_payloads_are_new_sessions(name):
    # Signed with the real key: these reach the decoder, which must bound them.
    mw = middleware()
    result, peak = visit_measured(signed(mw, base64_encode(BOMBS[name])), mw)
    assert result == (True, "None")
    assert peak < 5_000_000


def test_zlib_bomb_is_bounded():
    mw = middleware()
    bomb = zlib.compress(b"\x00" * 4_000_000, 9)
    result, peak = visit_measured(signed(mw, b"." + base64_encode(bomb)), mw)
    assert result == (True, "None")
    assert peak < 2_000_000


def test_fallback_key_is_accepted_and_resigned():
    old = real_cookie(middleware(secret_key=OLD_SECRET))
    rotated = middleware(fallback_keys=[OLD_SECRET])
    client = Client(rotated)
    client.set_cookie("session", old)
    response = client.get("/")
    assert response.text == "False|admin"
    new_cookie = cookie_value(response)
    assert new_cookie and new_cookie != old  # re-signed with the current key
    # The re-signed cookie verifies with the current key alone.
    assert visit(f"session={new_cookie}") == (False, "admin")
    # And a cookie signed with the current key is not re-sent.
    assert set_cookies(client.get("/")) == []


def test_without_fallback_the_old_key_is_refused():
    old = real_cookie(middleware(secret_key=OLD_SECRET))
    assert visit(f"session={old}") == (True, "None")


def test_expired_cookie_with_controlled_clock():
    with freeze_time("2026-03-01 12:00:00"):
        cookie = real_cookie(middleware(permanent_lifetime=100))
    with freeze_time("2026-03-01 12:01:40"):
        assert visit(f"session={cookie}", middleware(permanent_lifetime=100))[0] is False
    with freeze_time("2026-03-01 12:01:41"):
        assert visit(f"session={cookie}", middleware(permanent_lifetime=100))[0] is True


def test_encrypted_cookie_hides_content_and_round_trips():
    mw = middleware(store=CookieStore(encrypt=True))
    cookie = real_cookie(mw)
    body = cookie.rsplit(".", 2)[0]
    assert body.startswith("~")
    decoded = base64.urlsafe_b64decode(body[1:] + "=" * (-len(body[1:]) % 4))
    assert b"admin" not in decoded and b"wuhan" not in decoded
    assert visit(f"session={cookie}", mw) == (False, "admin")
    # A plain signed cookie is refused by an encrypting store...
    assert visit(f"session={real_cookie()}", mw) == (True, "None")
    # ...and an encrypted one is not readable by a plain store.
    assert visit(f"session={cookie}") == (True, "None")


def test_encrypted_cookie_rotation():
    old = real_cookie(middleware(secret_key=OLD_SECRET, store=CookieStore(encrypt=True)))
    mw = middleware(fallback_keys=[OLD_SECRET], store=CookieStore(encrypt=True))
    assert visit(f"session={old}", mw) == (False, "admin")


def test_encrypted_tamper_is_new_session():
    mw = middleware(store=CookieStore(encrypt=True))
    cookie = real_cookie(mw)
    body, stamp, sig = cookie.rsplit(".", 2)
    # Re-sign a flipped ciphertext with the real key: AES-GCM must refuse it.
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    forged = signed(mw, flipped.encode())
    assert visit(f"session={forged}", mw) == (True, "None")


def test_tokens_are_itsdangerous_timestamp_signer_tokens():
    # Wire-compatible both ways with itsdangerous' TimestampSigner (sha256, hmac derivation).
    import hashlib

    from itsdangerous import TimestampSigner

    from sessionware._signing import KeyRing

    reference = TimestampSigner(
        SECRET.encode(),
        salt="sessionware.cookie",
        digest_method=hashlib.sha256,
        key_derivation="hmac",
    )
    ring = KeyRing([SECRET.encode()], "sessionware.cookie")
    token = ring.sign(b"payload")
    assert reference.unsign(token, max_age=10) == b"payload"
    value, _issued, index = ring.unsign(reference.sign(b"other").decode(), max_age=10)
    assert (value, index) == (b"other", 0)


# -- Issue 8, class 5: an encrypting store accepts encrypted cookies only -------------

BIG_SEED = {**SEED, "text": "lorem ipsum " * 60}  # compressible: the sealer picks zlib


def signed_only_cookies():
    """Every way a merely signed cookie can be presented, keyed by a readable id."""
    plain = {"current": middleware(), "fallback": middleware(secret_key=OLD_SECRET)}
    cookies = {}
    for which, mw in plain.items():
        sealer = mw.backend.sealer
        session = mw.open_session({})
        session.update(BIG_SEED)
        (header,) = [v for k, v in mw.save_session(session) if k == "Set-Cookie"]
        compressed = header.split(";", 1)[0].split("=", 1)[1]
        assert compressed.startswith("."), "BIG_SEED must take the zlib path"
        payload = sealer.keys.unsign(real_cookie(mw), 60)[0]
        cookies[f"{which}-key-plain"] = real_cookie(mw)
        cookies[f"{which}-key-compressed"] = compressed
        # Signed by hand: a "~" body that is not AES-GCM output, an empty body.
        cookies[f"{which}-key-tilde-unencrypted"] = sealer.keys.sign(b"~" + payload)
        cookies[f"{which}-key-empty"] = sealer.keys.sign(b"")
        # The compressed body without its marker, and re-marked as encrypted.
        raw = compressed.rsplit(".", 2)[0]
        cookies[f"{which}-key-zlib-as-tilde"] = sealer.keys.sign(b"~" + raw[1:].encode())
    return cookies


SIGNED_ONLY = signed_only_cookies()


def encrypting(**options):
    return middleware(store=CookieStore(encrypt=True), fallback_keys=[OLD_SECRET], **options)


@pytest.mark.parametrize("how", sorted(SIGNED_ONLY))
def test_class5_encrypting_store_refuses_every_signed_only_cookie(how, caplog):
    cookie = SIGNED_ONLY[how]
    with caplog.at_level(logging.DEBUG, logger="sessionware"):
        assert visit(f"session={cookie}", encrypting()) == (True, "None")
    # The same cookie is a session where it belongs (the hand-made ones are not).
    if how.endswith(("plain", "compressed")):
        plain = middleware(fallback_keys=[OLD_SECRET])
        assert visit(f"session={cookie}", plain) == (False, "admin")
        assert "not encrypted" in caplog.text


@pytest.mark.parametrize("position", ["before", "after", "alone"])
def test_class5_signed_only_cookies_among_others_never_load(position):
    """Cookie tossing with signed-only cookies: only the encrypted one counts."""
    mw = encrypting()
    encrypted = real_cookie(mw)
    junk = [f"session={c}" for c in SIGNED_ONLY.values()]
    if position == "alone":
        assert visit("; ".join(junk), mw) == (True, "None")
        return
    header = (
        [f"session={encrypted}", *junk] if position == "after" else [*junk, f"session={encrypted}"]
    )
    assert visit("; ".join(header), mw) == (False, "admin")


def test_class5_an_encrypting_store_never_reissues_a_signed_only_cookie():
    mw = encrypting()
    client = Client(mw, use_cookies=False)
    for cookie in SIGNED_ONLY.values():
        response = client.get("/", headers={"Cookie": f"session={cookie}"})
        assert response.text == "True|None"
        assert set_cookies(response) == []


def test_class5_compressed_signed_cookie_was_accepted_before():
    """The case the review found: a compressed signed cookie loaded its data."""
    cookie = SIGNED_ONLY["current-key-compressed"]
    mw = middleware(store=CookieStore(encrypt=True))
    assert mw.backend.sealer.keys.unsign(cookie, 3600)  # it does verify...
    assert visit(f"session={cookie}", mw) == (True, "None")  # ...and is no session


PRESENTATIONS = {
    "bare": "session={}",
    "padded": "session= {} ",
    "tab-padded": "session=\t{}\t",
    "quoted": 'session="{}"',
    "after-others": "theme=dark; lang=en; session={}",
    "twice": "session={0}; session={0}",
    "no-space-separator": "a=b;session={};c=d",
}


@pytest.mark.parametrize("presentation", sorted(PRESENTATIONS))
@pytest.mark.parametrize("how", ["current-key-plain", "current-key-compressed"])
def test_class5_signed_only_cookie_in_any_header_shape_is_no_session(presentation, how):
    header = PRESENTATIONS[presentation].format(SIGNED_ONLY[how])
    assert visit(header, encrypting()) == (True, "None")


@settings(max_examples=60, deadline=None)
@given(
    data=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.text(max_size=400), st.integers(-(2**63), 2**63 - 1)),
        max_size=6,
    )
)
def test_class5_property_only_the_encrypted_form_of_any_session_loads(data):
    """For any session data: the plain store's cookie (compressed or not) is
    no session for an encrypting store with the same key; the encrypting
    store's own cookie is, with exactly that data."""
    plain, secret = SessionMiddleware(echo_app, SECRET), encrypting()
    for mw in (plain, secret):
        session = mw.open_session({})
        session.update(data, marker=True)
        (header,) = [v for k, v in mw.save_session(session) if k == "Set-Cookie"]
        cookie = header.split(";", 1)[0].split("=", 1)[1]
        loaded = secret.open_session({"HTTP_COOKIE": f"session={cookie}"})
        if mw is plain:
            assert loaded.new and dict(loaded) == {}
        else:
            assert not loaded.new and dict(loaded) == {**data, "marker": True}
