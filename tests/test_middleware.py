"""When a response carries Set-Cookie, and with which attributes (README: "A tour",
"Configuration", "Security notes"), through werkzeug's client and LintMiddleware."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from freezegun import freeze_time
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import Client

from helpers import SECRET, SEED, cookie_pair, cookie_value, make_client, routes, set_cookies
from sessionware import (
    Session,
    SessionMiddleware,
    SessionWarning,
    UnsupportedValueError,
)

# -- route handlers: each takes the session and returns the body --------------------


def seed(session):
    session.update(SEED)
    return "ok"


def read_username(session):
    return str(session.get("username"))


def untouched(session):
    return "untouched"


def clear(session):
    session.clear()


def make_permanent(session):
    session.permanent = True
    session["x"] = 1


def show_sid(session):
    return session.sid


def set_k(session):
    session["k"] = 1


def pop_k(session):
    return session.pop("k")


def empty_cart(session):
    session["cart"] = []


def add_apple(session):
    session["cart"].append("apple")


def add_pear_and_flag(session):
    session["cart"].append("pear")
    session.modified = True


def show_cart(session):
    return ",".join(session["cart"])


def flag_modified(session):
    session.modified = True


BASIC = dict(
    set=seed, read=read_username, none=untouched, clear=clear, perm=make_permanent, sid=show_sid
)


@pytest.fixture
def client():
    return make_client(routes(**BASIC))[0]


def test_untouched_request_sends_nothing(client):
    response = client.get("/none")
    assert set_cookies(response) == []
    assert "Vary" not in response.headers


def test_untouched_request_never_parses_the_cookie(caplog):
    seen = []

    def handler(session, environ):
        seen.append(session)
        return "x"

    client, _ = make_client(handler)
    client.set_cookie("session", "garbage-that-would-be-logged")
    with caplog.at_level(logging.DEBUG, logger="sessionware"):
        client.get("/")
    assert not seen[0].loaded
    assert caplog.records == []


def test_set_then_read_across_requests(client):
    response = client.get("/set")
    headers = set_cookies(response)
    assert len(headers) == 1
    assert "HttpOnly" in headers[0] and "SameSite=Lax" in headers[0] and "Path=/" in headers[0]
    assert "Expires" not in headers[0]  # not permanent: a browser-session cookie
    assert response.headers["Vary"] == "Cookie"
    response = client.get("/read")
    assert response.text == "admin"
    assert set_cookies(response) == []  # read-only, not permanent: nothing re-sent
    assert response.headers["Vary"] == "Cookie"


def test_clear_deletes_the_cookie(client):
    client.get("/set")
    response = client.get("/clear")
    (header,) = set_cookies(response)
    assert header.startswith("session=;")
    assert "Max-Age=0" in header and "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in header
    assert client.get_cookie("session") is None
    assert client.get("/read").text == "None"


def test_new_session_that_stays_empty_sends_nothing():
    def handler(session, environ):
        session["a"] = 1
        del session["a"]
        session.clear()

    client, _ = make_client(handler)
    assert set_cookies(client.get("/")) == []


def test_deleting_the_last_key_deletes_the_cookie():
    client, _ = make_client(routes(set=set_k, rm=pop_k))
    client.get("/set")
    (header,) = set_cookies(client.get("/rm"))
    assert "Max-Age=0" in header


def test_permanent_gets_expiry_and_sliding_refresh():
    client, _ = make_client(routes(**BASIC), permanent_lifetime=timedelta(hours=2))
    with freeze_time("2026-01-01 00:00:00"):
        (header,) = set_cookies(client.get("/perm"))
        assert "Max-Age=7200" in header
        assert "Expires=Thu, 01 Jan 2026 02:00:00 GMT" in header
    with freeze_time("2026-01-01 01:00:00"):
        (header,) = set_cookies(client.get("/read"))  # unmodified, permanent: re-sent
        assert "Expires=Thu, 01 Jan 2026 03:00:00 GMT" in header
    with freeze_time("2026-01-01 02:59:00"):
        assert client.get("/sid").status_code == 200
        assert "session=" in set_cookies(client.get("/read"))[0]


def test_refresh_each_request_false_never_resends():
    client, _ = make_client(routes(**BASIC), refresh_each_request=False)
    client.get("/perm")
    assert set_cookies(client.get("/read")) == []


def test_refresh_interval():
    client, _ = make_client(routes(**BASIC), refresh_interval=600)
    with freeze_time("2026-01-01 00:00:00"):
        client.get("/perm")
    with freeze_time("2026-01-01 00:09:59"):
        assert set_cookies(client.get("/read")) == []
    with freeze_time("2026-01-01 00:10:00"):
        assert len(set_cookies(client.get("/read"))) == 1
    with freeze_time("2026-01-01 00:15:00"):
        assert set_cookies(client.get("/read")) == []  # issued again at 00:10


def test_non_permanent_session_expires_after_lifetime_since_issued():
    client, _ = make_client(routes(**BASIC), permanent_lifetime=3600)
    with freeze_time("2026-01-01 00:00:00"):
        client.get("/set")
    with freeze_time("2026-01-01 00:59:59"):
        assert client.get("/read").text == "admin"
    with freeze_time("2026-01-01 01:00:01"):
        assert client.get("/read").text == "None"


def test_expiry_is_enforced_by_the_server_not_the_browser():
    client, _ = make_client(routes(**BASIC), permanent_lifetime=60)
    with freeze_time("2026-01-01 00:00:00"):
        client.get("/perm")
        value = client.get_cookie("session").value
    with freeze_time("2026-01-01 00:01:01"):
        fresh = Client(client.application)
        fresh.set_cookie("session", value)  # a client that ignores Expires
        assert fresh.get("/read").text == "None"


def test_absolute_lifetime_caps_max_age_and_ends_the_session():
    client, _ = make_client(
        routes(**BASIC), absolute_lifetime=timedelta(hours=1), permanent_lifetime=timedelta(days=1)
    )
    with freeze_time("2026-01-01 00:00:00"):
        assert "Max-Age=3600" in set_cookies(client.get("/perm"))[0]
    with freeze_time("2026-01-01 00:40:00"):
        (header,) = set_cookies(client.get("/read"))
        assert "Max-Age=1200" in header  # nothing outlives the absolute deadline
    with freeze_time("2026-01-01 01:00:00"):
        client.set_cookie("session", client.get_cookie("session").value)
        assert client.get("/sid").status_code == 200
        response = client.get("/read")
        assert response.text == "None"


def test_detect_nested_changes():
    client, _ = make_client(routes(set=empty_cart, add=add_apple, show=show_cart))
    client.get("/set")
    assert len(set_cookies(client.get("/add"))) == 1
    assert client.get("/show").text == "apple"


def test_nested_change_without_detection_needs_modified():
    handler = routes(set=empty_cart, add=add_apple, add_flag=add_pear_and_flag, show=show_cart)
    client, _ = make_client(handler, detect_nested_changes=False)
    client.get("/set")
    assert set_cookies(client.get("/add")) == []
    assert client.get("/show").text == ""
    assert len(set_cookies(client.get("/add_flag"))) == 1
    assert client.get("/show").text == "pear"


def test_modified_without_touching_forces_a_save():
    client, _ = make_client(routes(set=seed, touch=flag_modified))
    client.get("/set")
    assert len(set_cookies(client.get("/touch"))) == 1


def generator_app(environ, start_response):
    # start_response is called lazily, inside the generator, after a change.
    session = environ["session"]
    session["step"] = "before-start"
    yield b""
    start_response("200 OK", [("Content-Type", "text/plain")])
    session["late"] = "before-first-byte"
    yield b"hello "
    yield b"world"


def test_generator_app_changes_before_first_byte_are_saved():
    client = Client(LintMiddleware(SessionMiddleware(generator_app, SECRET)))
    response = client.get("/")
    assert response.text == "hello world"
    assert len(set_cookies(response)) == 1

    def reader(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [repr(dict(environ["session"])).encode()]

    check = Client(SessionMiddleware(reader, SECRET))
    check.set_cookie("session", client.get_cookie("session").value)
    assert check.get("/").text == repr({"step": "before-start", "late": "before-first-byte"})


def test_write_callable_app_is_saved():
    def app(environ, start_response):
        environ["session"]["via"] = "write"
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written")
        return []

    client = Client(LintMiddleware(SessionMiddleware(app, SECRET)))
    response = client.get("/")
    assert response.text == "written"
    assert len(set_cookies(response)) == 1


def test_change_after_headers_warns_naming_the_key():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        environ["session"]["too_late"] = 1
        yield b"second"

    client = Client(SessionMiddleware(app, SECRET))
    with pytest.warns(SessionWarning, match="too_late"):
        response = client.get("/")
        assert response.get_data() == b"firstsecond"
    assert set_cookies(response) == []


def test_app_exception_propagates_and_nothing_is_saved():
    class Boom(Exception):
        pass

    def app(environ, start_response):
        environ["session"]["half"] = "done"
        raise Boom("unchanged")

    calls = []
    middleware = SessionMiddleware(app, SECRET)
    with pytest.raises(Boom, match="unchanged"):
        middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: calls.append(a))
    assert calls == []


def test_generator_exception_before_first_byte_saves_nothing():
    def app(environ, start_response):
        start_response("200 OK", [])
        environ["session"]["half"] = "done"
        raise KeyError("boom")
        yield b""  # pragma: no cover

    calls = []
    middleware = SessionMiddleware(app, SECRET)
    iterable = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: calls.append(a))
    with pytest.raises(KeyError):
        list(iterable)
    iterable.close()
    assert calls == []


def test_unsupported_value_fails_the_request_naming_the_path():
    def store_an_object(session):
        session["profile"] = {"avatar": object()}

    client, _ = make_client(routes(bad=store_an_object))
    with pytest.raises(TypeError, match=r"session\['profile'\]\['avatar'\]") as info:
        client.get("/bad")
    assert isinstance(info.value, UnsupportedValueError)


def test_non_str_session_key_is_a_type_error():
    def int_key(session):
        session[5] = "x"

    client, _ = make_client(routes(bad=int_key))
    with pytest.raises(TypeError, match="session keys must be str"):
        client.get("/bad")


def test_compression_keeps_repetitive_sessions_small():
    def repetitive(session):
        session["rows"] = ["same value"] * 400

    client, _ = make_client(routes(set=repetitive))
    response = client.get("/set")
    assert cookie_value(response).startswith(".")  # zlib-compressed payload marker
    assert len(cookie_value(response)) < 400


def test_vary_cookie_only_when_accessed(client):
    assert "Vary" not in client.get("/none").headers
    assert client.get("/read").headers["Vary"] == "Cookie"


def test_environ_key_and_stacked_middlewares():
    def app(environ, start_response):
        environ["a"]["n"] = environ["a"].get("n", 0) + 1
        environ["b"]["n"] = environ["b"].get("n", 0) + 10
        start_response("200 OK", [])
        return [f"{environ['a']['n']} {environ['b']['n']}".encode()]

    inner = SessionMiddleware(app, SECRET, environ_key="b", cookie_name="b")
    client = Client(
        LintMiddleware(SessionMiddleware(inner, SECRET, environ_key="a", cookie_name="a"))
    )
    assert client.get("/").text == "1 10"
    assert client.get("/").text == "2 20"


def test_session_object_is_in_environ():
    seen = []

    def keep(session, environ):
        seen.append(session)

    client, _ = make_client(keep)
    client.get("/")
    assert isinstance(seen[0], Session)


def test_sid_is_stable_across_requests_and_random(client):
    first = client.get("/sid").text
    client.get("/set")
    assert client.get("/sid").text == client.get("/sid").text
    other = make_client(routes(**BASIC))[0]
    assert other.get("/sid").text != first
    assert len(first) >= 22  # 128 bits, URL-safe base64


def test_regenerate_keeps_data_and_changes_sid():
    def login(session):
        session.regenerate()

    def username(session):
        return session["username"]

    client, _ = make_client(routes(set=seed, sid=show_sid, login=login, read=username))
    client.get("/set")
    before = client.get("/sid").text
    assert len(set_cookies(client.get("/login"))) == 1
    assert client.get("/sid").text != before
    assert client.get("/read").text == "admin"


def test_invalidate_clears_and_deletes_the_cookie():
    def logout(session):
        session.invalidate()

    client, _ = make_client(routes(set=seed, out=logout, read=read_username))
    client.get("/set")
    (header,) = set_cookies(client.get("/out"))
    assert "Max-Age=0" in header
    assert client.get("/read").text == "None"


def test_cookie_attributes_follow_settings():
    client, _ = make_client(
        routes(**BASIC),
        cookie_name="__Secure-sid",
        cookie_secure=True,
        cookie_domain="example.com",
        cookie_path="/app",
        cookie_samesite="Strict",
        cookie_httponly=False,
        cookie_partitioned=True,
    )
    (header,) = set_cookies(client.get("https://example.com/app/set"))
    assert header.startswith("__Secure-sid=")
    for part in ("Domain=example.com", "Secure", "Path=/app", "SameSite=Strict", "Partitioned"):
        assert part in header.split("; ")
    assert "HttpOnly" not in header


def test_samesite_none_with_secure_is_sent():
    client, _ = make_client(routes(**BASIC), cookie_samesite=None)
    (header,) = set_cookies(client.get("/set"))
    assert "SameSite" not in header
    client, _ = make_client(routes(**BASIC), cookie_samesite="None", cookie_secure=True)
    (header,) = set_cookies(client.get("https://localhost/set"))
    assert "SameSite=None" in header


def test_middleware_open_and_save_session_api():
    middleware = SessionMiddleware(lambda e, s: [], SECRET)
    session = middleware.open_session({"HTTP_COOKIE": ""})
    assert middleware.save_session(session) == []
    session = middleware.open_session({})
    session["k"] = "v"
    headers = middleware.save_session(session)
    assert [name for name, _ in headers] == ["Set-Cookie", "Vary"]
    again = middleware.open_session({"HTTP_COOKIE": cookie_pair(headers[0][1])})
    assert again["k"] == "v" and not again.new


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["cart"].append("x"),
        lambda s: s.get("cart").append("x"),
        lambda s: next(iter(s.values())).append("x"),
        lambda s: dict(s.items())["cart"].append("x"),
        lambda s: s.setdefault("cart", []).append("x"),
        lambda s: s.copy()["cart"].append("x"),
    ],
    ids=["getitem", "get", "values", "items", "setdefault", "copy"],
)
@pytest.mark.parametrize("store", ["cookie://", "memory://"])
def test_nested_changes_through_every_accessor_are_saved(mutate, store):
    client, _ = make_client(routes(set=empty_cart, mutate=mutate, show=show_cart), store=store)
    client.get("/set")
    assert len(set_cookies(client.get("/mutate"))) == 1
    assert client.get("/show").text == "x"


def test_update_validates_keys_and_marks_modified_once():
    def update_pairs_and_keywords(session):
        session.update([("a", 1)], b=2)
        return f"{session['a']}{session['b']}{session.modified}"

    def update_nothing(session):
        session.update({})
        return str(session.modified)

    def update_int_key(session):
        session.update({1: "x"})

    client, _ = make_client(
        routes(ok=update_pairs_and_keywords, empty=update_nothing, bad=update_int_key)
    )
    assert client.get("/ok").text == "12True"
    assert client.get("/empty").text == "False"
    with pytest.raises(TypeError, match="session keys must be str"):
        client.get("/bad")


def test_owns_only_the_session_it_put_in_the_environ():
    middleware = SessionMiddleware(lambda e, s: [], SECRET)
    other = SessionMiddleware(lambda e, s: [], SECRET)
    environ = {}
    session = middleware.open_session(environ)
    assert not middleware.owns(session)  # opened, but not put in the environ
    environ["session"] = session
    assert middleware.owns(session)
    assert not other.owns(session)
    assert not middleware.owns({"not": "a session"})
