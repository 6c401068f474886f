"""The documentation site cannot drift: it builds with warnings as errors,
every example on every page runs (Sphinx's doctest builder; an untested
Python block is itself a build error, docs/_ext/examples_run.py), every
setting is on the configuration page, the documented commands exist, and the
built site renders in a real Chromium with no console error and no broken
internal link."""

import configparser
import functools
import html.parser
import http.server
import importlib.util
import inspect
import os
import re
import runpy
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

import sessionware
from sessionware._config import SETTINGS
from sessionware.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
#: What building the docs needs (the `docs` extra).
BUILD_NEEDS = ("sphinx", "myst_parser", "furo")


def need_sphinx():
    missing = [name for name in BUILD_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        reason = (
            f'{", ".join(missing)} not installed; install the docs extra: pip install -e ".[docs]"'
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)


def sphinx_build(builder, out, cwd):
    """``sphinx-build -W --keep-going -b builder``; the output on failure."""
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
               str(DOCS), str(out)]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # cwd: a scratch directory, so nothing the examples write lands in the tree.
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"sphinx-build -b {builder}:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    )
    return result


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The HTML site, built once with warnings as errors."""
    need_sphinx()
    out = tmp_path_factory.mktemp("docs-html")
    sphinx_build("html", out, tmp_path_factory.mktemp("docs-cwd"))
    return out


@pytest.mark.slow
def test_the_site_builds_with_no_warning(site):
    for page in ("index", "configuration", "security", "switching", "api/core", "changes"):
        assert (site / f"{page}.html").is_file(), page


@pytest.mark.slow
def test_every_example_on_every_page_runs(tmp_path):
    need_sphinx()
    sphinx_build("doctest", tmp_path / "out", tmp_path)
    report = (tmp_path / "out" / "output.txt").read_text(encoding="utf-8")
    summary = report.rsplit("Doctest summary", 1)[1]
    tests = int(re.search(r"(\d+) tests", summary)[1])
    assert tests >= 25 and " 0 failures in tests" in summary, report[-3000:]
    assert " 0 failures in setup code" in summary, report[-3000:]


@pytest.mark.slow
def test_an_untested_python_example_fails_the_build(tmp_path):
    """The guard itself: a plain ```python block breaks `sphinx-build -W`."""
    need_sphinx()
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        "extensions = ['myst_parser', 'sphinx.ext.doctest', 'examples_run']\n"
    )
    (source / "index.md").write_text(
        "# Page\n\n```python\nprint('never run')\n```\n\n```sh\nls\n```\n"
    )
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "-q",
        "-b",
        "html",
        str(source),
        str(tmp_path / "o"),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "index.md:3" in result.stderr and "a Python example that is not run" in result.stderr
    assert result.stderr.count("not run") == 1  # the sh block is not Python


# -- the pages say what the code has ---------------------------------------------------


def page(name):
    return (DOCS / name).read_text(encoding="utf-8")


def table_rows(text):
    """``{first cell: [cells]}`` of every Markdown table row."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_every_setting_is_on_the_configuration_page_with_its_flask_key():
    """Derived from the Config dataclass fields (SETTINGS) and the middleware's
    signature: a setting added to either without a row here fails."""
    flask_config = pytest.importorskip("sessionware._flask_config")
    rows = table_rows(page("configuration.md"))
    signature = set(inspect.signature(sessionware.SessionMiddleware).parameters) - {"app"}
    assert SETTINGS <= signature
    for name in sorted(signature):
        assert f"`{name}`" in rows, f"setting {name} is missing from docs/configuration.md"
    by_argument = {argument: key for key, argument in flask_config.CONFIG_KEYS.items()}
    for name in sorted(signature):
        flask_cell = rows[f"`{name}`"][2]
        if name in by_argument:
            assert flask_cell == f"`{by_argument[name]}`", (name, flask_cell)
        elif name == "migrate_from":
            assert flask_cell == f"`{flask_config.MIGRATE_KEY}`"
        else:
            assert flask_cell == "keyword argument only", (name, flask_cell)


def test_documented_commands_and_flags_exist():
    parser = _parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    checked = 0
    for path in PAGES:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            for line in block.splitlines():
                words = line.split("#", 1)[0].split()
                for start, word in enumerate(words):
                    if word.endswith("sessionware") and start + 1 < len(words):
                        command = words[start + 1].rstrip(')"')
                        if command.startswith("--"):
                            assert command in parser._option_string_actions, (path.name, line)
                            continue
                        assert command in commands, (path.name, line)
                        for flag in words[start + 2 :]:
                            flag = re.sub(r"[\[\]()]", "", flag).split("=")[0]
                            if flag.startswith("--"):
                                assert flag in commands[command]._option_string_actions, (
                                    path.name, line, flag)  # fmt: skip
                        checked += 1
    assert checked >= 10


def test_the_performance_page_has_the_readme_tables():
    """While README.md still carries the tables, the page has each row as is."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if "## Performance" not in readme:
        pytest.skip("README.md no longer has the tables: docs/performance.md is their home")
    section = readme.split("## Performance", 1)[1].split("\n## ", 1)[0]
    performance = page("performance.md")
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert len(rows) > 20
    for row in rows:
        assert row in performance, row


def test_one_version_everywhere():
    """sessionware.__version__ is the one source: setup.cfg reads it, the
    docs' conf.py and `sessionware --version` print it."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    assert config["metadata"]["version"] == "attr: sessionware.__version__"
    namespace = runpy.run_path(str(DOCS / "conf.py"))
    assert namespace["release"] == sessionware.__version__
    result = subprocess.run(
        [sys.executable, "-m", "sessionware", "--version"], capture_output=True, text=True,
        timeout=60, cwd=ROOT)  # fmt: skip
    assert result.stdout.split()[-1] == sessionware.__version__, result.stdout


# -- the built site in a real browser ------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for attribute in ("href", "src"):
            if attrs.get(attribute) and not (tag == "link" and attrs.get("rel") == "preload"):
                self.links.append(attrs[attribute])


@functools.cache
def parsed(path):
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def broken_links(site):
    broken = []
    for path in sorted(site.rglob("*.html")):
        for link in parsed(path).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target_path, anchor = urldefrag(link)
            target_path = target_path.split("?", 1)[0]  # cache-busting ?v=...
            target = (path.parent / unquote(target_path)).resolve() if target_path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(site)}: {link} (no such file)")
            elif anchor and target.suffix == ".html" and unquote(anchor) not in parsed(target).ids:
                broken.append(f"{path.relative_to(site)}: {link} (no such anchor)")
    return broken


@pytest.mark.slow
def test_no_broken_internal_link(site):
    assert not broken_links(site), "\n".join(broken_links(site)[:50])


def test_the_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "index.html").write_text(
        '<h1 id="top">x</h1><a href="#top">ok</a><a href="other.html#nope">a</a>'
        '<a href="missing.html">b</a><a href="https://example.org/x">external</a>'
    )
    (tmp_path / "other.html").write_text('<p id="here"></p>')
    assert broken_links(tmp_path) == [
        "index.html: other.html#nope (no such anchor)",
        "index.html: missing.html (no such file)",
    ]


@pytest.fixture
def served(site):
    """The built site over HTTP on a free loopback port."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.mark.browser
@pytest.mark.slow
def test_landing_and_reference_pages_render_without_console_errors(served, tmp_path):
    from live.test_browser import chromium

    with chromium(tmp_path) as driver:
        driver.set_window_size(1280, 900)  # the desktop layout, sidebar shown
        for name in ("index", "api/core"):
            driver.get(f"{served}/{name}.html")
            assert "sessionware" in driver.title, driver.title
            shot = tmp_path / f"{name.replace('/', '-')}.png"
            assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
            errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert not errors, errors
        assert "SessionMiddleware" in driver.page_source
