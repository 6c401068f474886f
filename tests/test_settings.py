"""The settings have one list: SessionMiddleware's signature (README: Configuration).

Config, build_config and the Flask key map follow it; these tests fail when
one of them drifts (a setting added in one place and not the others).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from sessionware import SessionMiddleware
from sessionware._config import SETTINGS, Config, build_config
from sessionware.flask import CONFIG_KEYS

#: Arguments of the middleware that are not settings of Config.
NOT_SETTINGS = {"self", "app", "store", "revocation"}


def middleware_arguments():
    return set(inspect.signature(SessionMiddleware.__init__).parameters) - NOT_SETTINGS


def test_the_signature_is_the_list_of_settings():
    assert middleware_arguments() == SETTINGS


def test_config_has_a_field_for_every_setting():
    fields = {field.name for field in dataclasses.fields(Config)}
    assert fields == (SETTINGS - {"secret_key", "fallback_keys"}) | {"secret_keys"}


def test_every_flask_key_maps_to_an_argument():
    arguments = set(inspect.signature(SessionMiddleware.__init__).parameters)
    assert set(CONFIG_KEYS.values()) <= arguments - {"self", "app"}


def test_build_config_refuses_a_setting_it_does_not_know():
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(SessionMiddleware.__init__).parameters.items()
        if name in SETTINGS
    }
    defaults["secret_key"] = "k" * 32
    assert build_config(**defaults).cookie_name == "session"
    with pytest.raises(TypeError, match="cookie_colour"):
        build_config(**defaults, cookie_colour="blue")
    del defaults["cookie_path"]
    with pytest.raises(TypeError, match="cookie_path"):
        build_config(**defaults)


def test_the_token_shape_check_matches_the_signature_length():
    """KeyRing.unsign writes the signature's length as literals, for speed."""
    import inspect as _inspect

    from sessionware import _signing

    ring = _signing.KeyRing([b"k" * 32], "t")
    token = ring.sign(b"value")
    assert len(token.rpartition(".")[2]) == _signing._SIGNATURE
    source = _inspect.getsource(_signing.KeyRing.unsign)
    assert f"len(signature) != {_signing._SIGNATURE}:" in source
    assert f"len(token) > {_signing.MAX_TOKEN_SIZE}:" in source
    assert f"if age < -{_signing.MAX_FUTURE}:" in source
    assert ring.unsign(token, 60)[0] == b"value"
