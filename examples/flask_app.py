"""The seed's Flask routes, with sessionware behind ``flask.session``.

export SESSIONWARE_SECRET_KEY="$(python -m sessionware secret)"
gunicorn -w 2 -b 127.0.0.1:8000 examples.flask_app:app
"""

import os
from datetime import timedelta

from flask import Flask, session

from sessionware.flask import Sessionware

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SESSIONWARE_SECRET_KEY"]
app.config["SESSIONWARE_STORE"] = os.environ.get("SESSIONWARE_STORE", "cookie://")
app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=1)
app.config["SESSION_COOKIE_HTTPONLY"] = True  # no JavaScript access (XSS)
app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # not sent on cross-site POSTs (CSRF)
Sessionware(app)


@app.route("/set")
def set_session():
    session["username"] = "admin"
    session["age"] = 25
    session["is_vip"] = True
    session["hobbies"] = ["coding", "reading"]
    session["profile"] = {"city": "wuhan", "phone": "13800138000"}
    return "session set"


@app.route("/check")
def check_session():
    if "username" in session:
        return f"username is set: {session['username']}"
    if session.get("is_vip") is not None:
        return "vip status is set"
    return "session key not found"


@app.route("/permanent")
def make_permanent():
    session.permanent = True  # Expires/Max-Age of PERMANENT_SESSION_LIFETIME
    return f"permanent, sid {session.sid}"


@app.route("/clear")
def clear_session():
    session.clear()
    return "session cleared"


@app.route("/logout")
def logout():
    session.invalidate()  # clear the data and change the session id
    return "logged out"


@app.route("/")
def index():
    return {"session": dict(session), "sid": session.sid, "new": session.new}
