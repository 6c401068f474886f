"""Three users of one SQLite file in every gunicorn worker (``shared_file_app:app``):
an app and its admin app, each with its own store on the file, sharing
sessions (one cookie), and a cookie-store app whose revocation store is the
same file. All three open their connection when the worker boots, one after
another, as apps that touch their store at startup do.

``SW_TEST_SQLITE`` names the file. Routes, under ``/app``, ``/admin`` and
``/signed``:
``/login``, ``/logout?how=clear|invalidate``, ``/show`` (the worker's pid and
the session's user); ``/`` answers without touching a session.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

from sessionware import SessionMiddleware
from sessionware.stores import SQLiteStore

SECRET = "shared-file-test-secret-0123456789abcdef"
PATH = os.environ["SW_TEST_SQLITE"]


def pages(environ, start_response):
    session = environ["session"]
    action = environ["PATH_INFO"].rsplit("/", 1)[-1]
    if action == "login":
        session["user"] = "alice"
    elif action == "logout":
        how = parse_qs(environ.get("QUERY_STRING", "")).get("how", ["clear"])[0]
        session.invalidate() if how == "invalidate" else session.clear()
    body = {"pid": os.getpid(), "user": session.get("user")}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


revocation = SQLiteStore(PATH)
mounts = {
    "app": SessionMiddleware(pages, SECRET, store=SQLiteStore(PATH)),
    "admin": SessionMiddleware(pages, SECRET, store=f"sqlite:///{PATH}"),
    "signed": SessionMiddleware(pages, SECRET, cookie_name="signed", revocation=revocation),
}
for store in (mounts["app"].store, mounts["admin"].store, revocation):
    store.load("warm-up")  # each opens its connection now


def app(environ, start_response):
    mount = environ["PATH_INFO"].split("/")[1]
    if mount in mounts:
        return mounts[mount](environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ready"]
