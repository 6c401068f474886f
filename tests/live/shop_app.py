"""A small shop on real Flask extensions: Flask-Login (login, remember me,
session protection), Flask-WTF (CSRF on every form), flashes and a cart.

``create_app(mode)`` picks the session: ``"flask"`` (Flask's built-in cookie
session), ``"flask-session"`` (Flask-Session with Redis) or ``"sessionware"``
(``Sessionware(app)`` with the same configuration). Without arguments
(``gunicorn 'shop_app:create_app()'``) it reads ``SHOP_MODE``, ``SHOP_SECRET``,
``SHOP_STORE`` (a sessionware store URL; empty: cookie) and ``SHOP_REDIS`` (the
Redis URL of Flask-Session, also used by sessionware when switching from it).
"""

import os

import flask
from flask import flash, get_flashed_messages, jsonify, redirect, render_template_string, request
from flask import session as flask_session
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf.csrf import CSRFProtect

USERS = {"alice": "wonderland", "bob": "builder"}

PAGE = """<!doctype html>
<title>shop</title>
<p id="user">{{ current_user.get_id() or "" }}</p>
<p id="cart">{{ ",".join(session.get("cart", [])) }}</p>
<p id="flashes">{{ "|".join(get_flashed_messages()) }}</p>
<form id="login" method="post" action="/login">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <input id="username" name="username"><input id="password" name="password" type="password">
  <input id="remember" name="remember" type="checkbox" value="1">
  <button id="login-button" type="submit">log in</button>
</form>
{% for item in ("apple", "pear", "plum") %}
<form method="post" action="/cart/{{ item }}">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <button id="add-{{ item }}" type="submit">add {{ item }}</button>
</form>
{% endfor %}
<form method="post" action="/logout">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <button id="logout" type="submit">log out</button>
</form>
"""


class User(UserMixin):
    def __init__(self, name):
        self.id = name


def create_app(mode=None, config=None, **options):
    """The shop; ``config`` is applied to ``app.config`` before the session is set up."""
    mode = mode or os.environ.get("SHOP_MODE", "sessionware")
    app = flask.Flask("shop")
    app.config.update(
        SECRET_KEY=os.environ.get("SHOP_SECRET", "shop-secret-key-0123456789abcdef-xyz"),
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_PROTECTION="strong",
    )
    redis_url = os.environ.get("SHOP_REDIS")
    if mode == "flask-session" or (mode == "sessionware" and redis_url):
        import redis

        app.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=redis.Redis.from_url(redis_url),
            SESSION_KEY_PREFIX="shop:",
        )
    if mode == "sessionware" and os.environ.get("SHOP_STORE"):
        app.config["SESSIONWARE_STORE"] = os.environ["SHOP_STORE"]
    app.config.update(config or {})

    login = LoginManager(app)
    login.session_protection = app.config["SESSION_PROTECTION"]

    @login.user_loader
    def load_user(name):
        return User(name) if name in USERS else None

    CSRFProtect(app)

    @app.route("/")
    def index():
        return render_template_string(PAGE)

    @app.post("/login")
    def do_login():
        name = request.form.get("username", "")
        if USERS.get(name) != request.form.get("password"):
            flash("wrong password")
            return redirect("/")
        login_user(User(name), remember=bool(request.form.get("remember")))
        flash(f"welcome {name}")
        return redirect("/")

    @app.post("/cart/<item>")
    @login_required
    def add_to_cart(item):
        flask_session["cart"] = [*flask_session.get("cart", []), item]
        return redirect("/")

    @app.post("/logout")
    def do_logout():
        logout_user()
        flask_session.pop("cart", None)
        return redirect("/")

    @app.route("/whoami")
    def whoami():
        return jsonify(
            user=current_user.get_id(),
            cart=flask_session.get("cart", []),
            fresh=flask_session.get("_fresh"),
            session_type=type(flask_session._get_current_object()).__module__,
            pid=os.getpid(),
        )

    @app.route("/flashes")
    def flashes():
        return jsonify(messages=get_flashed_messages())

    if mode == "flask-session":
        from flask_session import Session

        Session(app)
    elif mode == "sessionware":
        from sessionware.flask import Sessionware

        Sessionware(app, **options)
    elif mode != "flask":
        raise ValueError(f"unknown mode {mode!r}")
    return app
