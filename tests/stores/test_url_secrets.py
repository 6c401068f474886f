"""No secret of a store URL is ever shown, whole or in pieces: every URL shape
(valid or not, with or without ``//``, passwords holding any separator,
secrets in the query) x every place a message can surface.

Places: ``ConfigurationError`` and ``StoreError`` (message, ``repr``, and
every exception chained under them, ``__cause__`` and ``__context__``, as
error trackers walk them), the store's ``repr``, every log record, and the
command line's stdout and stderr for every command that takes ``--store``.
Valid URLs name a closed port on this machine, so the real client libraries
(psycopg, redis-py) fail for real and their exceptions are checked too.

Every secret is built from tokens that contain ``s3cr3t``: no 4-character
piece of that may appear anywhere.
"""

import logging
import socket
import traceback
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import SECRET
from servers import free_port
from sessionware import SessionMiddleware
from sessionware.cli import main
from sessionware.stores import from_url
from sessionware.stores._redact import KNOWN_SCHEMES, hidden_parts, redact
from sessionware.stores._url import SCHEMES, parse

MARK = "s3cr3t"
PIECES = {MARK[i : i + 4] for i in range(len(MARK) - 3)}
SEPARATORS = "/#?@:&=%[],; +"
PASSWORDS = [
    "s3cr3tA",
    *(f"s3cr3tA{sep}s3cr3tB" for sep in SEPARATORS),
    "s3cr3tA&s3cr3tB=s3cr3tC",
    "s3cr3tA]:1234",
    "s3cr3tA%2Fs3cr3tB",
    "s3cr3tA/s3cr3tB@s3cr3tC#s3cr3tD",
]
#: Each separator once, for the command line (its matrix is slower).
CLI_PASSWORDS = ["s3cr3tA/s3cr3tB@s3cr3tC#s3cr3tD", "s3cr3tA?s3cr3tB", "s3cr3tA&s3cr3tB=s3cr3tC"]
#: Shapes of a URL: ``{s}`` the scheme, ``{pw}`` the password as written,
#: ``{q}`` the password percent-encoded, ``{hp}`` 127.0.0.1:<closed port>.
SHAPES = [
    "{s}://:{pw}@{hp}/0",
    "{s}://:{q}@{hp}/0",
    "{s}://user:{pw}@{hp}/0",
    "{s}://user:{q}@{hp}/db",
    "{s}://{q}@{hp}/0",
    "{s}://{pw}@{hp}/0",
    "{s}:/:{pw}@{hp}/0",
    "{s}::{pw}@{hp}",
    "{s}:{pw}@{hp}",
    "{s}:////:{pw}@{hp}",
    "{s}//:{pw}@{hp}",
    ":{pw}@{hp}",
    "{pw}",
    "//:{pw}@{hp}",
    "{s}://:{pw}",
    "{s}://:{pw}/0",
    "{s}://{hp}/0?password={q}",
    "{s}://{hp}/0?password={pw}",
    "{s}://{hp}/0?sslpassword={pw}&sslmode=disable",
    "{s}://{hp}/0?timeout=1&password={pw}&table=t",
    "{s}://{hp}/0?password={pw}&bogus=1",
    "{s}://{hp}/0?{pw}",
    "{s}://{hp}/0#{pw}",
    "{s}://:{pw}@{hp}/0?bogus=1",
    "{s}://:{pw}@127.0.0.1:xx/0",
    "{s}://:{pw}@[::1/0",
    "{s}://:{pw}@{hp},{hp}/svc",
    "{s}://:{pw}@/0",
    "{s}://:{q}@/tmp/none.sock",
    "{s}://:{pw}@{hp}/0 ",
]


def user_and_password(shape, password):
    """Whether ``password`` put in ``shape`` is, by URL syntax, partly
    something else: a user name, shown as libpq and Redis show it
    (``scheme://a:b@host``), a host (``scheme://:a@b``, ``pw`` holding an
    '@' in a URL with no host after it), or the name of a query option
    (``?a=b``: an unknown option is named in the error, by contract)."""
    if "//{pw}@" in shape and ":" in password.partition("@")[0]:
        return True
    if "?{pw}" in shape and "=" in password.partition("&")[0]:
        return True
    return "@" in password and "@" not in shape.partition("{pw}")[2]


def file_name(url):
    """Whether ``url`` is a valid sqlite:// URL: what looks like a password
    in it is then part of a file name, which the store shows (its repr)."""
    if not url.lower().startswith("sqlite:"):
        return False
    try:
        parse(url)
    except Exception:
        return False
    return True


def skipped(shape, password, url):
    return user_and_password(shape, password) or file_name(url)


def test_known_schemes_are_the_store_schemes():
    assert KNOWN_SCHEMES == set(SCHEMES)


def assert_hidden(text, where):
    for piece in PIECES:
        assert piece not in text, f"a piece of a secret shows in {where}: {text!r}"


def chain(exc):
    """``exc`` and every exception chained to it, suppressed ones included."""
    seen, pending = [], [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__]
    return seen


def shown_by(exc):
    texts = ["".join(traceback.format_exception(exc))]
    for link in chain(exc):
        texts += [str(link), repr(link), repr(link.args)]
        store = getattr(link, "store", None)
        if store is not None:
            texts.append(repr(store))
    return texts


def library_texts(url):
    """What the library shows for ``url``: built through ``from_url`` and
    ``SessionMiddleware``, then used once against the closed port."""
    texts = []
    for build in (from_url, lambda u: SessionMiddleware(lambda e, s: [], SECRET, store=u)):
        try:
            built = build(url)
        except Exception as exc:
            texts += shown_by(exc)
            continue
        store = getattr(built, "store", built)
        texts.append(repr(store))
        for method, args in (("load", ("sid",)), ("save", ("sid", {"a": b"1"}, 60))):
            try:
                getattr(store, method)(*args)
            except Exception as exc:
                texts += shown_by(exc)
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return texts


@pytest.fixture(scope="module")
def closed():
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def busy_port():
    """A port that is in use: ``demo`` stops there instead of serving."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def cli_texts(url, capsys, busy_port):
    texts = []
    for argv in (
        ["cleanup", "--store", url],
        ["cleanup", f"--store={url}"],
        ["sessions", "--store", url, "--owner", "o"],
        ["revoke", "--store", url, "--sid", "x"],
        ["revoke", "--store", url, "--owner", "o"],
        ["revoke", "--store", "cookie://", "--revocation", url, "--owner", "o"],
        ["demo", "--store", url, "--port", str(busy_port)],
        ["cleanup", url],  # forgot --store: argparse quotes the argument
    ):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        assert status != 0, argv
        assert err.count("\n") == 1 and "Traceback" not in err, err
        texts += [out, err]
    return texts


@pytest.mark.parametrize("scheme", [*SCHEMES, "ftp", "REDIS"])
def test_no_shape_shows_a_secret(scheme, closed, busy_port, capsys, caplog, monkeypatch, tmp_path):
    pytest.importorskip("redis")
    pytest.importorskip("psycopg")
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.DEBUG)
    for shape in SHAPES:
        for password in PASSWORDS:
            url = shape.format(s=scheme, pw=password, q=quote(password, safe=""), hp=closed)
            if skipped(shape, password, url):
                continue
            texts = [redact(url), *library_texts(url)]
            if scheme in ("redis", "postgresql", "sqlite") and password in PASSWORDS[:3]:
                texts += cli_texts(url, capsys, busy_port)  # the CLI's own paths
            texts += [record.getMessage() for record in caplog.records]
            texts += [
                "".join(traceback.format_exception(*r.exc_info))
                for r in caplog.records
                if r.exc_info
            ]
            caplog.clear()
            for text in texts:
                assert_hidden(text, f"{shape!r} with {password!r}")


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_on_the_command_line(shape, closed, busy_port, capsys, tmp_path, monkeypatch):
    pytest.importorskip("redis")
    pytest.importorskip("psycopg")
    monkeypatch.chdir(tmp_path)
    for scheme in ("redis", "postgresql", "unix"):
        for password in CLI_PASSWORDS:
            url = shape.format(s=scheme, pw=password, q=quote(password, safe=""), hp=closed)
            if skipped(shape, password, url):
                continue
            for text in cli_texts(url, capsys, busy_port):
                assert_hidden(text, f"the CLI, {url!r}")


separators = st.sampled_from(list(SEPARATORS) + ["%", "%2", "%40", "\\", "'", '"', "\t", "é"])
tokens = st.sampled_from(["s3cr3tA", "s3cr3tB", "s3cr3t9"])
secrets = (
    st.lists(st.one_of(tokens, separators), min_size=1, max_size=8)
    .map("".join)
    .filter(lambda s: MARK in s)
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scheme=st.sampled_from([*SCHEMES, "x"]),
    shape=st.sampled_from(SHAPES),
    password=secrets,
)
def test_any_secret_any_shape(scheme, shape, password):
    """The redactor, the parser's messages, and what the CLI scrubs, for
    secrets of any make-up (no server is reached: parsing only)."""
    url = shape.format(s=scheme, pw=password, q=quote(password, safe=""), hp="127.0.0.1:1")
    if skipped(shape, password, url):
        return
    assert_hidden(redact(url), url)
    try:
        parse(url)
    except Exception as exc:
        for text in shown_by(exc):
            assert_hidden(text, url)
    for part in hidden_parts(url):
        assert "***" not in part


def test_redact_is_total():
    for text in ["", ":", "://", "a://@", "a://@@", "a://?&=&", "a://#", "\x00://", "a:" * 50]:
        assert isinstance(redact(text), str)
    assert redact(None) == "***"
    assert redact(b"redis://:pw@h") == "***"
