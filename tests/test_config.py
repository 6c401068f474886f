"""Construction-time refusals (the README's "Configuration")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpers import SECRET
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
        ({"permanent_lifetime": 0}, "permanent_lifetime must be positive"),
        ({"permanent_lifetime": True}, "permanent_lifetime must be"),
        ({"refresh_interval": "1h"}, "refresh_interval"),
        ({"absolute_lifetime": timedelta(seconds=-1)}, "absolute_lifetime must be positive"),
        ({"cookie_secure": "yes"}, "cookie_secure must be True or False"),
        ({"store": 42}, "store must be a store URL"),
        ({"store": "mysql://x"}, "unknown store URL scheme"),
        ({"store": "nothing"}, "has no scheme"),
        ({"store": "redis://localhost:notaport/0"}, "port 'notaport' is not a number"),
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

    from werkzeug.test import Client

    client = Client(validator(build()))
    response = client.get("/")
    assert response.status_code == 200
    response.close()
