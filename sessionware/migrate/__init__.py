"""Readers of older session formats: switching to sessionware logs nobody out.

Pass readers as ``SessionMiddleware(app, secret_key, migrate_from=[...])``:

.. testcode::

    from sessionware.migrate import FlaskCookie, FlaskSessionRedis

    from sessionware import SessionMiddleware

    SessionMiddleware(app, SECRET_KEY, store="redis://localhost/0",
                      migrate_from=[FlaskCookie(secret_key=OLD_FLASK_KEY),
                                    FlaskSessionRedis("redis://localhost/0")])

How a request migrates (:class:`~sessionware.migrate._backend.MigratingBackend`):

1. The app touches the session; the configured backend finds no valid
   sessionware session in the request's cookies (none, all failing to verify,
   or a server-side record that is gone).
2. The readers are tried in order, each with the values of its own cookie
   name (the same values as sessionware's when the names match) that have
   the shape of its format (``plausible``: no HMAC, no store). At most
   :data:`MAX_ATTEMPTS` such values are tried per request, over all readers
   together, so a ``Cookie`` header stuffed with candidates costs a bounded
   number of signature checks (and, for :class:`FlaskSessionRedis`, one Redis
   round trip), while junk of the wrong shape costs none of them.
3. A reader accepts a value only when it verifies (signature, age) and decodes
   within bounds to data sessionware can store; then the session holds that
   data, ``permanent`` comes from the old format's marker (Flask's
   ``_permanent`` key, which is never kept as a key), ``new`` is False.
4. The session is saved as a sessionware session on this same response,
   under a sid derived from the old token, so an old cookie becomes its new
   session once: a replay (or a parallel first request) reaches that session
   while it lives, and is no session once it was logged out, regenerated,
   given an owner or revoked, wherever a store can record it
   (:mod:`sessionware.migrate._once` says how, and what remains without a
   record: the cookie store without ``revocation=``). Old tokens older than
   ``permanent_lifetime`` are not read. Once the session is saved, the
   reader forgets the old one (:class:`FlaskSessionRedis` deletes the old
   record; an old cookie of another name is deleted with a ``Set-Cookie``).

A reader is any object with a ``cookie_name`` (str) and ``read(values)``
returning a :class:`Found` or ``None``; it must never raise for bad input
(only :class:`~sessionware.StoreError` for a failing store). A
:class:`Found` without a ``token`` gets a random sid: nothing then ties a
replay of the old cookie to the session it became.
"""

from __future__ import annotations

from sessionware.migrate._common import MAX_ATTEMPTS, Found, Reader
from sessionware.migrate.flask_cookie import FlaskCookie
from sessionware.migrate.flask_session import FlaskSessionRedis

__all__ = ["MAX_ATTEMPTS", "FlaskCookie", "FlaskSessionRedis", "Found", "Reader"]
