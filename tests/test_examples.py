"""The examples: in-process with werkzeug's test client, and under a real
gunicorn with two workers (the demo app's tests are in test_demo.py)."""

import importlib.util
import os
import signal
from pathlib import Path

import pytest
import requests
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from gunicorn_server import Gunicorn
from helpers import SECRET, SEED
from servers import wait_for

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
