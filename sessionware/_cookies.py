"""Reads the session cookie from the request and writes Set-Cookie headers."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from werkzeug.http import dump_cookie, http_date

from sessionware._config import Config

#: Largest ``Set-Cookie`` value browsers reliably keep (as Flask/werkzeug use).
MAX_COOKIE_SIZE = 4093


class CookieHeaders:
    """Builds the session's ``Set-Cookie`` headers for one configuration.

    werkzeug's ``dump_cookie`` renders the attributes (Path, Domain, Secure,
    HttpOnly, SameSite, Partitioned) once, at construction; per response only
    the value and the expiry are filled in, because rendering the whole
    header costs several microseconds on every response.
    """

    __slots__ = ("name", "_prefix", "_pairs", "_attributes", "delete_header", "_expires_cache")

    def __init__(self, config: Config) -> None:
        self.name = config.cookie_name
        attrs = {
            "path": config.cookie_path,
            "domain": config.cookie_domain,
            "secure": config.cookie_secure,
            "httponly": config.cookie_httponly,
            "samesite": config.cookie_samesite,
            "partitioned": config.cookie_partitioned,
            "max_size": 0,
        }
        empty = dump_cookie(self.name, "", **attrs)  # type: ignore[arg-type]
        self._prefix = f"{self.name}="
        # A pair of ours: "name=" at the start of the header or after a ";"
        # and blanks. "[^;]*" ends the pattern, so nothing backtracks over it.
        self._pairs = re.compile(rf"(?:^|;)[ \t]*{re.escape(self._prefix)}([^;]*)")
        # "name=; Domain=...; Path=/; ..." -> "; Domain=...; Path=/; ..."
        self._attributes = empty[len(self._prefix) :]
        self.delete_header = (
            "Set-Cookie",
            dump_cookie(self.name, "", max_age=0, expires=0, **attrs),  # type: ignore[arg-type]
        )
        self._expires_cache: tuple[int, str] = (-1, "")

    def candidates(self, header: str) -> Iterable[str]:
        """Every value of our cookie in a ``Cookie`` header, in order, lazily.

        The header is read as cookie-pairs separated by ``;``, as RFC 6265
        does, so a ``session=`` inside another cookie's value is not our
        cookie. The work is linear in the header's length with a small
        constant whatever it holds: the usual headers (none, or one cookie of
        ours) take a few ``find`` calls; a header with several takes one
        regular-expression scan that yields the values one at a time, so each
        rejected value is dropped before the next is made. A 64 KiB header
        thus costs about one copy of itself (splitting it into a list of
        pairs first would cost twenty, for a header of tiny pairs). A value
        in double quotes (RFC 6265 allows ``session="..."``) is the value
        inside them: quotes are stripped with the blanks (``' \\t"'``), in
        the same call (ours never contain one, and each value is verified before it is
        used, so a stray quote can only make a token fail to verify).
        """
        prefix = self._prefix
        if prefix not in header:  # the common case of other cookies only
            return ()
        first = header.find(prefix)
        if first == 0 and ";" not in header:  # a lone cookie
            return (header[len(prefix) :].strip(' \t"'),)
        if header.find(prefix, first + 1) == -1:  # the common case of one among others
            if header[header.rfind(";", 0, first) + 1 : first].strip(" \t"):
                return ()  # inside another pair's value: "a=b session=..."
            end = header.find(";", first)
            return (header[first + len(prefix) : None if end == -1 else end].strip(' \t"'),)
        return (match[1].strip(' \t"') for match in self._pairs.finditer(header))

    def set_header(self, value: str, max_age: int | None) -> tuple[str, str]:
        """``Set-Cookie`` for ``value``; ``max_age=None`` makes a browser-session cookie."""
        if max_age is None:
            return ("Set-Cookie", f"{self._prefix}{value}{self._attributes}")
        expires_at = int(time.time()) + max_age
        cached_at, expires = self._expires_cache
        if cached_at != expires_at:
            expires = http_date(expires_at)
            self._expires_cache = (expires_at, expires)
        return (
            "Set-Cookie",
            f"{self._prefix}{value}; Expires={expires}; Max-Age={max_age}{self._attributes}",
        )
