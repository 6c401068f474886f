"""A WSGI app for racing two requests of one session (issue 8, class 3),
in threads (``test_clear_wins.py``) or in two gunicorn workers
(``race_app:app``; ``tests/`` is on gunicorn's path).

Routes:

- ``/login``: starts a session (``user``).
- ``/logout?how=clear|invalidate|clear-write``: logs out with that call
  (``clear-write``: ``clear()``, then a new key, as a "logged out" flash);
  answers the session it loaded (``loaded``).
- ``/regenerate``: regenerates the session; answers what it loaded.
- ``/stale?op=OP&gate=NAME``: loads the session, creates ``NAME.loaded`` in
  the gate directory, waits until ``NAME.go`` exists, then does ``OP``:
  ``permanent`` (``session.permanent = True``), ``add`` (a new key),
  ``clear-write`` (``clear()`` then a new key), ``regenerate``, or a
  logout: ``clear``, ``invalidate``.
- ``/regenerate-then-wait?gate=NAME``: regenerates the session, has it
  saved (the first body chunk), creates ``NAME.saved``, and answers only
  once ``NAME.done`` exists (a regenerate that has moved the session but
  not answered yet).
- ``/show``: the session as JSON (``new``, ``permanent``, ``data``).
- ``/``: readiness, never touches the session.

The gate files make the interleaving exact across threads and processes:
the test lets the stale request go only once the logout has answered.
Each process builds its middleware from ``SW_TEST_STORE`` (``sqlite`` with
``SW_TEST_SQLITE``, ``redis`` with ``SW_TEST_REDIS`` and ``SW_TEST_PREFIX``)
and takes its gate directory from ``SW_TEST_GATES``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs

from sessionware import SessionMiddleware

SECRET = "race-test-secret-key-0123456789abcdef"
OPS = ("permanent", "add", "clear-write", "regenerate")
LOGOUTS = ("clear", "invalidate", "clear-write")


def wait_for_file(path, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


def stale(session, op):
    if op == "permanent":
        session.permanent = True
    elif op == "add":
        session["added"] = "stale"
    elif op == "clear-write":
        session.clear()
        session["added"] = "stale"
    elif op == "regenerate":
        session.regenerate()
    elif op == "clear":
        session.clear()
    elif op == "invalidate":
        session.invalidate()
    else:
        raise ValueError(op)


def make_app(store, gates, **options):
    gates = Path(gates)

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        session = environ["session"]
        body: object = "ok"
        if path == "/login":
            session["user"] = "alice"
        elif path == "/logout":
            body = {"loaded": dict(session)}
            if query["how"] == "invalidate":
                session.invalidate()
            else:
                session.clear()
                if query["how"] == "clear-write":  # a fresh start: "you are logged out"
                    session["flash"] = "bye"
        elif path == "/stale":
            body = {"loaded": dict(session)}  # loads it now
            (gates / f"{query['gate']}.loaded").touch()
            wait_for_file(gates / f"{query['gate']}.go")
            stale(session, query["op"])
        elif path == "/show":
            body = {"new": session.new, "permanent": session.permanent, "data": dict(session)}
        elif path == "/regenerate":
            body = {"loaded": dict(session)}
            session.regenerate()
        elif path == "/regenerate-then-wait":
            body = {"loaded": dict(session)}
            session.regenerate()
            start_response("200 OK", [("Content-Type", "application/json")])
            return _after_save(body, gates / query["gate"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return SessionMiddleware(app, SECRET, store=store, **options)


def _after_save(body, gate):
    yield b" "  # the first chunk: the middleware saves the session here
    gate.with_suffix(".saved").touch()
    wait_for_file(gate.with_suffix(".done"))
    yield json.dumps(body).encode()


def make_store():
    from sessionware.stores import RedisStore, SQLiteStore

    if os.environ["SW_TEST_STORE"] == "sqlite":
        return SQLiteStore(os.environ["SW_TEST_SQLITE"])
    return RedisStore(os.environ["SW_TEST_REDIS"], prefix=os.environ["SW_TEST_PREFIX"])


if "SW_TEST_STORE" in os.environ:
    app = make_app(make_store(), os.environ["SW_TEST_GATES"])


# -- the race, for both test files ---------------------------------------------


def cookie_of(set_cookies):
    """The session cookie's value a response set, ``""`` when it deleted
    it, ``None`` when it sent none."""
    for header in set_cookies:
        if header.startswith("session="):
            return "" if "Max-Age=0" in header else header.split(";", 1)[0][len("session=") :]
    return None


def race(get, gates, how, op, name):
    """Log in; then a stale request loads the session, the logout (``how``)
    answers, and only then the stale request does ``op`` and answers.

    ``get(path, cookie)`` sends one request with that session cookie and
    returns ``(json body, Set-Cookie headers)``; it may block (the stale
    request waits at its gate), so the stale one runs in a thread here.
    Returns ``(problems, cookies)``: what the user could see going wrong, and
    every session cookie the user was ever given (to check the store).
    """
    import threading

    gates = Path(gates)
    _, login_cookies = get("/login", None)
    cookie = cookie_of(login_cookies)
    stale_result = []
    thread = threading.Thread(
        target=lambda: stale_result.append(get(f"/stale?op={op}&gate={name}", cookie))
    )
    thread.start()
    try:
        wait_for_file(gates / f"{name}.loaded")
        logout_body, logout_cookies = get(f"/logout?how={how}", cookie)
    finally:
        (gates / f"{name}.go").touch()  # the logout has answered: go
        thread.join(30)
    problems = []
    if how != "clear-write" and cookie_of(logout_cookies) != "":
        problems.append(f"the logout did not delete the cookie: {logout_cookies}")
    if how == "clear-write":
        # The logout's own fresh session holds its key and nothing else:
        # not the stale request's key, flag or id.
        fresh = cookie_of(logout_cookies)
        shown = get("/show", fresh)[0] if fresh else None
        if shown != {"new": False, "permanent": False, "data": {"flash": "bye"}}:
            problems.append(f"the session written after clear() loads {shown}")
    if not stale_result:
        return [*problems, "the stale request did not answer"], [cookie]
    stale_body, stale_cookies = stale_result[0]
    if stale_body != {"loaded": {"user": "alice"}}:
        problems.append(f"the stale request did not load the session: {stale_body}")
    cookies = [cookie]
    if cookie_of(stale_cookies):
        cookies.append(cookie_of(stale_cookies))
    for which, value in zip(
        ["the login cookie", "the stale request's cookie"], cookies, strict=False
    ):
        shown, _ = get("/show", value)
        if shown != {"new": True, "permanent": False, "data": {}}:
            problems.append(f"{which} loads {shown}")
    return problems, cookies
