"""Issue 8, class 4: reading never writes, on any process (API.md section 4).

A value's encoding must depend only on the value. A ``set`` used to be
encoded in iteration order, which follows ``PYTHONHASHSEED``: another
worker, or the same app after a restart, saw the read session as changed
and rewrote it (a new ``Set-Cookie``, a store write that could overwrite a
concurrent writer's update). Here one process saves sessions holding sets
and frozensets and processes with other hash seeds (and time zones and
locales) read them; and every supported value type is encoded in two such
processes, which must agree byte for byte.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import redis
from hypothesis import HealthCheck, given, settings

from test_codec import values

TESTS = Path(__file__).resolve().parent
WORKER = TESTS / "hashseed_worker.py"
#: Process state that could leak into an encoding, varied together.
PROCESSES = [
    {"PYTHONHASHSEED": "0", "TZ": "UTC", "LC_ALL": "C"},
    {"PYTHONHASHSEED": "1", "TZ": "Asia/Tokyo", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "2", "TZ": "America/St_Johns", "LC_ALL": "C"},
    {"PYTHONHASHSEED": "3054192", "TZ": "Europe/Paris", "LC_ALL": "C.UTF-8"},
]
#: Redis commands a read may send: anything else in the server's stats is a write.
#: A read whose refresh may be due loads through a Lua script (evalsha, or eval
#: once per server) that reads with hgetall and hget; the script's only write,
#: an expire for a permanent session, would show as "expire".
READS = {
    "hgetall", "hello", "ping", "info", "select", "client|setinfo", "evalsha", "eval", "hget",
}  # fmt: skip


def run_worker(command, process):
    env = {**os.environ, **process, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    result = subprocess.run(
        [sys.executable, str(WORKER)],
        input=json.dumps(command),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def command_calls(client):
    return {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in client.info("commandstats").items()
    }


def test_sets_saved_by_one_process_are_not_rewritten_by_others(
    tmp_path, redis_server, redis_prefix
):
    stores = {
        "cookie": {"kind": "cookie"},
        "sqlite": {"kind": "sqlite", "path": str(tmp_path / "sessions.db")},
        "redis": {"kind": "redis", "url": redis_server.url, "prefix": redis_prefix},
    }
    written = run_worker({"do": "write", "stores": stores}, PROCESSES[0])
    for name, answer in written.items():
        (header,) = answer["set_cookies"]
        stores[name]["cookie"] = header.split(";", 1)[0].partition("=")[2]
    client = redis.Redis.from_url(redis_server.url)
    rewrites = []
    for process in PROCESSES:  # the writer's own seed included
        before = command_calls(client)
        read = run_worker({"do": "read", "stores": stores}, process)
        after = command_calls(client)
        sent = {
            command for command, calls in after.items() if calls > before.get(command, 0)
        } - READS
        seed = process["PYTHONHASHSEED"]
        for name, answer in read.items():
            assert answer["equal"], (name, seed)  # it did read every key
            if answer["set_cookies"]:
                rewrites.append(f"{name}, seed {seed}: Set-Cookie sent")
        if read["sqlite"]["total_changes"]:
            rewrites.append(f"sqlite, seed {seed}: {read['sqlite']['total_changes']} rows written")
        if sent:
            rewrites.append(f"redis, seed {seed}: sent {sorted(sent)}")
    client.close()
    assert rewrites == []


def encodings(process, batch):
    return run_worker({"do": "encode", "values": pickle.dumps(batch).hex()}, process)


def test_no_value_encodes_differently_in_another_process():
    # Hypothesis draws values of every supported type (nested sets of
    # tuples, zoned datetimes, Decimals, Markup, ...); two processes with
    # different hash seeds, time zones and locales encode them all.
    batch = []

    @settings(
        max_examples=300,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(values)
    def collect(value):
        batch.append(value)

    collect()
    first, second = encodings(PROCESSES[1], batch), encodings(PROCESSES[3], batch)
    differ = [repr(value) for value, a, b in zip(batch, first, second, strict=True) if a != b]
    assert len(batch) >= 150
    assert differ == [], f"{len(differ)} of {len(batch)} values, e.g. {differ[:3]}"
