"""Session control under Flask: ``session.owner`` through ``flask.session``,
and ``sessions``/``revoke``/``revoke_owner`` on the extension object and on
``app.extensions["sessionware"]``, in and outside an app context."""

import flask
import pytest

from control_app import revocation_store
from sessionware.flask import Sessionware
from sessionware.stores import MemoryStore


def make(**options):
    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "flask-secret-key-0123456789abcdef-xyz"

    @app.get("/login/<owner>")
    def login(owner):
        flask.session.regenerate()
        flask.session.owner = owner
        flask.session["user"] = owner
        return flask.session.sid

    @app.get("/me")
    def me():
        return flask.jsonify(owner=flask.session.owner, new=flask.session.new)

    @app.get("/others-out")
    def others_out():
        count = ext.revoke_owner(flask.session.owner, keep=flask.session.sid)
        return str(count)

    ext = Sessionware(app, **options)
    return app, ext


def test_the_extension_object_and_app_extensions_list_and_revoke():
    app, ext = make(store=MemoryStore())
    browsers = [app.test_client() for _ in range(3)]
    sids = [b.get("/login/ann").text for b in browsers]
    assert sorted(i.sid for i in ext.sessions("ann")) == sorted(sids)  # no app context
    with app.app_context():
        assert len(app.extensions["sessionware"].sessions("ann")) == 3
    assert browsers[0].get("/others-out").text == "2"
    assert browsers[1].get("/me").json == {"owner": None, "new": True}
    assert browsers[0].get("/me").json == {"owner": "ann", "new": False}
    assert ext.revoke(sids[0]) is True
    assert browsers[0].get("/me").json["new"] is True
    assert app.extensions["sessionware"].revoke_owner("ann") == 0


def test_cookie_store_revocation_through_the_extension(tmp_path, closing):
    app, ext = make(revocation=f"sqlite:///{tmp_path}/revoked.db")
    closing(revocation_store(app.extensions["sessionware"]))
    browsers = [app.test_client() for _ in range(2)]
    for b in browsers:
        b.get("/login/bea")
    assert browsers[0].get("/others-out").text == "0"
    assert browsers[1].get("/me").json == {"owner": None, "new": True}
    assert browsers[0].get("/me").json == {"owner": "bea", "new": False}


def test_a_factory_extension_uses_the_current_app():
    app, _ = make(store=MemoryStore())
    factory = Sessionware()
    with pytest.raises(RuntimeError):
        factory.sessions("x")  # no app, no context
    with app.app_context():
        assert factory.sessions("x") == []
