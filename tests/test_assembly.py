"""Mistakes of assembly are refused, never silent (API.md section 1): the bare
middleware around a Flask app, and two sessionware middlewares on one key."""

import flask
import pytest
from werkzeug.test import Client

from helpers import SECRET
from sessionware import ConfigurationError, SessionMiddleware
from sessionware.flask import Sessionware


def wsgi_app(environ, start_response):
    environ["session"]["x"] = 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def flask_app(cls=flask.Flask):
    app = cls(__name__)
    app.secret_key = SECRET

    @app.route("/")
    def index():
        flask.session["x"] = 1
        return "ok"

    return app


class SubFlask(flask.Flask):
    pass


@pytest.mark.parametrize(
    "target",
    [
        lambda app: app.wsgi_app,
        lambda app: app,
        lambda app: SubFlask.wsgi_app.__get__(app),
        lambda app: app.__call__,
    ],
    ids=["app.wsgi_app", "the app", "a subclass's wsgi_app", "app.__call__"],
)
@pytest.mark.parametrize("cls", [flask.Flask, SubFlask])
def test_bare_middleware_around_a_flask_app_is_refused(target, cls):
    app = flask_app(cls)
    with pytest.raises(ConfigurationError, match=r"Sessionware\(app\)") as info:
        SessionMiddleware(target(app), SECRET)
    assert "sessionware.flask" in str(info.value)


def test_flask_adapter_and_plain_apps_are_not_refused():
    app = flask_app()
    Sessionware(app)  # wraps app.wsgi_app itself
    assert app.test_client().get("/").status_code == 200

    class NotFlask:
        def wsgi_app(self, environ, start_response):
            return wsgi_app(environ, start_response)

    SessionMiddleware(NotFlask().wsgi_app, SECRET)


def stacks():
    """Two sessionware middlewares on environ["session"], every way round."""

    def bare_in_bare():
        return SessionMiddleware(SessionMiddleware(wsgi_app, SECRET, store="memory://"), SECRET)

    def bare_around_adapter():
        app = flask_app()
        Sessionware(app, store="memory://")
        app.wsgi_app = SessionMiddleware(app.wsgi_app, SECRET)
        return app

    def bare_around_adapted_app():
        app = flask_app()
        Sessionware(app, store="memory://")
        outer = SessionMiddleware(lambda environ, start: app(environ, start), SECRET)
        return outer

    return {"bare in bare": bare_in_bare, "bare around the adapter": bare_around_adapter,
            "bare around the Flask app": bare_around_adapted_app}  # fmt: skip


@pytest.mark.parametrize("build", stacks().values(), ids=stacks().keys())
def test_two_middlewares_on_one_key_are_refused_at_the_first_request(build):
    app = build()  # built without complaint: the key is only known per request
    with pytest.raises(ConfigurationError, match=r"environ\['session'\]") as info:
        Client(app).get("/")
    message = str(info.value)
    assert "CookieStore" in message and "MemoryStore" in message  # both named


def test_two_middlewares_on_two_keys_are_fine():
    def app(environ, start_response):
        environ["session"]["x"] = environ["other"]["y"] = 1
        start_response("200 OK", [])
        return [b"ok"]

    inner = SessionMiddleware(app, SECRET, environ_key="other", cookie_name="other")
    response = Client(SessionMiddleware(inner, SECRET)).get("/")
    assert len(response.headers.getlist("Set-Cookie")) == 2


def test_a_value_of_another_library_under_the_key_is_replaced_as_before():
    def outer(environ, start_response):
        environ["session"] = {"not": "sessionware's"}
        return middleware(environ, start_response)

    middleware = SessionMiddleware(wsgi_app, SECRET)
    assert Client(outer).get("/").status_code == 200
