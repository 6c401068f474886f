"""Reads the session cookie from the request and writes Set-Cookie headers."""

from __future__ import annotations

import time

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

    __slots__ = ("name", "_prefix", "_attributes", "delete_header", "_expires_cache")

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
        # "name=; Domain=...; Path=/; ..." -> "; Domain=...; Path=/; ..."
        self._attributes = empty[len(self._prefix) :]
        self.delete_header = (
            "Set-Cookie",
            dump_cookie(self.name, "", max_age=0, expires=0, **attrs),  # type: ignore[arg-type]
        )
        self._expires_cache: tuple[int, str] = (-1, "")

    def candidates(self, header: str) -> list[str]:
        """Every value of our cookie in a ``Cookie`` header, in order.

        The header is split into cookie-pairs at ``;`` as RFC 6265 does, so a
        ``session=`` inside another cookie's value is not our cookie, and the
        work is linear in the header's length whatever it holds: one split,
        one partition per pair (a header of 64 KiB costs a few copies of
        itself, never its square). Values are not unquoted: ours never need
        quoting, and each is verified before it is used.
        """
        if self._prefix not in header:  # the common case of other cookies only
            return []
        name = self.name
        found = []
        for pair in header.split(";"):
            pair_name, sep, value = pair.partition("=")
            if sep and pair_name.strip(" \t") == name:
                found.append(value.strip(" \t"))
        return found

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
