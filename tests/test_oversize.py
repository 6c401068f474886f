"""Issue 17, item 2: a session that outgrows the cookie is never lost
silently (API.md sections 3, 4 and 9).

By default the save fails with ``CookieTooLargeError`` and the browser keeps
the session it had; ``CookieStore(oversize="warn")`` sends it anyway with a
warning, as Flask does; ``CookieStore(overflow=...)`` keeps it in a
server-side store (memory, SQLite, a real Redis here), with a server-side
store's guarantees there. ``strict_size=`` still works, with a warning.
"""

from __future__ import annotations

import secrets
import threading
import warnings

import pytest
from werkzeug.test import Client

import helpers
from helpers import SECRET, cookie_value, routes, set_cookies
from sessionware import (
    ConfigurationError,
    CookieTooLargeError,
    SessionMiddleware,
    SessionwareError,
    SessionWarning,
)
from sessionware._backends.server import MARKER
from sessionware._signing import KeyRing
from sessionware.stores import CookieStore, MemoryStore


def secret_value():
    """A value no cookie can hold (random: zlib cannot shrink it), and that
    a message must never show."""
    return "top-secret-" + secrets.token_urlsafe(4000)


def grow(session):
    session["notes"] = secret_value()
    return session.sid


def shrink(session):
    del session["notes"]
    return "ok"


def show(session):
    """Keys and values, big ones shortened to "top-secret", then flags."""
    items = sorted(
        (key, "top-secret" if str(value).startswith("top-secret") else value)
        for key, value in session.items()
    )
    return repr(items) + f" new={session.new} sid={session.sid}"


def login(session):
    session["user"] = "alice"
    return session.sid


def relogin(session):
    session.regenerate()
    session["notes"] = secret_value()
    return "ok"


def logout(session):
    session.invalidate()
    return "bye"


def clear(session):
    session.clear()
    return "cleared"


ROUTES = routes(
    grow=grow, shrink=shrink, show=show, login=login, relogin=relogin, logout=logout, clear=clear
)


def make_client(handler, **options):
    """helpers.make_client, with no cookie jar: each request sends exactly
    the cookie the test gives it, as :func:`get` does."""
    client, middleware = helpers.make_client(handler, **options)
    return Client(client.application, use_cookies=False), middleware


def get(client, path, cookie=None):
    """One request with ``cookie`` (or none), as a browser would send it."""
    headers = {"Cookie": f"session={cookie}"} if cookie else {}
    return client.get(path, headers=headers)


def body(response):
    return response.get_data(as_text=True)


# -- the default: fail loudly, keep what the browser has -----------------------------


def generator_app(environ, start_response):
    """An app whose body is a generator that changes the session before its
    first chunk (werkzeug's ``Response(generator)``)."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    grow(environ["session"])
    yield b"start "
    yield b"end"


def late_app(environ, start_response):
    """An app that calls start_response lazily, inside its generator."""
    grow(environ["session"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"ok"


@pytest.mark.parametrize("revocation", [None, "memory://"], ids=["plain", "revocation"])
def test_by_default_an_oversized_save_fails_and_the_old_cookie_stays_valid(revocation):
    client, middleware = make_client(ROUTES, revocation=revocation)
    cookie = cookie_value(get(client, "/login"))
    for path in ("/grow", "/relogin"):  # relogin: a regenerate that does not fit either
        with pytest.raises(CookieTooLargeError) as info:
            get(client, path, cookie)
        message = str(info.value)
        assert "4093" in message and "'notes'" in message
        assert "bytes" in message and "top-secret" not in message  # names, never values
        assert isinstance(info.value, ValueError) and isinstance(info.value, SessionwareError)
        # The old cookie was neither replaced nor revoked: still the session.
        assert body(get(client, "/show", cookie)).startswith("[('user', 'alice')] new=False")


@pytest.mark.parametrize("app", [generator_app, late_app], ids=["generator", "lazy"])
def test_every_response_shape_fails_before_its_headers_go_out(app):
    middleware = SessionMiddleware(app, SECRET)
    client = Client(middleware)
    with pytest.raises(CookieTooLargeError):
        client.get("/")


# -- oversize="warn": Flask's behaviour ---------------------------------------------


def test_warn_mode_sends_the_cookie_with_a_warning_naming_the_users_line():
    client, _ = make_client(ROUTES, store=CookieStore(oversize="warn"))
    with pytest.warns(SessionWarning, match=r"4093.*'notes'") as caught:
        response = get(client, "/grow")
    assert len(caught) == 1 and caught[0].filename == __file__
    assert "top-secret" not in str(caught[0].message)
    assert len(set_cookies(response)[0]) > 4093  # sent: the browser will drop it


@pytest.mark.parametrize(
    "options, fault",
    [
        ({"oversize": "ignore"}, "oversize"),
        ({"oversize": True}, "oversize"),
        ({"overflow": "cookie://"}, "not the cookie store"),
        ({"overflow": CookieStore()}, "not the cookie store"),
        ({"overflow": object()}, "not object"),
        ({"overflow": "memory://", "oversize": "warn"}, "contradict"),
        ({"strict_size": True, "oversize": "warn"}, "contradict"),
    ],
    ids=["mode", "bool-mode", "cookie-url", "cookie-store", "not-a-store", "overflow-warn", "both"],
)
def test_bad_settings_are_refused_at_construction(options, fault):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ConfigurationError, match=fault):
            CookieStore(**options)


@pytest.mark.parametrize("strict, mode", [(True, "raise"), (False, "warn")])
def test_strict_size_still_works_and_names_its_replacement(strict, mode):
    with pytest.warns(DeprecationWarning, match=f'oversize="{mode}"') as caught:
        store = CookieStore(strict_size=strict)
    assert caught[0].filename == __file__
    assert store.oversize == mode and store.strict_size is strict
    client, _ = make_client(ROUTES, store=store)
    if strict:
        with pytest.raises(CookieTooLargeError):
            get(client, "/grow")
    else:
        with pytest.warns(SessionWarning):
            get(client, "/grow").close()


# -- overflow=: kept server-side, transparently -----------------------------------------


@pytest.fixture(params=["memory", "sqlite", "redis"])
def overflow(request, tmp_path):
    """Each kind of overflow store: memory, an SQLite file, a real Redis."""
    from sessionware.stores import RedisStore, SQLiteStore

    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "overflow.db")
    else:
        server = request.getfixturevalue("redis_server")
        store = RedisStore(server.url, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    store.close()


def overflow_client(store, **options):
    return make_client(ROUTES, store=CookieStore(overflow=store), **options)


def test_overflow_round_trip_keeps_the_sid_and_stays_until_emptied(overflow):
    client, middleware = overflow_client(overflow)
    small = cookie_value(get(client, "/login"))
    sid = body(get(client, "/login", small))
    response = get(client, "/grow", small)
    assert body(response) == sid
    cookie = cookie_value(response)
    assert len(cookie) < 100  # the signed id, not the payload
    assert MARKER in overflow.load(sid)  # the whole session is in the store
    shown = body(get(client, "/show", cookie))
    assert "('user', 'alice')" in shown and "top-secret" in shown
    assert shown.endswith(f"new=False sid={sid}")  # same session, same sid

    # Shrunk, it stays in the overflow store (moving back is not worth a rule).
    response = get(client, "/shrink", cookie)
    assert cookie_value(response) == cookie or len(cookie_value(response)) < 100
    assert "notes" not in body(get(client, "/show", cookie))
    assert overflow.load(sid) is not None

    # Emptied: the record and the cookie go; the next session is a cookie again.
    response = get(client, "/logout", cookie)
    assert cookie_value(response) == ""
    assert overflow.load(sid) is None
    assert body(get(client, "/show", cookie)).startswith("[] new=True")
    fresh = cookie_value(get(client, "/login"))
    assert len(fresh) > 100 or fresh.count(".") == 2  # a payload cookie
    assert KeyRing(middleware.config.secret_keys, "sessionware.cookie").unsign(fresh, 60)


def test_a_new_session_too_large_from_the_start_goes_to_overflow(overflow):
    client, _ = overflow_client(overflow)
    response = get(client, "/grow")
    sid = body(response)
    assert overflow.load(sid) is not None
    assert "top-secret" in body(get(client, "/show", cookie_value(response)))


def test_clear_deletes_the_overflow_record(overflow):
    client, _ = overflow_client(overflow)
    response = get(client, "/grow")
    sid, cookie = body(response), cookie_value(response)
    assert cookie_value(get(client, "/clear", cookie)) == ""
    assert overflow.load(sid) is None


def forged_ids(middleware, sid):
    """Cookie values that name an overflow record without our sid signature."""
    keys = middleware.config.secret_keys
    return {
        # Signed by our key, but for payload cookies: must not reach the store.
        "payload-salt": KeyRing(keys, "sessionware.cookie").sign(sid.encode()),
        "other-key": KeyRing([b"another-key-0123456789abcdef-0123"], "sessionware.sid").sign(
            sid.encode()
        ),
        "unsigned": sid,
        "tampered": KeyRing(keys, "sessionware.sid").sign(sid.encode())[:-2] + "AA",
    }


def test_a_forged_overflow_id_is_a_new_empty_session(overflow):
    client, middleware = overflow_client(overflow)
    sid = body(get(client, "/grow"))
    for name, forged in forged_ids(middleware, sid).items():
        response = get(client, "/show", forged)
        assert response.status_code == 200, name
        assert body(response).startswith("[] new=True"), name


def test_the_first_verifying_cookie_wins_whichever_its_kind(overflow):
    client, _ = overflow_client(overflow)
    big = cookie_value(get(client, "/grow"))
    small = cookie_value(get(client, "/login"))
    both = client.get("/show", headers={"Cookie": f"session=junk; session={big}; session={small}"})
    assert "top-secret" in body(both)
    other = client.get("/show", headers={"Cookie": f"session={small}; session={big}"})
    assert "top-secret" not in body(other) and "alice" in body(other)


class CountingStore:
    """A real MemoryStore that counts writes (save, touch, delete)."""

    def __init__(self):
        self.inner = MemoryStore()
        self.writes = 0

    def load(self, sid):
        return self.inner.load(sid)

    def load_many(self, sids):
        return self.inner.load_many(sids)

    def save(self, sid, changes, ttl):
        self.writes += 1
        self.inner.save(sid, changes, ttl)

    def delete(self, sid):
        self.writes += 1
        self.inner.delete(sid)

    def touch(self, sid, ttl):
        self.writes += 1
        self.inner.touch(sid, ttl)


def test_reading_an_overflow_session_never_writes():
    store = CountingStore()
    client, _ = overflow_client(store)
    cookie = cookie_value(get(client, "/grow"))
    before = store.writes
    response = get(client, "/show", cookie)
    assert "top-secret" in body(response)
    assert set_cookies(response) == [] and store.writes == before


def test_the_overflow_record_has_a_ttl(redis_server, redis_prefix):
    import redis

    from sessionware.stores import RedisStore

    store = RedisStore(redis_server.url, prefix=redis_prefix)
    try:
        client, _ = overflow_client(store, permanent_lifetime=600)
        sid = body(get(client, "/grow"))
        ttl = redis.Redis.from_url(redis_server.url).ttl(redis_prefix + sid)
        assert 0 < ttl <= 600
    finally:
        store.close()


# -- section 4 on the overflow store: concurrent requests ------------------------------


class Gate:
    """Holds a request after it loaded the session until the test lets it go."""

    def __init__(self):
        self.loaded = threading.Event()
        self.go = threading.Event()

    def wait(self, session):
        len(session)  # loaded now
        self.loaded.set()
        assert self.go.wait(30)


def racing_client(store, gate):
    def slow_add(session):
        gate.wait(session)
        session["slow"] = "written"
        return "ok"

    def fast_add(session):
        session["fast"] = "written"
        return "ok"

    table = {"slow": slow_add, "fast": fast_add, "grow": grow, "show": show, "logout": logout}
    return make_client(routes(**table), store=CookieStore(overflow=store))


def in_thread(function):
    results = []
    thread = threading.Thread(target=lambda: results.append(function()))
    thread.start()
    return thread, results


def test_no_lost_updates_between_keys_on_the_overflow_store(overflow):
    gate = Gate()
    client, _ = racing_client(overflow, gate)
    cookie = cookie_value(get(client, "/grow"))
    thread, results = in_thread(lambda: get(client, "/slow", cookie))
    assert gate.loaded.wait(30)
    assert get(client, "/fast", cookie).status_code == 200
    gate.go.set()
    thread.join(30)
    assert results and results[0].status_code == 200
    shown = body(get(client, "/show", cookie))
    assert "('fast', 'written')" in shown and "('slow', 'written')" in shown


def test_a_logout_wins_over_a_stale_write_on_the_overflow_store(overflow):
    gate = Gate()
    client, _ = racing_client(overflow, gate)
    response = get(client, "/grow")
    sid, cookie = body(response), cookie_value(response)
    thread, results = in_thread(lambda: get(client, "/slow", cookie))
    assert gate.loaded.wait(30)
    assert cookie_value(get(client, "/logout", cookie)) == ""
    gate.go.set()
    thread.join(30)
    assert results and results[0].status_code == 200
    assert body(get(client, "/show", cookie)).startswith("[] new=True")
    stale = cookie_value(results[0])
    if stale:
        assert body(get(client, "/show", stale)).startswith("[] new=True")
    record = overflow.load(sid)
    assert record is None or MARKER not in record  # dead: it never loads again


# -- with revocation= ---------------------------------------------------------------------


def test_revoke_ends_overflow_sessions_and_logout_refuses_the_old_payload_cookie(overflow):
    client, middleware = overflow_client(overflow, revocation="memory://")
    small = cookie_value(get(client, "/login"))
    sid = body(get(client, "/login", small))
    cookie = cookie_value(get(client, "/grow", small))
    assert middleware.revoke(sid) is True
    assert overflow.load(sid) is None
    assert body(get(client, "/show", cookie)).startswith("[] new=True")
    assert body(get(client, "/show", small)).startswith("[] new=True")

    # A logout in the overflow store also refuses the payload cookie from
    # before the move (same sid), which a stolen copy could replay.
    small = cookie_value(get(client, "/login"))
    cookie = cookie_value(get(client, "/grow", small))
    assert cookie_value(get(client, "/logout", cookie)) == ""
    assert body(get(client, "/show", small)).startswith("[] new=True")


def test_revoke_owner_ends_the_owners_overflow_sessions(overflow):
    def owned(session):
        session.owner = "alice"
        return grow(session)

    client, middleware = make_client(
        routes(owned=owned, show=show),
        store=CookieStore(overflow=overflow),
        revocation="memory://",
    )
    response = get(client, "/owned")
    sid, cookie = body(response), cookie_value(response)
    assert middleware.revoke_owner("alice") == 1
    assert overflow.load(sid) is None
    assert body(get(client, "/show", cookie)).startswith("[] new=True")


# -- Flask ----------------------------------------------------------------------------------


def flask_app(store):
    flask = pytest.importorskip("flask")
    from sessionware.flask import Sessionware

    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SESSIONWARE_STORE=store)

    @app.route("/grow")
    def grow_view():
        return grow(flask.session)

    @app.route("/show")
    def show_view():
        return show(flask.session)

    Sessionware(app)
    return app


def test_a_flask_view_that_outgrows_the_cookie_is_a_500_with_a_clear_log(caplog):
    app = flask_app(CookieStore())
    client = app.test_client()
    with caplog.at_level("ERROR", logger=app.logger.name):
        response = client.get("/grow")
    assert response.status_code == 500
    assert "Set-Cookie" not in response.headers  # the browser keeps what it had
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is CookieTooLargeError]
    assert logged and "4093" in str(logged[0].exc_info[1])
    assert "'notes'" in str(logged[0].exc_info[1])


def test_a_flask_view_that_outgrows_the_cookie_works_with_overflow(overflow):
    app = flask_app(CookieStore(overflow=overflow))
    client = app.test_client()
    response = client.get("/grow")
    assert response.status_code == 200
    sid = response.get_data(as_text=True)
    assert overflow.load(sid) is not None
    shown = client.get("/show").get_data(as_text=True)
    assert "top-secret" in shown and shown.endswith(f"sid={sid}")


# -- the demo ---------------------------------------------------------------------------------


def test_the_demo_says_plainly_when_a_change_did_not_fit():
    from werkzeug.middleware.lint import LintMiddleware

    from sessionware import _demo

    app = _demo.make_app(SECRET)
    client = Client(LintMiddleware(app))
    client.post("/put", data={"key": "user", "value": "alice"}).close()
    before = client.get_cookie("session").value
    response = client.post("/put", data={"key": "notes", "value": secrets.token_urlsafe(4000)})
    assert response.status_code == 303 and "Set-Cookie" not in response.headers
    response.close()
    assert client.get_cookie("session").value == before  # the session it had
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    response.close()
    assert "Not saved: that change did not fit" in page and "Saved session" not in page
    assert "alice" in page
