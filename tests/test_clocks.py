"""Clocks (issue 16, item 5): a token dated more than 60 seconds in the
future is refused wherever a signed timestamp is verified (API.md section
5), and ``revoke_owner`` orders sessions by the revocation store, never by
the clocks of the machines involved (section 11).

A machine whose clock is off is simulated with freezegun on the process that
signs (or revokes); the stores are real and keep their own time.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from werkzeug.test import Client

from control_app import make_app
from helpers import cookie_value, make_client
from sessionware.stores import CookieStore


def _handler(session, environ):
    if environ["PATH_INFO"] == "/set":
        session["user"] = "ann"
    return json.dumps({"new": session.new, "user": session.get("user")})


def _stores(any_store):
    yield "given", any_store
    if any_store is None:
        pytest.importorskip("cryptography")
        yield "encrypted", CookieStore(encrypt=True)


@pytest.mark.parametrize("ahead", [61, 120, 3600, 400 * 86400])
def test_a_token_dated_more_than_60_s_ahead_is_no_session(any_store, ahead):
    for _, store in _stores(any_store):
        client, _ = make_client(_handler, store=store)
        with freeze_time(datetime.now(UTC) + timedelta(seconds=ahead + 2)):
            cookie = cookie_value(client.get("/set"))
        replay = Client(client.application, use_cookies=False)
        shown = json.loads(replay.get("/", headers={"Cookie": f"session={cookie}"}).text)
        assert shown == {"new": True, "user": None}, (store, ahead)


def test_a_token_a_few_seconds_ahead_is_still_accepted(any_store):
    # Clocks of machines behind one load balancer differ by a little.
    for _, store in _stores(any_store):
        client, _ = make_client(_handler, store=store)
        with freeze_time(datetime.now(UTC) + timedelta(seconds=30)):
            cookie = cookie_value(client.get("/set"))
        replay = Client(client.application, use_cookies=False)
        shown = json.loads(replay.get("/", headers={"Cookie": f"session={cookie}"}).text)
        assert shown == {"new": False, "user": "ann"}, store


# -- revoke_owner and the clocks of the machines involved ----------------------


def _get(mw, path, cookie=None):
    client = Client(mw, use_cookies=False)
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return json.loads(response.text), cookie_value(response)


@pytest.fixture(params=["redis", "postgresql"])
def revocation(request):
    """A revocation store on a server of its own clock (an in-process store
    shares the clock that freezegun moves)."""
    from sessionware.stores import RedisStore

    if request.param == "postgresql":
        pytest.importorskip("psycopg")
        from sessionware.stores import PostgreSQLStore

        server = request.getfixturevalue("postgresql_server")
        store = PostgreSQLStore(server.url, table=request.getfixturevalue("pg_table"))
    else:
        server = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    store.close()


@pytest.mark.parametrize("skew", [-3600, -50, -5, 5, 50])
def test_revoke_owner_ends_what_was_issued_before_whatever_the_clocks(revocation, skew):
    # Two machines share the revocation store: one logs a user in, the other
    # revokes the user's sessions. With the login machine's clock `skew`
    # seconds off, a login answered before the revocation is still ended,
    # and one made after it is not (the old check compared the login
    # machine's clock with the revoking one's). A clock more than 60 s fast
    # is out of bounds: other machines refuse its cookies as "in the future".
    login_machine = make_app(None, revocation)
    admin_machine = make_app(None, revocation)
    owner = f"owner-{skew}"
    offset = timedelta(seconds=skew)
    with freeze_time(datetime.now(UTC) + offset, tick=True):
        _, before = _get(login_machine, f"/login?owner={owner}")
    admin_machine.revoke_owner(owner)
    with freeze_time(datetime.now(UTC) + offset, tick=True):
        _, after = _get(login_machine, f"/login?owner={owner}")
    time.sleep(0.01)
    for machine in (login_machine, admin_machine):
        shown, _ = _get(machine, "/me", before)
        assert shown["new"] is True and shown["owner"] is None, ("before", machine)
        shown, _ = _get(machine, "/me", after)
        assert shown["new"] is False and shown["owner"] == owner, ("after", machine)


def test_revoke_owner_from_a_machine_whose_clock_is_off(revocation):
    # The revoking machine's clock, fast or slow, changes nothing either.
    web = make_app(None, revocation)
    for skew in (-3600, 3600):
        owner = f"other-{skew}"
        admin = make_app(None, revocation)
        _, before = _get(web, f"/login?owner={owner}")
        with freeze_time(datetime.now(UTC) + timedelta(seconds=skew), tick=True):
            admin.revoke_owner(owner)
        _, after = _get(web, f"/login?owner={owner}")
        assert _get(web, "/me", before)[0]["new"] is True, skew
        assert _get(web, "/me", after)[0]["owner"] == owner, skew


def test_a_future_dated_token_is_logged_as_such(caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="sessionware.audit")
    client, _ = make_client(_handler)
    with freeze_time(datetime.now(UTC) + timedelta(seconds=600)):
        cookie = cookie_value(client.get("/set"))
    caplog.clear()
    Client(client.application, use_cookies=False).get("/", headers={"Cookie": f"session={cookie}"})
    reasons = [r.reason for r in caplog.records if getattr(r, "event", None) == "rejected"]
    assert reasons == ["future"]
