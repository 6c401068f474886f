"""The Flask adapter as a Flask or Flask-Session user meets it: real extensions
(Flask-Login, Flask-WTF), Flask-Session's keys, switching without logging
anyone out, late settings, regenerate, the CLI, the testing helpers."""

import re
import sqlite3
import time
from datetime import timedelta

import flask
import pytest
import redis

from helpers import SECRET
from live.shop_app import create_app as shop
from sessionware import ConfigurationError, SessionMiddleware, SessionWarning
from sessionware._flask_config import CONFIG_KEYS, REFUSED_KEYS
from sessionware.flask import Sessionware
from sessionware.migrate import FlaskCookie, FlaskSessionRedis
from sessionware.stores import RedisStore, SQLiteStore
from sessionware.testing import read_session, session_transaction

# -- real extensions -------------------------------------------------------------


def csrf(client):
    page = client.get("/").text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, name="alice", password=None, remember=False):
    form = {"username": name, "password": password or "wonderland", "csrf_token": csrf(client)}
    if remember:
        form["remember"] = "1"
    return client.post("/login", data=form)


def add(client, item):
    return client.post(f"/cart/{item}", data={"csrf_token": csrf(client)})


@pytest.fixture
def shop_store(any_store):
    return any_store


def test_login_cart_csrf_and_flashes(shop_store):
    app = shop("sessionware", {"SESSIONWARE_STORE": shop_store} if shop_store else None)
    client = app.test_client()
    assert client.get("/whoami").json["user"] is None
    # CSRF: a form without the session's token is refused.
    assert (
        client.post("/login", data={"username": "alice", "password": "wonderland"}).status_code
        == 400
    )
    assert log_in(client, password="wrong").status_code == 302
    assert client.get("/flashes").json["messages"] == ["wrong password"]
    assert log_in(client).status_code == 302
    assert client.get("/flashes").json["messages"] == ["welcome alice"]
    assert client.get("/flashes").json["messages"] == []
    add(client, "apple")
    add(client, "pear")
    me = client.get("/whoami").json
    assert me["user"] == "alice" and me["cart"] == ["apple", "pear"] and me["fresh"] is True
    assert me["session_type"] == "sessionware.session"
    client.post("/logout", data={"csrf_token": csrf(client)})
    assert client.get("/whoami").json == {**me, "user": None, "cart": [], "fresh": None}
    assert add(client, "plum").status_code == 401


def test_remember_me_survives_a_lost_session():
    app = shop("sessionware")
    client = app.test_client()
    log_in(client, remember=True)
    assert client.get_cookie("remember_token") is not None
    client.delete_cookie("session")  # the browser session ended
    me = client.get("/whoami").json
    assert me["user"] == "alice" and me["fresh"] is False  # restored from the remember cookie


def test_session_protection_strong_logs_out_another_browser():
    app = shop("sessionware")
    client = app.test_client()
    log_in(client, remember=False)
    assert client.get("/whoami").json["user"] == "alice"
    # The same cookie from another user agent: Flask-Login clears the session.
    stolen = client.get("/whoami", headers={"User-Agent": "thief/1.0"}).json
    assert stolen["user"] is None


@pytest.mark.parametrize("mode", ["flask", "sessionware"])
def test_flashes_in_a_kept_request_context_do_not_warn(mode):
    """The context of a complete response, kept for the test (``with client``):
    Flask's own flash machinery pops the messages from the session there. No
    warning (the suite runs with warnings as errors), and the same outcome as
    with Flask's own session: that late change is not saved."""
    client = shop(mode).test_client()
    with client:
        log_in(client, password="wrong")
        assert flask.get_flashed_messages() == ["wrong password"]
        flask.flash("late")
        assert client.get("/flashes").json["messages"] == ["wrong password"]
    assert client.get("/flashes").json["messages"] == []


def test_teardown_change_still_warns():
    app = flask.Flask(__name__)
    app.secret_key = SECRET

    @app.route("/")
    def index():
        flask.session["x"] = 1
        return "ok"

    @app.teardown_request
    def teardown(exc):
        flask.session["late"] = 2  # after the response was saved: really lost

    Sessionware(app)
    with pytest.warns(SessionWarning, match="late"):
        app.test_client().get("/")


# -- switching from Flask's session: nobody is logged out ------------------------------


def test_switching_from_flask_session_keeps_users_logged_in():
    before = shop("flask").test_client()
    log_in(before)
    add(before, "apple")
    old_cookie = before.get_cookie("session").value

    after = shop("sessionware").test_client()
    after.set_cookie("session", old_cookie)
    response = after.get("/whoami")
    assert response.json["user"] == "alice" and response.json["cart"] == ["apple"]
    assert response.json["session_type"] == "sessionware.session"
    new_cookie = after.get_cookie("session").value
    assert new_cookie != old_cookie
    assert read_session(after.application, new_cookie)["cart"] == ["apple"]
    add(after, "pear")  # CSRF token carried over too
    assert after.get("/whoami").json["cart"] == ["apple", "pear"]


def test_flask_cookie_migration_uses_the_fallback_keys():
    before = shop("flask", {"SECRET_KEY": "old-" + SECRET}).test_client()
    log_in(before)
    old_cookie = before.get_cookie("session").value
    rotated = shop("sessionware", {"SECRET_KEY_FALLBACKS": ["old-" + SECRET]}).test_client()
    rotated.set_cookie("session", old_cookie)
    assert rotated.get("/whoami").json["user"] == "alice"
    strict = shop("sessionware").test_client()
    strict.set_cookie("session", old_cookie)
    assert strict.get("/whoami").json["user"] is None


def test_migration_can_be_turned_off():
    before = shop("flask").test_client()
    log_in(before)
    app = shop("sessionware", {"SESSIONWARE_MIGRATE_FLASK_COOKIE": False})
    assert app.wsgi_app.config.migrate_from == ()
    client = app.test_client()
    client.set_cookie("session", before.get_cookie("session").value)
    assert client.get("/whoami").json["user"] is None
    with pytest.raises(ConfigurationError, match="SESSIONWARE_MIGRATE_FLASK_COOKIE"):
        shop("sessionware", {"SESSIONWARE_MIGRATE_FLASK_COOKIE": "no"})


@pytest.fixture
def shop_redis(redis_server, monkeypatch):
    monkeypatch.setenv("SHOP_REDIS", redis_server.url)
    client = redis.Redis.from_url(redis_server.url)
    yield client
    for key in client.scan_iter("shop:*"):
        client.delete(key)
    client.close()


def test_switching_from_flask_session_redis_with_the_same_config(shop_redis):
    before = shop("flask-session").test_client()
    log_in(before)
    add(before, "plum")
    old_sid = before.get_cookie("session").value
    assert shop_redis.exists("shop:" + old_sid)

    app = shop("sessionware")  # the same SESSION_TYPE/SESSION_REDIS/SESSION_KEY_PREFIX
    middleware = app.wsgi_app
    assert isinstance(middleware.store, RedisStore) and middleware.store.prefix == "shop:"
    assert middleware.config.permanent_by_default is True  # Flask-Session's default
    assert [type(r) for r in middleware.config.migrate_from] == [FlaskCookie, FlaskSessionRedis]
    client = app.test_client()
    client.set_cookie("session", old_sid)
    me = client.get("/whoami").json
    assert me["user"] == "alice" and me["cart"] == ["plum"]
    assert not shop_redis.exists("shop:" + old_sid)  # the old record is gone
    session = read_session(app, client.get_cookie("session").value)
    assert session.permanent and shop_redis.exists("shop:" + session.sid)


# -- Flask-Session's configuration ----------------------------------------------------


def plain_app(**config):
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, **config)

    @app.route("/set")
    def set_():
        flask.session["x"] = 1
        return "ok"

    @app.route("/sid")
    def sid():
        return flask.session.sid

    return app


@pytest.mark.parametrize("key", sorted(REFUSED_KEYS))
def test_every_other_flask_session_key_is_refused(key):
    with pytest.raises(ConfigurationError, match=key) as info:
        Sessionware(plain_app(**{key: "x"}))
    assert "instead" in str(info.value) or "remove it" in str(info.value)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"SESSION_TYPE": "filesystem"}, "SESSIONWARE_STORE"),
        ({"SESSION_TYPE": "redis"}, "SESSION_REDIS"),
        ({"SESSION_REDIS": object()}, "SESSION_TYPE"),
        ({"SESSION_KEY_PREFIX": "s:"}, "SESSION_TYPE"),
        ({"SESSION_TYPE": "redis", "SESSION_REDIS": object(), "SESSIONWARE_STORE": "memory://"},
         "keep one"),
        ({"SESSION_USE_SIGNER": "yes"}, "SESSION_USE_SIGNER"),
        ({"SESSION_PERMANENT": "yes"}, "SESSION_PERMANENT"),
    ],
)  # fmt: skip
def test_flask_session_keys_without_meaning_are_refused(config, match):
    with pytest.raises(ConfigurationError, match=match):
        Sessionware(plain_app(**config))


def test_accepted_keys_and_other_extensions_keys():
    # SESSION_PROTECTION is Flask-Login's, not a session setting: left alone.
    app = plain_app(SESSION_USE_SIGNER=True, SESSION_PERMANENT=True, SESSION_PROTECTION="basic")
    Sessionware(app)
    assert app.wsgi_app.config.permanent_by_default is True
    assert "Max-Age=" in app.test_client().get("/set").headers["Set-Cookie"]


def test_config_keys_name_middleware_arguments():
    import inspect

    parameters = inspect.signature(SessionMiddleware).parameters
    assert set(CONFIG_KEYS.values()) <= set(parameters)


# -- the secret key as Flask reads it ---------------------------------------------------


def test_secret_key_as_a_class_attribute():
    class App(flask.Flask):
        secret_key = SECRET

    app = App(__name__)

    @app.route("/")
    def index():
        flask.session["x"] = 1
        return "ok"

    Sessionware(app)
    assert app.wsgi_app.config.secret_keys[0] == SECRET.encode()
    assert app.test_client().get("/").headers["Set-Cookie"].startswith("session=")


def test_keyword_secret_key_wins_before_any_check():
    app = flask.Flask(__name__)  # no SECRET_KEY at all
    Sessionware(app, secret_key=SECRET)
    assert app.wsgi_app.config.secret_keys[0] == SECRET.encode()
    other = plain_app()
    Sessionware(other, secret_key="another-" + SECRET)
    assert other.wsgi_app.config.secret_keys[0] == ("another-" + SECRET).encode()
    # Flask's own cookies were signed with app.secret_key: that reader uses it.
    [reader] = other.wsgi_app.config.migrate_from
    assert reader._signer.secret_keys == [SECRET.encode()]


# -- settings changed after init_app ------------------------------------------------------


def test_settings_changed_before_the_first_request_are_honoured():
    app = plain_app()

    @app.route("/p")
    def permanent():
        flask.session.permanent = True
        flask.session["x"] = 1
        return "ok"

    Sessionware(app)
    app.permanent_session_lifetime = timedelta(hours=1)  # late, as apps often do
    app.config["SESSION_COOKIE_NAME"] = "late"
    header = app.test_client().get("/p").headers["Set-Cookie"]
    assert header.startswith("late=") and "Max-Age=3600" in header


#: A new value for every session setting, and what the middleware then has.
LATE_VALUES = {
    "SECRET_KEY": ("new-" + SECRET, lambda c: c.secret_keys[0] == ("new-" + SECRET).encode()),
    "SECRET_KEY_FALLBACKS": (["old-" + SECRET], lambda c: len(c.secret_keys) == 2),
    "PERMANENT_SESSION_LIFETIME": (timedelta(hours=2), lambda c: c.permanent_lifetime == 7200),
    "SESSION_COOKIE_NAME": ("other", lambda c: c.cookie_name == "other"),
    "SESSION_COOKIE_DOMAIN": ("example.com", lambda c: c.cookie_domain == "example.com"),
    "SESSION_COOKIE_PATH": ("/app", lambda c: c.cookie_path == "/app"),
    "SESSION_COOKIE_SECURE": (True, lambda c: c.cookie_secure is True),
    "SESSION_COOKIE_HTTPONLY": (False, lambda c: c.cookie_httponly is False),
    "SESSION_COOKIE_SAMESITE": ("Strict", lambda c: c.cookie_samesite == "Strict"),
    "SESSION_COOKIE_PARTITIONED": (True, lambda c: c.cookie_partitioned is True),
    "SESSION_REFRESH_EACH_REQUEST": (False, lambda c: c.refresh_each_request is False),
    "SESSION_PERMANENT": (True, lambda c: c.permanent_by_default is True),
    "SESSIONWARE_STORE": ("memory://", lambda c: True),
    "SESSIONWARE_REFRESH_INTERVAL": (60, lambda c: c.refresh_interval == 60),
    "SESSIONWARE_ABSOLUTE_LIFETIME": (3600, lambda c: c.absolute_lifetime == 3600),
    "SESSIONWARE_DETECT_NESTED_CHANGES": (False, lambda c: c.detect_nested_changes is False),
}


def test_every_session_setting_has_a_late_value():
    assert set(LATE_VALUES) == set(CONFIG_KEYS)


@pytest.mark.parametrize("key", sorted(LATE_VALUES))
@pytest.mark.parametrize("how", ["config", "update"])
def test_any_setting_changed_after_the_first_request_is_honoured(key, how):
    """As Flask reads its settings on every request: a change is applied
    from the next request on, without a warning (warnings are errors here)."""
    app = plain_app(SESSION_COOKIE_SECURE=key == "SESSION_COOKIE_PARTITIONED")
    Sessionware(app)
    client = app.test_client()
    client.get("/set")
    value, check = LATE_VALUES[key]
    if how == "config":
        app.config[key] = value
    else:
        app.config.update({key: value})
    response = client.get("/set")
    middleware = app.wsgi_app
    assert check(middleware.config)
    assert response.status_code == 200
    if key == "SESSIONWARE_STORE":
        assert type(middleware.store).__name__ == "MemoryStore"
    if key == "SESSION_COOKIE_NAME":
        assert response.headers["Set-Cookie"].startswith("other=")


def test_secret_rotation_and_refresh_as_flask_reads_them():
    app = plain_app(SECRET_KEY_FALLBACKS=[])

    @app.route("/get")
    def get():
        return str(flask.session.get("x"))

    Sessionware(app, store="memory://")
    client = app.test_client()
    client.get("/set")
    store = app.wsgi_app.store
    app.secret_key = "rotated-" + SECRET
    assert client.get("/get").text == "None"  # signed with a key no longer known
    app.config["SECRET_KEY_FALLBACKS"].append(SECRET)  # changed in place
    assert client.get("/get").text == "1"
    assert app.wsgi_app.store is store  # the same store: its sessions kept
    app.permanent_session_lifetime = timedelta(minutes=5)
    client.get("/set")
    assert app.wsgi_app.config.permanent_lifetime == 300


def test_a_bad_late_change_fails_loudly_until_it_is_fixed():
    app = plain_app()
    Sessionware(app)
    client = app.test_client()
    client.get("/set")
    app.config["SESSION_COOKIE_SAMESITE"] = "None"  # without Secure
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_SAMESITE"):
        client.get("/set")
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_SAMESITE"):
        client.get("/set")  # every request, not once
    app.config["SESSION_COOKIE_SECURE"] = True
    assert client.get("/set").status_code == 200
    app.config["SESSION_ID_LENGTH"] = 32  # a refused key, set late
    with pytest.raises(ConfigurationError, match="SESSION_ID_LENGTH"):
        client.get("/set")
    del app.config["SESSION_ID_LENGTH"]
    app.config["SECRET_KEY"] = None
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        client.get("/set")


def test_settings_read_again_for_a_test_request_context():
    app = plain_app()
    Sessionware(app)
    app.config["SESSION_COOKIE_NAME"] = "ctx"
    with app.test_request_context("/"):
        assert app.session_interface.get_cookie_name(app) == "ctx"


# -- regenerate, CLI, testing helpers -----------------------------------------------------


def test_interface_regenerate():
    app = plain_app()

    @app.route("/regenerate")
    def regenerate():
        app.session_interface.regenerate(flask.session)
        return flask.session.sid

    Sessionware(app, store="memory://")
    client = app.test_client()
    client.get("/set")
    before = client.get("/sid").text
    after = client.get("/regenerate").text
    assert after != before and client.get("/sid").text == after
    with client.session_transaction() as session:
        assert session["x"] == 1
    with pytest.raises(TypeError):
        app.session_interface.regenerate({})


def test_flask_cli_cleanup(tmp_path):
    path = tmp_path / "s.db"
    app = plain_app(SESSIONWARE_STORE=f"sqlite:///{path}")
    Sessionware(app)
    store = SQLiteStore(str(path))
    store.save("expired", {"x": b"1"}, 1)
    store.save("alive", {"x": b"1"}, 3600)
    time.sleep(1.1)
    result = app.test_cli_runner().invoke(args=["sessionware", "cleanup"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "removed 1 expired session(s)"
    assert store.load("alive") is not None
    with sqlite3.connect(path) as db:  # the expired record is gone from the file
        assert db.execute("select count(distinct sid) from sessionware_sessions").fetchone() == (1,)
    store.close()

    cookie_app = plain_app()
    Sessionware(cookie_app)
    result = cookie_app.test_cli_runner().invoke(args=["sessionware", "cleanup"])
    assert result.exit_code == 1 and "nothing to clean up" in result.output
    assert "Traceback" not in result.output


def test_testing_helpers_accept_the_flask_app(any_store):
    app = plain_app(**({"SESSIONWARE_STORE": any_store} if any_store else {}))
    Sessionware(app)
    client = app.test_client()
    response = client.get("/set")
    assert read_session(app, response) == {"x": 1}
    assert read_session(app.wsgi_app, response) == {"x": 1}
    assert read_session(client, response) == {"x": 1}
    with session_transaction(client, app) as session:
        session["y"] = 2
    with session_transaction(client) as session:
        assert dict(session) == {"x": 1, "y": 2}


def test_short_key_warning_names_the_users_line():
    for setup in (lambda app: Sessionware(app), lambda app: Sessionware().init_app(app)):
        app = flask.Flask(__name__)
        app.secret_key = "short"
        with pytest.warns(SessionWarning, match="only 5 bytes") as record:
            setup(app)
        assert [w.filename for w in record] == [__file__]
