"""The hook of migration into the core: a backend that tries the readers.

``SessionMiddleware`` wraps its backend in :class:`MigratingBackend` when
``migrate_from`` is given; nothing else in the core knows about migration.
How an old cookie becomes its new session once: :mod:`sessionware.migrate._once`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from werkzeug.http import dump_cookie

from sessionware._backends.base import BaseBackend
from sessionware._cookies import CookieHeaders
from sessionware._state import Backend, CookieState, Headers, ServerState, SessionState, new_sid
from sessionware.audit import audit
from sessionware.migrate._common import MAX_ATTEMPTS, Found, Reader, cookie_values, debug
from sessionware.migrate._once import DEAD, DERIVED_LENGTH, LIVE, adopt, derived_sid, once_for


class _MigratedCookie(CookieState):
    __slots__ = ("migrated",)
    migrated: tuple[Reader, Found, str | None]  # the reader, what it found, the derived sid


class _MigratedServer(ServerState):
    __slots__ = ("migrated",)
    migrated: tuple[Reader, Found, str | None]


class _Rejoined(ServerState):
    """The session an old cookie already became (a replay, or a parallel
    first request): saved as itself, then the old session is forgotten."""

    __slots__ = ("migrated",)
    migrated: tuple[Reader, Found, str | None]


_MIGRATED = (_MigratedCookie, _MigratedServer)


class MigratingBackend:
    """The configured backend, plus the readers when it finds no session.

    Loading: the real backend first; only when it answers with a new session
    and the request has a ``Cookie`` header are the readers tried (at most
    :data:`~sessionware.migrate.MAX_ATTEMPTS` cookie values in all). A
    session a reader accepts gets a state that is not new, with its derived
    sid and marked regenerated: the real backend saves it as a new session
    (whole record) on this response, unless it already exists (then it is
    that session) or has ended (then it is no session). Then the reader
    forgets the old session, and an old cookie of another name than
    sessionware's is deleted.
    """

    def __init__(self, inner: Backend, readers: Sequence[Reader]) -> None:
        self.inner = inner
        self.readers = tuple(readers)
        assert isinstance(inner, BaseBackend)
        config = inner.config
        self._keys = config.secret_keys  # the current one derives new sids
        #: Old tokens are read while younger than this (see _once).
        self._horizon = min(config.permanent_lifetime, config.absolute_lifetime or 2**62)
        self._once = once_for(inner, config.permanent_lifetime)
        # Each reader's cookie is read from the header as sessionware's own
        # is (lazily, linear in the header's length): one parser per name.
        self._parsers = {
            reader.cookie_name: (
                inner.cookies
                if reader.cookie_name == config.cookie_name
                else CookieHeaders(replace(config, cookie_name=reader.cookie_name))
            )
            for reader in self.readers
        }
        self._delete_own_cookie = inner.cookies.delete_header
        self._forget_cookie: dict[str, tuple[str, str]] = {
            reader.cookie_name: (
                "Set-Cookie",
                dump_cookie(
                    reader.cookie_name, "", max_age=0, expires=0,
                    path=config.cookie_path, domain=config.cookie_domain,
                    secure=config.cookie_secure, httponly=config.cookie_httponly,
                    samesite=config.cookie_samesite,
                ),
            )
            for reader in self.readers
            if reader.cookie_name != config.cookie_name
        }  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # config, store, sealer, keys: the real backend's

    def load(self, environ: dict[str, Any]) -> tuple[dict[str, Any], SessionState]:
        data, state = self.inner.load(environ)
        if not state.new:
            return data, state
        header = environ.get("HTTP_COOKIE")
        if not header:
            return data, state
        found = self._find(header)
        if found is None:
            return data, state
        reader, old = found
        now = int(time.time())
        if old.issued is not None and now - old.issued >= self._horizon:
            debug(reader, "older than permanent_lifetime (or absolute_lifetime)")
            return data, state
        sid = None
        if old.token is not None:
            sids = [derived_sid(key, reader, old.token) for key in self._keys]
            sid = sids[0]
            verdict, loaded = self._once.load(sids, now)
            if verdict == DEAD:
                debug(reader, "migrated before, and that session has ended")
                return data, state
            if verdict == LIVE:  # it became this session: that is the one
                rejoined = adopt(_Rejoined, loaded[1])
                rejoined.migrated = (reader, old, sid)
                return loaded[0], rejoined
        created = now if old.issued is None else min(old.issued, now)
        kind = _MigratedServer if isinstance(state, ServerState) else _MigratedCookie
        migrated = kind(False, None, old.permanent, created, now, False, state.baseline)
        migrated.sid = sid  # None: a random one when saved
        migrated.regenerated = True  # saved as a whole new session
        migrated.migrated = (reader, old, sid)
        self._once.prepare(old.data, migrated)
        return old.data, migrated

    def _find(self, header: str) -> tuple[Reader, Found] | None:
        budget = MAX_ATTEMPTS
        for reader in self.readers:
            plausible = getattr(reader, "plausible", None)
            candidates = self._parsers[reader.cookie_name].candidates(header)
            values = cookie_values(candidates, budget, plausible)
            if not values:
                continue
            found = reader.read(values)
            if found is not None:
                return reader, found
            budget -= len(values)
            if budget <= 0:
                break
        return None

    def save(self, data: dict[str, Any], state: Any, modified: bool) -> Headers:
        if type(state) in _MIGRATED:  # exact types: a tuple, not a union built per call
            return self._save_migrated(data, state, modified)
        sid = state.incoming_sid
        if sid is not None and len(sid) == DERIVED_LENGTH:  # a migrated session (is_derived)
            self._once.leaving(data, state, modified)
            headers = self.inner.save(data, state, modified)
            if isinstance(state, _Rejoined):
                self._forget(state, headers)
            return headers
        return self.inner.save(data, state, modified)

    def _save_migrated(
        self, data: dict[str, Any], state: _MigratedCookie | _MigratedServer, modified: bool
    ) -> Headers:
        derived = state.migrated[2]
        headers: Headers | None
        if derived is None:
            headers = self.inner.save(data, state, True)  # saved, even if only read
        elif state.sid == derived and data and state.owner is None and not state.cleared:
            headers = self._once.create(data, state, self.inner.save)
        else:
            # Logged out, regenerated, or given an owner during this very
            # request: the old cookie must not reach the derived sid again.
            if state.sid == derived:
                state.sid = new_sid()
            self._once.kill(derived)
            headers = self.inner.save(data, state, True)
        if headers is None:  # the session ended while this request ran
            debug(state.migrated[0], "the session ended while it was migrated")
            return self._forget(state, [])
        audit("migrated", state.sid, state.owner)
        return self._forget(state, headers, emptied=True)

    def _forget(self, state: Any, headers: Headers, emptied: bool = False) -> Headers:
        reader, found, _ = state.migrated
        if found.forget is not None:
            found.forget()  # the new session is saved: the old one goes
        forget_cookie = self._forget_cookie.get(reader.cookie_name)
        if forget_cookie is not None:
            headers.append(forget_cookie)
        elif emptied and not headers:
            headers.append(self._delete_own_cookie)  # emptied: the old cookie goes too
        return headers
