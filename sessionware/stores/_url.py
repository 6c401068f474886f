"""Store URLs: parsed with :mod:`urllib.parse`, checked once, never shown with
their password.

Every store URL goes through :func:`parse`, which returns the parts a store
needs and the options of the query string, typed. Anything it cannot read (an
unknown scheme or option, an option of another store, a value of the wrong
type, a malformed URL) is a :class:`~sessionware.ConfigurationError` that names
it, raised when the store is built. :func:`redact` is the only way a URL is
ever shown: its password becomes ``***``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from sessionware.errors import ConfigurationError
from sessionware.stores._redact import quote, redact, scrub, scrubbed, secrets_of_query

__all__ = ["StoreURL", "count", "parse", "pick", "redact", "scrub", "scrubbed", "seconds"]

#: A table name: a plain SQL identifier, optionally ``schema.table``.
TABLE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")

_REDIS = ("redis", "rediss")
_CLUSTER = ("redis+cluster", "rediss+cluster")
_SENTINEL = ("redis+sentinel", "rediss+sentinel")
_POSTGRESQL = ("postgresql", "postgres")
SCHEMES: Final = (  # also _redact.KNOWN_SCHEMES; a test keeps them equal
    "cookie",
    "memory",
    "sqlite",
    *_REDIS,
    "unix",
    *_CLUSTER,
    *_SENTINEL,
    *_POSTGRESQL,
)

#: libpq connection parameters a ``postgresql://`` URL may carry besides our
#: own options (TLS, client identification, session targeting): the URL most
#: hosted PostgreSQL services hand out carries ``?sslmode=require``.
LIBPQ_PARAMETERS: Final = frozenset(
    {
        "application_name",
        "channel_binding",
        "connect_timeout",
        "gssencmode",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "passfile",
        "port",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslpassword",
        "sslrootcert",
        "target_session_attrs",
        "tcp_user_timeout",
        "user",
        "dbname",
    }
)


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError("not a positive number of seconds")
    return number


def _count(value: str) -> int:
    if not value.isdigit() or len(value) > 6:
        raise ValueError("not a whole number from 0 to 999999")
    return int(value)


def _table(value: str) -> str:
    if not TABLE_NAME.fullmatch(value):
        raise ValueError("not a plain identifier (letters, digits, '_'; optionally schema.table)")
    return value


def _text(value: str) -> str:
    return value


#: Each option: its parser (raising ValueError) and the schemes that take it.
_OPTIONS: Final[dict[str, tuple[Callable[[str], Any], tuple[str, ...]]]] = {
    "prefix": (_text, (*_REDIS, "unix", *_CLUSTER, *_SENTINEL)),
    "wait_replicas": (_count, (*_REDIS, "unix", *_CLUSTER, *_SENTINEL)),
    "db": (_count, ("unix",)),
    "table": (_table, ("sqlite", *_POSTGRESQL)),
    "timeout": (_seconds, ("sqlite", *_REDIS, "unix", *_CLUSTER, *_SENTINEL, *_POSTGRESQL)),
}


@dataclass
class StoreURL:
    """A parsed store URL. ``hosts`` are ``(host, port)`` pairs (several for
    Sentinel); ``path`` is the SQLite file or Unix socket; ``database`` the
    Redis db number or PostgreSQL database; ``options`` are typed."""

    scheme: str
    shown: str
    username: str | None = None
    password: str | None = None
    hosts: list[tuple[str, int | None]] = field(default_factory=list)
    path: str = ""
    database: str | int | None = None
    service: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    #: Whether a host of the URL names its port (``host:port``).
    port_given: bool = False
    #: What must never be shown: the password, and the values of query
    #: options not known to be harmless (``password``, ``sslpassword``...).
    secrets: list[str] = field(default_factory=list)


def pick(store: str, name: str, given: Any, options: dict[str, Any], default: Any) -> Any:
    """The keyword argument, else the URL's option, else the default; both
    given is a ConfigurationError (one setting, one source)."""
    if given is not None and name in options:
        raise ConfigurationError(
            f"{store} {name} is given both as an argument and in the URL; give it once"
        )
    return given if given is not None else options.get(name, default)


def seconds(store: str, value: Any) -> float:
    """A ``timeout`` argument, checked: a positive, finite int or float."""
    if type(value) not in (int, float) or not (math.isfinite(value) and value > 0):
        raise ConfigurationError(
            f"{store} timeout must be a positive number of seconds, not {value!r}"
        )
    return float(value)


def count(store: str, name: str, value: Any) -> int:
    """A count argument (``wait_replicas``), checked: an int >= 0."""
    if type(value) is not int or value < 0:
        raise ConfigurationError(f"{store} {name} must be an int >= 0, not {value!r}")
    return value


def _fail(shown: str, problem: str) -> ConfigurationError:
    # Raised outside any ``except`` block, so that no exception holding a raw
    # piece of the URL is chained to it as ``__context__``.
    return ConfigurationError(f"store URL {shown!r}: {problem}")


def _host_port(shown: str, text: str, default_port: int | None) -> tuple[str, int | None]:
    host, port_text = text, ""
    if text.startswith("["):  # [IPv6]:port
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
        if end == -1 or (rest and not rest.startswith(":")):
            raise _fail(shown, f"malformed host {quote(shown, text)}")
        port_text = rest[1:]
    elif ":" in text:
        host, port_text = text.rsplit(":", 1)
    if not host:
        raise _fail(shown, f"no host in {quote(shown, text)}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _fail(shown, f"port {quote(shown, port_text)} is not a number from 1 to 65535")
    return host, int(port_text)


def _pairs(query: str) -> list[tuple[str, str]] | None:
    """The query's options, or ``None`` when it is not ``name=value&...``."""
    try:
        return parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        return None


def _value(parse_value: Callable[[str], Any], value: str) -> tuple[Any, str]:
    """``(parsed, "")``, or ``(None, why)`` when ``value`` is refused."""
    try:
        return parse_value(value), ""
    except ValueError as exc:
        return None, str(exc)  # our parsers' own words, never the value


def _query(
    shown: str, scheme: str, pairs: list[tuple[str, str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    options: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for name, value in pairs:
        if name in options or name in extra:
            raise _fail(shown, f"option {quote(shown, name)} is given twice")
        if name in _OPTIONS:
            parse_value, schemes = _OPTIONS[name]
            if scheme not in schemes:
                raise _fail(
                    shown,
                    f"option {name!r} is not one of {scheme}://'s; it belongs to "
                    + ", ".join(f"{s}://" for s in schemes),
                )
            options[name], why = _value(parse_value, value)
            if why:
                shown_value = repr(value) if f"{name}={value}" in shown else "'***'"
                raise _fail(shown, f"option {name}={shown_value}: {why}")
        elif scheme in _POSTGRESQL and name in LIBPQ_PARAMETERS | {"password"}:
            extra[name] = value
        else:
            known = sorted(n for n, (_, schemes) in _OPTIONS.items() if scheme in schemes)
            takes = ", ".join(known) if known else "none"
            raise _fail(
                shown, f"unknown option {quote(shown, name)} for {scheme}:// (it takes: {takes})"
            )
    return options, extra


def _split(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL" and the like
        return None


def parse(url: str) -> StoreURL:
    """Parse and check a store URL; raise ConfigurationError naming the fault.

    A message quotes a piece of the URL only where :func:`redact` shows it.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a str, not {type(url).__name__}")
    shown = redact(url)
    if "://" not in url:
        raise ConfigurationError(
            f"store URL {shown!r} has no scheme (scheme://...); use one of "
            + ", ".join(s + "://" for s in SCHEMES)
        )
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise _fail(shown, "contains whitespace or control characters")
    parts = _split(url)
    if parts is None:
        raise _fail(shown, "malformed (a '[' of an IPv6 host is not closed?)")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"unknown store URL scheme {quote(shown, parts.scheme)} in {shown!r}; use one of "
            + ", ".join(s + "://" for s in SCHEMES)
        )
    if scheme != "sqlite" and "@" in url.partition("//")[2][len(parts.netloc) :]:
        # The user info ends at the last '@': a password holding '/', '?' or
        # '#' would otherwise be read as a host, a path or a query.
        raise _fail(
            shown,
            "an '@' after the host: a password holding '/', '?', '#' or '@' must be "
            "percent-encoded (urllib.parse.quote(password, safe=''))",
        )
    if parts.fragment or url.endswith("#"):
        raise _fail(shown, "a store URL has no #fragment")
    pairs = _pairs(parts.query)
    if pairs is None:
        raise _fail(shown, "malformed query string (not name=value&name=value)")
    options, extra = _query(shown, scheme, pairs)
    result = StoreURL(scheme=scheme, shown=shown, options=options, extra=extra)
    result.secrets = secrets_of_query(pairs)
    netloc = parts.netloc
    userinfo, at, hostlist = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        result.username = unquote(user) or None
        result.password = unquote(password) if colon else None
        if colon:  # never shown either: the password, as given and decoded
            result.secrets += [userinfo, password, unquote(password)]
    if scheme in ("cookie", "memory"):
        if netloc or parts.path not in ("", "/"):
            raise _fail(shown, f"{scheme}:// takes no host or path")
        return result
    if scheme == "sqlite":
        # As SQLAlchemy reads them: sqlite:///rel.db and sqlite:////abs.db.
        if netloc:
            raise _fail(
                shown, "sqlite:// takes no host; use sqlite:///relative.db or sqlite:////abs.db"
            )
        result.path = unquote(parts.path[1:])
        if not result.path:
            raise _fail(shown, "names no SQLite file")
        return result
    if scheme == "unix":
        if hostlist:
            raise _fail(shown, "unix:// takes no host; use unix:///path/to/redis.sock")
        result.path = unquote(parts.path)
        if not result.path or result.path == "/":
            raise _fail(shown, "names no socket path")
        result.database = options.pop("db", 0)
        return result
    if scheme in _POSTGRESQL:
        # libpq's own rules: an empty host means its default (a local socket).
        if hostlist:
            result.hosts = [_host_port(shown, h, 5432) for h in hostlist.split(",")]
            result.port_given = any(":" in h.rpartition("]")[2] for h in hostlist.split(","))
        result.database = unquote(parts.path[1:]) or None
        if result.database and "/" in result.database:
            raise _fail(shown, f"malformed database name {quote(shown, parts.path[1:])}")
        return result
    # Redis: redis://, rediss://, the cluster and the sentinel schemes.
    if not hostlist:
        raise _fail(shown, "names no host")
    hosts = hostlist.split(",")
    if len(hosts) > 1 and scheme not in (*_SENTINEL, *_CLUSTER):
        raise _fail(shown, "names several hosts; only redis+sentinel:// and redis+cluster:// do")
    default_port = 26379 if scheme in _SENTINEL else 6379
    result.hosts = [_host_port(shown, h, default_port) for h in hosts]
    segments = [unquote(s) for s in parts.path.split("/")[1:]] if parts.path else []
    if segments and segments[-1] == "":
        segments.pop()
    if scheme in _SENTINEL:
        if not segments or not segments[0]:
            raise _fail(shown, "names no service; use redis+sentinel://host:port/service[/db]")
        result.service = segments.pop(0)
    if len(segments) > 1 or (segments and not segments[0].isdigit()):
        path = parts.path.strip("/")
        database = quote(shown, path.partition("/")[2] if result.service else path)
        raise _fail(shown, f"the database {database} is not a number")
    result.database = int(segments[0]) if segments else 0
    if scheme in _CLUSTER and result.database:
        raise _fail(shown, "a Redis Cluster has only database 0")
    return result
