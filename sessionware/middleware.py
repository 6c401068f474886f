"""SessionMiddleware: the WSGI plumbing that loads and saves the session.

The data path of one request, and the function that owns each step::

    request Cookie header
      -> split into cookie-pairs ........ _cookies.CookieHeaders.candidates
      -> verify (shape, HMAC, age) ...... _signing.KeyRing.unsign
                                          (cookie store: stores.cookie.CookieSealer.open)
      -> decode ......................... _backends.cookie.read_cookie, or
                                          _backends.server.ServerBackend.load (store.load)
      -> session (lazily, on first use) . session.Session._load -> Backend.load
      -> the app reads and writes it .... session.Session (changes: _state.SessionState)
      -> response starts: save? ......... session.save (the one "needs saving" rule)
      -> what changed, encode ........... Backend.save (_codec.encode_items / encode_envelope)
      -> seal ........................... stores.cookie.CookieSealer.seal / KeyRing.sign
      -> store .......................... Store.save / touch / delete (server stores)
      -> Set-Cookie ..................... _cookies.CookieHeaders.set_header

Trust: nothing from the request is used before it verified; a cookie that
does not is no session (a DEBUG line says why), never an error. Timing: the
response's headers reach the server only with its first body byte, so every
change made until then is saved (:class:`_Exchange`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import ClosingIterator

from sessionware._backends import backend_for
from sessionware._config import Config, build_config
from sessionware._state import Backend, Headers
from sessionware.control import SessionControl, SessionInfo, build_revocations, read_record
from sessionware.errors import ConfigurationError
from sessionware.session import Session, save
from sessionware.stores import from_url
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from sessionware.migrate import Reader

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


class SessionMiddleware:
    """Give a WSGI app Flask's session API as ``environ["session"]``.

    The session is loaded lazily from the request cookie (and the store) the
    first time the app touches it. When the response starts, a modified
    session is saved and its cookie sent, an emptied one is deleted, and an
    unmodified permanent one is refreshed. Every setting is checked here,
    once: bad configuration raises :class:`~sessionware.ConfigurationError`.

    :param app: the WSGI application to wrap.
    :param secret_key: signs every cookie; at least 32 random bytes.
    :param fallback_keys: older keys still accepted (key rotation).
    :param store: ``None`` (signed cookie), a store, or a store URL.
    :param permanent_lifetime: lifetime of permanent sessions, and the longest
        time any session is accepted after it was last issued.
    :param refresh_each_request: re-send an unmodified permanent session.
    :param refresh_interval: re-send it at most this often (``None``: always).
    :param absolute_lifetime: hard cap since the session was created.
    :param detect_nested_changes: save in-place changes to nested values.
    :param environ_key: where the session is put in the WSGI environ.
    :param permanent_by_default: new sessions start with ``permanent=True``.
    :param migrate_from: readers of older session formats
        (:mod:`sessionware.migrate`), tried when no session cookie verifies.
    :param revocation: cookie store only: a server-side store (or its URL)
        keeping revoked cookies, for :meth:`revoke`, :meth:`revoke_owner`
        and for refusing a copy of a logged-out cookie.
    """

    #: Whether this class may wrap a Flask app's ``wsgi_app`` (only the Flask
    #: adapter's, which also replaces Flask's session interface).
    _wraps_flask = False

    def __init__(
        self,
        app: WSGIApplication,
        secret_key: str | bytes | None = None,
        *,
        fallback_keys: Sequence[str | bytes] = (),
        store: Store | CookieStore | str | None = None,
        cookie_name: str = "session",
        cookie_domain: str | None = None,
        cookie_path: str = "/",
        cookie_secure: bool = False,
        cookie_httponly: bool = True,
        cookie_samesite: str | None = "Lax",
        cookie_partitioned: bool = False,
        permanent_lifetime: timedelta | int = timedelta(days=31),
        refresh_each_request: bool = True,
        refresh_interval: timedelta | int | None = None,
        absolute_lifetime: timedelta | int | None = None,
        detect_nested_changes: bool = True,
        environ_key: str = "session",
        permanent_by_default: bool = False,
        migrate_from: Sequence[Reader] = (),
        revocation: Store | str | None = None,
    ) -> None:
        settings = dict(locals())  # the arguments: the signature is the list of settings
        del settings["self"], settings["app"], settings["store"], settings["revocation"]
        if not self._wraps_flask:
            _refuse_flask(app)
        self.app = app
        self.config: Config = build_config(**settings)
        if isinstance(store, str):
            store = from_url(store)
        if store is None:
            store = CookieStore()
        self.store = store
        revocations = build_revocations(store, revocation, self.config.permanent_lifetime)
        self.backend: Backend = backend_for(self.config, store, revocations)
        if self.config.migrate_from:
            # The only hook of migration into the core: a backend that tries
            # the readers when the real one found no session (sessionware.migrate).
            from sessionware.migrate._backend import MigratingBackend

            self.backend = MigratingBackend(self.backend, self.config.migrate_from)
        self._environ_key = environ_key
        if isinstance(store, CookieStore):
            controlled, overflow = None, store.overflow
        else:
            controlled, overflow = store, None
        self.control = SessionControl(
            controlled, read_record, self.config.permanent_lifetime, revocations, overflow
        )

    # -- session control (section 11) ----------------------------------------

    def sessions(self, owner: str) -> list[SessionInfo]:
        """The live sessions of ``owner``, newest first (server-side stores
        with an owner index; the cookie store raises ConfigurationError)."""
        return self.control.sessions(owner)

    def revoke(self, sid: str) -> bool:
        """End the session ``sid`` now, on every worker and machine."""
        return self.control.revoke(sid)

    def revoke_owner(self, owner: str, keep: str | None = None) -> int:
        """End every session of ``owner`` but ``keep`` now; return how many."""
        return self.control.revoke_owner(owner, keep=keep)

    def open_session(self, environ: WSGIEnvironment) -> Session:
        """A lazily loaded session for this request (not put in ``environ``)."""
        return Session(self.backend, environ)

    def owns(self, session: object) -> bool:
        """Whether ``session`` is the one this middleware put in its request's
        environ, which it saves itself when the response starts (adapters use
        this so a session is never saved twice)."""
        return (
            isinstance(session, Session)
            and session._backend is self.backend
            and session._environ.get(self._environ_key) is session
        )

    def save_session(self, session: Session) -> Headers:
        """Apply the response rules to ``session``; return headers to add.

        Saves to the store when needed (a failing store raises
        :class:`~sessionware.StoreError`), then seals the session: later
        changes warn. An untouched session costs nothing and adds nothing.
        Saved by the backend that loaded it (the one this middleware had
        when the request began).
        """
        return save(session, session._backend)

    def refuse_second(self, found: object) -> None:
        """Refuse a request whose environ holds another sessionware session
        under this middleware's key (two middlewares on one key: the inner
        one's store would silently win)."""
        if isinstance(found, Session):
            raise ConfigurationError(
                f"two sessionware middlewares use environ[{self._environ_key!r}] in one "
                f"stack: an outer one (store {_store_of(found)!r}) and this inner one "
                f"({type(self).__name__} around {_name(self.app)}, store {self.store!r}); "
                "keep one, or give them different environ_key values"
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        key = self._environ_key
        if key in environ:
            self.refuse_second(environ[key])
        session = Session(self.backend, environ)
        environ[key] = session
        exchange = _Exchange(self, session, start_response)
        result = self.app(environ, exchange.start_response)
        if exchange.status is not None:  # headers given, not handed over yet
            if type(result) is list:
                # The whole body is produced: nothing the app does later can
                # change the session.
                if session._data is None and not session.modified:
                    # Untouched, the common case: session.save's rule, inlined
                    # because every request takes this path (a call costs 7 %).
                    session._sealed = True
                    start_response(exchange.status, exchange.headers, exchange.exc_info)
                    return result
            elif not (session._sealed or _finished(result, environ)):
                # This iterable runs app code while it is iterated (a
                # generator given to werkzeug's Response(), which called
                # start_response at once): the session is saved, or found
                # untouched, at its first chunk.
                return ClosingIterator(exchange.iterate(result), getattr(result, "close", None))
            # A finished body (a list, a tuple, a file the server sends), or a
            # session an adapter saved already: save now, send it unwrapped.
            headers = save(session, self.backend)
            start_response(
                exchange.status,
                [*exchange.headers, *headers] if headers else exchange.headers,
                exchange.exc_info,
            )
            return result
        # start_response is still to come (inside a generator), or write()
        # handed the headers over already.
        return ClosingIterator(exchange.iterate(result), getattr(result, "close", None))


def _refuse_flask(app: object) -> None:
    """Refuse a Flask app, or its ``wsgi_app``, as the app to wrap: Flask
    would go on using its own session (``flask.session``) and ignore this one."""
    flask = sys.modules.get("flask")  # not imported: the app cannot be a Flask app
    if flask is None:
        return
    owner = getattr(app, "__self__", app)  # a bound method's instance
    if isinstance(owner, flask.Flask):
        raise ConfigurationError(
            "SessionMiddleware around a Flask app leaves flask.session Flask's own "
            "session; use the Flask adapter instead: `from sessionware.flask import "
            "Sessionware` then `Sessionware(app)` (settings in app.config or as its "
            "keyword arguments)"
        )


def _store_of(session: Session) -> object:
    """The store of the middleware that made ``session`` (for a message)."""
    backend = session._backend
    backend = getattr(backend, "inner", backend)  # under migrate_from's wrapper
    return getattr(backend, "store", None)


def _name(app: object) -> str:
    """How to name a wrapped app in a message."""
    return getattr(app, "__qualname__", None) or type(app).__qualname__


def _finished(result: Iterable[bytes], environ: WSGIEnvironment) -> bool:
    """Whether iterating ``result`` cannot run application code (a tuple, or
    the server's ``wsgi.file_wrapper``; lists are checked inline)."""
    kind = type(result)
    if kind is tuple:
        return True
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and kind is wrapper


class _Exchange:
    """One request's deferred ``start_response``.

    Headers reach the server only when the first body byte does (or the
    legacy ``write()`` is called), so changes made until then are saved,
    also by apps that call ``start_response`` lazily inside a generator.
    """

    __slots__ = (
        "middleware",
        "session",
        "server_start_response",
        "status",
        "headers",
        "exc_info",
        "write_body",
    )

    def __init__(
        self, middleware: SessionMiddleware, session: Session, start_response: StartResponse
    ) -> None:
        self.middleware = middleware
        self.session = session
        self.server_start_response = start_response
        self.status: str | None = None  # set with headers and exc_info; None again once handed over
        self.write_body: Callable[[bytes], object] | None = None

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and self.write_body is not None:
            # Headers already went out: the server must re-raise (PEP 3333).
            return self.server_start_response(status, headers, exc_info)
        self.status = status
        self.headers: list[tuple[str, str]] = headers
        self.exc_info: Any = exc_info
        return self.write

    def finish(self) -> None:
        """Save the session, add its headers, hand the headers to the server."""
        if self.status is None:
            raise AssertionError("the application did not call start_response")
        headers = self.headers
        extra = save(self.session, self.middleware.backend)
        if extra:
            headers = [*headers, *extra]
        self.write_body = self.server_start_response(self.status, headers, self.exc_info)
        self.status = self.exc_info = None  # handed over

    def write(self, data: bytes) -> None:
        if self.write_body is None:
            self.finish()
        assert self.write_body is not None
        self.write_body(data)

    def iterate(self, result: Iterable[bytes]) -> Iterator[bytes]:
        iterator = iter(result)
        if self.write_body is None:
            for chunk in iterator:
                if chunk:
                    if self.write_body is None:
                        self.finish()
                    yield chunk
                    break
            else:
                if self.write_body is None:
                    self.finish()
                return
        yield from iterator
