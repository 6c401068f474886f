"""The seed's routes as a bare WSGI app (no framework) with sessionware.

export SESSIONWARE_SECRET_KEY="$(python -m sessionware secret)"
gunicorn -w 2 -b 127.0.0.1:8000 examples.wsgi_app:app
"""

import os

from sessionware import SessionMiddleware


def routes(environ, start_response):
    session, path = environ["session"], environ.get("PATH_INFO", "/")
    if path == "/set":
        session["username"] = "admin"
        session["age"] = 25
        session["is_vip"] = True
        session["hobbies"] = ["coding", "reading"]
        session["profile"] = {"city": "wuhan", "phone": "13800138000"}
        body = "session set"
    elif path == "/check":
        if "username" in session:
            body = f"username is set: {session['username']}"
        elif session.get("is_vip") is not None:
            body = "vip status is set"
        else:
            body = "session key not found"
    elif path == "/clear":
        session.clear()
        body = "session cleared"
    elif path == "/logout":
        session.invalidate()  # clear the data and change the session id
        body = "logged out"
    else:
        body = f"session: {dict(session)!r}"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode("utf-8")]


app = SessionMiddleware(
    routes,
    secret_key=os.environ["SESSIONWARE_SECRET_KEY"],
    store=os.environ.get("SESSIONWARE_STORE", "cookie://"),
)
