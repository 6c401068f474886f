"""A WSGI app in every shape PEP 3333 allows (issue 8, class 2), for
``test_streaming.py`` (werkzeug's client) and its live half under gunicorn
(``wsgi_shapes:app``; ``tests/`` is on gunicorn's path).

``GET /<shape>/<action>?rid=ID``: the app, in that shape, does ``action`` to
the session before its first body byte (``late``: after it) and answers
``<shape>|<new>``. Shapes: see ``SHAPES``. Actions: ``set`` (``session
["shape"] = shape``), ``logout`` (``invalidate()``), ``read``, ``late``,
``raise`` (a change, then an exception before the first byte).
``GET /show/-`` answers the session as JSON.

Each worker builds its middleware from ``SW_TEST_STORE`` (``cookie`` or
``sqlite`` with ``SW_TEST_SQLITE``); ``SW_TEST_CLOSE_LOG`` names a file that
gets one line ``rid`` per ``close()`` of the closing iterable.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from urllib.parse import parse_qs

from werkzeug.wrappers import Response

from sessionware import SessionMiddleware
from sessionware.stores import SQLiteStore

SECRET = "shapes-test-secret-key-0123456789abcdef"
HEADERS = [("Content-Type", "text/plain")]
#: close() calls of the closing iterable, by request id (this process).
CLOSED: Counter[str] = Counter()


class Boom(Exception):
    """Raised by the ``raise`` action."""


def act(session, shape, action):
    if action == "set":
        session["shape"] = shape
    elif action == "logout":
        session.invalidate()
    elif action == "read":
        session.get("shape")
    elif action == "raise":
        session["half"] = "done"
        raise Boom(shape)


def body(session, shape):
    return f"{shape}|{session.new}".encode()


def late(session, action):
    """After the first chunk: the change that can no longer be saved."""
    if action == "late":
        session["late"] = 1


def eager_generator(environ, start_response, session, shape, action):
    start_response("200 OK", HEADERS)

    def chunks():
        act(session, shape, action)
        yield body(session, shape)
        late(session, action)

    return chunks()


def werkzeug_response(environ, start_response, session, shape, action):
    # Response(generator) calls start_response at once, then iterates.
    def chunks():
        act(session, shape, action)
        yield body(session, shape)
        late(session, action)

    return Response(chunks(), mimetype="text/plain")(environ, start_response)


def empty_first_chunk(environ, start_response, session, shape, action):
    start_response("200 OK", HEADERS)

    def chunks():
        yield b""  # no byte yet: the headers have not gone out
        act(session, shape, action)
        yield body(session, shape)
        late(session, action)

    return chunks()


def lazy_generator(environ, start_response, session, shape, action):
    def chunks():
        act(session, shape, action)
        start_response("200 OK", HEADERS)
        yield body(session, shape)
        late(session, action)

    return chunks()


def write_callable(environ, start_response, session, shape, action):
    write = start_response("200 OK", HEADERS)
    act(session, shape, action)
    write(body(session, shape))
    late(session, action)
    return []


def write_then_generator(environ, start_response, session, shape, action):
    write = start_response("200 OK", HEADERS)
    act(session, shape, action)
    write(body(session, shape)[:2])

    def rest():
        late(session, action)
        yield body(session, shape)[2:]

    return rest()


class ClosingIterable:
    """An iterable with close() (a file-like body, say), not a generator."""

    def __init__(self, environ, session, shape, action):
        self.rid = parse_qs(environ.get("QUERY_STRING", "")).get("rid", ["-"])[0]
        self.session, self.shape, self.action = session, shape, action
        self.step = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.step += 1
        if self.step == 1:
            act(self.session, self.shape, self.action)
            return body(self.session, self.shape)
        if self.step == 2:
            late(self.session, self.action)
        raise StopIteration

    def close(self):
        CLOSED[self.rid] += 1
        log = os.environ.get("SW_TEST_CLOSE_LOG")
        if log:
            with open(log, "a") as file:
                file.write(self.rid + "\n")


def closing_iterable(environ, start_response, session, shape, action):
    start_response("200 OK", HEADERS)
    return ClosingIterable(environ, session, shape, action)


def plain_list(environ, start_response, session, shape, action):
    act(session, shape, action)
    start_response("200 OK", HEADERS)
    return [body(session, shape)]


def caught_exception(environ, start_response, session, shape, action):
    # Headers chosen, then an error the app handles itself: PEP 3333 lets it
    # replace them with exc_info, until the first byte has gone out.
    start_response("200 OK", HEADERS)
    act(session, shape, action)
    try:
        raise LookupError("handled by the app")
    except LookupError:
        start_response("500 Internal Server Error", HEADERS, sys.exc_info())
    return [body(session, shape)]


def caught_exception_in_generator(environ, start_response, session, shape, action):
    start_response("200 OK", HEADERS)

    def chunks():
        act(session, shape, action)
        try:
            raise LookupError("handled by the app")
        except LookupError:
            start_response("500 Internal Server Error", HEADERS, sys.exc_info())
        yield body(session, shape)
        late(session, action)

    return chunks()


SHAPES = {
    "eager-generator": eager_generator,
    "werkzeug-response": werkzeug_response,
    "empty-first-chunk": empty_first_chunk,
    "lazy-generator": lazy_generator,
    "write": write_callable,
    "write-then-generator": write_then_generator,
    "closing-iterable": closing_iterable,
    "list": plain_list,
    "caught-exception": caught_exception,
    "caught-exception-in-generator": caught_exception_in_generator,
}
#: Shapes whose status is 500 (the app handled an error itself).
ERROR_SHAPES = {"caught-exception", "caught-exception-in-generator"}
#: Shapes that can change the session after their first chunk.
LATE_SHAPES = set(SHAPES) - {"list", "caught-exception"}


def bare_app(environ, start_response):
    session = environ["session"]
    if environ["PATH_INFO"] == "/":  # readiness: never touches the session
        start_response("200 OK", HEADERS)
        return [b"ready"]
    _, shape, action = environ["PATH_INFO"].split("/")
    if shape == "show":  # what the session holds now, as JSON
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"new": session.new, "data": dict(session)}).encode()]
    if shape == "file":
        # wsgi.file_wrapper: the server may send the file itself (sendfile).
        act(session, shape, action)
        start_response("200 OK", HEADERS)
        return environ["wsgi.file_wrapper"](open(os.environ["SW_TEST_FILE"], "rb"))  # noqa: SIM115
    return SHAPES[shape](environ, start_response, session, shape, action)


def make_store():
    kind = os.environ.get("SW_TEST_STORE", "cookie")
    if kind == "sqlite":
        return SQLiteStore(os.environ["SW_TEST_SQLITE"])
    return None


def make_app(store=None):
    return SessionMiddleware(bare_app, SECRET, store=store)


if "SW_TEST_STORE" in os.environ:
    app = make_app(make_store())
