"""The demo app in process (werkzeug's test client on the real middleware),
and the ``sessionware demo`` / ``--version`` command lines in a subprocess."""

import html
import html.parser
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

import sessionware
from helpers import SECRET, SEED, dead_record
from servers import free_port, wait_for
from sessionware import ConfigurationError, SessionMiddleware
from sessionware import _demo as demo
from sessionware import _demo_app as demo_app
from sessionware.cli import decode_cookie
from sessionware.stores import CookieStore, MemoryStore, SQLiteStore

STORES = ["cookie", "memory", "sqlite"]


def field(page, name):
    match = re.search(rf'id="{name}"[^>]*>([^<]*)<', page)
    assert match, f"no #{name} in the page:\n{page[:400]}"
    return html.unescape(match.group(1))


def store_for(kind, tmp_path):
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(str(tmp_path / "demo.db"))
    return None


class ClosingClient(Client):
    """Reads and closes every response (LintMiddleware warns about unclosed ones)."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        response.get_data()
        response.close()
        return response


class Browser:
    """The test client plus what a browser does with a 303: GET the Location."""

    def __init__(self, **options):
        self.app = demo.make_app(SECRET, **options)
        assert isinstance(self.app, SessionMiddleware)
        self.client = ClosingClient(LintMiddleware(self.app))

    def get(self, path, **kwargs):
        response = self.client.get(path, **kwargs)
        assert response.status_code == 200, response.status
        return response.get_data(as_text=True)

    def post(self, path, data=None, back="/", **kwargs):
        response = self.client.post(path, data={"next": back, **(data or {})}, **kwargs)
        assert response.status_code == 303, response.status
        self.last_post = response
        location = response.headers["Location"]
        assert location.startswith(back + "?done=")  # relative: never from the Host header
        return self.get(location)

    def cookie(self):
        cookie = self.client.get_cookie("session")
        return None if cookie is None else cookie.value


@pytest.mark.parametrize("kind", STORES)
def test_demo_walks_every_operation(kind, tmp_path):
    browser = Browser(store=store_for(kind, tmp_path))
    page = browser.get("/")
    assert field(page, "new") == "True" and field(page, "keys") == "0"
    assert field(page, "sid") == "none" and browser.cookie() is None
    assert field(browser.get("/check"), "check") == "session key not found"

    page = browser.post("/set")
    assert field(page, "message").startswith("Stored the seed values")
    assert field(page, "new") == "False" and field(page, "keys") == "5"
    sid = field(page, "sid")
    assert sid != "none" and "wuhan" in field(page, "data")
    assert field(browser.get("/check"), "check") == "username is set: admin"

    page = browser.post("/pop", {"key": "age"})
    assert field(page, "message") == "session.pop(key) removed the key."
    page = browser.post("/pop", {"key": "age"})
    assert "no such key" in field(page, "message")
    assert "Set-Cookie" not in browser.last_post.headers  # nothing changed, nothing sent
    page = browser.post("/del", {"key": "username"})
    assert field(page, "message") == "del session[key] removed the key."
    assert "KeyError" in field(browser.post("/del", {"key": "username"}), "message")
    assert field(page, "keys") == "3"
    assert field(browser.get("/check"), "check") == "vip status is set"
    page = browser.post("/put", {"key": "note", "value": "hi"})
    assert field(page, "keys") == "4" and '"note": "hi"' in field(page, "data")

    page = browser.post("/permanent", {"on": "1"})
    assert field(page, "permanent") == "True" and "Max-Age=" in field(page, "cookie-expires")
    assert "Max-Age=" in browser.last_post.headers["Set-Cookie"]
    page = browser.post("/permanent", {"on": "0"})
    assert field(page, "permanent") == "False"
    assert "Set-Cookie" in browser.client.post("/modified").headers

    page = browser.post("/regenerate")
    new_sid = field(page, "sid")
    assert new_sid not in ("none", sid) and field(page, "keys") == "4"

    page = browser.post("/clear")
    assert field(page, "message").startswith("session.clear()")
    assert field(page, "sid") == "none" and field(page, "keys") == "0"
    assert browser.cookie() is None
    browser.post("/set")
    page = browser.post("/logout", back="/check")
    assert field(page, "message").startswith("Logged out")
    assert field(page, "sid") == "none" and field(page, "new") == "True"
    assert browser.cookie() is None


@pytest.mark.parametrize("kind", STORES)
def test_the_shown_sid_is_the_stored_one(kind, tmp_path):
    store = store_for(kind, tmp_path)
    browser = Browser(store=store)
    sid = field(browser.post("/set"), "sid")
    if store is None:
        assert decode_cookie(browser.cookie(), SECRET)["sid"] == sid
    else:
        assert store.load(sid) is not None
        assert field(browser.get("/"), "record-size").endswith("bytes")
    browser.post("/regenerate")
    new_sid = field(browser.get("/"), "sid")
    if store is not None:
        assert dead_record(store.load(sid)) and store.load(new_sid) is not None
    for action in ("/logout", "/clear"):
        browser.post("/set")
        old = field(browser.get("/"), "sid")
        page = browser.post(action)
        # Neither an id that was never saved nor the old one: none.
        assert field(page, "sid") == "none"
        if store is not None:
            assert dead_record(store.load(old))


def test_a_reload_of_an_action_url_changes_nothing():
    browser = Browser()
    response = browser.client.get("/set")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert field(page, "message") == "POST /set changes the session: use its button below."
    assert 'id="do-set"' in page and field(page, "keys") == "0"
    browser.post("/set")
    for path in ("/logout", "/clear"):
        assert field(browser.get(path), "keys") == "5"
    assert browser.client.put("/set").status_code == 405
    assert browser.client.post("/").headers["Allow"] == "GET, HEAD"


def test_cross_site_posts_are_refused():
    browser = Browser()
    browser.post("/set")
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://localhost"},  # another scheme is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        response = browser.client.post("/logout", headers=headers)
        assert response.status_code == 403, headers
        assert "Set-Cookie" not in response.headers
    assert field(browser.get("/"), "keys") == "5"
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    assert browser.client.post("/logout", headers=same).status_code == 303
    assert field(browser.get("/"), "keys") == "0"


def test_the_redirect_only_goes_to_a_demo_page():
    browser = Browser()
    for back in ("https://evil.example/", "//evil.example", "/nowhere"):
        response = browser.client.post("/set", data={"next": back})
        assert response.headers["Location"] == "/?done=set"
    response = browser.client.post("/set", data={"next": "/check"})
    assert response.headers["Location"] == "/check?done=set"
    page = browser.get("/?done=<script>")  # an unknown outcome shows no message
    assert field(page, "message") == ""


def test_large_forms_are_refused_before_reading():
    browser = Browser()
    response = browser.client.post("/put", data={"key": "k", "value": "x" * 20_000})
    assert response.status_code == 413
    assert browser.cookie() is None


def test_the_cookie_panel_shows_what_the_browser_holds():
    browser = Browser()
    page = browser.get("/")
    assert "holds no session cookie" in field(page, "cookie")
    browser.post("/set")
    header = browser.last_post.headers["Set-Cookie"]
    page = browser.get("/")
    assert int(field(page, "cookie-size")) == len(header)
    assert field(page, "cookie-samesite") == "Lax"
    assert "browser drops it when it closes" in field(page, "cookie-expires")
    assert "msgpack, base64" in page and "HMAC-SHA256" in page
    assert browser.cookie() not in page  # the value is shortened, never shown whole
    assert "Nothing on the server" in page

    warned = Browser(store=CookieStore(oversize="warn"))  # sends it anyway, as Flask does
    warned.post("/set")
    with pytest.warns(sessionware.SessionWarning, match="4093"):
        warned.client.post("/put", data={"key": "big", "value": secrets.token_hex(2500)})
    page = warned.get("/")
    assert int(field(page, "cookie-size")) > 4093 and 'class="meter over"' in page

    tampered = Browser()
    tampered.client.set_cookie("session", "garbage.value.here")
    page = tampered.get("/")
    assert "does not verify" in field(page, "cookie") and field(page, "new") == "True"


def test_the_store_panel_shows_the_record(tmp_path):
    store = SQLiteStore(str(tmp_path / "demo.db"))
    browser = Browser(store=store)
    page = browser.get("/")
    assert "nothing is stored for a new session" in field(page, "record")
    page = browser.post("/set")
    assert "SQLiteStore(" in field(page, "store")
    record = store.load(field(page, "sid"))
    assert field(page, "record-size") == f"{sum(map(len, record.values()))} bytes"
    assert "13800138000" in page and "\\x00sessionware" in page


def test_session_data_is_escaped():
    browser = Browser()
    page = browser.post("/put", {"key": "<k>", "value": "<script>alert(1)</script>"})
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<k>" not in page
    assert browser.client.get("/nowhere").status_code == 404


def test_a_page_and_an_action_take_one_function_each(monkeypatch):
    """How another page is added (see the module docstring)."""
    for name in ("PAGES", "ACTIONS", "MESSAGES"):  # registered for this test only
        monkeypatch.setattr(demo_app, name, dict(getattr(demo_app, name)))

    @demo.page("/extra", "Extra")
    def extra(request):
        count = request.session.get("count", 0)
        return f'<section><p id="count">{count}</p>{demo.button("/bump", "Bump", "+1", back="/extra")}</section>'  # noqa: E501

    @demo.action("/bump", bumped="Bumped.")
    def bump(request):
        request.session["count"] = request.session.get("count", 0) + 1
        return "bumped"

    browser = Browser()
    page = browser.post("/bump", back="/extra")
    assert field(page, "count") == "1" and field(page, "message") == "Bumped."
    assert '<a href="/extra" class=here>Extra</a>' in page


def test_demo_options_reach_the_middleware():
    browser = Browser(cookie_samesite="Strict", cookie_name="demo")
    browser.client.post("/set")
    header = browser.client.post("/modified").headers["Set-Cookie"]
    assert header.startswith("demo=") and "SameSite=Strict" in header
    assert field(browser.get("/"), "cookie-samesite") == "Strict"
    with pytest.raises(ConfigurationError):
        demo.make_app("")


def test_demo_app_from_environment(tmp_path):
    """`sessionware._demo:app` reads its key and store from the environment,
    and warns on stderr when it has to invent a key."""
    code = (
        "from werkzeug.test import Client; import sessionware._demo as d; "
        "c = Client(d.app); c.post('/set'); print(type(d.app.store).__name__); "
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


# -- the command line ------------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sessionware", *args], capture_output=True, text=True, timeout=30
    )


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout == f"sessionware {sessionware.__version__}\n"
    # The console script next to this interpreter (pip install puts it there).
    script = shutil.which("sessionware", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("no `sessionware` console script next to the interpreter (not installed)")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert result.stdout == f"sessionware {sessionware.__version__}\n", result.stderr


def test_samesite_none_needs_secure():
    result = run_cli("demo", "--cookie-samesite", "None", "--port", "1")
    assert result.returncode == 2
    assert "--cookie-samesite None needs --cookie-secure" in result.stderr
    assert "Traceback" not in result.stderr
    browser = Browser(cookie_samesite="None", cookie_secure=True)
    browser.client.post("/set")
    header = browser.client.post("/modified").headers["Set-Cookie"]
    assert "SameSite=None" in header and "Secure" in header


def test_demo_command_serves_the_session_across_requests(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "sessionware", "demo", "--port", str(port),
         "--secret-key", SECRET, "--store", f"sqlite:///{tmp_path}/demo.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        with requests.Session() as http:

            def up():
                if process.poll() is not None:
                    raise RuntimeError(f"demo exited: {process.stderr.read()}")
                try:
                    return http.get(url + "/", timeout=2).ok
                except requests.ConnectionError:
                    return False

            wait_for(up, timeout=20, what="the demo server")
            assert "session key not found" in http.get(url + "/check", timeout=5).text
            response = http.post(url + "/set", data={"next": "/"}, timeout=5)
            assert response.ok and response.history[0].status_code == 303
            assert "HttpOnly" in response.history[0].headers["Set-Cookie"]
            assert http.cookies["session"]
            assert "username is set: admin" in http.get(url + "/check", timeout=5).text
            page = http.get(url + "/", timeout=5).text
            assert field(page, "new") == "False" and "wuhan" in field(page, "data")
            assert field(page, "data") == json.dumps(SEED, indent=2, sort_keys=True)
            http.post(url + "/clear", timeout=5)
            assert "session key not found" in http.get(url + "/check", timeout=5).text
            assert http.get(url + "/nope", timeout=5).status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            stdout, stderr = process.communicate()
    assert status == 0, stderr
    assert "Traceback" not in stderr
    assert f"http://127.0.0.1:{port}/" in stdout


# -- nothing from a request or a session reaches the page as markup ---------------

#: Markup in every context the page has: text, an attribute, a <pre>, a <code>.
HOSTILE = [
    "<svg onload=alert(1)>",
    '"><img src=x onerror=alert(2)>',
    "</pre></code><script>alert(3)</script>",
    "'><iframe srcdoc=x></iframe>",
]


class Tags(html.parser.HTMLParser):
    """Every start tag of a page, and every event-handler attribute."""

    def __init__(self, page):
        super().__init__()
        self.tags, self.handlers = [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def assert_no_markup_from(page, hostile):
    tags = Tags(page)
    assert not {"svg", "img", "iframe"} & set(tags.tags), tags.tags
    assert tags.tags.count("script") == 1 and tags.handlers == []  # the page's own script
    for text in hostile:
        assert text not in page


@pytest.mark.parametrize("kind", STORES)
def test_session_derived_text_is_escaped_everywhere(kind, tmp_path):
    """Keys, values and the owner, on every page and panel (the store's
    record included), and a cookie value the browser sent."""
    browser = Browser(store=store_for(kind, tmp_path))
    page = browser.post("/login", {"user": HOSTILE[0]}, back="/sessions")
    assert field(page, "signed-in-as") == HOSTILE[0] and field(page, "owner") == HOSTILE[0]
    for text in HOSTILE:
        browser.post("/put", {"key": text, "value": text})
    browser.post("/put", {"key": "k", "value": "\u202eevil\x1b[31m"})
    for path in demo_app.PAGES:
        page = browser.get(path)
        assert_no_markup_from(page, HOSTILE)
        assert field(page, "owner") == HOSTILE[0]
    assert all(text in field(browser.get("/"), "data") for text in HOSTILE[1:])

    # A junk cookie of the session's name before the real one: the panel
    # shows the first value it finds, escaped.
    real = browser.cookie()
    junk = HOSTILE[0].replace(" ", "/")
    for path in demo_app.PAGES:
        response = browser.client.get(path, headers={"Cookie": f"session={junk}; session={real}"})
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and field(page, "new") == "False"
        assert_no_markup_from(page, [junk])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:443", "localhost:1", "[::1]:9"])
def test_every_redirect_is_relative_whatever_the_host(host):
    browser = Browser()
    for path in demo_app.ACTIONS:
        for back in ("/", "/check", "/sessions", "//evil.example/", "https://evil.example/"):
            response = browser.client.post(
                path,
                data={"next": back, "key": "k", "user": "u"},
                headers={"Host": host},
            )
            assert response.status_code == 303, (path, response.status)
            location = response.headers["Location"]
            expected = back if back in demo_app.PAGES else "/"
            assert location.startswith(expected + "?done="), (path, host, location)
            assert not location.startswith("//") and host not in location


# -- a store that does not answer ------------------------------------------------


def test_a_store_that_does_not_answer_is_a_page_not_a_bare_error():
    from sessionware.stores import RedisStore

    pytest.importorskip("redis")
    browser = Browser(store=RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    for method, path in [("get", "/"), ("get", "/check"), ("get", "/sessions"),
                         ("post", "/set"), ("post", "/login"), ("post", "/put")]:  # fmt: skip
        response = getattr(browser.client, method)(
            path, data={"next": "/", "user": "a", "key": "k"}
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 503, (path, response.status)
        assert response.headers["Content-Type"].startswith("text/html")
        assert field(page, "message").startswith("The store does not answer: RedisStore(")
        assert "Nothing was saved" in field(page, "message")
        assert "Set-Cookie" not in response.headers


def test_the_demo_command_says_at_start_that_the_store_does_not_answer(tmp_path):
    from gunicorn_server import demo_server

    pytest.importorskip("redis")
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with demo_server(tmp_path, "--store", url) as server:
        response = requests.get(server.url + "/", timeout=10)
        log = server.log_text()
    assert response.status_code == 503 and "The store does not answer" in response.text
    (line,) = [line for line in log.splitlines() if "does not answer" in line]
    assert line.startswith("sessionware demo: the store does not answer: RedisStore(")
    assert "starts anyway" in line and "hunter2" not in log
    assert "Traceback" not in log


# -- "Your sessions" -------------------------------------------------------------


@pytest.mark.parametrize("kind", STORES)
def test_sign_out_everywhere_else_is_offered_only_where_it_works(kind, tmp_path):
    browser = Browser(store=store_for(kind, tmp_path))
    page = browser.post("/login", {"user": "alice"}, back="/sessions")
    assert field(page, "signed-in-as") == "alice"
    offered = 'id="do-sign-out-others"' in page
    if kind == "cookie":
        assert not offered
        note = field(page, "sign-out-note")
        assert "cookie store" in note and "--store sqlite:///demo.db" in page
        # A POST anyway (an old page): the message points at that note, on the page.
        page = browser.post("/sign-out-others", back="/sessions")
        assert "see the note on this page" in field(page, "message")
        assert 'id="sign-out-note"' in page
    else:
        assert offered and 'id="sign-out-note"' not in page
        page = browser.post("/sign-out-others", back="/sessions")
        assert field(page, "message").startswith("Signed out everywhere else")


def test_new_id_and_set_owner_are_named_apart():
    browser = Browser()
    labels = re.findall(r"<button[^>]*>([^<]*)</button>", browser.get("/"))
    labels += re.findall(r"<button[^>]*>([^<]*)</button>", browser.get("/sessions"))
    # session.regenerate() and session.owner = name: named by what they do,
    # not "Log in" and "Sign in".
    assert "Regenerate id (log in)" in labels and "Set owner (sign in)" in labels
    assert "Log in" not in labels and "Sign in" not in labels
