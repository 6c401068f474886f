"""The hook of migration into the core: a backend that tries the readers.

``SessionMiddleware`` wraps its backend in :class:`MigratingBackend` when
``migrate_from`` is given; nothing else in the core knows about migration.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from werkzeug.http import dump_cookie

from sessionware._backend import Backend, Headers
from sessionware.migrate._common import MAX_ATTEMPTS, Found, Reader, cookie_values

if TYPE_CHECKING:
    from sessionware.session import Session

#: environ key of a request whose session was migrated: the Found to forget.
MIGRATED = "sessionware.migrated"


class MigratingBackend(Backend):
    """The configured backend, plus the readers when it finds no session.

    Loading: the real backend first; only when it answers with a new session
    and the request has a ``Cookie`` header are the readers tried (at most
    :data:`~sessionware.migrate.MAX_ATTEMPTS` cookie values in all). Saving:
    the real backend saves the migrated session as a new one (new sid, whole
    record); then the reader forgets the old session, and an old cookie of
    another name than sessionware's is deleted.
    """

    def __init__(self, inner: Backend, readers: Sequence[Reader]) -> None:
        # Not Backend.__init__: the inner backend's config and cookie headers are shared.
        self.inner = inner
        self.config = inner.config
        self.cookies = inner.cookies
        self.readers = tuple(readers)
        config = self.config
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
        return getattr(self.inner, name)  # store, sealer, keys: the real backend's

    def load(self, session: Session, environ: dict[str, Any]) -> dict[str, Any]:
        data = self.inner.load(session, environ)
        if not session._new:
            return data
        header = environ.get("HTTP_COOKIE")
        if not header:
            return data
        found = self._find(header)
        if found is None:
            return data
        reader, result = found
        now = int(time.time())
        session._reset(False, None, result.permanent, now, now, None, False)
        # A new sid, saved as a whole new record on this response.
        session.regenerated = True
        session.modified = True
        environ[MIGRATED] = (reader, result)
        return result.data

    def _find(self, header: str) -> tuple[Reader, Found] | None:
        budget = MAX_ATTEMPTS
        for reader in self.readers:
            values = cookie_values(header, reader.cookie_name, budget)
            if not values:
                continue
            found = reader.read(values)
            if found is not None:
                return reader, found
            budget -= len(values)
            if budget <= 0:
                break
        return None

    def save(self, session: Session) -> Headers:
        headers = self.inner.save(session)
        migrated = session._environ.pop(MIGRATED, None)
        if migrated is not None:
            reader, found = migrated
            if found.forget is not None:
                found.forget()  # the new session is saved: the old one goes
            forget_cookie = self._forget_cookie.get(reader.cookie_name)
            if forget_cookie is not None:
                headers.append(forget_cookie)
        return headers
