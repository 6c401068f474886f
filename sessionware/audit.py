"""The audit log: security events of sessions on the ``sessionware.audit`` logger.

Each record carries structured attributes besides its message: ``event``
(``created``, ``rejected``, ``regenerated``, ``invalidated``, ``revoked``,
``migrated``), ``sid`` (its first 6 characters only: enough to correlate
lines, useless to hijack a session), ``owner`` and, for ``rejected``,
``reason``. ``created`` and ``rejected`` are DEBUG (a request can cause them
at will); the others are INFO. No record ever holds a cookie value, a full
sid, session data or a secret.

Owners are strings the application chose, and a sid given to ``revoke``
may come from a request: every attribute reaches log lines only escaped
(control characters, line breaks, bidirectional overrides and other
unprintable characters as ``\\n``, ``\\x00``, ``\\u202e``, ...), and owners
are cut to :data:`MAX_OWNER_CHARS`, in the message and in the attributes
alike, so nothing from a request can forge a log line or bloat one.

Route the events where your security team reads them:

.. testcode::

    import logging
    handler = logging.FileHandler("audit.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(event)s %(sid)s %(owner)s"))
    logging.getLogger("sessionware.audit").addHandler(handler)
    logging.getLogger("sessionware.audit").setLevel(logging.INFO)

.. versionadded:: 1.1
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["MAX_OWNER_CHARS", "SID_CHARS", "audit", "logger", "printable", "rejected"]

logger: Final = logging.getLogger("sessionware.audit")
#: Characters of a sid kept in the audit log.
SID_CHARS: Final = 6
#: Owners longer than this are cut (with "…") in the audit log.
MAX_OWNER_CHARS: Final = 200
_LEVELS: Final = {"created": logging.DEBUG, "rejected": logging.DEBUG}


def printable(owner: str | None) -> str | None:
    """``owner`` as it may appear in a log line: escaped and bounded."""
    if owner is None:
        return None
    if len(owner) > MAX_OWNER_CHARS:
        owner = owner[:MAX_OWNER_CHARS] + "…"
    if owner.isprintable():
        return owner
    # repr() escapes every unprintable character; drop its quotes.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in owner)


def audit(event: str, sid: str | None, owner: str | None = None, reason: str | None = None) -> None:
    """Log one security ``event`` about the session ``sid``.

    Cheap when the level is off: nothing is formatted.
    """
    level = _LEVELS.get(event, logging.INFO)
    if not logger.isEnabledFor(level):
        return
    # Every attribute escaped, not only the owner: a sid can come from a
    # request too (an app's revoke(form["sid"])), and handlers print them raw.
    short = printable(sid[:SID_CHARS]) if sid else None
    shown = printable(owner)
    event = printable(event) or ""
    reason = printable(reason)
    extra = {"event": event, "sid": short, "owner": shown, "reason": reason}
    if reason is None:
        logger.log(level, "session %s %s owner=%s", event, short, shown, extra=extra)
    else:
        logger.log(
            level, "session %s %s owner=%s reason=%s", event, short, shown, reason, extra=extra
        )


def rejected(message: str, sid: str | None = None) -> None:
    """Log a ``rejected`` event for a cookie refused for ``message``."""
    if logger.isEnabledFor(logging.DEBUG):
        audit("rejected", sid, None, _reason(message))


def _reason(message: str) -> str:
    """A short, stable reason code for a refusal message of the backends."""
    for start, code in _REASONS:
        if message.startswith(start):
            return code
    return "undecodable"


_REASONS: Final = (
    ("expired", "expired"),
    ("dated", "future"),
    ("signature", "bad-signature"),
    ("not a token", "bad-signature"),
    ("malformed timestamp", "bad-signature"),
    ("signed value has no timestamp", "bad-signature"),
    ("cookie is not encrypted", "not-encrypted"),
    ("cookie is encrypted", "encrypted"),
    ("past absolute_lifetime", "absolute-lifetime"),
    ("revoked", "revoked"),
    ("no live record", "unknown-sid"),
    ("more than", "too-many-cookies"),
    ("the session was cleared", "cleared"),
)
