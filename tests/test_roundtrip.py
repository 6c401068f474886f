"""Every supported value survives a real request round trip, for the cookie and a server store."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import SECRET, cookie_pair, saved_cookie
from sessionware import SessionMiddleware
from sessionware.stores import CookieStore, MemoryStore
from test_codec import assert_same, values


@pytest.mark.parametrize(
    "store", [None, CookieStore(encrypt=True), MemoryStore()], ids=["cookie", "encrypted", "memory"]
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.text(max_size=8), values, max_size=4))
def test_values_round_trip_through_the_middleware(store, data):
    middleware = SessionMiddleware(lambda e, s: [], SECRET, store=store)
    session = middleware.open_session({})
    session.update(data)
    cookie = saved_cookie(middleware, session)
    if not data:
        assert cookie is None
        return
    loaded = middleware.open_session({"HTTP_COOKIE": cookie_pair(cookie)})
    assert not loaded.new
    assert_same(dict(loaded), data)
    # Loading and saving unchanged data is not a change (no spurious writes).
    assert loaded.modified is False
