"""Every row of the README's "Quick reference" (and the flags of "A tour") on a real
session, loaded through the middleware."""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest

from helpers import SECRET, SEED, cookie_pair, saved_cookie
from sessionware import Session, SessionMiddleware


def fresh(data=None):
    """A session that came with a request (not new), holding ``data``."""
    middleware = SessionMiddleware(lambda e, s: [], SECRET)
    session = middleware.open_session({})
    if data is None:
        return session
    session.update(data)
    cookie = saved_cookie(middleware, session)
    return middleware.open_session({"HTTP_COOKIE": cookie_pair(cookie)})


def test_is_a_mutable_mapping():
    assert isinstance(fresh(), MutableMapping)
    assert isinstance(fresh(), Session)


def test_set_marks_modified():
    s = fresh(SEED)
    assert not s.modified
    s["k"] = "v"
    assert s["k"] == "v" and s.modified


def test_getitem_missing_raises_keyerror():
    with pytest.raises(KeyError):
        fresh(SEED)["missing"]


def test_get_with_and_without_default():
    s = fresh(SEED)
    assert s.get("age") == 25
    assert s.get("missing") is None
    assert s.get("missing", 0) == 0
    assert not s.modified


def test_contains():
    s = fresh(SEED)
    assert "username" in s and "nope" not in s
    assert not s.modified


def test_del_marks_modified_and_raises_when_absent():
    s = fresh(SEED)
    del s["username"]
    assert s.modified and "username" not in s
    s = fresh(SEED)
    with pytest.raises(KeyError):
        del s["missing"]
    assert not s.modified


def test_pop_marks_modified_only_when_something_was_removed():
    s = fresh(SEED)
    assert s.pop("age", 0) == 25 and s.modified
    s = fresh(SEED)
    assert s.pop("missing", 0) == 0 and not s.modified
    with pytest.raises(KeyError):
        s.pop("missing")
    assert not s.modified


def test_dict_methods():
    s = fresh(SEED)
    assert len(s) == 5
    assert list(s) == list(SEED) == list(s.keys())
    assert list(s.values()) == list(SEED.values())
    assert dict(s.items()) == SEED
    assert s == SEED
    assert s.setdefault("username", "x") == "admin" and not s.modified
    assert s.setdefault("new", 1) == 1 and s.modified
    s = fresh(SEED)
    s.update({"a": 1}, b=2)
    assert s["a"] == 1 and s["b"] == 2 and s.modified


def test_clear_marks_modified():
    s = fresh(SEED)
    s.clear()
    assert len(s) == 0 and s.modified


def test_permanent_is_metadata_not_a_key():
    s = fresh(SEED)
    assert s.permanent is False
    s.permanent = True
    assert s.permanent is True and s.modified
    assert "_permanent" not in s and "permanent" not in s and len(s) == 5


def test_setting_permanent_to_its_value_is_not_a_change():
    s = fresh(SEED)
    s.permanent = False
    assert not s.modified


def test_modified_and_accessed_are_read_write():
    s = fresh(SEED)
    assert not s.accessed
    s.get("age")
    assert s.accessed
    s.accessed = False
    s.modified = True
    assert s.modified and not s.accessed


def test_new():
    assert fresh().new is True
    assert fresh(SEED).new is False


def test_sid_lazily_created_and_long():
    s = fresh()
    assert isinstance(s.sid, str) and len(s.sid) >= 22 and s.sid == s.sid
    assert fresh().sid != s.sid


def test_sid_survives_the_round_trip():
    middleware = SessionMiddleware(lambda e, s: [], SECRET)
    s = middleware.open_session({})
    s["k"] = 1
    sid = s.sid
    cookie = saved_cookie(middleware, s)
    assert middleware.open_session({"HTTP_COOKIE": cookie_pair(cookie)}).sid == sid


def test_regenerate_and_invalidate():
    s = fresh(SEED)
    old = s.sid
    s.regenerate()
    assert s.sid != old and s == SEED and s.modified
    s = fresh(SEED)
    old = s.sid
    s.invalidate()
    assert s.sid != old and len(s) == 0


def test_lazy_until_touched():
    s = fresh(SEED)
    assert not s.loaded
    s.modified = True
    assert not s.loaded
    assert "username" in s
    assert s.loaded


def test_repr_does_not_load():
    s = fresh(SEED)
    assert "not loaded" in repr(s)
    s.get("x")
    assert "admin" in repr(s)


def test_unhashable():
    with pytest.raises(TypeError):
        hash(fresh())
