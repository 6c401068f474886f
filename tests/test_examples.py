"""The examples and the demo app: in-process with werkzeug's test client, and
the examples under a real gunicorn with two workers."""

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from gunicorn_server import Gunicorn
from helpers import SECRET, SEED
from servers import wait_for
from sessionware import ConfigurationError, SessionMiddleware
from sessionware._demo import make_app
from sessionware.stores import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["wsgi_app", "flask_app"]


def load_example(name, monkeypatch, store="cookie://"):
    """Import examples/<name>.py afresh with the secret key in the environment."""
    if name == "flask_app":
        pytest.importorskip("flask")
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", SECRET)
    monkeypatch.setenv("SESSIONWARE_STORE", store)
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def walk_the_seed(get):
    """The seed's sequence; ``get(path)`` returns the response text."""
    assert "session key not found" in get("/check")
    assert "session set" in get("/set")
    assert "username is set: admin" in get("/check")
    assert "wuhan" in get("/")
    assert "session cleared" in get("/clear")
    assert "session key not found" in get("/check")
    get("/set")
    assert "logged out" in get("/logout")
    assert "session key not found" in get("/check")


# -- in process ------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_in_process(name, monkeypatch, tmp_path):
    app = load_example(name, monkeypatch, store=f"sqlite:///{tmp_path}/s.db")
    client = Client(LintMiddleware(app) if name == "wsgi_app" else app)
    walk_the_seed(lambda path: client.get(path).get_data(as_text=True))


def test_examples_refuse_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SESSIONWARE_SECRET_KEY", raising=False)
    spec = importlib.util.spec_from_file_location("example_nokey", ROOT / "examples/wsgi_app.py")
    with pytest.raises(KeyError, match="SESSIONWARE_SECRET_KEY"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_flask_example_uses_sessionware(monkeypatch):
    app = load_example("flask_app", monkeypatch)
    client = app.test_client()
    client.get("/set")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    before = client.get("/").get_json()
    assert before["session"] == SEED and before["new"] is False
    response = client.get("/permanent")
    assert "Expires=" in response.headers["Set-Cookie"]
    assert client.get("/").get_json()["sid"] == before["sid"]
    client.get("/logout")
    after = client.get("/").get_json()
    assert after["session"] == {}


# -- the demo, in process -------------------------------------------------------------


def demo_client(**options):
    app = make_app(SECRET, **options)
    assert isinstance(app, SessionMiddleware)
    return Client(LintMiddleware(app))


def field(page, name):
    match = re.search(rf'id="{name}">([^<]*)<', page)
    assert match, f"no #{name} in the page"
    return match.group(1)


@pytest.mark.parametrize("store", [None, "memory"], ids=["cookie", "memory"])
def test_demo_walks_every_operation(store):
    client = demo_client(store=MemoryStore() if store else None)

    def get(path):
        return client.get(path).get_data(as_text=True)

    page = get("/")
    assert field(page, "new") == "True" and field(page, "keys") == "0"
    walk_the_seed(get)

    page = get("/set")
    sid = field(page, "sid")
    assert field(page, "modified") == "True"
    page = get("/")
    assert field(page, "new") == "False" and field(page, "sid") == sid
    assert field(page, "modified") == "False" and field(page, "keys") == "5"

    assert "popped &#x27;age&#x27;: 25" in get("/pop?key=age")
    assert "popped &#x27;age&#x27;: None" in get("/pop?key=age")
    assert "deleted &#x27;username&#x27;" in get("/del?key=username")
    assert "KeyError" in get("/del?key=username")
    assert field(get("/"), "keys") == "3"

    assert field(get("/permanent?on=1"), "permanent") == "True"
    response = client.get("/")
    assert field(response.get_data(as_text=True), "permanent") == "True"
    assert "Expires=" in response.headers["Set-Cookie"]  # sliding expiry
    assert field(get("/permanent?on=0"), "permanent") == "False"
    assert "Set-Cookie" in client.get("/modified").headers

    page = get("/regenerate")
    new_sid = field(page, "sid")
    assert new_sid != sid and f"was {sid}" in page
    assert field(get("/"), "sid") == new_sid and field(get("/"), "keys") == "3"

    page = get("/logout")
    assert field(page, "keys") == "0"
    page = get("/")
    assert field(page, "new") == "True" and field(page, "sid") != new_sid


def test_demo_escapes_session_data():
    client = demo_client()
    page = client.get("/put?key=<k>&value=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<k>" not in page
    assert client.get("/nowhere").status_code == 404


def test_demo_options_reach_the_middleware():
    client = demo_client(cookie_samesite="Strict", cookie_name="demo")
    response = client.get("/set")
    assert response.headers["Set-Cookie"].startswith("demo=")
    assert "SameSite=Strict" in response.headers["Set-Cookie"]
    with pytest.raises(ConfigurationError):
        make_app("")


def test_demo_app_from_environment(tmp_path):
    """`sessionware._demo:app` reads its key and store from the environment,
    and warns on stderr when it has to invent a key."""
    code = (
        "from werkzeug.test import Client; import sessionware._demo as d; "
        "c = Client(d.app); c.get('/set'); print(type(d.app.store).__name__); "
        "print(c.get_cookie('session').value)"
    )
    env = {"SESSIONWARE_SECRET_KEY": SECRET, "SESSIONWARE_STORE": f"sqlite:///{tmp_path}/d.db"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "SQLiteStore" and result.stderr == ""

    result = subprocess.run(
        [sys.executable, "-c", code], env={}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "CookieStore"
    assert "SESSIONWARE_SECRET_KEY is not set" in result.stderr
    assert "workers" in result.stderr


# -- under gunicorn ----------------------------------------------------------------


def replace_all_workers(server):
    """SIGKILL every worker; return once the master has started new ones."""
    old = set(server.worker_pids())
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(
        lambda: len(set(server.worker_pids()) - old) >= server.workers,
        timeout=30,
        what="every worker replaced",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, store",
    [("wsgi_app", "cookie"), ("wsgi_app", "sqlite"), ("flask_app", "cookie")],
)
def test_example_under_gunicorn(name, store, tmp_path):
    if name == "flask_app":
        pytest.importorskip("flask")
    url = "cookie://" if store == "cookie" else f"sqlite:///{tmp_path}/sessions.db"
    env = {"SESSIONWARE_SECRET_KEY": SECRET, "SESSIONWARE_STORE": url}
    with (
        Gunicorn(
            f"examples.{name}:app", workers=2, env=env, pythonpath=[ROOT], log_dir=tmp_path
        ) as server,
        requests.Session() as http,
    ):

        def get(path):
            return http.get(server.url + path, timeout=10).text

        walk_the_seed(get)
        get("/set")
        # Workers that never saw the session must read it: kill them all.
        replace_all_workers(server)
        assert "username is set: admin" in get("/check")
        assert "username is set: admin" in get("/check")
        assert "Traceback" not in server.log_text()
