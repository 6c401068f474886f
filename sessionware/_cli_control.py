"""The ``sessions`` and ``revoke`` commands of ``python -m sessionware``."""

from __future__ import annotations

import argparse
from typing import Any

from sessionware._config import seconds
from sessionware._decode import dump_json
from sessionware.control import SessionControl, read_record
from sessionware.errors import ConfigurationError
from sessionware.stores import from_url
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore
from sessionware.stores.memory import MemoryStore

#: The middleware's default ``permanent_lifetime``: 31 days.
DEFAULT_LIFETIME = 31 * 24 * 3600


def _server_store(url: str, what: str) -> Store:
    return _refuse_cookie(from_url(url), what)


def _refuse_cookie(store: Store | CookieStore, what: str) -> Store:
    if isinstance(store, MemoryStore):
        raise ConfigurationError(
            f"memory:// lives inside each server process, out of reach of this command; "
            f"give the {what} URL (sqlite:///..., redis://...)"
        )
    if isinstance(store, CookieStore):
        raise ConfigurationError(f"the {what} must be a server-side store, not cookie://")
    return store


def _control(args: argparse.Namespace) -> tuple[SessionControl, list[Any]]:
    """The control for ``--store`` (and ``--revocation``), and what to close."""
    lifetime = seconds(args.permanent_lifetime, "--permanent-lifetime")
    revocation_url = getattr(args, "revocation", None)
    store = from_url(args.store)
    if isinstance(store, CookieStore):
        if args.command == "sessions":
            raise ConfigurationError(
                "cookie-store sessions live in the browsers and cannot be listed; "
                "give a server-side store URL"
            )
        if revocation_url is None:
            raise ConfigurationError(
                "revoking cookie-store sessions needs --revocation URL (the "
                "middleware's revocation= store)"
            )
        from sessionware._revocation import Revocations

        revocation = _server_store(revocation_url, "revocation store")
        # Entries live as long as the apps using the store announced; the
        # --permanent-lifetime is used only when none did.
        revocations = Revocations(revocation, None, fallback=lifetime)
        return SessionControl(None, read_record, lifetime, revocations), [revocation]
    if revocation_url is not None:
        raise ConfigurationError(
            "--revocation is for --store cookie:// only; a server-side store revokes by itself"
        )
    server = _refuse_cookie(store, "store")
    return SessionControl(server, read_record, lifetime), [server]


def _close(resources: list[Any]) -> None:
    for resource in resources:
        close = getattr(resource, "close", None)
        if close is not None:
            close()


def sessions(args: argparse.Namespace) -> int:
    control, resources = _control(args)
    try:
        found = control.sessions(args.owner)
    finally:
        _close(resources)
    for info in found:
        line = {
            "sid": info.sid,
            "owner": info.owner,
            "created": info.created.isoformat(),
            "last_seen": info.last_seen.isoformat(),
            "permanent": info.permanent,
        }
        print(dump_json(line))  # control and bidi characters escaped
    return 0


def revoke(args: argparse.Namespace) -> int:
    if args.keep is not None and args.owner is None:
        raise ConfigurationError("--keep goes with --owner (the session of OWNER to keep)")
    control, resources = _control(args)
    try:
        if args.sid is not None:
            count = int(control.revoke(args.sid))
        else:
            count = control.revoke_owner(args.owner, keep=args.keep)
    finally:
        _close(resources)
    if control.store is None:
        print("revoked: matching cookies are refused from now on")
    else:
        print(f"revoked {count} session(s)")
    return 0


def _lifetime_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--permanent-lifetime",
        type=int,
        default=DEFAULT_LIFETIME,
        metavar="SECONDS",
        help="the middleware's permanent_lifetime (default: %(default)s, 31 days)",
    )


def add_commands(commands: Any) -> None:
    """Add ``sessions`` and ``revoke`` to the CLI's sub-parsers."""
    listing = commands.add_parser(
        "sessions",
        help="list an owner's live sessions, one JSON object a line",
        description="List the live sessions of OWNER (session.owner), newest first, "
        "as JSON lines: sid, owner, created, last_seen (ISO 8601, UTC), permanent.",
    )
    listing.add_argument("--store", required=True, metavar="URL")
    listing.add_argument("--owner", required=True, metavar="OWNER")
    _lifetime_option(listing)
    listing.set_defaults(func=sessions)

    ending = commands.add_parser(
        "revoke",
        help="end sessions now: one by sid, or every session of an owner",
        description="End sessions now and print how many. A SID may begin with '-': "
        "write --sid=SID and --keep=SID. With --store cookie://, give the "
        "revocation store with --revocation URL.",
    )
    ending.add_argument("--store", required=True, metavar="URL")
    which = ending.add_mutually_exclusive_group(required=True)
    which.add_argument("--sid", metavar="SID")
    which.add_argument("--owner", metavar="OWNER")
    ending.add_argument("--keep", metavar="SID", help="with --owner: the session to keep")
    ending.add_argument("--revocation", metavar="URL", help="with --store cookie:// only")
    _lifetime_option(ending)
    ending.set_defaults(func=revoke)
