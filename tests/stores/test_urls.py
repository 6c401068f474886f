"""Store URLs are parsed as URLs: every scheme, every option, every fault.

Faults are one table: each bad URL must be a ConfigurationError at
construction (``from_url`` and ``SessionMiddleware(store=...)``) whose
message names the fault; the same URLs carrying a password must never show
it. Nothing is contacted or created for a refused URL.
"""

import os

import pytest

from helpers import SECRET
from sessionware import ConfigurationError, SessionMiddleware
from sessionware.stores import CookieStore, MemoryStore, from_url
from sessionware.stores._url import parse, redact
from sessionware.stores.sqlite import SQLiteStore

PASSWORD = "Hunter2-secret"

# (url, words the message must contain). Hosts are never contacted: every one
# of these fails while parsing. "PW" is replaced by a password, or by nothing.
BAD_URLS = [
    ("ftp://h/x", ["unknown store URL scheme 'ftp'"]),
    ("sessions.db", ["has no scheme"]),
    ("redis://:PW@h:6379/0?prefx=a", ["unknown option 'prefx'", "prefix"]),
    ("redis://:PW@h:6379/0?socket_timeout=2", ["unknown option 'socket_timeout'"]),
    ("redis://:PW@h:6379/0?table=t", ["option 'table'", "sqlite://", "postgresql://"]),
    ("redis://:PW@h:6379/0?db=2", ["option 'db'", "unix://"]),
    ("sqlite:///q.db?prefix=x", ["option 'prefix'", "redis://"]),
    ("sqlite:///q.db?wait_replicas=1", ["option 'wait_replicas'"]),
    ("postgresql://u:PW@h/db?prefix=x", ["option 'prefix'"]),
    ("postgresql://u:PW@h/db?wait_replicas=1", ["option 'wait_replicas'"]),
    ("postgresql://u:PW@h/db?frobnicate=1", ["unknown option 'frobnicate'"]),
    ("cookie://?timeout=1", ["option 'timeout' is not one of cookie://'s"]),
    ("cookie://?bogus=1", ["unknown option 'bogus'", "takes: none"]),
    ("memory://?prefix=x", ["option 'prefix'"]),
    ("memory://host", ["takes no host"]),
    ("redis://:PW@h:6379/0?timeout=soon", ["timeout='soon'", "positive number"]),
    ("redis://:PW@h:6379/0?timeout=0", ["timeout='0'"]),
    ("redis://:PW@h:6379/0?timeout=nan", ["timeout='nan'"]),
    ("redis://:PW@h:6379/0?timeout=-1", ["timeout='-1'"]),
    ("redis://:PW@h:6379/0?wait_replicas=-1", ["wait_replicas='-1'", "whole number"]),
    ("redis://:PW@h:6379/0?wait_replicas=1.5", ["wait_replicas='1.5'"]),
    ("redis://:PW@h:6379/0?wait_replicas=", ["wait_replicas=''"]),
    ("sqlite:///q.db?table=x;drop", ["table='x;drop'", "identifier"]),
    ("postgresql://u:PW@h/db?table=a-b", ["table='a-b'"]),
    ("postgresql://u:PW@h/db?timeout=1e999", ["timeout='1e999'"]),
    ("redis://:PW@h:6379/0?prefix=a&prefix=b", ["'prefix' is given twice"]),
    ("redis://:PW@h:6379/0?prefix", ["malformed query"]),
    ("redis://:PW@h:99999/0", ["port '99999'"]),
    ("redis://:PW@h:port/0", ["port 'port'"]),
    ("redis://:PW@:6379/0", ["no host"]),
    ("redis://:PW@/0", ["names no host"]),
    ("redis://:PW@h:6379/zero", ["database 'zero' is not a number"]),
    ("redis://:PW@h:6379/0/1", ["database '0/1' is not a number"]),
    ("redis://:PW@h1:6379,h2:6379/0", ["several hosts"]),
    ("redis://:PW@h:6379/0#frag", ["fragment"]),
    ("redis://:PW@h:6379/0 ", ["whitespace"]),
    ("redis://:PW@[::1/0", ["malformed"]),
    ("redis+cluster://:PW@h:7000/3", ["only database 0"]),
    ("redis+sentinel://:PW@h:26379", ["names no service"]),
    ("redis+sentinel://:PW@h:26379,h2:x/svc", ["port 'x'"]),
    ("redis+sentinel://:PW@h:26379/svc/db1", ["database 'db1'"]),
    ("unix://:PW@host/tmp/redis.sock", ["takes no host"]),
    ("unix://:PW@", ["names no socket path"]),
    ("unix:///tmp/r.sock?db=x", ["db='x'"]),
    ("sqlite://", ["names no SQLite file"]),
    ("sqlite://host/q.db", ["takes no host"]),
]


def with_password(url, password):
    return url.replace("PW", password)


@pytest.mark.parametrize("url, words", BAD_URLS, ids=[u for u, _ in BAD_URLS])
@pytest.mark.parametrize("password", ["", PASSWORD], ids=["no-password", "password"])
def test_bad_urls_are_refused_at_construction(url, words, password, tmp_path, monkeypatch):
    has_password = password and "PW" in url
    url = with_password(url, password)
    monkeypatch.chdir(tmp_path)  # nothing may be created: checked below
    for build in (from_url, lambda u: SessionMiddleware(lambda e, s: [], SECRET, store=u)):
        with pytest.raises(ConfigurationError) as info:
            build(url)
        message = str(info.value)
        for word in words:
            assert word in message, message
        if password:
            assert PASSWORD not in message
            assert PASSWORD not in repr(info.value)
        if has_password:
            assert "***" in message, "the URL is shown, its password hidden"
        assert "\n" not in message
    assert os.listdir(tmp_path) == []


def test_sqlite_query_is_an_option_not_part_of_the_file_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = from_url("sqlite:///q.db?timeout=10&table=my_sessions")
    try:
        assert isinstance(store, SQLiteStore)
        assert (store.path, store.timeout, store.table) == ("q.db", 10.0, "my_sessions")
        store.save("s", {"a": b"1"}, 60)
    finally:
        store.close()
    assert "q.db" in os.listdir(tmp_path)
    assert not any("?" in name for name in os.listdir(tmp_path))


def test_sqlite_absolute_and_percent_encoded_paths(tmp_path):
    store = from_url(f"sqlite:///{tmp_path}/with%20space.db")
    try:
        assert store.path == f"{tmp_path}/with space.db"
    finally:
        store.close()


@pytest.mark.parametrize(
    "url, kind",
    [("cookie://", CookieStore), ("COOKIE://", CookieStore), ("memory://", MemoryStore)],
)
def test_no_option_stores(url, kind):
    assert isinstance(from_url(url), kind)


GOOD = [
    ("redis://h:6379/2?prefix=app:&timeout=1.5&wait_replicas=1", {
        "scheme": "redis", "hosts": [("h", 6379)], "database": 2,
        "options": {"prefix": "app:", "timeout": 1.5, "wait_replicas": 1},
    }),
    ("rediss://user:p%40ss@h", {
        "scheme": "rediss", "username": "user", "password": "p@ss", "hosts": [("h", 6379)],
        "database": 0,
    }),
    ("unix:///run/redis.sock?db=3&prefix=x", {
        "scheme": "unix", "path": "/run/redis.sock", "database": 3, "options": {"prefix": "x"},
    }),
    ("unix://:pw@/run/redis.sock", {"password": "pw", "path": "/run/redis.sock"}),
    ("redis+cluster://h:7000", {"hosts": [("h", 7000)], "database": 0}),
    ("redis+sentinel://:pw@a:1,b,[::1]:3/mymaster/4?wait_replicas=2", {
        "password": "pw", "hosts": [("a", 1), ("b", 26379), ("::1", 3)],
        "service": "mymaster", "database": 4, "options": {"wait_replicas": 2},
    }),
    ("postgresql://u:pw@db.example:6543/app?table=s.sessions&sslmode=require", {
        "username": "u", "password": "pw", "hosts": [("db.example", 6543)],
        "database": "app", "options": {"table": "s.sessions"},
        "extra": {"sslmode": "require"},
    }),
    ("postgres:///app", {"scheme": "postgres", "hosts": [], "database": "app"}),
]  # fmt: skip


@pytest.mark.parametrize("url, expected", GOOD, ids=[u for u, _ in GOOD])
def test_good_urls_parse(url, expected):
    parsed = parse(url)
    for name, value in expected.items():
        assert getattr(parsed, name) == value, name


@pytest.mark.parametrize(
    "url, shown",
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("redis://user:pw@h/0?prefix=a", "redis://user:***@h/0?prefix=a"),
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
        # A user name without a password may be one given in the wrong place;
        # a hidden value may have held an '&': the rest of the query goes too.
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://***@h/db?password=***&***",
        ),
        (
            "postgresql://u:p@h/db?sslmode=require&sslpassword=pw",
            "postgresql://u:***@h/db?sslmode=require&sslpassword=***",
        ),
        ("redis+sentinel://:pw@a:1,b:2/svc", "redis+sentinel://:***@a:1,b:2/svc"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://us@r:pw@h/0", "redis://***@h/0"),
        ("redis://:pa/ss@h/0", "redis://:***@h/0"),
        ("redis:/:pw@h/0", "redis:***"),
        ("redis::pw@h", "redis:***"),
        ("redis://:pw", "redis://***"),
        ("redis://h/0#pw", "redis://h/0#***"),
        ("pw", "***"),
    ],
)
def test_redact(url, shown):
    assert redact(url) == shown


def _postgresql(**kwargs):
    pytest.importorskip("psycopg")
    from sessionware.stores.postgresql import PostgreSQLStore

    return PostgreSQLStore("postgresql://u@h/db", **kwargs)


def _redis(**kwargs):
    pytest.importorskip("redis")
    from sessionware.stores.redis import RedisStore

    return RedisStore("redis://h:6379/0", **kwargs)


def _sqlite(**kwargs):
    return SQLiteStore("never-created.db", **kwargs)


WRONG_ARGUMENTS = [
    (_sqlite, {"timeout": "10"}, "SQLiteStore timeout"),
    (_sqlite, {"timeout": True}, "SQLiteStore timeout"),
    (_sqlite, {"timeout": float("inf")}, "SQLiteStore timeout"),
    (_sqlite, {"table": 3}, "table name 3"),
    (_redis, {"timeout": "soon"}, "RedisStore timeout"),
    (_redis, {"timeout": -1}, "RedisStore timeout"),
    (_redis, {"wait_replicas": True}, "RedisStore wait_replicas"),
    (_redis, {"wait_replicas": 1.0}, "RedisStore wait_replicas"),
    (_redis, {"prefix": b"x"}, "RedisStore prefix"),
    (_postgresql, {"timeout": "5"}, "PostgreSQLStore timeout"),
    (_postgresql, {"table": 7}, "table 7"),
]


@pytest.mark.parametrize(
    "build, kwargs, words",
    WRONG_ARGUMENTS,
    ids=[f"{b.__name__}-{k}" for b, k, _ in WRONG_ARGUMENTS],
)
def test_wrong_typed_arguments_are_refused(build, kwargs, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match=words):
        build(**kwargs)
    assert os.listdir(tmp_path) == []
