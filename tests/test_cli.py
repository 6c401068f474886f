"""``python -m sessionware``: every command run as a real subprocess."""

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from freezegun import freeze_time

from helpers import OLD_SECRET, SECRET, SEED, make_client
from servers import free_port
from sessionware.cli import to_json
from sessionware.stores import SQLiteStore


def run(*args, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "sessionware", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(result, status, *words):
    assert result.returncode == status, result
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def seed_cookie(extra=True, **options):
    """A cookie the real middleware made for the seed's data (and, with
    ``extra``, values JSON has no type for)."""

    def handler(session, environ):
        session.update(SEED)
        session.permanent = True
        if not extra:
            return session.sid
        session["when"] = datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)
        session["blob"] = b"\x00\xff"
        session["pair"] = (1, "a")
        session["price"] = Decimal("1.10")
        return session.sid

    client, _ = make_client(handler, **options)
    response = client.get("/")
    return client.get_cookie("session").value, response.get_data(as_text=True)


# -- --help, bad arguments -----------------------------------------------------------


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "decode", "secret", "cleanup"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["nope"],
        ["decode"],  # no cookie
        ["decode", "abc"],  # no --secret-key
        ["demo", "--port", "eighty"],
        ["cleanup"],  # no --store
        ["demo", "--cookie-samesite", "sometimes"],
    ],
    ids=lambda args: " ".join(args) or "nothing",
)
def test_bad_arguments_exit_2_with_one_line_pointing_at_help(args):
    result = run(*args)
    assert_user_error(result, 2, "error:", "--help`")
    assert result.stderr.count("\n") == 1


# -- secret --------------------------------------------------------------------------


def test_secret_is_one_strong_line_each_time_new():
    first, second = run("secret"), run("secret")
    assert first.returncode == second.returncode == 0
    assert first.stdout.count("\n") == 1 and first.stdout.endswith("\n")
    key = first.stdout.strip()
    assert len(key) >= 43  # token_urlsafe(32): 256 bits
    assert key.replace("-", "").replace("_", "").isalnum()
    assert key != second.stdout.strip()


# -- decode --------------------------------------------------------------------------


def test_decode_shows_what_the_middleware_stored():
    cookie, sid = seed_cookie()
    before = datetime.now(UTC)
    result = run("decode", cookie, "--secret-key", SECRET)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sid"] == sid
    assert report["permanent"] is True
    assert report["key"] == "current"
    issued = datetime.fromisoformat(report["issued"])
    assert issued.utcoffset().total_seconds() == 0
    assert abs((issued - before).total_seconds()) < 60
    assert datetime.fromisoformat(report["created"]) <= issued
    data = report["data"]
    for key, value in SEED.items():
        assert data[key] == value
    assert data["when"] == {"$datetime": "2024-05-01T12:30:00.123456+00:00"}
    assert data["blob"] == {"$bytes": "AP8="}
    assert data["pair"] == {"$tuple": [1, "a"]}
    assert data["price"] == {"$decimal": "1.10"}


def test_decode_accepts_a_cookie_header_fragment():
    cookie, sid = seed_cookie()
    for text in (f"session={cookie}; Path=/; HttpOnly", f"Cookie: theme=dark; session={cookie}"):
        result = run("decode", text, "--secret-key", SECRET)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["sid"] == sid
    result = run("decode", f"other={cookie}", "--secret-key", SECRET)
    assert_user_error(result, 1, "no cookie named 'session'", "cookies given: other")
    assert cookie not in result.stderr  # never a cookie value in a message


def test_decode_with_a_fallback_key():
    cookie, sid = seed_cookie(secret_key=OLD_SECRET)
    result = run("decode", cookie, "--secret-key", SECRET, "--fallback-key", OLD_SECRET)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sid"] == sid and report["key"] == "fallback 1"
    # Without the fallback the old key's cookie does not verify.
    assert_user_error(run("decode", cookie, "--secret-key", SECRET), 1, "signature")


def test_decode_an_encrypted_cookie():
    pytest.importorskip("cryptography")
    from sessionware.stores import CookieStore

    cookie, sid = seed_cookie(store=CookieStore(encrypt=True))
    assert "admin" not in cookie
    result = run("decode", cookie, "--secret-key", SECRET, "--encrypted")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"]["username"] == "admin"
    assert_user_error(run("decode", cookie, "--secret-key", SECRET), 1, "encrypted")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # signature
        lambda c: ("B" if c[0] != "B" else "C") + c[1:],  # payload
        lambda c: c[: len(c) // 2],  # truncated
        lambda c: "not-a-cookie",
    ],
    ids=["signature", "payload", "truncated", "garbage"],
)
def test_decode_refuses_a_tampered_cookie(tamper):
    cookie, _ = seed_cookie()
    result = run("decode", tamper(cookie), "--secret-key", SECRET)
    assert_user_error(result, 1, "cannot decode the cookie")
    assert result.stdout == ""


def test_decode_refuses_a_wrong_key():
    cookie, _ = seed_cookie()
    result = run("decode", cookie, "--secret-key", "another-secret-key-of-enough-length!!")
    assert_user_error(result, 1, "signature does not match")


def test_decode_refuses_an_expired_cookie():
    # (freezegun's datetime class cannot be stored: no extra values here.)
    with freeze_time(datetime.now(UTC) - timedelta(hours=2)):
        cookie, _ = seed_cookie(extra=False)
    result = run("decode", cookie, "--secret-key", SECRET, "--max-age", "3600")
    assert_user_error(result, 1, "expired")
    assert run("decode", cookie, "--secret-key", SECRET, "--max-age", "9000").returncode == 0
    # The default is the middleware's default permanent_lifetime, 31 days.
    assert run("decode", cookie, "--secret-key", SECRET).returncode == 0


def test_to_json_tags_every_non_json_type():
    markupsafe = pytest.importorskip("markupsafe")
    from datetime import date, timedelta
    from datetime import time as dtime

    value = {
        "set": {3, 1},
        "fs": frozenset(["x"]),
        "d": date(2024, 1, 2),
        "t": dtime(1, 2, 3),
        "td": timedelta(days=1, seconds=2, microseconds=3),
        "u": UUID(int=1),
        "m": markupsafe.Markup("<b>hi</b>"),
        "nan": float("inf"),
        "ints": {1: "a"},
        "dollar": {"$tuple": 1},
    }
    assert to_json(value) == {
        "set": {"$set": [1, 3]},
        "fs": {"$frozenset": ["x"]},
        "d": {"$date": "2024-01-02"},
        "t": {"$time": "01:02:03"},
        "td": {"$timedelta": {"days": 1, "seconds": 2, "microseconds": 3}},
        "u": {"$uuid": "00000000-0000-0000-0000-000000000001"},
        "m": {"$markup": "<b>hi</b>"},
        "nan": {"$float": "inf"},
        "ints": {"$dict": [[1, "a"]]},
        "dollar": {"$dict": [["$tuple", 1]]},
    }
    json.dumps(to_json(value), allow_nan=False)


# -- cleanup -------------------------------------------------------------------------


def test_cleanup_removes_expired_sqlite_records(tmp_path):
    path = tmp_path / "sessions.db"
    store = SQLiteStore(path)
    try:
        for n in range(3):
            store.save(f"dead{n}", {"k": b"v", "j": b"w"}, ttl=1)
        store.save("alive", {"k": b"v"}, ttl=600)
    finally:
        store.close()
    time.sleep(1.2)
    result = run("cleanup", "--store", f"sqlite:///{path}")
    assert result.returncode == 0, result.stderr
    assert "removed 3 expired session(s)" in result.stdout
    with sqlite3.connect(path) as conn:
        sids = {sid for (sid,) in conn.execute("SELECT sid FROM sessionware_sessions")}
    conn.close()
    assert sids == {"alive"}
    # Nothing left to remove.
    result = run("cleanup", "--store", f"sqlite:///{path}")
    assert "removed 0 expired session(s)" in result.stdout


@pytest.mark.parametrize(
    "url, words",
    [("cookie://", ["cookie://", "nothing to clean up"]), ("memory://", ["memory://", "inside"])],
)
def test_cleanup_refuses_stores_it_cannot_reach(url, words):
    assert_user_error(run("cleanup", "--store", url), 2, *words)


def test_cleanup_on_redis(redis_server):
    # Redis expires records itself: nothing to do, and the command says so.
    result = run("cleanup", "--store", redis_server.url)
    assert result.returncode == 0, result.stderr
    assert "expires sessions by itself" in result.stdout


def test_cleanup_store_errors_are_reported_without_a_traceback(tmp_path):
    result = run("cleanup", "--store", f"sqlite:///{tmp_path}/missing/dir/s.db")
    assert_user_error(result, 1, "sessionware cleanup:")
    result = run("cleanup", "--store", "ftp://example.com/")
    assert_user_error(result, 1, "unknown store URL scheme")


# -- Issue 8, class 7: the command line fails loudly ------------------------------------

PASSWORD = "hunter2-secret-password"


def server_store_cookie():
    """The cookie a server-side store's response carries: a signed session id."""
    client, _ = make_client(lambda session, environ: session.update(SEED), store="memory://")
    client.get("/")
    return client.get_cookie("session").value


def test_decode_reads_a_cookie_that_begins_with_a_dash():
    """A token's base64url alphabet includes "-": one in 64 begins with it, and
    argparse would take it for an option (a flaky CI run found it)."""
    cookie = server_store_cookie()
    while not cookie.startswith("-"):
        cookie = server_store_cookie()
    for args in (
        ("decode", cookie, "--secret-key", SECRET),
        ("decode", "--secret-key", SECRET, cookie),
        ("decode", "--max-age=60", cookie, "--secret-key", SECRET),
    ):
        assert_user_error(run(*args), 1, "signed session id of a server-side store")
    assert run("decode", "--bogus", "x", "--secret-key", SECRET).returncode == 2


def test_class7_decode_says_a_server_store_cookie_is_a_signed_session_id():
    cookie = server_store_cookie()
    result = run("decode", cookie, "--secret-key", SECRET)
    assert_user_error(result, 1, "signed session id of a server-side store")
    assert "not a cookie-store session" in result.stderr
    assert "signature does not match" not in result.stderr
    assert cookie not in result.stderr and result.stdout == ""
    # Also when signed with a fallback key, expired, or given as a header fragment.
    with freeze_time(datetime.now(UTC) - timedelta(days=90)):
        client, _ = make_client(
            lambda session, environ: session.update(a=1), store="memory://", secret_key=OLD_SECRET
        )
        client.get("/")
        old = client.get_cookie("session").value
    result = run(
        "decode", f"session={old}; Path=/", "--secret-key", SECRET, "--fallback-key", OLD_SECRET
    )
    assert_user_error(result, 1, "signed session id of a server-side store")


def test_class7_decode_says_whether_encryption_is_the_mismatch():
    pytest.importorskip("cryptography")
    from sessionware.stores import CookieStore

    encrypted, _ = seed_cookie(store=CookieStore(encrypt=True))
    assert_user_error(run("decode", encrypted, "--secret-key", SECRET), 1, "add --encrypted")
    plain, _ = seed_cookie()
    result = run("decode", plain, "--secret-key", SECRET, "--encrypted")
    assert_user_error(result, 1, "signed but not encrypted", "without --encrypted")


def test_class5_decode_encrypted_refuses_signed_only_cookies():
    """``decode --encrypted`` applies the encrypting store's rule: a signed-only
    cookie, compressed or not, is not decoded (as the middleware refuses it)."""
    pytest.importorskip("cryptography")

    def handler(session, environ):
        session.update(SEED, text="lorem ipsum " * 60)

    client, _ = make_client(handler)
    client.get("/")
    compressed = client.get_cookie("session").value
    assert compressed.startswith("."), "must take the zlib path"
    for cookie in (compressed, seed_cookie()[0]):
        result = run("decode", cookie, "--secret-key", SECRET, "--encrypted")
        assert_user_error(result, 1, "not encrypted")
        assert result.stdout == ""


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "eighty", "80.5", ""])
def test_class7_demo_refuses_a_port_out_of_range_instead_of_binding_another(port):
    result = run("demo", "--port", port, "--secret-key", SECRET, timeout=20)
    assert_user_error(result, 2, "--port")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_class7_demo_on_a_port_in_use_fails_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("demo", "--port", str(port), "--secret-key", SECRET, timeout=20)
    assert_user_error(result, 1, f"cannot listen on 127.0.0.1:{port}", "in use")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def bad_inputs(tmp_path):
    """(args, status) for every command: bad input of each kind it takes."""
    sid = server_store_cookie()
    secret = ["--secret-key", SECRET]
    closed = free_port()  # nothing listens there: a store that is down
    return [
        ([], 2),
        (["nope"], 2),
        (["--no-such-option"], 2),
        (["demo", "--port", "99999"], 2),
        (["demo", "--port", "0"], 2),
        (["demo", "--port", "-5"], 2),
        (["demo", "--cookie-samesite", "Loose"], 2),
        (["demo", "--cookie-samesite", "None"], 2),  # without --cookie-secure
        (["demo", "--store", f"mysql://user:{PASSWORD}@db/x"], 1),
        (["demo", "--store", f"redis://:{PASSWORD}@localhost:notaport/0"], 1),
        (["demo", "--host", "no-such-host.invalid", "--port", "8000"], 1),
        (["decode"], 2),
        (["decode", "x"], 2),
        (["decode", "garbage", *secret], 1),
        (["decode", sid, *secret], 1),
        (["decode", "", *secret], 1),
        (["decode", "session=a\nb", *secret], 1),
        (["decode", "x", "--secret-key", ""], 1),
        (["decode", "x", *secret, "--max-age", "soon"], 2),
        (["decode", "theme=dark", *secret], 1),
        (["secret", "extra"], 2),
        (["cleanup"], 2),
        (["cleanup", "--store", "cookie://"], 2),
        (["cleanup", "--store", f"mysql://user:{PASSWORD}@db/x"], 1),
        (["cleanup", "--store", f"redis://:{PASSWORD}@localhost:notaport/0"], 1),
        (["cleanup", "--store", f"sqlite:///{tmp_path}/missing/dir/s.db"], 1),
        (["cleanup", "--store", f"redis://:{PASSWORD}@127.0.0.1:{closed}/0"], 1),
        (["cleanup", "--store", f"postgresql://u:{PASSWORD}@127.0.0.1:{closed}/db"], 1),
        (["sessions"], 2),
        (["revoke"], 2),
    ]


def test_class7_every_command_error_is_one_line_nonzero_no_traceback_no_password(tmp_path):
    """Every command, real subprocesses: one line on stderr, a non-zero exit,
    nothing on stdout, never a traceback, never a password."""
    cases = bad_inputs(tmp_path)
    commands = {args[0] for args, _ in cases if args and not args[0].startswith("-")}
    listed = re.findall(r"^    (\w+) ", run("--help").stdout, flags=re.M)
    assert "decode" in listed
    assert set(listed) <= commands, f"add bad-input cases for {set(listed) - commands}"
    failures = []
    for args, status in cases:
        result = run(*args, timeout=30)
        lines = result.stderr.splitlines()
        if not (
            result.returncode == status
            and len(lines) == 1
            and result.stderr.endswith("\n")
            and result.stdout == ""
            and "Traceback" not in result.stderr
            and PASSWORD not in result.stderr + result.stdout
        ):
            failures.append((args, result.returncode, result.stdout, result.stderr))
    assert failures == []


# -- output that comes from session data is safe on a terminal --------------------

#: C0 and C1 controls, DEL, line separators, bidirectional overrides and isolates.
UNSAFE = (
    "\x00\x07\x1b[2J\r\t\x7f\x85\x9b\u2028\u2029\u200e\u200f\u061c"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\U000e0001"
)


def assert_terminal_safe(text):
    bad = sorted({hex(ord(c)) for c in text if not c.isprintable() and c != "\n"})
    assert bad == [], bad


def test_decode_output_escapes_control_and_bidi_characters():
    def handler(session, environ):
        session.owner = "owner" + UNSAFE
        session["key" + UNSAFE] = "value" + UNSAFE
        session["nested"] = {"list": [UNSAFE], "tuple": (UNSAFE,)}
        return "ok"

    client, _ = make_client(handler)
    client.get("/")
    result = run("decode", client.get_cookie("session").value, "--secret-key", SECRET)
    assert result.returncode == 0, result.stderr
    assert_terminal_safe(result.stdout)
    report = json.loads(result.stdout)  # still JSON, the data intact
    assert report["owner"] == "owner" + UNSAFE
    assert report["data"]["key" + UNSAFE] == "value" + UNSAFE
    assert report["data"]["nested"] == {"list": [UNSAFE], "tuple": {"$tuple": [UNSAFE]}}
    assert "日本" in run("decode", seed_cookie_with("日本"), "--secret-key", SECRET).stdout


def seed_cookie_with(value):
    client, _ = make_client(lambda session, environ: session.update(text=value))
    client.get("/")
    return client.get_cookie("session").value


def test_sessions_output_escapes_control_and_bidi_characters(tmp_path):
    owner = "owner" + UNSAFE.replace("\x00", "")  # argv cannot hold a NUL
    url = f"sqlite:///{tmp_path}/s.db"

    def handler(session, environ):
        session.owner = owner
        return "ok"

    client, mw = make_client(handler, store=url)
    client.get("/")
    mw.store.close()
    result = run("sessions", "--store", url, "--owner", owner)
    assert result.returncode == 0, result.stderr
    assert_terminal_safe(result.stdout)
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["owner"] == owner


def test_error_lines_escape_control_and_bidi_characters():
    text = "other\x07\x1b[2J\x7f=x; theme=dark"  # werkzeug reads ASCII names only
    result = run("decode", text, "--secret-key", SECRET)
    assert result.returncode == 1 and "cookies given:" in result.stderr
    assert_terminal_safe(result.stderr)
