"""A password in a store URL is never shown: for every store that takes one,
on every path a message can take.

Paths: the store's ``repr``; ``StoreError`` when the server is down and when
the password is wrong, with its whole chain of causes as a traceback prints
it; ``ConfigurationError`` for a bad URL; the ``cleanup`` command's output;
a Flask app's configuration error and its 500 with the store down; and every
log record any library emitted meanwhile (captured at DEBUG).
"""

import logging
import subprocess
import sys
import traceback

import pytest

from servers import RedisServer, free_port
from sessionware import ConfigurationError, SessionMiddleware, StoreError
from sessionware.stores import from_url

pytest.importorskip("redis")

PASSWORD = "Pa55-w0rd-n3ver-shown"
SECRET = "secret-key-0123456789abcdef-0123456789"


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory):
    directory = tmp_path_factory.mktemp("redis-pw")
    socket_path = directory / "redis.sock"
    args = ["--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    with RedisServer(directory, password=PASSWORD, args=args) as server:
        server.socket_path = socket_path
        yield server


def urls(request, kind):
    """``(url with the right password, url with a wrong one, url of a server
    that is down)`` for ``kind``; ``None`` where the kind cannot have one."""
    dead = free_port()
    if kind == "redis":
        server = request.getfixturevalue("redis_with_password")
        good = server.url
        return (
            good,
            good.replace(PASSWORD, "x" + PASSWORD),
            good.replace(str(server.port), str(dead)),
        )
    if kind == "unix":
        server = request.getfixturevalue("redis_with_password")
        good = f"unix://:{PASSWORD}@{server.socket_path}"
        return good, good.replace(PASSWORD, "x" + PASSWORD), good + ".missing"
    if kind == "rediss":  # TLS to a server that speaks plain TCP: a TLS error
        return None, None, f"rediss://:{PASSWORD}@127.0.0.1:{dead}/0?timeout=1"
    if kind == "redis+sentinel":
        return None, None, f"redis+sentinel://:{PASSWORD}@127.0.0.1:{dead},127.0.0.1:{dead}/svc"
    if kind == "redis+cluster":
        return None, None, f"redis+cluster://:{PASSWORD}@127.0.0.1:{dead}?timeout=0.5"
    if kind == "postgresql":
        pytest.importorskip("psycopg")
        server = request.getfixturevalue("postgresql_server")
        good = server.url.replace(server.password, PASSWORD)
        server.psql(f"ALTER ROLE postgres PASSWORD '{PASSWORD}'")
        request.addfinalizer(
            lambda: server.psql(f"ALTER ROLE postgres PASSWORD '{server.password}'")
        )
        wrong = good.replace(PASSWORD, "x" + PASSWORD)
        return good, wrong, good.replace(str(server.port), str(dead)) + "?timeout=1"
    raise AssertionError(kind)


KINDS = ["redis", "unix", "rediss", "redis+sentinel", "redis+cluster", "postgresql"]


def assert_hidden(text, where):
    assert PASSWORD not in text, f"the password shows in {where}: {text}"


def store_errors(url):
    """Every StoreError a store built from ``url`` raises, as printed."""
    texts = []
    try:
        store = from_url(url)
    except StoreError as exc:  # a cluster is contacted at construction
        return ["".join(traceback.format_exception(exc)), repr(exc.store)]
    texts.append(repr(store))
    for call in (
        lambda: store.load("s"),
        lambda: store.save("s", {"a": b"1"}, 60),
        lambda: store.delete("s"),
        store.cleanup,
    ):
        with pytest.raises(StoreError) as info:
            call()
        texts.append("".join(traceback.format_exception(info.value)))
        texts.append(repr(info.value.store))
    store.close()
    return texts


@pytest.mark.parametrize("kind", KINDS)
def test_password_never_shown(request, kind, caplog):
    caplog.set_level(logging.DEBUG)
    good, wrong, down = urls(request, kind)
    shown = []
    if good is not None:
        store = from_url(good)
        try:
            store.save("s", {"a": b"1"}, 60)  # the right password works
            shown.append(repr(store))
        finally:
            store.close()
    for url in (wrong, down):
        if url is not None:
            shown += store_errors(url)
    # A bad option in the same URL: refused at construction.
    with pytest.raises(ConfigurationError) as info:
        from_url(down + ("&" if "?" in down else "?") + "bogus=1")
    shown.append("".join(traceback.format_exception(info.value)))
    # The command line, on the unreachable store.
    result = subprocess.run(
        [sys.executable, "-m", "sessionware", "cleanup", "--store", down],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("sessionware cleanup: ")
    shown += [result.stdout, result.stderr]
    shown += [record.getMessage() for record in caplog.records]
    shown += [str(record.exc_info) for record in caplog.records]
    for text in shown:
        assert_hidden(text, kind)


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
def test_password_never_shown_by_flask(request, kind, caplog):
    flask = pytest.importorskip("flask")
    from sessionware.flask import Sessionware

    caplog.set_level(logging.DEBUG)
    _, _, down = urls(request, kind)
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SESSIONWARE_STORE=down + "&bogus=1")
    with pytest.raises(ConfigurationError) as info:
        Sessionware(app)
    assert_hidden("".join(traceback.format_exception(info.value)), "init_app")

    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SESSIONWARE_STORE=down)

    @app.route("/")
    def index():
        flask.session["a"] = 1
        return "ok"

    Sessionware(app)
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 500
    assert_hidden(response.get_data(as_text=True), "the 500 page")
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        assert_hidden(text, "Flask's log")


def test_middleware_request_with_store_down_shows_no_password(caplog):
    caplog.set_level(logging.DEBUG)
    down = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"

    def app(environ, start_response):
        environ["session"]["a"] = 1
        start_response("200 OK", [])
        return [b""]

    from werkzeug.test import Client

    client = Client(SessionMiddleware(app, SECRET, store=down))
    with pytest.raises(StoreError) as info:
        client.get("/")
    assert_hidden("".join(traceback.format_exception(info.value)), "the request's error")
    for record in caplog.records:
        assert_hidden(record.getMessage(), "a log line")
