"""``python -m sessionware sessions`` and ``revoke``, run as real processes
against real SQLite files and a real redis-server."""

import json
import subprocess
import sys
import uuid

import pytest
from werkzeug.test import Client

from control_app import make_app, revocation_store
from helpers import cookie_value
from servers import RedisServer


def run(*args, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "sessionware", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(result, *words, secret=None):
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    for word in words:
        assert word in result.stderr, result.stderr
    if secret:
        assert secret not in result.stderr + result.stdout


def lines(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sessions.db"
    if request.param == "postgresql":
        server = request.getfixturevalue("postgresql_server")
        return f"{server.url}?table={request.getfixturevalue('pg_table')}"
    # The default prefix on the shared server: owners are unique per test.
    return request.getfixturevalue("redis_server").url


def test_list_and_revoke_by_owner_and_sid(store_url, request):
    owner = "alice\n" + uuid.uuid4().hex  # a line break stays inside its JSON line
    mw = make_app(store_url)
    request.addfinalizer(mw.store.close)  # its connections, before GC finds them
    clients = [Client(mw) for _ in range(3)]
    sids = [c.get("/login", query_string={"owner": owner}).json["sid"] for c in clients]

    listed = lines(run("sessions", "--store", store_url, "--owner", owner))
    assert sorted(item["sid"] for item in listed) == sorted(sids)
    assert set(listed[0]) == {"sid", "owner", "created", "last_seen", "permanent"}
    assert listed[0]["owner"] == owner and listed[0]["created"].endswith("+00:00")

    keep = sids[1]
    result = run("revoke", "--store", store_url, "--owner", owner, f"--keep={keep}")
    assert result.returncode == 0 and result.stdout == "revoked 2 session(s)\n"
    remaining = lines(run("sessions", "--store", store_url, "--owner", owner))
    assert [item["sid"] for item in remaining] == [keep]
    assert clients[0].get("/me").json["new"] is True
    assert clients[1].get("/me").json["owner"] == owner

    def revoke_sid(sid):
        return run("revoke", "--store", store_url, f"--sid={sid}").stdout

    assert revoke_sid(keep) == "revoked 1 session(s)\n"
    assert revoke_sid(keep) == "revoked 0 session(s)\n"
    assert clients[1].get("/me").json["new"] is True
    assert revoke_sid("-abc") == "revoked 0 session(s)\n"  # a sid may begin with '-'
    assert lines(run("sessions", "--store", store_url, "--owner", "nobody" + owner)) == []


def test_cookie_sessions_are_revoked_through_the_revocation_store(tmp_path, closing):
    revocation = f"sqlite:///{tmp_path}/revoked.db"
    mw = make_app(None, revocation)
    closing(revocation_store(mw))
    client = Client(mw)
    sid = client.get("/login?owner=bob").json["sid"]
    cookie = cookie_value(client.get("/me")) or client.get_cookie("session").value
    result = run("revoke", "--store", "cookie://", "--revocation", revocation, f"--sid={sid}")
    assert result.returncode == 0, result.stderr
    assert "refused from now on" in result.stdout
    other = make_app(None, revocation)  # a fresh worker: nothing cached
    closing(revocation_store(other))
    replay = Client(other, use_cookies=False)
    assert replay.get("/me", headers={"Cookie": f"session={cookie}"}).json["new"] is True


@pytest.mark.parametrize(
    "args, words",
    [
        (["sessions", "--store", "cookie://", "--owner", "a"], ["cannot be listed"]),
        (["revoke", "--store", "cookie://", "--owner", "a"], ["--revocation"]),
        (["revoke", "--store", "memory://", "--owner", "a"], ["memory://"]),
        (["sessions", "--store", "memory://", "--owner", "a"], ["memory://"]),
        (["revoke", "--store", "nosuch://x", "--sid=a"], ["nosuch"]),
        (["revoke", "--store", "sqlite:///x.db", "--sid=a", "--keep=b"], ["--keep"]),
        (
            ["revoke", "--store", "sqlite:///x.db", "--owner=a", "--revocation", "sqlite:///y"],
            ["cookie://"],
        ),
        (
            ["revoke", "--store", "cookie://", "--owner=a", "--revocation", "cookie://"],
            ["server-side"],
        ),
    ],
    ids=[
        "list-cookie",
        "revoke-cookie-alone",
        "revoke-memory",
        "list-memory",
        "bad-scheme",
        "keep-without-owner",
        "revocation-with-server-store",
        "revocation-cookie",
    ],
)
def test_usage_errors_are_one_line(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_user_error(run(*args), *words)


def test_sid_and_owner_are_exclusive_and_one_is_required():
    for args in (["--sid=a", "--owner=b"], []):
        result = run("revoke", "--store", "sqlite:///x.db", *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr


def test_an_unreachable_store_is_one_line_without_the_password(tmp_path):
    server = RedisServer(tmp_path / "redis", password="hunter2-secret").start()
    url = server.url
    server.stop()
    for args in (["sessions", "--owner", "a"], ["revoke", "--owner", "a"], ["revoke", "--sid=x"]):
        result = run(args[0], "--store", url, *args[1:])
        assert_user_error(result, "could not", secret="hunter2-secret")


def test_decode_shows_the_owner_of_a_cookie():
    mw = make_app(None)
    cookie = cookie_value(Client(mw).get("/login?owner=zoe"))
    from control_app import SECRET

    result = run("decode", cookie, "--secret-key", SECRET)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["owner"] == "zoe" and report["data"] == {"user": "zoe"}
