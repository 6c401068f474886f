"""Issue 16 item 14: what a hostile request can put in the logs.

API.md section 5: one request, however hostile its ``Cookie`` header,
produces at most a few log lines; section 12: no audit attribute carries a
control character from the request. Each refusal reason a request can cause
many times over (junk, expired, past ``absolute_lifetime``, revoked, ids
with no record, too many ids) is sent thousands of times, on every store.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from werkzeug.test import Client

from helpers import SECRET, handler_app
from sessionware import SessionMiddleware
from sessionware._backends.base import MAX_LOGGED_REFUSALS
from sessionware.audit import audit
from sessionware.stores import CookieStore, MemoryStore, SQLiteStore

#: "A few lines": the refusals logged one by one (a DEBUG line and an audit
#: event each) and one summary line (also both).
FEW = 2 * (MAX_LOGGED_REFUSALS + 1)
COPIES = 2000


def touch(session, environ):
    if environ["PATH_INFO"] == "/start":
        session["user"] = "victim"
    if environ["PATH_INFO"] == "/revoke":
        session.invalidate()
        return "out"
    return f"{session.new}|{session.get('user')}"


class Lines(logging.Handler):
    """Every record of the ``sessionware`` loggers (the audit log included)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def lines():
    handler = Lines()
    logger = logging.getLogger("sessionware")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def store_for(kind, tmp_path):
    return {
        "cookie": lambda: None,
        # The cookie store's other load path: payload cookies or overflow ids.
        "overflow": lambda: CookieStore(overflow=MemoryStore()),
        "memory": MemoryStore,
        "sqlite": lambda: SQLiteStore(str(tmp_path / "s.db")),
    }[kind]()


def middleware(kind, tmp_path, **options):
    store = store_for(kind, tmp_path)
    if kind in ("cookie", "overflow") and options.pop("revocation", False):
        options["revocation"] = SQLiteStore(str(tmp_path / "revoked.db"))
    return SessionMiddleware(handler_app(touch), SECRET, store=store, **options)


def start(mw):
    """A real session cookie of ``mw``'s."""
    client = Client(mw)
    client.get("/start")
    return client.get_cookie("session").value


def send(mw, cookies, lines):
    """One request carrying ``cookies`` (session values): its log records."""
    header = "; ".join(f"session={value}" for value in cookies)
    lines.clear()
    body = Client(mw, use_cookies=False).get("/", headers={"Cookie": header}).get_data(as_text=True)
    return body, list(lines)


KINDS = ["cookie", "overflow", "memory", "sqlite"]


@pytest.mark.parametrize("kind", KINDS)
def test_thousands_of_junk_cookies_log_a_few_lines(kind, tmp_path, lines):
    mw = middleware(kind, tmp_path)
    real = start(mw)
    shaped = "eyJ1c2VyIjoiYWRtaW4ifQ.AAAAAA." + "x" * 43
    for junk in (["x"] * COPIES, [shaped] * COPIES, ["\x1b[2J\u202e"] * COPIES):
        body, records = send(mw, junk, lines)
        assert body == "True|None" and 0 < len(records) <= FEW, len(records)
        assert "more not logged" in records[-2].getMessage()
        # ... and the victim's real cookie after them still works, as quietly.
        body, records = send(mw, [*junk, real], lines)
        assert body == "False|victim" and len(records) <= FEW, len(records)


@pytest.mark.parametrize("kind", KINDS)
def test_thousands_of_expired_copies_log_a_few_lines(kind, tmp_path, lines):
    mw = middleware(kind, tmp_path, permanent_lifetime=60, absolute_lifetime=30)
    with freeze_time(datetime.now(UTC) - timedelta(seconds=45)):
        old = start(mw)  # verifies (45 s < 60 s), past absolute_lifetime (30 s)
    body, records = send(mw, [old] * COPIES, lines)
    assert body == "True|None" and 0 < len(records) <= FEW, len(records)
    with freeze_time(datetime.now(UTC) - timedelta(seconds=120)):
        older = start(mw)  # expired
    body, records = send(mw, [older] * COPIES, lines)
    assert body == "True|None" and 0 < len(records) <= FEW, len(records)


def test_thousands_of_revoked_copies_log_a_few_lines(tmp_path, lines):
    mw = middleware("cookie", tmp_path, revocation=True)
    client = Client(mw)
    client.get("/start")
    stolen = client.get_cookie("session").value
    client.get("/revoke")
    body, records = send(mw, [stolen] * COPIES, lines)
    assert body == "True|None" and 0 < len(records) <= FEW, len(records)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_many_signed_ids_without_a_record_log_a_few_lines(kind, tmp_path, lines):
    mw = middleware(kind, tmp_path)
    client = Client(mw)
    ids = []
    for _ in range(40):  # signed ids of ours whose records are gone
        client.get("/start")
        ids.append(client.get_cookie("session").value)
        client.get("/revoke")
    body, records = send(mw, ids, lines)
    assert body == "True|None" and 0 < len(records) <= FEW + 2, len(records)


# -- no control character from the request in an audit attribute ---------------

CONTROL = "\x00\x1b[31m\r\n\x85\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028"


def unsafe(text):
    return text is not None and any(not char.isprintable() for char in text)


@pytest.mark.parametrize("kind", KINDS)
def test_audit_attributes_carry_no_control_character(kind, tmp_path, lines):
    """Whatever reaches the audit log from a request (an owner the app took
    from a form, a sid an operator or app passes to revoke, a hostile
    cookie): every attribute and the message are printable."""
    store = store_for(kind, tmp_path)
    revocation = (
        SQLiteStore(str(tmp_path / "revoked.db")) if kind in ("cookie", "overflow") else None
    )

    def app(session, environ):
        if not session.new:
            session.regenerate()
        session.owner = "user" + CONTROL
        session["x"] = 1
        return "ok"

    mw = SessionMiddleware(handler_app(app), SECRET, store=store, revocation=revocation)
    client = Client(mw)
    client.get("/")
    client.get("/")
    hostile = f"session={CONTROL}; session=a{CONTROL}.b.c".replace("\r", "").replace("\n", "")
    Client(mw, use_cookies=False).get("/", headers={"Cookie": hostile})
    mw.revoke(CONTROL + "sid")
    mw.revoke_owner("user" + CONTROL)
    audit("revoked", CONTROL, CONTROL, CONTROL)
    events = [record for record in lines if record.name == "sessionware.audit"]
    assert {"created", "regenerated", "revoked", "rejected"} <= {r.event for r in events}
    for record in lines:
        for name in ("event", "sid", "owner", "reason"):
            assert not unsafe(getattr(record, name, None)), (name, record.__dict__)
        assert not unsafe(record.getMessage()), record.getMessage()
