"""A cookie value in double quotes (RFC 6265: ``cookie-value = DQUOTE
*cookie-octet DQUOTE``) is read as the value inside them (API.md section 5),
on every store, on every path of the header parser, and by ``decode``."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from helpers import SECRET, handler_app
from sessionware import SessionMiddleware
from sessionware.cli import decode_cookie
from sessionware.stores import MemoryStore, SQLiteStore


def app(session, environ):
    if environ["PATH_INFO"] == "/start":
        session["user"] = "alice"
    return f"{session.new}|{session.get('user')}"


@pytest.mark.parametrize("kind", ["cookie", "memory", "sqlite"])
def test_a_quoted_session_cookie_is_read(kind, tmp_path):
    store = {"cookie": None, "memory": MemoryStore(), "sqlite": SQLiteStore(str(tmp_path / "q"))}
    mw = SessionMiddleware(handler_app(app), SECRET, store=store[kind])
    client = Client(mw)
    client.get("/start")
    value = client.get_cookie("session").value
    quoted = f'"{value}"'
    for header in (
        f"session={quoted}",  # alone
        f"a=1; session={quoted}; b=2",  # one among others
        f"session= {quoted} ",  # with blanks around
        f"session=junk; session={quoted}",  # several of ours (the scanning path)
        f'session="junk"; b=2; session={quoted}',
    ):
        response = Client(mw, use_cookies=False).get("/", headers={"Cookie": header})
        assert response.get_data(as_text=True) == "False|alice", header
    if kind == "cookie":
        assert decode_cookie(quoted, SECRET)["data"] == {"user": "alice"}
        assert decode_cookie(f"session={quoted}", SECRET)["data"] == {"user": "alice"}
