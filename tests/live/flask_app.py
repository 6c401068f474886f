"""The seed's Flask app on sessionware: used by test_flask.py and, under
gunicorn, by test_flask_gunicorn.py (``flask_app:create_app()``).

Without arguments ``create_app()`` reads ``SESSIONWARE_TEST_SECRET`` and
``SESSIONWARE_TEST_STORE`` (a store URL; empty: the cookie store) from the
environment, which is how the gunicorn workers get their configuration.
"""

import os

from flask import Flask, flash, get_flashed_messages, jsonify, session
from markupsafe import Markup

from sessionware.flask import Sessionware


def create_app(config=None, **options):
    """The seed app; ``config`` is applied to ``app.config`` before init_app."""
    app = Flask(__name__)
    if config is None:
        config = {"SECRET_KEY": os.environ["SESSIONWARE_TEST_SECRET"]}
        if os.environ.get("SESSIONWARE_TEST_STORE"):
            config["SESSIONWARE_STORE"] = os.environ["SESSIONWARE_TEST_STORE"]
    app.config.update(config)

    @app.route("/")
    def index():
        return jsonify(
            data=dict(session),
            sid=session.sid,
            new=session.new,
            permanent=session.permanent,
            pid=os.getpid(),
        )

    @app.route("/set")
    def set_session():
        session["username"] = "admin"
        session["age"] = 25
        session["is_vip"] = True
        session["hobbies"] = ["coding", "reading"]
        session["profile"] = {"city": "wuhan", "phone": "13800138000"}
        return "session set"

    @app.route("/permanent")
    def make_permanent():
        session.permanent = True
        session["username"] = "admin"
        return "permanent"

    @app.route("/get")
    def get_session():
        return jsonify(
            username=session["username"], age=session.get("age", 0), missing=session.get("missing")
        )

    @app.route("/check")
    def check_session():
        if "username" in session:
            return f"username exists: {session['username']}"
        if session.get("is_vip") is not None:
            return "vip status set"
        return "no session key found"

    @app.route("/delete")
    def delete_keys():
        del session["username"]
        age = session.pop("age", 0)
        missing = session.pop("missing", "default")
        return f"deleted; age was {age}; missing gave {missing}"

    @app.route("/append")
    def append_hobby():
        session["hobbies"].append("hiking")  # nested change, no `modified`
        return "appended"

    @app.route("/clear")
    def clear_session():
        session.clear()
        return "all session data cleared"

    @app.route("/logout")
    def logout():
        session.clear()
        return "logged out"

    @app.route("/flash")
    def flash_message():
        flash("saved")
        flash(Markup("<b>bold</b>"), "warning")
        return "flashed"

    @app.route("/flashes")
    def show_flashes():
        messages = get_flashed_messages(with_categories=True)
        return jsonify(messages=[[c, str(m), type(m).__name__] for c, m in messages])

    @app.route("/untouched")
    def untouched():
        return "nothing read"

    Sessionware(app, **options)
    return app
