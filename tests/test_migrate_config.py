"""Migration's configuration: what a client may name in the old store, and
when the Flask adapter reads Flask's plaintext cookies (issue #16, items 11-12)."""

import uuid

import flask
import pytest
import redis
from werkzeug.test import Client

from helpers import SECRET, handler_app
from sessionware import ConfigurationError, SessionMiddleware
from sessionware.flask import Sessionware
from sessionware.migrate import FlaskCookie, FlaskSessionRedis
from sessionware.stores import CookieStore, MemoryStore

# -- FlaskSessionRedis: a cookie names records of the old store only -----------------

#: Prefixes under which a cookie could name keys that are not the old store's.
OPEN_PREFIXES = ["", "a", "app", "session", "Session9", "s3"]


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.mark.parametrize("prefix", OPEN_PREFIXES)
def test_prefixes_that_reach_other_keys_are_refused(redis_client, prefix):
    with pytest.raises(ConfigurationError, match="key_prefix"):
        FlaskSessionRedis(redis_client, key_prefix=prefix)


@pytest.mark.parametrize("prefix", OPEN_PREFIXES)
def test_no_cookie_can_read_or_delete_a_key_outside_the_namespace(redis_client, prefix):
    # A key some other part of the app keeps, holding a map, that a cookie
    # could name under an open prefix ("" names any key, "app" any key
    # starting with "app"): it must never be read into a session or deleted.
    unique = uuid.uuid4().hex
    victim = f"{prefix}lication{unique}" if prefix else f"config{unique}"
    redis_client.set(victim, b'{"is_admin": true}', ex=60)
    try:
        reader = FlaskSessionRedis(redis_client, key_prefix=prefix)
    except ConfigurationError:
        reader = None  # refused at construction: nothing can be named
    if reader is not None:
        client = Client(
            SessionMiddleware(
                handler_app(lambda s, e: repr(dict(s))), SECRET, store=MemoryStore(),
                migrate_from=[reader],
            )
        )  # fmt: skip
        client.set_cookie("session", victim[len(prefix) :])
        assert "is_admin" not in client.get("/").text
    assert redis_client.get(victim) == b'{"is_admin": true}'


@pytest.mark.parametrize("prefix", ["session:", "sess_", "app-", "s/", "session.", "é:"])
def test_separated_prefixes_are_accepted(redis_client, redis_prefix, prefix):
    reader = FlaskSessionRedis(redis_client, key_prefix=redis_prefix + prefix)
    sid = "A" * 43
    redis_client.set(redis_prefix + prefix + sid, b"\x81\xa4user\xa5alice")
    assert reader.read([sid]).data == {"user": "alice"}


def test_flask_adapter_refuses_an_open_prefix(redis_client):
    app = flask.Flask("open_prefix")
    app.config.update(
        SECRET_KEY=SECRET, SESSION_TYPE="redis", SESSION_REDIS=redis_client, SESSION_KEY_PREFIX=""
    )
    with pytest.raises(ConfigurationError, match="key_prefix"):
        Sessionware(app)


# -- Flask adapter: encrypted cookies do not read Flask's plaintext ones ----------------


def flask_cookie(data):
    app = flask.Flask("old")
    app.secret_key = SECRET
    app.add_url_rule("/", "v", lambda: flask.session.update(data) or "ok")
    client = app.test_client()
    client.get("/")
    return client.get_cookie("session").value


def adapter_app(config, **kwargs):
    app = flask.Flask("adapter")
    app.config.update(SECRET_KEY=SECRET, **config)
    app.add_url_rule("/", "v", lambda: {"user": flask.session.get("user")})
    Sessionware(app, **kwargs)
    return app


def encrypted_store_settings():
    store = CookieStore(encrypt=True)
    return [
        ({"SESSIONWARE_STORE": store}, {}),  # in app.config
        ({}, {"store": CookieStore(encrypt=True)}),  # as the extension's argument
    ]


@pytest.mark.parametrize(("config", "kwargs"), encrypted_store_settings(), ids=["config", "kwarg"])
def test_encrypted_cookie_store_does_not_read_flask_cookies_by_default(config, kwargs):
    app = adapter_app(config, **kwargs)
    assert app.wsgi_app.config.migrate_from == ()
    client = app.test_client()
    client.set_cookie("session", flask_cookie({"user": "alice"}))
    assert client.get("/").json["user"] is None


@pytest.mark.parametrize(("config", "kwargs"), encrypted_store_settings(), ids=["config", "kwarg"])
def test_encrypted_cookie_store_reads_flask_cookies_when_asked(config, kwargs):
    app = adapter_app({**config, "SESSIONWARE_MIGRATE_FLASK_COOKIE": True}, **kwargs)
    client = app.test_client()
    client.set_cookie("session", flask_cookie({"user": "alice"}))
    assert client.get("/").json["user"] == "alice"


@pytest.mark.parametrize(
    "store",
    [None, CookieStore(), MemoryStore(), "memory://"],
    ids=["default", "signed", "memory", "url"],
)
def test_other_stores_still_read_flask_cookies_by_default(store):
    app = adapter_app({} if store is None else {"SESSIONWARE_STORE": store})
    client = app.test_client()
    client.set_cookie("session", flask_cookie({"user": "alice"}))
    assert client.get("/").json["user"] == "alice"


def test_middleware_readers_are_the_users_choice():
    # Outside the adapter nothing is implied: the reader given is used.
    middleware = SessionMiddleware(
        handler_app(lambda s, e: str(s.get("user"))), SECRET,
        store=CookieStore(encrypt=True), migrate_from=[FlaskCookie(SECRET)],
    )  # fmt: skip
    client = Client(middleware)
    client.set_cookie("session", flask_cookie({"user": "alice"}))
    assert client.get("/").text == "alice"
