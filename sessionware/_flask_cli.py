"""``flask sessionware ...``: the commands the Flask adapter adds to ``app.cli``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from sessionware.errors import StoreError
from sessionware.stores.cookie import CookieStore
from sessionware.stores.memory import MemoryStore

commands = AppGroup("sessionware", help="Sessionware session maintenance.")


@commands.command("cleanup")
def cleanup() -> None:
    """Remove expired sessions from the configured server-side store."""
    from sessionware._flask_middleware import FlaskMiddleware
    from sessionware.flask import Sessionware

    middleware = Sessionware.middleware()
    if isinstance(middleware, FlaskMiddleware):
        middleware.follow_config()
    store = middleware.store
    if isinstance(store, CookieStore):
        raise click.ClickException(
            "the cookie store keeps sessions in the browser: there is nothing to clean up"
        )
    if isinstance(store, MemoryStore):
        raise click.ClickException(
            "a MemoryStore lives inside each server process, out of reach of this command"
        )
    method = getattr(store, "cleanup", None)
    if method is None:
        raise click.ClickException(f"{store!r} has no cleanup() method")
    try:
        count = int(method())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {count} expired session(s)")
