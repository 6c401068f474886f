"""README.md cannot drift: every ```python block runs as written (alone, or
where an HTML comment before it says: inside a request, or with the
reader's ``app``), the quick-start commands are the ones CI runs, the
documented commands and flags exist, links resolve, and skips name the test
and the packages to install, as the README says."""

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from helpers import SECRET
from servers import DEBIAN_PACKAGES
from sessionware import SessionMiddleware
from sessionware.cli import _parser
from sessionware.stores import MemoryStore, SQLiteStore
from sessionware.stores.base import Store

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<mode>[\w-]+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.S
)


def blocks(lang):
    """``(heading, mode, code, line)`` of each fenced block in ``lang``."""
    found = []
    for match in BLOCK.finditer(README):
        if match["lang"] != lang:
            continue
        before = README[: match.start()]
        headings = re.findall(r"^#{2,3} (.+)$", before, re.M)
        line = before.count("\n") + 1 + (1 if match["mode"] else 0)
        found.append((headings[-1] if headings else "", match["mode"], match["code"], line))
    return found


PYTHON = blocks("python")


def block(heading):
    (code,) = [code for title, _, code, _ in PYTHON if title == heading]
    return code


def plain_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def example_app(monkeypatch):
    spec = importlib.util.spec_from_file_location("readme_example", ROOT / "examples/wsgi_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def run(code, line, namespace):
    exec(compile(code, f"README.md:{line}", "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture
def reader(monkeypatch, tmp_path):
    """A reader's shell: the documented key exported, a scratch directory."""
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "heading, mode, code, line",
    PYTHON,
    ids=[f"line{line}-{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}"
         for title, _, _, line in PYTHON],
)  # fmt: skip
def test_python_block_runs(heading, mode, code, line, reader, monkeypatch):
    if mode is None:
        namespace = run(code, line, {"__name__": "readme"})
    elif mode == "app":
        namespace = run(code, line, {"__name__": "readme", "app": plain_app})
        assert isinstance(namespace["app"], SessionMiddleware)
        assert Client(namespace["app"]).get("/").status_code == 200
    elif mode == "flask-app":
        # The reader's Flask app (with its SECRET_KEY), in a module that imports redis.
        flask = pytest.importorskip("flask")
        redis = pytest.importorskip("redis")
        app = flask.Flask("readme")
        app.config["SECRET_KEY"] = SECRET
        run(code, line, {"__name__": "readme", "app": app, "redis": redis})
        assert type(app.extensions["sessionware"].store).__name__ == "RedisStore"
    elif mode == "wsgi-app":
        # The names the prose says are the reader's: their app and keys.
        names = {"wsgi_app": plain_app, "SECRET_KEY": SECRET,
                 "OLD_FLASK_KEY": "old-flask-key", "OLDER_KEY": "older-flask-key"}  # fmt: skip
        namespace = run(code, line, {"__name__": "readme", **names})
        assert isinstance(namespace["app"], SessionMiddleware)
    elif mode == "example-app":
        run(code, line, {"__name__": "readme", "app": example_app(monkeypatch)})
    elif mode == "request":
        # Inside a request of a bare WSGI app, `session` being its session, per store.
        for store in (None, MemoryStore(), SQLiteStore(str(reader / "tour.db"))):

            def app(environ, start_response, store=store):
                run(code, line, {"session": environ["session"]})
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"ran"]

            client = Client(LintMiddleware(SessionMiddleware(app, SECRET, store=store)))
            response = client.get("/")
            assert response.get_data() == b"ran", store
            response.close()
    else:
        pytest.fail(f"README.md:{line}: unknown readme-test mode {mode!r}")


def test_every_python_block_is_collected():
    assert len(PYTHON) == README.count("```python") >= 6


def test_bare_wsgi_in_10_lines(reader):
    code = block("Bare WSGI in 10 lines")
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    client = Client(run(code, 0, {"__name__": "readme"})["app"])
    assert client.get("/").get_data() == b"visit number 1"
    assert client.get("/").get_data() == b"visit number 2"


def test_flask_in_4_lines(reader):
    pytest.importorskip("flask")
    code = block("Flask in 4 lines")
    assert code.count("# +") == 4
    app = run(code, 0, {"__name__": "readme"})["app"]
    client = app.test_client()
    assert client.get("/").get_data() == b"visit number 1"
    assert client.get("/").get_data() == b"visit number 2"
    assert type(app.extensions["sessionware"].store).__name__ == "SQLiteStore"
    assert (reader / "sessions.db").exists()


def test_where_am_i_signed_in_serves_every_visitor(reader):
    """The snippet as an app: an anonymous visitor pressing "sign out
    everywhere else" gets its page (no owner, nothing to end), not a 500."""
    namespace = run(block("Where am I signed in? Listing and revoking sessions"), 0, {})
    mw = namespace["mw"]
    anonymous = Client(LintMiddleware(mw))
    response = anonymous.get("/sign-out-everywhere-else")
    assert response.status_code == 200 and response.get_data() == b"ok"
    response.close()
    browsers = [Client(LintMiddleware(mw)) for _ in range(2)]
    for browser in browsers:
        browser.get("/login").close()
    assert len(mw.sessions("42")) == 2
    browsers[0].get("/sign-out-everywhere-else").close()
    assert len(mw.sessions("42")) == 1


def test_switching_is_one_way_as_the_readme_says(reader):
    """A migrated user going back to Flask's own session starts empty; one
    who has not come back since the switch is read by either."""
    flask = pytest.importorskip("flask")
    from sessionware.flask import Sessionware

    def flask_app(with_sessionware):
        app = flask.Flask("readme")
        app.config["SECRET_KEY"] = SECRET

        @app.route("/login")
        def login():
            flask.session["user"] = "alice"
            return "in"

        @app.route("/")
        def index():
            return flask.session.get("user") or "nobody"

        if with_sessionware:
            Sessionware(app, store="memory://")
        return app

    before, after = flask_app(False), flask_app(True)
    client = before.test_client()
    client.get("/login")
    old_cookie = client.get_cookie("session").value
    migrated = after.test_client()
    migrated.set_cookie("session", old_cookie)
    assert migrated.get("/").get_data() == b"alice"
    new_cookie = migrated.get_cookie("session").value
    assert new_cookie != old_cookie  # re-issued by sessionware

    rolled_back = before.test_client()
    rolled_back.set_cookie("session", new_cookie)
    assert rolled_back.get("/").get_data() == b"nobody"  # signed out
    not_back_yet = before.test_client()
    not_back_yet.set_cookie("session", old_cookie)
    assert not_back_yet.get("/").get_data() == b"alice"
    assert "Switching is one-way." in README


def test_the_documented_store_protocol_is_the_real_one(reader):
    documented = run(block("Choosing a store"), 0, {"__name__": "readme"})["Store"]
    for name in ("load", "save", "delete", "touch"):
        real = inspect.signature(getattr(Store, name), eval_str=True)
        assert str(inspect.signature(getattr(documented, name))) == str(real), name


# -- shell commands --------------------------------------------------------------


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [code.strip() for code in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_ci_runs_the_quick_start_commands_verbatim():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].startswith("python3 -m venv .venv && ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert command in ci, f"{command!r} is not run by .ci/run"


def test_the_fast_subset_and_the_packages_are_the_real_ones():
    assert '`.venv/bin/pytest -m "not slow and not soak and not browser"`' in README
    markers = (ROOT / "tox.ini").read_text(encoding="utf-8")
    for marker in ("slow:", "soak:", "browser:"):
        assert marker in markers
    (line,) = re.findall(r"`apt-get install --no-install-recommends ([^`]+)`", README)
    known = {package for value in DEBIAN_PACKAGES.values() for package in value.split()}
    assert set(line.split()) <= known
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for package in line.split():
        assert package in ci, f".ci/run does not install {package}"


def test_documented_commands_and_flags_exist():
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    (usage,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    parser = _parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    current = None
    for line in usage.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == "sessionware":
            current = words[1]
            if current == "--version":
                assert "--version" in parser._option_string_actions
                continue
            assert current in commands, current
        flags = [re.sub(r"[\[\]]", "", word) for word in words if word.lstrip("[").startswith("--")]
        for flag in flags:
            assert flag in commands[current]._option_string_actions, (current, flag)


def slug(heading):
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_resolve():
    anchors = {slug(heading) for heading in re.findall(r"^#+ (.+)$", README, re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", README):
        if target.startswith("#"):
            assert target[1:] in anchors, target
        elif not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


@pytest.mark.slow  # two pytest runs in subprocesses
def test_skips_name_the_test_and_the_packages(tmp_path):
    """As the quick start says: without chromium or redis-cli on PATH, each
    test skips, naming itself and the Debian packages; under CI it fails."""
    env = {**os.environ, "PATH": str(tmp_path)}
    env.pop("CI", None)
    tests = [
        "tests/live/test_browser.py::test_session_in_a_real_browser",
        "tests/stores/test_redis.py::test_cluster_url_and_repr",
    ]
    command = [sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider", *tests]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "2 skipped" in result.stdout, result.stdout
    install = "(not on PATH); install it: apt-get install --no-install-recommends"
    browser = "test_session_in_a_real_browser: chromium is not installed"
    assert f"{browser} {install} chromium chromium-driver" in result.stdout
    assert f"test_cluster_url_and_repr: redis-cli is not installed {install} redis-tools" in (
        result.stdout
    )
    result = subprocess.run(
        command, cwd=ROOT, env={**env, "CI": "1"}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1 and "skipped" not in result.stdout, result.stdout
    assert result.stdout.count("CI is set, so this is a failure, not a skip") >= 2


# -- claims match the measurements --------------------------------------------------


def table_row(label):
    (row,) = [line for line in README.splitlines() if line.startswith(f"| {label} |")]
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_claims_match_the_performance_tables():
    # "a request that never touches it costs about a microsecond": scenario (a).
    untouched = float(table_row("(a) valid cookie, never touched")[1])
    assert 0.5 <= untouched < 2, untouched
    assert "costs about a microsecond" in README
    # The Redis paragraph derives its numbers from the server-side table.
    memory = table_row("sessionware `MemoryStore`")
    redis = table_row("sessionware `RedisStore`")
    read = float(redis[1]) - float(memory[1])
    modify = float(redis[3]) - float(memory[3])
    assert f"costs {read:.1f} µs more than `MemoryStore` read-only ({redis[1]} against" in (
        " ".join(README.split())
    )
    assert f"costs {modify:.1f} µs more ({redis[3]} against {memory[3]})" in " ".join(
        README.split()
    )
    assert (redis[2], redis[4]) == ("1", "2")  # the round trips the store section states
    assert "as counted under [Performance](#performance): 1 for a read-only request, 2" in (
        " ".join(README.split())
    )
