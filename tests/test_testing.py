"""sessionware.testing: session_transaction() and read_session() on a bare
WSGI app (and a Flask app), for every store, with werkzeug's test client."""

from __future__ import annotations

import json

import pytest
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from helpers import SECRET, SEED
from live.flask_app import create_app
from sessionware import Session, SessionMiddleware
from sessionware.testing import find_middleware, read_session, session_transaction


@pytest.fixture
def store(any_store):
    """A store for SESSIONWARE_STORE / the middleware (None: the cookie store)."""
    return any_store


def seed_app(environ, start_response):
    """The seed's routes as a bare WSGI app; the body is the session as JSON."""
    session = environ["session"]
    route = environ["PATH_INFO"].rsplit("/", 1)[-1]
    body = ""
    if route == "set":
        session.update(SEED)
    elif route == "permanent":
        session.permanent = True
    elif route in ("clear", "logout"):
        session.clear()
    elif route == "check":
        body = f"username exists: {session['username']}" if "username" in session else "none"
    elif route == "":
        body = json.dumps({"data": dict(session), "sid": session.sid})
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


def make(store=None, **options):
    middleware = SessionMiddleware(seed_app, secret_key=SECRET, store=store, **options)
    return Client(LintMiddleware(middleware)), middleware


def test_transaction_starts_a_session_with_given_data(store):
    client, middleware = make(store)
    with session_transaction(client, middleware) as session:
        assert isinstance(session, Session)
        assert session.new
        session["username"] = "alice"
        session["roles"] = ("admin",)
        sid = session.sid
    page = json.loads(client.get("/").text)
    assert page["data"] == {"username": "alice", "roles": ["admin"]}
    assert page["sid"] == sid
    assert client.get("/check").text == "username exists: alice"


def test_transaction_sees_and_changes_what_the_app_stored(store):
    client, middleware = make(store)
    client.get("/set")
    with session_transaction(client) as session:  # middleware found through LintMiddleware
        assert dict(session) == SEED
        assert not session.new
        session["age"] = 26
        del session["username"]
    data = json.loads(client.get("/").text)["data"]
    assert data["age"] == 26 and "username" not in data
    assert data["profile"] == SEED["profile"]


def test_transaction_clear_deletes_the_cookie(store):
    client, middleware = make(store)
    client.get("/set")
    with session_transaction(client, middleware) as session:
        session.clear()
    assert client.get_cookie("session") is None
    assert client.get("/check").text == "none"


def test_transaction_error_saves_nothing(store):
    client, middleware = make(store)
    client.get("/set")
    before = client.get_cookie("session").value
    with pytest.raises(ZeroDivisionError):
        with session_transaction(client, middleware) as session:
            session["username"] = "mallory"
            1 / 0  # noqa: B018
    assert client.get_cookie("session").value == before
    assert client.get("/check").text == "username exists: admin"


def test_transaction_permanent_sets_max_age(store):
    client, middleware = make(store, permanent_lifetime=900)
    with session_transaction(client, middleware) as session:
        session["x"] = 1
        session.permanent = True
    assert client.get_cookie("session").max_age == 900


def test_transaction_untouched_leaves_the_cookie_alone(store):
    client, middleware = make(store)
    client.get("/set")
    before = client.get_cookie("session").value
    with session_transaction(client, middleware):
        pass
    assert client.get_cookie("session").value == before


def test_read_session_of_a_response(store):
    client, middleware = make(store)
    stored = read_session(middleware, client.get("/set"))
    assert stored == SEED
    assert not stored.new and not stored.permanent
    assert stored.sid == json.loads(client.get("/").text)["sid"]

    assert read_session(middleware, client.get("/check")) is None  # nothing set

    stored = read_session(middleware, client.get("/permanent"))
    assert stored.permanent and stored == SEED

    cleared = read_session(middleware, client.get("/clear"))
    assert cleared == {} and cleared.new


def test_read_session_of_a_cookie_value(store):
    client, middleware = make(store)
    client.get("/set")
    assert read_session(middleware, client.get_cookie("session").value) == SEED
    assert read_session(middleware, "forged.value.here") == {}


def test_custom_cookie_name_domain_and_path(store):
    client, middleware = make(store, cookie_name="sid", cookie_domain="example.com",
                              cookie_path="/app")  # fmt: skip
    base = "http://www.example.com"
    client.get("/app/set", base_url=base)
    with session_transaction(client, middleware, domain="www.example.com") as session:
        assert session["username"] == "admin"
        session["username"] = "carol"
    assert client.get("/app/check", base_url=base).text == "username exists: carol"
    with session_transaction(client, middleware, domain="www.example.com") as session:
        session.clear()
    assert client.get("/app/check", base_url=base).text == "none"


def test_works_with_a_flask_app(store):
    app = create_app({"SECRET_KEY": SECRET, "SESSIONWARE_STORE": store})
    client = app.test_client()
    with session_transaction(client) as session:
        session["username"] = "dave"
    assert client.get("/check").text == "username exists: dave"
    assert read_session(app.extensions["sessionware"], client.get("/clear")) == {}


def test_find_middleware():
    client, middleware = make()
    assert find_middleware(client) is middleware
    assert find_middleware(client.application) is middleware
    app = create_app({"SECRET_KEY": SECRET})
    assert find_middleware(app) is app.wsgi_app
    with pytest.raises(LookupError, match="middleware="):
        find_middleware(Client(LintMiddleware(seed_app)))
