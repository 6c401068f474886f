"""Every supported value survives a real request round trip, for the cookie and a server store."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import SECRET
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
    headers = middleware.save_session(session)
    if not data:
        assert [name for name, _ in headers if name == "Set-Cookie"] == []
        return
    cookie = headers[0][1].split(";", 1)[0]
    loaded = middleware.open_session({"HTTP_COOKIE": cookie})
    assert not loaded.new
    assert_same(dict(loaded), data)
    # Loading and saving unchanged data is not a change (no spurious writes).
    assert loaded.modified is False
