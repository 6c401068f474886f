"""``memory://`` under a server running the app in several processes loses
sessions whenever another process answers: the first request that touches
the session then warns, once, naming the stores that share sessions
(issue 17). The real gunicorn half is ``live/test_memory_gunicorn.py``."""

from __future__ import annotations

import warnings

import pytest
from werkzeug.test import Client

from helpers import SECRET, handler_app
from sessionware import SessionMiddleware, SessionWarning
from sessionware.stores import MemoryStore, SQLiteStore


def touch(session, environ):
    session["n"] = session.get("n", 0) + 1
    return session["n"]


def requests_under(mw, multiprocess, count=3):
    client = Client(mw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(count):
            client.get("/", environ_overrides={"wsgi.multiprocess": multiprocess})
    return [w for w in caught if issubclass(w.category, SessionWarning)]


def test_memory_store_under_several_processes_warns_once():
    mw = SessionMiddleware(handler_app(touch), SECRET, store="memory://")
    (warning,) = requests_under(mw, True)
    message = str(warning.message)
    assert "MemoryStore" in message and "wsgi.multiprocess" in message
    for name in ("SQLiteStore", "RedisStore", "PostgreSQLStore", "cookie://"):
        assert name in message
    assert warning.filename == __file__  # names the user's line: the app's
    assert requests_under(mw, True) == []  # once


@pytest.mark.parametrize("store", ["memory", "sqlite", "cookie"])
def test_no_warning_when_it_cannot_lose_sessions(store, tmp_path):
    stores = {
        "memory": MemoryStore(),  # one process
        "sqlite": SQLiteStore(str(tmp_path / "s.db")),
        "cookie": None,
    }
    mw = SessionMiddleware(handler_app(touch), SECRET, store=stores[store])
    assert requests_under(mw, store != "memory") == []
