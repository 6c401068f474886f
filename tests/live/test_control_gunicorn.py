"""Sign out everywhere else, under a real gunicorn with three workers:
real Redis, Redis Cluster, SQLite and PostgreSQL stores, and the cookie store with a
Redis revocation store. Three browsers (cookie jars) log in as one owner;
one signs out everywhere else; the other two are logged out on their next
request, whichever worker answers it; the listing shows one session."""

import time
import uuid

import pytest
import requests

from gunicorn_server import Gunicorn
from sessionware._revocation import CACHE_SECONDS

KINDS = ["sqlite", "redis", "redis-cluster", "postgresql", "cookie+redis", "cookie+sqlite"]


@pytest.fixture(params=KINDS)
def served(request, tmp_path):
    kind = request.param
    env = {"SW_CONTROL_REVOCATION": ""}
    if kind == "sqlite":
        env["SW_CONTROL_STORE"] = f"sqlite:///{tmp_path}/sessions.db"
    elif kind == "postgresql":
        server = request.getfixturevalue("postgresql_server")
        env["SW_CONTROL_STORE"] = f"{server.url}?table={request.getfixturevalue('pg_table')}"
    elif kind == "cookie+sqlite":
        env["SW_CONTROL_STORE"] = "cookie://"
        env["SW_CONTROL_REVOCATION"] = f"sqlite:///{tmp_path}/revoked.db"
    else:
        fixture = "redis_cluster" if kind == "redis-cluster" else "redis_server"
        url = request.getfixturevalue(fixture).url
        if kind.startswith("cookie"):
            env["SW_CONTROL_STORE"] = "cookie://"
            env["SW_CONTROL_REVOCATION"] = url
        else:
            env["SW_CONTROL_STORE"] = url
    with Gunicorn("control_app:app", workers=3, env=env, log_dir=tmp_path) as server:
        yield kind, server
        assert "Traceback" not in server.log_text()


def call(server, jar, path, **params):
    response = jar.get(server.url + path, params=params, timeout=10)
    assert response.status_code == 200, server.log_text()
    return response.json()


@pytest.mark.slow
def test_sign_out_everywhere_else_on_every_worker(served):
    kind, server = served
    owner = f"owner-{uuid.uuid4().hex}"
    jars = [requests.Session() for _ in range(3)]
    for jar in jars:
        assert call(server, jar, "/login", owner=owner)["owner"] == owner
    keeper, *others = jars

    def all_logged_in():
        # Each browser is logged in, whichever worker answers.
        for jar in jars:
            me = call(server, jar, "/me")
            assert me["owner"] == owner and me["new"] is False
        return me["pid"]

    server.answer_from_two_workers(all_logged_in)
    if not kind.startswith("cookie"):
        assert len(call(server, keeper, "/sessions")["sessions"]) == 3
    call(server, keeper, "/others-out")
    if kind.startswith("cookie"):
        time.sleep(CACHE_SECONDS + 0.1)  # other workers' verdict caches (documented)

    def others_are_out():
        for jar in others:
            me = call(server, jar, "/me")
            assert me["new"] is True and me["owner"] is None and me["user"] is None
        me = call(server, keeper, "/me")
        assert me["owner"] == owner and me["new"] is False
        return me["pid"]

    server.answer_from_two_workers(others_are_out)
    if not kind.startswith("cookie"):
        listed = call(server, keeper, "/sessions")["sessions"]
        assert [item["sid"] for item in listed] == [call(server, keeper, "/me")["sid"]]


@pytest.mark.slow
def test_a_replayed_logged_out_cookie_is_refused_on_every_worker(served):
    kind, server = served
    jar = requests.Session()
    call(server, jar, "/login", owner="replayed")
    stolen = jar.cookies.get("session")
    call(server, jar, "/logout")
    if kind.startswith("cookie"):
        time.sleep(CACHE_SECONDS + 0.1)

    def refused():
        thief = requests.Session()
        thief.cookies.set("session", stolen)
        me = call(server, thief, "/me")
        assert me["new"] is True and me["owner"] is None and me["user"] is None
        return me["pid"]

    server.answer_from_two_workers(refused)
