"""The Flask adapter: the seed app on Flask's test client, for every store."""

from __future__ import annotations

from datetime import timedelta

import flask
import pytest
from flask import Flask
from flask.sessions import NullSession

from helpers import OLD_SECRET, SECRET, SEED, attributes, header_value, one_cookie
from live.flask_app import create_app
from sessionware import ConfigurationError, Session, SessionMiddleware
from sessionware.flask import Sessionware
from sessionware.stores import MemoryStore


@pytest.fixture
def store(any_store):
    """A store for SESSIONWARE_STORE / the middleware (None: the cookie store)."""
    return any_store


def make_app(store=None, **config):
    config = {"SECRET_KEY": SECRET, **config}
    if store is not None:
        config["SESSIONWARE_STORE"] = store
    return create_app(config)


# -- the seed's operations, every store ----------------------------------------


def test_set_get_check(store):
    client = make_app(store).test_client()
    assert client.get("/check").text == "no session key found"
    one_cookie(client.get("/set"))
    assert client.get("/get").json == {"username": "admin", "age": 25, "missing": None}
    assert client.get("/check").text == "username exists: admin"
    page = client.get("/").json
    assert page["data"] == SEED
    assert page["new"] is False
    assert page["permanent"] is False
    assert client.get("/").json["sid"] == page["sid"]


def test_delete_and_pop(store):
    client = make_app(store).test_client()
    client.get("/set")
    response = client.get("/delete")
    assert response.text == "deleted; age was 25; missing gave default"
    one_cookie(response)
    assert client.get("/check").text == "vip status set"
    data = client.get("/").json["data"]
    assert "username" not in data and "age" not in data
    assert data["hobbies"] == ["coding", "reading"]


@pytest.mark.parametrize("route", ["/clear", "/logout"])
def test_clear_and_logout_delete_the_cookie(store, route):
    client = make_app(store).test_client()
    client.get("/set")
    old = client.get_cookie("session").value
    response = client.get(route)
    header = one_cookie(response)
    assert "Max-Age=0" in header
    assert client.get_cookie("session") is None
    assert client.get("/check").text == "no session key found"
    if store is not None:
        # The stored record is gone too: replaying the old cookie finds nothing.
        client.set_cookie("session", old)
        assert client.get("/").json["new"] is True


def test_nested_change_is_saved(store):
    client = make_app(store).test_client()
    client.get("/set")
    one_cookie(client.get("/append"))
    assert client.get("/").json["data"]["hobbies"] == ["coding", "reading", "hiking"]


def test_untouched_request_sends_nothing(store):
    client = make_app(store).test_client()
    client.get("/set")
    response = client.get("/untouched")
    assert response.headers.getlist("Set-Cookie") == []
    assert "Vary" not in response.headers


def test_one_set_cookie_and_one_vary_per_response(store):
    client = make_app(store).test_client()
    for route in ["/set", "/permanent", "/get", "/delete", "/flash", "/flashes", "/clear"]:
        response = client.get(route)
        assert len(response.headers.getlist("Set-Cookie")) <= 1, route
        vary = [v.strip() for h in response.headers.getlist("Vary") for v in h.split(",")]
        assert vary == ["Cookie"], (route, vary)


def test_permanent_uses_permanent_session_lifetime(store):
    client = make_app(store, PERMANENT_SESSION_LIFETIME=timedelta(hours=2)).test_client()
    assert "Max-Age=7200" in one_cookie(client.get("/permanent"))
    # SESSION_REFRESH_EACH_REQUEST (default True): re-sent on a read.
    assert "Max-Age=7200" in one_cookie(client.get("/get"))
    assert client.get("/").json["permanent"] is True


def test_flash_round_trip(store):
    client = make_app(store).test_client()
    client.get("/set")
    client.get("/flash")
    messages = client.get("/flashes").json["messages"]
    assert messages == [["message", "saved", "str"], ["warning", "<b>bold</b>", "Markup"]]
    assert client.get("/flashes").json["messages"] == []
    assert client.get("/check").text == "username exists: admin"


def test_flask_session_transaction(store):
    client = make_app(store).test_client()
    with client.session_transaction() as session:
        assert isinstance(session, Session)
        session["username"] = "alice"
        session["age"] = 30
    assert client.get("/get").json == {"username": "alice", "age": 30, "missing": None}
    with client.session_transaction() as session:
        assert session["username"] == "alice"
        session["username"] = "bob"
        session.permanent = True
    assert client.get("/get").json["username"] == "bob"
    assert client.get("/").json["permanent"] is True
    client.get("/set")
    with client.session_transaction() as session:
        assert session["hobbies"] == ["coding", "reading"]
        session.clear()
    assert client.get_cookie("session") is None
    assert client.get("/check").text == "no session key found"


def test_test_request_context_loads_lazily_from_the_cookie(store):
    app = make_app(store)
    client = app.test_client()
    client.get("/set")
    cookie = client.get_cookie("session").value
    with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}):
        session = flask.session._get_current_object()
        assert isinstance(session, Session)
        assert not session.loaded
        assert flask.session["username"] == "admin"
        assert session.loaded
        flask.session["age"] = 26
        response = app.response_class("ok")
        response.vary.add("Cookie")  # the view's own Vary is not duplicated
        response = app.process_response(response)
    header = one_cookie(response)
    assert response.headers.getlist("Vary") == ["Cookie"]
    client.set_cookie("session", header_value(header))
    assert client.get("/get").json["age"] == 26


def test_test_request_context_without_cookie_is_a_new_session(store):
    app = make_app(store)
    with app.test_request_context("/"):
        assert flask.session.new is True
        assert dict(flask.session) == {}


# -- the adapter's wiring -----------------------------------------------------------


def test_flask_session_is_the_middleware_session():
    app = make_app()
    seen = {}

    @app.route("/identity")
    def identity():
        seen["same"] = flask.session._get_current_object() is flask.request.environ["session"]
        return "ok"

    app.test_client().get("/identity")
    assert seen == {"same": True}
    assert isinstance(app.wsgi_app, SessionMiddleware)
    assert app.extensions["sessionware"] is app.wsgi_app


def test_templates_see_the_session():
    app = make_app()

    @app.route("/template")
    def template():
        return flask.render_template_string("{{ session.username }}/{{ session['age'] }}")

    client = app.test_client()
    client.get("/set")
    assert client.get("/template").text == "admin/25"


def test_missing_secret_key_refused_at_init_app():
    app = Flask(__name__)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Sessionware(app)
    app.config["SECRET_KEY"] = ""
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Sessionware().init_app(app)
    assert "sessionware" not in app.extensions


def test_init_app_factory_pattern():
    extension = Sessionware()
    apps = []
    for name in ("one", "two"):
        app = Flask(name)
        app.config.update(SECRET_KEY=SECRET, SESSION_COOKIE_NAME=name)

        @app.route("/put")
        def put():
            flask.session["app"] = flask.current_app.name
            return "ok"

        @app.route("/mine")
        def mine():
            return Sessionware.middleware().config.cookie_name

        extension.init_app(app)
        apps.append(app)
    for app in apps:
        client = app.test_client()
        one_cookie(client.get("/put"), name=app.name)
        assert client.get("/mine").text == app.name
        assert Sessionware.middleware(app) is app.wsgi_app
    with pytest.raises(RuntimeError, match="already"):
        extension.init_app(apps[0])


def test_config_is_read_again_at_the_first_request():
    app = make_app(PERMANENT_SESSION_LIFETIME=600)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=3)  # before the first request
    assert "Max-Age=259200" in one_cookie(app.test_client().get("/permanent"))


def test_null_session_is_sane():
    app = make_app()
    interface = app.session_interface
    null = interface.make_null_session(app)
    assert isinstance(null, NullSession)
    assert interface.is_null_session(null)
    assert null.get("x") is None
    with pytest.raises(RuntimeError, match="request context"):
        null["x"] = 1
    with app.test_request_context("/"):
        assert not interface.is_null_session(flask.session._get_current_object())


def test_interface_cookie_getters_follow_the_config():
    app = make_app(
        SESSION_COOKIE_NAME="sid", SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/app", SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=False, SESSION_COOKIE_PARTITIONED=True,
    )  # fmt: skip
    interface = app.session_interface
    assert interface.get_cookie_name(app) == "sid"
    assert interface.get_cookie_domain(app) == "example.com"
    assert interface.get_cookie_path(app) == "/app"
    assert interface.get_cookie_secure(app) is True
    assert interface.get_cookie_httponly(app) is False
    assert interface.get_cookie_samesite(app) == "Lax"
    assert interface.get_cookie_partitioned(app) is True


# -- config keys: each mapping has a test that breaks with it -------------------------


def set_cookie_header(**config):
    return one_cookie(make_app(**config).test_client().get("/set"),
                      name=config.get("SESSION_COOKIE_NAME", "session"))  # fmt: skip


def test_cookie_defaults():
    attrs = attributes(set_cookie_header())
    assert attrs == ["HttpOnly", "Path=/", "SameSite=Lax"]


@pytest.mark.parametrize(
    ("config", "present", "absent"),
    [
        ({"SESSION_COOKIE_NAME": "flask_session"}, [], []),
        ({"SESSION_COOKIE_DOMAIN": "example.com"}, ["Domain=example.com"], []),
        ({"SESSION_COOKIE_PATH": "/app"}, ["Path=/app"], ["Path=/"]),
        ({"APPLICATION_ROOT": "/root"}, ["Path=/root"], ["Path=/"]),
        ({"APPLICATION_ROOT": "/root", "SESSION_COOKIE_PATH": "/p"}, ["Path=/p"], ["Path=/root"]),
        ({"SESSION_COOKIE_SECURE": True}, ["Secure"], []),
        ({"SESSION_COOKIE_HTTPONLY": False}, [], ["HttpOnly"]),
        ({"SESSION_COOKIE_SAMESITE": "Strict"}, ["SameSite=Strict"], ["SameSite=Lax"]),
        ({"SESSION_COOKIE_SAMESITE": "Lax"}, ["SameSite=Lax"], []),
        ({"SESSION_COOKIE_SAMESITE": "strict"}, ["SameSite=Strict"], ["SameSite=Lax"]),
        ({"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": True},
         ["SameSite=None", "Secure"], ["SameSite=Lax"]),
        ({"SESSION_COOKIE_PARTITIONED": True, "SESSION_COOKIE_SECURE": True},
         ["Partitioned", "Secure"], []),
        # Flask's weaker default (None) leaves sessionware's Lax in place.
        ({"SESSION_COOKIE_SAMESITE": None}, ["SameSite=Lax"], []),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, dict) else None,
)  # fmt: skip
def test_cookie_config_keys(config, present, absent):
    header = set_cookie_header(**config)
    attrs = attributes(header)
    for attribute in present:
        assert attribute in attrs, (attribute, header)
    for attribute in absent:
        assert attribute not in attrs, (attribute, header)


def test_samesite_none_attribute_via_override():
    app = create_app({"SECRET_KEY": SECRET}, cookie_samesite=None)
    header = one_cookie(app.test_client().get("/set"))
    assert "SameSite" not in header


def test_config_error_names_the_flask_key():
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_SAMESITE"):
        make_app(SESSION_COOKIE_SAMESITE="None")
    with pytest.raises(ConfigurationError, match="PERMANENT_SESSION_LIFETIME"):
        make_app(PERMANENT_SESSION_LIFETIME="a week")


@pytest.mark.parametrize("lifetime", [timedelta(minutes=10), 600], ids=["timedelta", "int"])
def test_permanent_session_lifetime(lifetime):
    app = make_app(PERMANENT_SESSION_LIFETIME=lifetime)
    assert "Max-Age=600" in one_cookie(app.test_client().get("/permanent"))


def test_permanent_session_lifetime_set_through_the_app_attribute():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET
    app.permanent_session_lifetime = timedelta(hours=1)

    @app.route("/p")
    def permanent():
        flask.session.permanent = True
        flask.session["x"] = 1
        return "ok"

    Sessionware(app)
    assert "Max-Age=3600" in one_cookie(app.test_client().get("/p"))


def test_refresh_each_request_false():
    client = make_app(SESSION_REFRESH_EACH_REQUEST=False).test_client()
    one_cookie(client.get("/permanent"))
    assert client.get("/get").headers.getlist("Set-Cookie") == []


def test_refresh_interval():
    client = make_app(SESSIONWARE_REFRESH_INTERVAL=timedelta(hours=1)).test_client()
    one_cookie(client.get("/permanent"))
    # Issued just now: not due for a refresh (without the key it would be re-sent,
    # as test_permanent_uses_permanent_session_lifetime shows).
    assert client.get("/get").headers.getlist("Set-Cookie") == []


def test_absolute_lifetime_caps_max_age():
    app = make_app(PERMANENT_SESSION_LIFETIME=3600, SESSIONWARE_ABSOLUTE_LIFETIME=300)
    header = one_cookie(app.test_client().get("/permanent"))
    assert "Max-Age=300" in header or "Max-Age=299" in header


def test_detect_nested_changes_off():
    client = make_app(SESSIONWARE_DETECT_NESTED_CHANGES=False).test_client()
    client.get("/set")
    assert client.get("/append").headers.getlist("Set-Cookie") == []
    assert client.get("/").json["data"]["hobbies"] == ["coding", "reading"]


def test_store_url():
    app = make_app("memory://")
    assert isinstance(app.wsgi_app.store, MemoryStore)
    client = app.test_client()
    client.get("/set")
    assert client.get("/check").text == "username exists: admin"


def test_secret_key_fallbacks_rotation():
    old_client = make_app(SECRET_KEY=OLD_SECRET).test_client()
    old_client.get("/set")
    old_cookie = old_client.get_cookie("session").value

    rotated = make_app(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET]).test_client()
    rotated.set_cookie("session", old_cookie)
    response = rotated.get("/check")
    assert response.text == "username exists: admin"
    new_cookie = header_value(one_cookie(response))
    assert new_cookie != old_cookie  # re-signed with the current key

    # Without the fallback the old cookie is no session at all...
    strict = make_app(SECRET_KEY=SECRET).test_client()
    strict.set_cookie("session", old_cookie)
    assert strict.get("/check").text == "no session key found"
    # ...while the re-signed one verifies with the current key alone.
    strict.set_cookie("session", new_cookie)
    assert strict.get("/check").text == "username exists: admin"


def test_change_while_streaming_warns_as_it_cannot_be_saved():
    import flask

    from sessionware import SessionWarning
    from sessionware.flask import Sessionware

    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "a-secret-key-for-the-streaming-test!"
    Sessionware(app)

    @app.route("/stream")
    def stream():
        flask.session["before"] = 1

        @flask.stream_with_context
        def body():
            yield "a"
            flask.session["during"] = 2  # after Flask saved the session
            yield "b"

        return flask.Response(body())

    client = app.test_client()
    with pytest.warns(SessionWarning, match="during"):
        response = client.get("/stream")
        assert response.get_data() == b"ab"
    assert len(response.headers.getlist("Set-Cookie")) == 1
    with client.session_transaction() as session:
        assert dict(session) == {"before": 1}


# -- under Flask, the response is Flask's own (#17) ---------------------------------


@pytest.mark.parametrize("body", ["list", "streamed", "file"])
def test_the_server_gets_flasks_response_unwrapped(body, tmp_path):
    """Flask saves the session (save_session) before it starts the response,
    so the adapter hands Flask the server's own start_response and the server
    Flask's own body: nothing is wrapped, for any kind of body."""
    import io

    from werkzeug.test import EnvironBuilder

    app = flask.Flask(__name__)
    app.secret_key = SECRET
    (tmp_path / "f.txt").write_bytes(b"file")

    @app.route("/")
    def index():
        flask.session["x"] = 1
        if body == "streamed":
            return flask.Response(iter([b"a", b"b"]))
        if body == "file":
            return flask.send_file(io.BytesIO(b"file"), mimetype="text/plain")
        return "ok"

    seen = {}
    flask_wsgi_app = app.wsgi_app

    def spy(environ, start_response):
        seen["start_response"] = start_response
        seen["body"] = flask_wsgi_app(environ, start_response)
        return seen["body"]

    app.wsgi_app = spy
    Sessionware(app)
    headers = []

    def start_response(status, response_headers, exc_info=None):
        headers.extend(response_headers)
        return lambda data: None

    environ = EnvironBuilder("/").get_environ()
    result = app(environ, start_response)
    assert seen["start_response"] is start_response
    assert result is seen["body"]
    assert any(name == "Set-Cookie" for name, _ in headers)
    b"".join(result)
    result.close()
