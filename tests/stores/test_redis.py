"""RedisStore beyond the contract: round trips, outages, URLs, cluster, secrets."""

import sys
import time

import pytest

pytest.importorskip("redis")

import redis  # noqa: E402
import redis.cluster  # noqa: E402

from sessionware.errors import ConfigurationError, StoreError  # noqa: E402
from sessionware.stores import from_url  # noqa: E402
from sessionware.stores.redis import RedisStore  # noqa: E402


class CountingConnection(redis.Connection):
    """A real connection that counts the packets it sends: one per round
    trip (redis-py writes a command, or a whole pipeline, in one send)."""

    sends = 0

    def send_packed_command(self, command, check_health=True):
        type(self).sends += 1
        return super().send_packed_command(command, check_health)


def command_calls(client):
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


def test_round_trips(fresh_redis):
    """load, save, touch and delete are one round trip each (measured on the
    client by packets sent, and on the server by top-level commands)."""
    store = RedisStore(fresh_redis.url, prefix="rt:", connection_class=CountingConnection)
    probe = redis.Redis.from_url(fresh_redis.url)
    try:
        store.load("warm-up")  # connects (HELLO, CLIENT SETINFO ...)
        before = command_calls(probe)
        CountingConnection.sends = 0
        store.save("s", {"a": b"1"}, 60)  # first save on this server: NOSCRIPT, then EVAL
        assert CountingConnection.sends == 2
        expected_round_trips = [
            ("save", lambda: store.save("s", {"a": b"2", "b": b"3", "c": None}, 60)),
            ("load", lambda: store.load("s")),
            ("touch", lambda: store.touch("s", 60)),
            ("delete", lambda: store.delete("s")),
        ]
        for name, call in expected_round_trips:
            CountingConnection.sends = 0
            call()
            assert CountingConnection.sends == 1, name
        after = command_calls(probe)
        delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k)}
        delta.pop("cmdstat_info", None)
        # Top-level: evalsha x2 (one NOSCRIPT), eval, hgetall, expire (touch), del.
        # Inside the scripts: hset x2, hdel x1, expire x2.
        assert delta == {
            "cmdstat_evalsha": 2,
            "cmdstat_eval": 1,
            "cmdstat_hset": 2,
            "cmdstat_hdel": 1,
            "cmdstat_expire": 3,
            "cmdstat_hgetall": 1,
            "cmdstat_del": 1,
        }
    finally:
        probe.close()
        store.close()


def test_layout_is_one_hash_per_session(redis_server, redis_prefix):
    store = RedisStore(redis_server.url, prefix=redis_prefix)
    probe = redis.Redis.from_url(redis_server.url)
    try:
        store.save("abc", {"a": b"\x00\xff", "b": b"2"}, 100)
        assert probe.type(redis_prefix + "abc") == b"hash"
        assert probe.hgetall(redis_prefix + "abc") == {b"a": b"\x00\xff", b"b": b"2"}
        assert 98 <= probe.ttl(redis_prefix + "abc") <= 100
        store.touch("abc", 500)
        assert 498 <= probe.ttl(redis_prefix + "abc") <= 500
    finally:
        probe.close()
        store.close()


def test_outage_then_recovery(fresh_redis):
    store = RedisStore(fresh_redis.url, prefix="o:")
    try:
        store.save("s", {"a": b"1"}, 60)
        fresh_redis.stop()
        calls = {
            "load": lambda: store.load("s"),
            "save": lambda: store.save("s", {"a": b"2"}, 60),
            "touch": lambda: store.touch("s", 60),
            "delete": lambda: store.delete("s"),
        }
        for name, call in calls.items():
            with pytest.raises(StoreError) as info:
                call()
            message = str(info.value)
            assert message.startswith(f"RedisStore({fresh_redis.address}) could not"), name
            assert "ConnectionError" in message
            assert info.value.store is store
            assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
        fresh_redis.start()  # same port, empty (no persistence), script cache empty
        assert store.load("s") is None
        store.save("s", {"a": b"3"}, 60)
        assert store.load("s") == {"a": b"3"}
    finally:
        store.close()


def test_timeout_is_a_store_error(redis_server, redis_prefix):
    store = RedisStore(redis_server.url, prefix=redis_prefix, socket_timeout=0.2)
    probe = redis.Redis.from_url(redis_server.url)
    try:
        store.load("s")
        probe.client_pause(1000)  # the server stops answering clients for 1 s
        started = time.monotonic()
        with pytest.raises(StoreError, match="TimeoutError") as info:
            store.load("s")
        assert time.monotonic() - started < 0.9  # no silent retries
        assert isinstance(info.value.__cause__, redis.exceptions.TimeoutError)
    finally:
        probe.client_unpause()
        probe.close()
        store.close()


def test_wrong_type_is_a_store_error(redis_server, redis_prefix):
    store = RedisStore(redis_server.url, prefix=redis_prefix)
    probe = redis.Redis.from_url(redis_server.url)
    try:
        probe.set(redis_prefix + "s", b"not a hash")
        for call in (lambda: store.load("s"), lambda: store.save("s", {"a": b"1"}, 60)):
            with pytest.raises(StoreError, match="WRONGTYPE") as info:
                call()
            assert isinstance(info.value.__cause__, redis.exceptions.ResponseError)
    finally:
        probe.close()
        store.close()


def test_from_url_and_client_defaults(redis_server):
    store = from_url(redis_server.url)
    try:
        assert isinstance(store, RedisStore)
        assert repr(store) == f"RedisStore({redis_server.address})"
        kwargs = store._client.get_connection_kwargs()
        assert kwargs["socket_timeout"] == 5.0
        assert kwargs["socket_connect_timeout"] == 5.0
    finally:
        store.close()
    store = RedisStore(redis_server.url + "?timeout=2", socket_connect_timeout=1)
    try:
        kwargs = store._client.get_connection_kwargs()
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2.0, 1)
    finally:
        store.close()
    # WAIT is bounded by the timeout, so the socket waits a second longer.
    store = RedisStore(redis_server.url + "?timeout=2&wait_replicas=1&prefix=p:")
    try:
        kwargs = store._client.get_connection_kwargs()
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (3.0, 2.0)
        assert (store.prefix, store.wait_replicas, store.timeout) == ("p:", 1, 2.0)
    finally:
        store.close()


def test_repr_names_the_db(redis_server):
    store = RedisStore(f"redis://{redis_server.address}/3")
    try:
        assert repr(store) == f"RedisStore({redis_server.address}/3)"
    finally:
        store.close()


def test_client_instance_is_used_as_is(redis_server, redis_prefix):
    client = redis.Redis.from_url(redis_server.url)
    try:
        store = RedisStore(client, prefix=redis_prefix)
        assert store._client is client
        store.save("s", {"a": b"1"}, 60)
        store.close()  # not ours to close
        assert client.hgetall(redis_prefix + "s") == {b"a": b"1"}
    finally:
        client.close()


def test_decode_responses_client_is_refused(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(ConfigurationError, match="decode_responses"):
            RedisStore(client)
    finally:
        client.close()


def test_unknown_scheme_is_refused():
    with pytest.raises(ConfigurationError, match="scheme"):
        RedisStore("http://localhost:6379")


def test_missing_redis_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r'pip install "sessionware\[redis\]"'):
        RedisStore("redis://localhost:6379")


def test_password_never_shows(tmp_path):
    from servers import RedisServer

    secret = "s3cret-Pa55word"
    server = RedisServer(tmp_path / "redis", password=secret).start()
    store = RedisStore(server.url, prefix="p:")
    wrong = RedisStore(server.url.replace(secret, "wrong-" + secret))
    try:
        assert secret in server.url
        store.save("s", {"a": b"1"}, 60)
        assert secret not in repr(store)
        with pytest.raises(StoreError) as info:
            wrong.load("s")
        assert secret not in str(info.value) and secret not in repr(wrong)
        server.stop()
        with pytest.raises(StoreError) as info:
            store.load("s")
        assert secret not in str(info.value)
        assert str(info.value).startswith(f"RedisStore({server.address})")
    finally:
        server.stop()
        store.close()
        wrong.close()


# -- Redis Cluster -------------------------------------------------------------


def test_cluster_url_and_repr(redis_cluster):
    store = from_url(redis_cluster.url)
    try:
        assert isinstance(store._client, redis.cluster.RedisCluster)
        assert repr(store) == f"RedisStore(cluster {','.join(sorted(redis_cluster.addresses))})"
    finally:
        store.close()


def test_cluster_spreads_sessions_over_masters(redis_cluster, redis_prefix):
    store = RedisStore(redis_cluster.url, prefix=redis_prefix)
    try:
        for i in range(50):
            store.save(f"sid-{i}", {"a": str(i).encode()}, 60)
        assert all(store.load(f"sid-{i}") == {"a": str(i).encode()} for i in range(50))
    finally:
        store.close()
    per_node = {}
    for node in redis_cluster.nodes:
        client = redis.Redis(host=node.host, port=node.port)
        try:
            per_node[node.address] = len(list(client.scan_iter(match=redis_prefix + "*")))
        finally:
            client.close()
    assert sum(per_node.values()) == 50
    assert sum(1 for n in per_node.values() if n) > 1, per_node


def test_cluster_client_instance(redis_cluster, redis_prefix):
    node = redis_cluster.nodes[0]
    client = redis.cluster.RedisCluster(host=node.host, port=node.port)
    try:
        store = RedisStore(client, prefix=redis_prefix)
        store.save("s", {"a": b"1", "b": b"2"}, 60)
        store.save("s", {"a": None}, 60)
        assert store.load("s") == {"b": b"2"}
        assert repr(store).startswith("RedisStore(cluster 127.0.0.1:")
    finally:
        client.close()


@pytest.mark.slow
def test_cluster_node_down_names_the_nodes(tmp_path):
    from servers import redis_cluster, require_binary

    require_binary("redis-cli")
    with redis_cluster(tmp_path) as cluster:
        store = RedisStore(cluster.url, prefix="down:")
        try:
            for i in range(20):
                store.save(f"s{i}", {"a": b"1"}, 60)
            cluster.nodes[1].stop()
            started = time.monotonic()
            with pytest.raises(StoreError) as info:
                for i in range(20):
                    store.load(f"s{i}")
            assert time.monotonic() - started < 10
            message = str(info.value)
            assert message.startswith("RedisStore(cluster 127.0.0.1:")
            assert all(address in message for address in cluster.addresses)
            assert isinstance(info.value.__cause__, redis.exceptions.RedisError)
        finally:
            store.close()


def test_cluster_down_at_construction(tmp_path):
    from servers import free_port

    port = free_port()
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}") as info:
        RedisStore(f"redis+cluster://127.0.0.1:{port}", socket_connect_timeout=0.5)
    assert info.value.__cause__ is not None


# -- wait_replicas -----------------------------------------------------------------


def test_wait_replicas_acknowledged_by_a_real_replica(tmp_path):
    from servers import RedisServer, wait_for

    with RedisServer(tmp_path / "master", args=["--repl-diskless-sync-delay", "0"]) as master:
        replica = RedisServer(
            tmp_path / "replica", args=["--replicaof", "127.0.0.1", str(master.port)]
        )
        with replica:
            probe = redis.Redis(port=replica.port)
            wait_for(
                lambda: probe.info("replication").get("master_link_status") == "up",
                what="the replica in sync",
            )
            store = RedisStore(master.url + "?wait_replicas=1&timeout=2", prefix="w:")
            try:
                for i in range(20):
                    store.save("s", {"n": str(i).encode()}, 60)
                    # WAIT returned: the replica has the write already.
                    assert probe.hget("w:s", "n") == str(i).encode()
                store.delete("s")
                assert probe.exists("w:s") == 0
            finally:
                store.close()
                probe.close()


@pytest.mark.parametrize("call", ["save", "delete"])
def test_wait_replicas_without_replicas_fails_loudly(fresh_redis, call):
    store = RedisStore(fresh_redis.url, prefix="w:", wait_replicas=1, timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"only 0 of 1 replica\(s\) acknowledged") as info:
            if call == "save":
                store.save("s", {"a": b"1"}, 60)
            else:
                store.delete("s")
        assert 0.3 <= time.monotonic() - started < 2  # bounded by the timeout
        assert str(info.value).startswith(f"RedisStore({fresh_redis.address}) could not")
    finally:
        store.close()


def test_wait_replicas_on_a_cluster_waits_on_the_keys_node(redis_cluster, redis_prefix):
    # The test cluster has no replicas: WAIT (sent to the node holding the
    # key, on the connection that wrote) answers 0, so the save fails.
    store = RedisStore(redis_cluster.url + "?wait_replicas=1&timeout=0.2", prefix=redis_prefix)
    try:
        for sid in ("a", "b", "c", "d"):  # keys on different nodes
            with pytest.raises(StoreError, match="only 0 of 1"):
                store.save(sid, {"x": b"1"}, 60)
            assert store.load(sid) == {"x": b"1"}  # written, but not acknowledged
    finally:
        store.close()


def test_bad_wait_replicas_and_timeout_arguments():
    with pytest.raises(ConfigurationError, match="wait_replicas"):
        RedisStore("redis://h:6379/0", wait_replicas=-1)
    with pytest.raises(ConfigurationError, match="timeout"):
        RedisStore("redis://h:6379/0", timeout=0)
    with pytest.raises(ConfigurationError, match="given both"):
        RedisStore("redis://h:6379/0?prefix=a", prefix="b")
