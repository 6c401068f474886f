"""PostgreSQLStore's configuration, checked at construction: a connection
string in which no option silently overrides another, and a table name that
PostgreSQL accepts, with every name derived from it."""

from __future__ import annotations

from typing import Any, Final

from sessionware.errors import ConfigurationError
from sessionware.stores._url import TABLE_NAME, StoreURL

__all__ = ["MAX_TABLE", "RESERVED", "check_table", "conninfo"]

#: PostgreSQL's keywords that cannot name a table unquoted: ``SELECT word
#: FROM pg_get_keywords() WHERE catcode IN ('R', 'T')`` (reserved, and
#: reserved but usable as a function or type name); a test checks this list
#: against the server it runs.
RESERVED: Final = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both
    case cast check collate collation column concurrently constraint create cross
    current_catalog current_date current_role current_schema current_time
    current_timestamp current_user default deferrable desc distinct do else end
    except false fetch for foreign freeze from full grant group having ilike in
    initially inner intersect into is isnull join lateral leading left like limit
    localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar
    some symmetric system_user table tablesample then to trailing true union unique
    user using variadic verbose when where window with""".split()
)
#: PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes).
MAX_IDENTIFIER: Final = 63
#: The longest suffix of a name derived from the table's (the owner index's
#: expiry index, ``<table>_owners_expires``): every derived name must fit
#: whole, or two of them could be truncated into one.
_LONGEST_SUFFIX: Final = "_owners_expires"
MAX_TABLE: Final = MAX_IDENTIFIER - len(_LONGEST_SUFFIX)


def check_table(table: object) -> str:
    """``table``, if PostgreSQL would accept it and every name derived from
    it (``<table>_owners``, ``<table>_expires``, ``<table>_owners_expires``)."""
    if not isinstance(table, str) or not TABLE_NAME.fullmatch(table):
        raise ConfigurationError(
            f"PostgreSQLStore table {table!r} is not a plain identifier "
            "(letters, digits, '_'; optionally schema.table)"
        )
    schema, _, name = table.rpartition(".")
    for part in (schema, name):
        if part.lower() in RESERVED:
            raise ConfigurationError(
                f"PostgreSQLStore table {table!r}: {part!r} is a reserved word in "
                "PostgreSQL; choose another name"
            )
    if len(name) > MAX_TABLE:
        raise ConfigurationError(
            f"PostgreSQLStore table {table!r} is too long: the name of its owner index, "
            f"{name + _LONGEST_SUFFIX!r}, would exceed PostgreSQL's {MAX_IDENTIFIER} "
            f"characters; use at most {MAX_TABLE}"
        )
    return table


def conninfo(psycopg: Any, parsed: StoreURL, connect_kwargs: dict[str, Any], timeout: float) -> str:
    """The libpq connection string of ``parsed`` and ``connect_kwargs``.

    Each setting has one source. Refused, naming both: a parameter given in
    the URL's query and as an argument; a query parameter or argument that
    would replace a part of the URL itself (``host``/``hostaddr`` and the
    URL's host, ``port``, ``dbname``, ``user``, ``password``);
    ``connect_timeout``, and ``options`` that set ``statement_timeout``,
    which the store's ``timeout`` sets. Other ``options`` are kept, after
    the store's own.
    """
    shown = f"PostgreSQLStore URL {parsed.shown!r}"
    known = {d.keyword.decode() for d in psycopg.pq.Conninfo.get_defaults()}
    given: dict[str, tuple[str, Any]] = {}
    for name, value in parsed.extra.items():
        given[name] = (f"?{name}= in the URL", value)
    for name, value in connect_kwargs.items():
        if name not in known:
            raise ConfigurationError(f"{shown}: {name!r} is not a libpq connection parameter")
        if name in given:
            raise ConfigurationError(
                f"{shown}: {name} is given both in the URL (?{name}=) and as an argument; "
                "give it once"
            )
        given[name] = (f"the {name}= argument", value)
    in_url = {
        "host": ("host", bool(parsed.hosts)),
        "hostaddr": ("host", bool(parsed.hosts)),
        "port": ("port", parsed.port_given),
        "dbname": ("database name", bool(parsed.database)),
        "user": ("user name", bool(parsed.username)),
        "password": ("password", parsed.password is not None),
    }
    for name, (part, present) in in_url.items():
        if present and name in given:
            raise ConfigurationError(
                f"{shown}: {given[name][0]} would override the URL's own {part}; give it once"
            )
    if "connect_timeout" in given:
        raise ConfigurationError(
            f"{shown}: {given['connect_timeout'][0]} would override the connection timeout "
            "that the store's timeout sets; give timeout only"
        )
    statement_timeout = f"-c statement_timeout={int(timeout * 1000)}"
    options = given.pop("options", ("", ""))
    if "statement_timeout" in str(options[1]).lower().replace("-", "_"):
        raise ConfigurationError(
            f"{shown}: {options[0]} sets statement_timeout, which the store's timeout "
            "sets; give timeout only"
        )
    params: dict[str, Any] = {
        "connect_timeout": max(2, round(timeout)),  # libpq: whole seconds, >= 2
        "options": f"{statement_timeout} {options[1]}".strip(),
    }
    if parsed.hosts:
        params["host"] = ",".join(host for host, _ in parsed.hosts)
        params["port"] = ",".join(str(port) for _, port in parsed.hosts)
    if parsed.database:
        params["dbname"] = parsed.database
    if parsed.username:
        params["user"] = parsed.username
    if parsed.password is not None:
        params["password"] = parsed.password
    params.update((name, value) for name, (_, value) in given.items())
    try:
        return str(psycopg.conninfo.make_conninfo("", **params))
    except psycopg.Error:
        pass  # psycopg's message may quote a value: raised below, with no chain
    raise ConfigurationError(f"{shown}: libpq refused its connection parameters")
