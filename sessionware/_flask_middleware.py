"""The SessionMiddleware of a Flask app, kept in step with ``app.config``.

Flask reads its session settings on every request, and so does this
middleware: each request first asks :class:`~sessionware._flask_config.Settings`
whether a session setting changed (one C-level lookup of every key), and
only then reads them again, checks them and takes over the new
configuration. The request itself is Flask's: the adapter's
``SessionwareInterface.save_session`` saves the session before Flask starts
the response, so the response needs no wrapping (see :meth:`__call__`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import flask

from sessionware._flask_config import Settings, config_hint, middleware_options, store_inputs
from sessionware.errors import ConfigurationError
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment


class FlaskMiddleware(SessionMiddleware):
    """A :class:`SessionMiddleware` around ``flask_app.wsgi_app``, configured
    from ``flask_app.config`` (bad settings raise
    :class:`~sessionware.ConfigurationError`, here and at the first request
    after a bad change).

    :param flask_app: the Flask app.
    :param overrides: ``Sessionware``'s keyword arguments, which win over
        ``app.config``.
    """

    #: Flask's own ``wsgi_app`` is this class's to wrap: the adapter replaces
    #: Flask's session interface too (SessionMiddleware refuses it alone).
    _wraps_flask = True

    def __init__(self, flask_app: flask.Flask, overrides: dict[str, Any]) -> None:
        self._flask_app = flask_app
        self._overrides = dict(overrides)
        self._lock = threading.Lock()
        self._settings = Settings(flask_app)
        self._store_inputs = store_inputs(flask_app)
        options = _options(flask_app, overrides)
        try:
            SessionMiddleware.__init__(self, flask_app.wsgi_app, **options)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc}{config_hint(str(exc))}") from exc

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if self._settings.changed(self._flask_app):
            self.follow_config()
        key = self._environ_key
        if key in environ:
            self.refuse_second(environ[key])
        environ[key] = Session(self.backend, environ)
        # No response wrapper: Flask calls SessionwareInterface.save_session
        # (process_response) before it starts the response, and a change
        # after that (a streamed body, a teardown) warns from the session.
        return self.app(environ, start_response)

    def follow_config(self) -> None:
        """Read the session settings again if they changed since they were read."""
        app = self._flask_app
        with self._lock:
            if not self._settings.changed(app):
                return  # another thread did it meanwhile
            settings = Settings(app)
            if settings.same(self._settings):
                self._settings = settings  # another key was added: nothing to apply
                return
            options = _options(app, self._overrides)
            inputs = store_inputs(app)
            old_store = self.store
            # The same store settings (or a store given to Sessionware, which
            # never changes): the same store, with its sessions and connections.
            keep_store = "store" in self._overrides or inputs == self._store_inputs
            if keep_store:
                options["store"] = old_store
            revocations = self.control.revocations
            if isinstance(options.get("revocation"), str) and revocations is not None:
                options["revocation"] = revocations.store
            # Built (and checked) whole before anything changes: a bad
            # setting raises here and the app keeps its last good one.
            fresh = SessionMiddleware.__new__(type(self))
            try:
                SessionMiddleware.__init__(fresh, self.app, **options)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{exc}{config_hint(str(exc))}") from exc
            built_here = isinstance(self._store_inputs[0], str)  # from a SESSIONWARE_STORE URL
            self.config, self.store = fresh.config, fresh.store
            self.backend, self.control = fresh.backend, fresh.control
            self._settings, self._store_inputs = settings, inputs
            close = getattr(old_store, "close", None)
            if not keep_store and built_here and close is not None:
                close()  # built from the old URL, by us: nobody else holds it


def _options(app: flask.Flask, overrides: dict[str, Any]) -> dict[str, Any]:
    try:
        return middleware_options(app, overrides)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}{config_hint(str(exc))}") from exc
