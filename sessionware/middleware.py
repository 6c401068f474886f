"""SessionMiddleware: the WSGI plumbing that loads and saves the session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.wsgi import ClosingIterator

from sessionware._backend import Backend, CookieBackend, Headers, ServerBackend
from sessionware._config import Config, build_config
from sessionware.errors import ConfigurationError
from sessionware.session import Session
from sessionware.stores import from_url
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from sessionware.migrate import Reader

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
_VARY = ("Vary", "Cookie")


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
    """

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
    ) -> None:
        self.app = app
        self.config: Config = build_config(
            secret_key=secret_key,
            fallback_keys=fallback_keys,
            cookie_name=cookie_name,
            cookie_domain=cookie_domain,
            cookie_path=cookie_path,
            cookie_secure=cookie_secure,
            cookie_httponly=cookie_httponly,
            cookie_samesite=cookie_samesite,
            cookie_partitioned=cookie_partitioned,
            permanent_lifetime=permanent_lifetime,
            refresh_each_request=refresh_each_request,
            refresh_interval=refresh_interval,
            absolute_lifetime=absolute_lifetime,
            detect_nested_changes=detect_nested_changes,
            environ_key=environ_key,
            permanent_by_default=permanent_by_default,
            migrate_from=migrate_from,
        )
        if isinstance(store, str):
            store = from_url(store)
        if store is None:
            store = CookieStore()
        self.store = store
        self.backend: Backend
        if isinstance(store, CookieStore):
            self.backend = CookieBackend(self.config, store)
        elif isinstance(store, Store):
            self.backend = ServerBackend(self.config, store)
        else:
            raise ConfigurationError(
                f"store must be a store URL, CookieStore or an object with load/save/"
                f"delete/touch methods (sessionware.stores.Store), not {type(store).__name__}"
            )
        if self.config.migrate_from:
            # The only hook of migration into the core: a backend that tries
            # the readers when the real one found no session (sessionware.migrate).
            from sessionware.migrate._backend import MigratingBackend

            self.backend = MigratingBackend(self.backend, self.config.migrate_from)
        self._environ_key = environ_key

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
        """
        session.sealed = True
        if session._data is None:
            if not session.modified:
                return []
            session._load()  # `modified` set without touching the data
        headers = self.backend.save(session)
        if session.accessed:
            headers.append(_VARY)
        return headers

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session = Session(self.backend, environ)
        environ[self._environ_key] = session
        exchange = _Exchange(self, session, start_response)
        result = self.app(environ, exchange.start_response)
        if exchange.status is not None and exchange.write_body is None:
            if session.sealed:
                # Already saved by an adapter (the Flask extension saves in
                # Flask's save_session): the response goes out as it is.
                start_response(exchange.status, exchange.headers, exchange.exc_info)
                return result
            if _finished(result, environ):
                # The whole body is produced (a list, or a file the server
                # sends): nothing the app does later can change the session.
                if session._data is None and not session.modified:
                    # Untouched (the common case): out as it is, unwrapped.
                    session.sealed = True
                    start_response(exchange.status, exchange.headers, exchange.exc_info)
                    return result
                exchange.finish()
                return result
        # Any other iterable runs app code while it is iterated (a generator
        # given to werkzeug's Response(), which called start_response at
        # once): the session is saved, or found untouched, at its first chunk.
        return ClosingIterator(exchange.iterate(result), getattr(result, "close", None))


def _finished(result: Iterable[bytes], environ: WSGIEnvironment) -> bool:
    """Whether iterating ``result`` cannot run application code."""
    kind = type(result)
    if kind is list or kind is tuple:
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
        self.status: str | None = None  # headers and exc_info are set with it
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
        session = self.session
        if not session.sealed and (session._data is not None or session.modified):
            extra = self.middleware.save_session(session)
            if extra:
                headers = [*headers, *extra]
        session.sealed = True
        self.write_body = self.server_start_response(self.status, headers, self.exc_info)
        self.exc_info = None

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
