"""Round trips per request with RedisStore, counted on the wire.

A read-only request of a permanent session whose refresh is due costs ONE
round trip (the load extends the TTL in the same Lua script); a
read-modify-save costs two (load, save). Counted by packets the client
sends (one per round trip) and by the server's own command statistics.
"""

import time

import pytest

pytest.importorskip("redis")

import redis  # noqa: E402

from helpers import make_client, set_cookies  # noqa: E402
from sessionware.stores.redis import RedisStore  # noqa: E402


class CountingConnection(redis.Connection):
    """A real connection that counts what it sends: one packet per round trip."""

    sends = 0

    def send_packed_command(self, command, check_health=True):
        type(self).sends += 1
        return super().send_packed_command(command, check_health)


def handler(session, environ):
    path = environ["PATH_INFO"]
    if path == "/login":
        session.permanent = environ.get("QUERY_STRING") != "session-only"
        session["user"] = "ada"
        session["visits"] = 0
    elif path == "/read":
        return session.get("user")
    elif path == "/visit":
        session["visits"] += 1
    elif path == "/permanent":
        session.permanent = environ.get("QUERY_STRING") == "on"
    return ""


@pytest.fixture
def counted(redis_server, redis_prefix):
    def build(**options):
        store = RedisStore(
            redis_server.url, prefix=redis_prefix, connection_class=CountingConnection
        )
        client, _ = make_client(handler, store=store, **options)
        built.append(store)
        return client, store

    built = []
    probe = redis.Redis.from_url(redis_server.url)
    build.probe = probe
    yield build
    probe.close()
    for store in built:
        store.close()


def round_trips(call):
    CountingConnection.sends = 0
    response = call()
    assert response.status_code == 200
    return CountingConnection.sends, response


def record_key(store, client):
    (key,) = [k for k in store._client.scan_iter(match=store.prefix + "*")]
    return key


def test_read_only_refresh_is_one_round_trip(counted):
    client, store = counted()
    client.get("/login")
    # The first load script run on a server is NOSCRIPT, then EVAL: two round
    # trips once per server start; every later one is a single EVALSHA.
    counted.probe.script_flush()
    assert round_trips(lambda: client.get("/read"))[0] == 2
    key = record_key(store, client)
    counted.probe.expire(key, 100)  # as if the last refresh were long ago
    sends, response = round_trips(lambda: client.get("/read"))
    assert response.get_data(as_text=True) == "ada"
    assert sends == 1
    assert set_cookies(response), "a due refresh re-sends the cookie"
    assert counted.probe.ttl(key) > 31 * 24 * 3600 - 10, "the load extended the TTL"


def test_read_modify_save_is_two_round_trips(counted):
    client, store = counted()
    client.get("/login")
    sends, response = round_trips(lambda: client.get("/visit"))
    assert sends == 2
    assert set_cookies(response)


def test_read_only_session_cookie_is_one_round_trip_and_never_writes(counted):
    client, store = counted()
    client.get("/login?session-only")
    key = record_key(store, client)
    counted.probe.expire(key, 100)
    before = counted.probe.info("commandstats")
    sends, response = round_trips(lambda: client.get("/read"))
    after = counted.probe.info("commandstats")
    assert sends == 1 and not set_cookies(response)
    assert counted.probe.ttl(key) <= 100, "a non-permanent session's TTL is not extended"
    assert after["cmdstat_hgetall"]["calls"] == before["cmdstat_hgetall"]["calls"] + 1
    assert after.get("cmdstat_expire") == before.get("cmdstat_expire")
    # The cheapest load, not the refreshing script: the cookie of a session
    # that is not permanent says so, and no refresh can be due for it.
    assert after.get("cmdstat_evalsha") == before.get("cmdstat_evalsha")


def test_refresh_not_due_is_a_plain_load(counted):
    client, store = counted(refresh_interval=3600)
    client.get("/login")
    key = record_key(store, client)
    counted.probe.expire(key, 100)
    sends, response = round_trips(lambda: client.get("/read"))
    assert sends == 1 and not set_cookies(response)
    assert counted.probe.ttl(key) <= 100


def test_absolute_lifetime_caps_the_refreshed_ttl(counted):
    client, store = counted(absolute_lifetime=600)
    client.get("/login")
    client.get("/read")  # the load script is cached on the server from here
    key = record_key(store, client)
    counted.probe.expire(key, 100)
    sends, response = round_trips(lambda: client.get("/read"))
    assert sends == 1 and set_cookies(response)
    assert 590 <= counted.probe.ttl(key) <= 600


@pytest.mark.slow
def test_refreshed_session_outlives_its_first_ttl(counted):
    client, store = counted(permanent_lifetime=3)
    client.get("/login")
    client.get("/read")
    for _ in range(3):
        time.sleep(1.2)
        sends, response = round_trips(lambda: client.get("/read"))
        assert sends == 1 and response.get_data(as_text=True) == "ada"
    # 3.6 s after login, past the first 3 s TTL: the reads kept it alive.
    assert client.get("/read").get_data(as_text=True) == "ada"


@pytest.mark.parametrize("after", ["on", "off"])
def test_permanent_changed_after_creation(counted, after):
    # The flags then live in the record's meta field, which wins over the
    # marker's: the load script must read them there.
    client, store = counted()
    client.get("/login?session-only" if after == "on" else "/login")
    client.get(f"/permanent?{after}")
    client.get("/read")  # the load script is cached on the server from here
    key = record_key(store, client)
    counted.probe.expire(key, 100)
    sends, response = round_trips(lambda: client.get("/read"))
    assert sends == 1
    if after == "on":
        assert set_cookies(response)
        assert counted.probe.ttl(key) > 31 * 24 * 3600 - 10
    else:
        assert not set_cookies(response)
        assert counted.probe.ttl(key) <= 100
