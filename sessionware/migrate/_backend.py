"""The hook of migration into the core: a backend that tries the readers.

``SessionMiddleware`` wraps its backend in :class:`MigratingBackend` when
``migrate_from`` is given; nothing else in the core knows about migration.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from werkzeug.http import dump_cookie

from sessionware._backends.base import BaseBackend
from sessionware._state import Backend, CookieState, Headers, ServerState, SessionState
from sessionware.audit import audit
from sessionware.migrate._common import MAX_ATTEMPTS, Found, Reader, cookie_values


class _MigratedCookie(CookieState):
    __slots__ = ("migrated",)
    migrated: tuple[Reader, Found]


class _MigratedServer(ServerState):
    __slots__ = ("migrated",)
    migrated: tuple[Reader, Found]


_MIGRATED = (_MigratedCookie, _MigratedServer)


class MigratingBackend:
    """The configured backend, plus the readers when it finds no session.

    Loading: the real backend first; only when it answers with a new session
    and the request has a ``Cookie`` header are the readers tried (at most
    :data:`~sessionware.migrate.MAX_ATTEMPTS` cookie values in all). A
    session a reader accepts gets a state that is not new, with no sid yet
    and marked regenerated: the real backend saves it as a new session (new
    sid, whole record) on this response. Then the reader forgets the old
    session, and an old cookie of another name than sessionware's is deleted.
    """

    def __init__(self, inner: Backend, readers: Sequence[Reader]) -> None:
        self.inner = inner
        self.readers = tuple(readers)
        assert isinstance(inner, BaseBackend)
        config = inner.config
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
        now = int(time.time())
        kind = _MigratedServer if isinstance(state, ServerState) else _MigratedCookie
        migrated = kind(False, None, found[1].permanent, now, now, False, state.baseline)
        migrated.regenerated = True  # a new sid, saved as a whole new session
        migrated.migrated = found
        return found[1].data, migrated

    def _find(self, header: str) -> tuple[Reader, Found] | None:
        budget = MAX_ATTEMPTS
        for reader in self.readers:
            plausible = getattr(reader, "plausible", None)
            values = cookie_values(header, reader.cookie_name, budget, plausible)
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
        if type(state) not in _MIGRATED:  # (exact types: a tuple, not a union built per call)
            return self.inner.save(data, state, modified)
        headers = self.inner.save(data, state, True)  # saved, even if only read
        audit("migrated", state.sid, state.owner)
        reader, found = state.migrated
        if found.forget is not None:
            found.forget()  # the new session is saved: the old one goes
        forget_cookie = self._forget_cookie.get(reader.cookie_name)
        if forget_cookie is not None:
            headers.append(forget_cookie)
        elif not headers:
            headers.append(self._delete_own_cookie)  # emptied: the old cookie goes too
        return headers
