"""What every reader shares: the result type, cookie values, the storability check."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sessionware._codec import encode_items
from sessionware.errors import UnsupportedValueError

logger = logging.getLogger("sessionware")

#: Cookie values tried per request, over all readers together.
MAX_ATTEMPTS = 8
#: The old format's permanence marker (Flask and Flask-Session): never a key.
PERMANENT_KEY = "_permanent"


@dataclass(frozen=True, slots=True)
class Found:
    """A session a reader accepted.

    :param data: the session's keys and values (without the permanence marker).
    :param permanent: whether the old session was permanent.
    :param forget: called once the migrated session is saved (e.g. deletes
        the old record); ``None`` when there is nothing to forget.
    :param token: what identifies the old session (its cookie value, its
        record's key): the new session's sid is derived from it, so that the
        old session becomes its new one once (:mod:`sessionware.migrate._once`).
        ``None``: a random sid, and every replay migrates again.
    :param issued: Unix time the old token was issued, if known: a token is
        migrated only while younger than ``permanent_lifetime``.
    """

    data: dict[str, Any] = field(repr=False)  # never in a repr or log
    permanent: bool
    forget: Callable[[], None] | None = None
    token: str | None = field(default=None, repr=False)  # a credential: never shown
    issued: int | None = None


class Reader(Protocol):
    """An old session format (see :mod:`sessionware.migrate`).

    A reader may also have ``plausible(value) -> bool``: a cheap structural
    check (no signature, no store). Then only plausible values are passed to
    :meth:`read` and count against :data:`MAX_ATTEMPTS`.
    """

    cookie_name: str

    def read(self, values: Sequence[str]) -> Found | None:
        """The first of ``values`` (this cookie's values, in order) that holds a
        valid session of this format, or ``None``. Never raises for bad input."""
        ...


def cookie_values(
    candidates: Iterable[str], limit: int, plausible: Callable[[str], bool] | None = None
) -> list[str]:
    """The first ``limit`` of a cookie's ``candidates`` (its values in a
    ``Cookie`` header, lazily, as :meth:`CookieHeaders.candidates
    <sessionware._cookies.CookieHeaders.candidates>` yields them) that pass
    the reader's structural check ``plausible`` (cheap: no HMAC, no store),
    so junk tossed before a real cookie does not use up the limit.

    The header is read as sessionware's own cookie is (RFC 6265 cookie-pairs,
    lazily): each rejected value is dropped before the next is made, so a
    64 KiB header costs about one copy of itself, not a list of every pair.
    """
    found: list[str] = []
    for value in candidates:
        if plausible is None or plausible(value):
            found.append(value)
            if len(found) == limit:
                break
    return found


def debug(reader: object, reason: str) -> None:
    """One DEBUG line on why a value was not migrated (never the value)."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("not migrating a %s session: %s", type(reader).__name__, reason)


def accept(
    reader: object,
    data: Any,
    forget: Callable[[], None] | None = None,
    token: str | None = None,
    issued: int | None = None,
) -> Found | None:
    """``data`` as a :class:`Found` if sessionware can store it, else ``None``.

    The permanence marker becomes ``permanent``; keys must be str and values
    encodable (checked now, so a migrated session can never fail to save).
    """
    if type(data) is not dict:
        debug(reader, f"the session is a {type(data).__name__}, not a dict")
        return None
    data = dict(data)
    permanent = bool(data.pop(PERMANENT_KEY, False))
    try:
        encode_items(data, data)
    except UnsupportedValueError as exc:
        debug(reader, f"a value cannot be stored: {exc.path}")
        return None
    return Found(data, permanent, forget, token, issued)
