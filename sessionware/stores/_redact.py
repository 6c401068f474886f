"""How a store URL, or anything said about one, may be shown: never with a
secret, whole or in pieces.

:func:`redact` is total (it cannot fail, whatever the text) and conservative:
it keeps only what it can prove harmless and turns everything else into
``***``. Its rules, read left to right:

- the scheme is kept when it looks like one (``[A-Za-z][A-Za-z0-9+.-]*:``)
  and is followed by ``//`` or is a store's; else the whole text is ``***``;
- without ``//`` after the scheme (``redis::pw@h``, ``redis:/:pw@h/0``),
  everything after the scheme is ``***``: no part of such a text is known to
  be a host;
- with ``//``, the user info runs to the *last* ``@`` of the text, since a
  password may hold an unencoded ``/``, ``?``, ``#`` or ``@``: it is shown as
  ``user:***@`` when it has a ``:`` and a plain user name, else ``***@``;
- the host list and path after it are kept (with no ``@`` in the text, only
  a well-formed host list, else the rest is ``***``); in the query, the
  names of ``name=value`` options are kept, and values only for options
  known to hold no secret; any other value or piece is ``***`` and, since
  it may have held an unencoded ``&``, so is the rest of the query; a
  ``#fragment`` is ``#***``.

Error messages about a URL quote a piece of it only through :func:`quote`,
which allows nothing that :func:`redact` did not already show.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote as percent_encode

__all__ = ["hidden_parts", "quote", "redact", "scrub", "scrubbed", "secrets_of_query"]

_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}:")
_USER: Final = re.compile(r"[A-Za-z0-9._~%!$'()*+,;=\-]{0,256}")
_HOST: Final = r"(\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9._~%\-]*)(:[0-9]{0,5})?"
_HOSTS: Final = re.compile(f"{_HOST}(,{_HOST})*")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
HIDDEN: Final = "***"
#: The schemes of store URLs (``sessionware.stores._url.SCHEMES``).
KNOWN_SCHEMES: Final = frozenset(
    {
        "cookie",
        "memory",
        "sqlite",
        "redis",
        "rediss",
        "unix",
        "redis+cluster",
        "rediss+cluster",
        "redis+sentinel",
        "rediss+sentinel",
        "postgresql",
        "postgres",
    }
)

#: Query options whose values are shown: sessionware's own, and libpq's that
#: only ever hold a mode, a number, a host, a name or a path (never a secret).
SHOWN_VALUES: Final = frozenset(
    {
        "prefix",
        "wait_replicas",
        "db",
        "table",
        "timeout",
        "application_name",
        "channel_binding",
        "connect_timeout",
        "dbname",
        "gssencmode",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "port",
        "sslmode",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
    }
)


def redact(url: object) -> str:
    """``url`` as it may be shown: see the module's rules. Never raises."""
    return _redact(url, [])


def hidden_parts(url: object) -> list[str]:
    """What :func:`redact` hides of ``url``: to scrub from any text that may
    have quoted it (the command line's last line of defence). Never raises."""
    hidden: list[str] = []
    _redact(url, hidden)
    return [part for part in hidden if part]


def _redact(url: object, hidden: list[str]) -> str:
    if not isinstance(url, str):
        return HIDDEN
    try:
        return _redact_url(url, hidden)
    except Exception:  # total by construction; this is only a seat belt
        hidden.append(url)
        return HIDDEN


def _redact_url(url: str, hidden: list[str]) -> str:
    scheme = _SCHEME.match(url)
    if scheme is None:
        hidden.append(url)
        return HIDDEN
    head, rest = scheme.group(), url[scheme.end() :]
    if not rest.startswith("//"):
        # No "//": not even the "scheme" is known to be one unless it is a
        # store's (``s3cr3t:more`` may be a password given as a URL).
        if head[:-1].lower() not in KNOWN_SCHEMES:
            hidden.append(url)
            return HIDDEN
        hidden.append(rest)
        return head + HIDDEN if rest else head
    rest = rest[2:]
    shown = head + "//"
    userinfo, at, rest = rest.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and _USER.fullmatch(user):
            shown += f"{user}:{HIDDEN}@"
            hidden.append(password)
        else:
            shown += f"{HIDDEN}@"
            hidden.append(userinfo)
    rest, hash_sign, fragment = rest.partition("#")
    hidden.append(fragment)
    rest, question, query = rest.partition("?")
    if not at and not _HOSTS.fullmatch(rest.partition("/")[0]):
        # No user info, and no host list either: nothing here is known to be
        # harmless (``redis://:pw``, ``redis://:pa/ss``).
        hidden.append(url[len(shown) :])
        return shown + HIDDEN
    shown += rest  # the host list and the path: past the user info, no secret
    if question:
        shown += "?" + _redact_query(query, hidden)
    if hash_sign:
        shown += "#" + (HIDDEN if fragment else "")
    return shown


def _redact_query(query: str, hidden: list[str]) -> str:
    shown: list[str] = []
    pieces = query.split("&")
    for index, piece in enumerate(pieces):
        name, equals, value = piece.partition("=")
        if not equals or not _NAME.fullmatch(name):
            # No option (``name=value``): may be anything, a secret's tail too.
            shown.append(HIDDEN)
            hidden.append("&".join(pieces[index:]))
            break  # a piece that is no option may be a secret's tail: hide the rest
        if name.lower() in SHOWN_VALUES:
            shown.append(piece)
        elif not value:
            shown.append(name + "=")
        else:
            shown.append(f"{name}={HIDDEN}")
            hidden.append(value)
            if index + 1 < len(pieces):
                hidden.append("&".join(pieces[index + 1 :]))
                shown.append(HIDDEN)  # the value may have held an unencoded '&'
                break
    return "&".join(shown)


def quote(shown: str, piece: str) -> str:
    """``repr(piece)`` for a message about the URL shown as ``shown``, or
    ``'***'`` unless ``shown`` already shows that text."""
    if piece and HIDDEN not in piece and piece in shown:
        return repr(piece)
    return repr(HIDDEN) if piece else "''"


def secrets_of_query(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The values of query options not known to be harmless (``password``,
    ``sslpassword``, ...): scrubbed from every message as passwords are."""
    return [value for name, value in pairs if value and name.lower() not in SHOWN_VALUES]


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***``, as given and as it
    would appear percent-encoded in a URL."""
    for secret in secrets:
        if secret:
            for form in {secret, percent_encode(secret, safe=""), percent_encode(secret)}:
                text = text.replace(form, HIDDEN)
    return text


def scrubbed(exc: BaseException, secrets: Iterable[str | None]) -> BaseException:
    """``exc`` with ``secrets`` removed from its arguments and from those of
    every exception chained to it (``__cause__``, ``__context__``): it is
    chained to a StoreError, and tracebacks and error trackers print them all."""
    secrets = [s for s in secrets if s]
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if secrets:
            try:
                current.args = tuple(
                    scrub(a, secrets) if isinstance(a, str) else a for a in current.args
                )
            except Exception:  # an exception type whose args cannot be set
                pass
        pending += [current.__cause__, current.__context__]
    return exc
