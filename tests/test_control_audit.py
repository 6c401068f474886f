"""The audit log (``sessionware.audit``): which events, at which level, with
which structured attributes, and never a cookie value, full sid, session
data or secret; owners escaped so they cannot forge or bloat a log line."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from werkzeug.test import Client

from control_app import SECRET, make_app, revocation_store
from helpers import cookie_value
from sessionware.audit import MAX_OWNER_CHARS
from sessionware.stores import MemoryStore

DATA_MARK = "data-that-must-not-be-logged"


@pytest.fixture
def audit_records(caplog):
    caplog.set_level(logging.DEBUG, logger="sessionware.audit")
    return lambda: [r for r in caplog.records if r.name == "sessionware.audit"]


def events(records):
    return [(r.event, r.levelname) for r in records]


def assert_clean(records, *secrets):
    for record in records:
        text = (
            record.getMessage()
            + " "
            + " ".join(str(getattr(record, name)) for name in ("event", "sid", "owner", "reason"))
        )
        for secret in (*secrets, SECRET, DATA_MARK):
            assert secret not in text, (secret, text)
        assert record.sid is None or len(record.sid) == 6


@pytest.mark.parametrize("store", ["cookie", "memory"])
def test_lifecycle_events_with_their_attributes(store, audit_records):
    mw = make_app(MemoryStore() if store == "memory" else None, revocation=None)
    client = Client(mw)
    login = client.get("/login?owner=alice")
    cookie = cookie_value(login)
    sid = login.json["sid"]
    client.get("/login?owner=alice")  # regenerate an existing session
    client.get("/logout")
    records = audit_records()
    assert events(records) == [
        ("created", "DEBUG"),  # regenerate() of a new session logs nothing
        ("regenerated", "INFO"),
        ("invalidated", "INFO"),
    ]
    created = records[0]
    assert created.sid == sid[:6] and created.owner == "alice" and created.reason is None
    assert records[1].sid == sid[:6] and records[2].owner == "alice"
    assert_clean(records, sid, cookie)


def test_revoked_and_rejected_events(audit_records):
    store = MemoryStore()
    mw = make_app(store)
    client = Client(mw)
    sid = client.get("/login?owner=bob").json["sid"]
    cookie = client.get_cookie("session").value
    mw.revoke(sid)
    client.get("/me")  # the revoked cookie: no live record
    Client(mw, use_cookies=False).get("/me", headers={"Cookie": "session=" + cookie[:-2] + "xx"})
    records = audit_records()
    revoked = [r for r in records if r.event == "revoked"]
    assert len(revoked) == 1 and revoked[0].levelname == "INFO"
    assert revoked[0].sid == sid[:6] and revoked[0].owner == "bob"
    reasons = [r.reason for r in records if r.event == "rejected"]
    assert reasons == ["unknown-sid", "bad-signature"]
    assert all(r.levelname == "DEBUG" for r in records if r.event == "rejected")
    assert_clean(records, sid, cookie)


def test_expired_and_revoked_cookies_are_rejected_with_their_reason(
    audit_records, tmp_path, closing
):
    mw = make_app(None, revocation=f"sqlite:///{tmp_path}/revoked.db", permanent_lifetime=60)
    closing(revocation_store(mw))
    with freeze_time(datetime.now(UTC) - timedelta(hours=1)):
        old = cookie_value(Client(mw).get("/login?owner=carol"))
    client = Client(mw)
    fresh = cookie_value(client.get("/login?owner=carol"))
    client.get("/logout")  # revokes the fresh cookie
    for cookie in (old, fresh):
        Client(mw, use_cookies=False).get("/me", headers={"Cookie": "session=" + cookie})
    reasons = [r.reason for r in audit_records() if r.event == "rejected"]
    assert reasons == ["expired", "revoked"]
    assert_clean(audit_records(), old, fresh)


@pytest.mark.parametrize(
    "owner, shown",
    [
        ("evil\nsession created abcdef owner=admin", "evil\\nsession created abcdef owner=admin"),
        ("nul\x00cr\r", "nul\\x00cr\\r"),
        ("ünïcödé ✓", "ünïcödé ✓"),
        ("x" * 1000, "x" * MAX_OWNER_CHARS + "…"),
    ],
    ids=["newline", "control", "unicode", "long"],
)
def test_owners_are_escaped_and_bounded(owner, shown, audit_records):
    mw = make_app(MemoryStore())
    client = Client(mw)
    client.get("/login", query_string={"owner": owner})
    records = audit_records()
    assert records and all(r.owner == shown for r in records if r.event == "created")
    for record in records:
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message and "\x00" not in message
        assert len(message) < MAX_OWNER_CHARS + 100


def test_nothing_is_formatted_when_the_level_is_off(caplog):
    caplog.set_level(logging.WARNING, logger="sessionware.audit")
    Client(make_app(MemoryStore())).get("/login?owner=dave")
    assert not [r for r in caplog.records if r.name == "sessionware.audit"]


@pytest.mark.parametrize("store", ["cookie", "memory"])
def test_a_migrated_session_is_logged(store, audit_records):
    import flask

    from sessionware.migrate import FlaskCookie

    old = flask.Flask("old")
    old.secret_key = "the-old-flask-secret-key-0123456789"

    @old.route("/")
    def view():
        flask.session["user"] = DATA_MARK
        return "ok"

    browser = old.test_client()
    browser.get("/")
    flask_cookie = browser.get_cookie("session").value
    mw = make_app(
        MemoryStore() if store == "memory" else None,
        migrate_from=[FlaskCookie("the-old-flask-secret-key-0123456789")],
    )
    response = Client(mw, use_cookies=False).get(
        "/me", headers={"Cookie": f"session={flask_cookie}"}
    )
    assert response.json["user"] == DATA_MARK and response.json["new"] is False
    migrated = [r for r in audit_records() if r.event == "migrated"]
    assert len(migrated) == 1 and migrated[0].levelname == "INFO"
    assert migrated[0].sid == response.json["sid"][:6]
    assert not [r for r in audit_records() if r.event == "created"]
    assert_clean(audit_records(), flask_cookie, response.json["sid"])
