"""Construction-time refusals (the README's "Configuration")."""

from __future__ import annotations

import inspect
import warnings
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from helpers import SECRET, make_client
from sessionware import ConfigurationError, SessionMiddleware, SessionWarning
from sessionware.stores import CookieStore, MemoryStore


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return []


def build(**options):
    options.setdefault("secret_key", SECRET)
    return SessionMiddleware(app, **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret_key": None}, "secret_key is required.*python -m sessionware secret"),
        ({"secret_key": ""}, "secret_key is empty.*python -m sessionware secret"),
        ({"secret_key": b""}, "secret_key is empty"),
        ({"secret_key": 12345}, "secret_key must be str or bytes, not int"),
        ({"fallback_keys": "old-key"}, "fallback_keys must be a sequence of keys"),
        ({"fallback_keys": b"old-key"}, "fallback_keys must be a sequence of keys"),
        ({"fallback_keys": [""]}, r"fallback_keys\[0\] is empty"),
        ({"cookie_samesite": "None"}, "requires cookie_secure=True"),
        ({"cookie_samesite": "Loose"}, "cookie_samesite must be"),
        ({"cookie_partitioned": True}, "cookie_partitioned=True requires cookie_secure=True"),
        ({"cookie_name": "__Host-s"}, "__Host- cookie"),
        (
            {"cookie_name": "__Host-s", "cookie_secure": True, "cookie_domain": "a.com"},
            "__Host- cookie",
        ),
        ({"cookie_name": "__Host-s", "cookie_secure": True, "cookie_path": "/app"}, "__Host-"),
        ({"cookie_name": "__Secure-s"}, "__Secure- cookie"),
        ({"cookie_name": "bad name"}, "not a valid cookie name"),
        ({"cookie_path": "app"}, "cookie_path"),
        ({"permanent_lifetime": 1.5}, "permanent_lifetime must be a datetime.timedelta"),
        ({"permanent_lifetime": 0}, "permanent_lifetime must be between 1 second and 400"),
        ({"permanent_lifetime": True}, "permanent_lifetime must be"),
        ({"refresh_interval": "1h"}, "refresh_interval"),
        ({"absolute_lifetime": timedelta(seconds=-1)}, "absolute_lifetime must be between"),
        ({"cookie_secure": "yes"}, "cookie_secure must be True or False"),
        ({"store": 42}, "store must be a store URL"),
        ({"store": "mysql://x"}, "unknown store URL scheme"),
        ({"store": "nothing"}, "has no scheme"),
        # "localhost:notaport" may be "user:password" missing its "@host":
        # not shown (a password never is, even where one is only possible).
        (
            {"store": "redis://localhost:notaport/0"},
            r"'redis://\*\*\*': port '\*\*\*' is not a number",
        ),
        ({"store": "sqlite://"}, "names no SQLite file"),
    ],
    ids=lambda v: str(v)[:60],
)
def test_bad_configuration_is_refused_at_construction(options, message):
    with pytest.raises(ConfigurationError, match=message) as info:
        build(**options)
    assert isinstance(info.value, ValueError)


def test_short_secret_key_warns():
    with pytest.warns(SessionWarning, match="only 5 bytes"):
        build(secret_key="short")


def test_good_configurations():
    assert build(cookie_name="__Host-s", cookie_secure=True).config.cookie_name == "__Host-s"
    assert build(cookie_samesite="strict").config.cookie_samesite == "Strict"
    assert build(permanent_lifetime=60).config.permanent_lifetime == 60
    assert build(permanent_lifetime=timedelta(days=1)).config.permanent_lifetime == 86400
    assert build(fallback_keys=["a" * 32, b"b" * 32]).config.secret_keys[1:] == (
        b"a" * 32,
        b"b" * 32,
    )
    assert build(secret_key=b"\x00" * 32).config.secret_keys == (b"\x00" * 32,)
    assert isinstance(build(store="cookie://").store, CookieStore)
    assert isinstance(build(store="memory://").store, MemoryStore)
    assert isinstance(build().store, CookieStore)


def test_middleware_is_a_plain_wsgi_app():
    from wsgiref.validate import validator

    client = Client(validator(build()))
    response = client.get("/")
    assert response.status_code == 200
    response.close()


# -- Issue 8, class 6: configuration refused at construction ---------------------

DAY = 24 * 3600
MAX_DURATION = 400 * DAY
DURATIONS = ("permanent_lifetime", "refresh_interval", "absolute_lifetime")


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize(
    "value",
    [
        10**12,  # accepted before, and the first request crashed (datetime overflow)
        MAX_DURATION + 1,
        timedelta(days=401),
        timedelta(days=400, microseconds=1),
        timedelta(days=10**6),
        0,
        -1,
        timedelta(0),
        timedelta(microseconds=999_999),
        timedelta(seconds=-5),
    ],
    ids=repr,
)
def test_class6_durations_outside_1s_400_days_are_refused(name, value):
    with pytest.raises(ConfigurationError, match=f"{name} must be between 1 second and 400 days"):
        build(**{name: value})


@pytest.mark.parametrize("name", DURATIONS)
def test_class6_duration_bounds_are_inclusive(name):
    for value, seconds in [
        (1, 1),
        (timedelta(seconds=1), 1),
        (timedelta(seconds=1, microseconds=500_000), 1),
        (MAX_DURATION, MAX_DURATION),
        (timedelta(days=400), MAX_DURATION),
    ]:
        assert getattr(build(**{name: value}).config, name) == seconds


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(DURATIONS),
    value=st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=MAX_DURATION + 1),
        st.timedeltas(max_value=timedelta(microseconds=999_999)),
        st.timedeltas(min_value=timedelta(days=400, microseconds=1)),
    ),
)
def test_class6_property_every_out_of_range_duration_is_refused(name, value):
    with pytest.raises(ConfigurationError, match=name):
        build(**{name: value})


@settings(max_examples=100, deadline=None)
@given(value=st.integers(min_value=1, max_value=MAX_DURATION))
def test_class6_property_every_in_range_duration_serves_a_request(value):
    client, _ = make_client(
        lambda session, environ: session.update(a=1) or session.__setattr__("permanent", True),
        permanent_lifetime=value,
        absolute_lifetime=value,
    )
    response = client.get("/")
    assert f"Max-Age={value}" in response.headers["Set-Cookie"]
    response.close()


# Characters that end an attribute, split a header list, or cannot travel.
BREAKERS = list(';, \t\r\n\x00\x01\x1f\x7f"\\') + ["é", "\u2028", "\uff1b"]
GOOD_DOMAINS = ["example.com", ".example.com", "a.b-c.example", "localhost", "127.0.0.1", "x_y.io"]


@pytest.mark.parametrize(
    "options",
    [
        {"cookie_name": "session\n"},  # `$` matched before a final newline
        {"cookie_name": "a=b"},
        {"cookie_name": "a;b"},
        {"cookie_name": "a,b"},
        {"cookie_name": "sé"},
        {"cookie_name": ""},
        {"cookie_domain": "example.com; Secure; SameSite=None"},
        {"cookie_domain": "example.com;Secure"},
        {"cookie_domain": "example.com:8000"},  # werkzeug would drop the port silently
        {"cookie_domain": "example.com,evil.com"},
        {"cookie_domain": "exa mple.com"},
        {"cookie_domain": "example.com\r\nSet-Cookie: x=1"},
        {"cookie_domain": "a..b"},
        {"cookie_domain": "-a.example"},
        {"cookie_domain": "a-.example"},
        {"cookie_domain": "example.com."},
        {"cookie_domain": "."},
        {"cookie_domain": "[::1]"},
        {"cookie_domain": "a" * 64 + ".com"},
        {"cookie_domain": ".".join(["a" * 60] * 5)},
        {"cookie_path": "/; Domain=evil.com"},
        {"cookie_path": "/a b"},
        {"cookie_path": "/a,b"},
        {"cookie_path": "/a\x00"},
        {"cookie_path": "/a\tb"},
        {"cookie_path": "/ä"},  # werkzeug would percent-encode it
        {"cookie_path": "/a?b"},
        {"cookie_path": "/a#b"},
        {"cookie_path": "/%zz"},
        {"cookie_path": "/" + "a" * 1024},
    ],
    ids=repr,
)
def test_class6_attributes_that_cannot_be_sent_as_given_are_refused(options):
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        build(**options)


def test_class6_a_unicode_domain_is_refused_with_its_ascii_form():
    with pytest.raises(ConfigurationError, match="xn--bcher-kva.example"):
        build(cookie_domain="bücher.example")


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["cookie_name", "cookie_domain", "cookie_path"]),
    head=st.text("abcXYZ019-", min_size=1, max_size=8),
    breaker=st.sampled_from(BREAKERS),
    tail=st.text("abc.-/;=, \t", max_size=20),
)
def test_class6_property_a_breaking_character_anywhere_is_refused(where, head, breaker, tail):
    value = {
        "cookie_name": head + breaker + tail,
        "cookie_domain": "a" + head.strip("-") + breaker + tail,
        "cookie_path": "/" + head + breaker + tail,
    }[where]
    with pytest.raises(ConfigurationError, match=where):
        build(**{where: value})


label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    name=st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}", fullmatch=True),
    domain=st.one_of(
        st.none(),
        st.sampled_from(GOOD_DOMAINS),
        st.lists(label, min_size=1, max_size=4).map(".".join),
    ),
    path=st.from_regex(r"/[A-Za-z0-9._~!$&'()*+:=@/-]{0,30}", fullmatch=True),
)
def test_class6_property_accepted_attributes_are_sent_exactly_as_given(name, domain, path):
    """Whatever is accepted comes out as one cookie with exactly the given
    attributes: nothing escaped into another attribute, nothing rewritten."""
    if name.lower().startswith(("__host-", "__secure-")):
        name = "x" + name
    client, _ = make_client(
        lambda session, environ: session.update(a=1),
        cookie_name=name,
        cookie_domain=domain,
        cookie_path=path,
    )
    response = client.get(path, headers={"Host": (domain or "example").lstrip(".")})
    (header,) = response.headers.getlist("Set-Cookie")
    response.close()
    first, *attributes = header.split("; ")
    assert first.split("=", 1)[0] == name
    expected = {"HttpOnly", "SameSite=Lax", f"Path={path}"}
    if domain is not None:
        expected.add(f"Domain={domain.lstrip('.')}")
    assert set(attributes) == expected


def _any_case(prefix):
    return st.lists(st.booleans(), min_size=len(prefix), max_size=len(prefix)).map(
        lambda upper: "".join(
            c.upper() if u else c.lower() for c, u in zip(prefix, upper, strict=True)
        )
    )


@pytest.mark.parametrize("name", ["__HOST-s", "__host-s", "__hOsT-s"])
def test_class6_host_prefix_rules_apply_in_any_case(name):
    for options in [{}, {"cookie_domain": "example.com"}, {"cookie_path": "/app"}]:
        secure = {"cookie_secure": bool(options)}
        with pytest.raises(ConfigurationError, match="__Host- cookie"):
            build(cookie_name=name, **secure, **options)
    assert build(cookie_name=name, cookie_secure=True).config.cookie_name == name


@settings(max_examples=100, deadline=None)
@given(prefix=st.one_of(_any_case("__host-"), _any_case("__secure-")))
def test_class6_property_prefix_rules_apply_in_any_case(prefix):
    with pytest.raises(ConfigurationError, match="cookie_secure=True"):
        build(cookie_name=prefix + "id")
    assert build(cookie_name=prefix + "id", cookie_secure=True).config.cookie_secure


def test_class6_short_key_warning_names_the_users_line_bare():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        SessionMiddleware(app, "short")
    (warning,) = caught
    assert issubclass(warning.category, SessionWarning)
    assert (warning.filename, warning.lineno) == (__file__, line)


def test_class6_short_key_warning_names_the_users_line_under_flask():
    flask = pytest.importorskip("flask")
    from sessionware.flask import Sessionware

    first, second = flask.Flask(__name__), flask.Flask(__name__)
    first.config["SECRET_KEY"] = second.config["SECRET_KEY"] = "short"
    extension = Sessionware()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines = [inspect.currentframe().f_lineno + 1, inspect.currentframe().f_lineno + 2]
        Sessionware(first)
        extension.init_app(second)
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line) for line in lines]
    assert all(issubclass(w.category, SessionWarning) for w in caught)


LATE_CHANGES = {
    "set": lambda s: s.__setitem__("a", 1),
    "update": lambda s: s.update(a=2),
    "setdefault": lambda s: s.setdefault("b", 1),
    "pop": lambda s: s.pop("k"),
    "clear": lambda s: s.clear(),
    "permanent": lambda s: setattr(s, "permanent", True),
    "invalidate": lambda s: s.invalidate(),
}


@pytest.mark.parametrize("change", sorted(LATE_CHANGES))
def test_class6_late_change_warning_names_the_apps_line(change):
    """A change after the headers went out warns at the app's own line,
    whichever session method made it (not a line inside sessionware)."""
    apply = LATE_CHANGES[change]  # the app's code: its line is the one to name

    def streaming(environ, start_response):
        environ["session"]["k"] = 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first"
        apply(environ["session"])
        yield b"second"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = Client(SessionMiddleware(streaming, SECRET)).get("/")
        response.get_data()
        response.close()
    assert caught and all(issubclass(w.category, SessionWarning) for w in caught)
    assert {(w.filename, w.lineno) for w in caught} == {(__file__, apply.__code__.co_firstlineno)}
