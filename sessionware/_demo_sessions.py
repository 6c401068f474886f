"""The demo's "your sessions" page: the visitor's sessions, and a "sign out
everywhere else" button (``mw.sessions`` and ``mw.revoke_owner``).

Kept apart from ``_demo`` so that the demo's routes stay one screen long.
``/login?user=NAME`` signs in as NAME (regenerate the sid, set
``session.owner``); ``/sessions`` lists NAME's sessions; a POST to
``/sessions/sign-out-others`` ends all of them but this one.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from sessionware.errors import ConfigurationError

if TYPE_CHECKING:
    from sessionware.middleware import SessionMiddleware
    from sessionware.session import Session


def login(session: Session, user: str) -> str:
    """Sign in as ``user``: a new sid (against fixation), then the owner."""
    if not user:
        return "give a name: /login?user=alice"
    session.regenerate()
    session.owner = user
    session["user"] = user
    return f"signed in as {user}"


def sign_out_others(session: Session, middleware: SessionMiddleware) -> str:
    """End every other session of this visitor's owner."""
    if session.owner is None:
        return "not signed in: /login?user=alice first"
    try:
        count = middleware.revoke_owner(session.owner, keep=session.sid)
    except ConfigurationError as exc:
        return str(exc)
    return f"signed out {count} other session(s)"


def sessions_html(session: Session, middleware: SessionMiddleware) -> str:
    """The "your sessions" section of the page (HTML)."""
    e = html.escape
    owner = session.owner
    if owner is None:
        return (
            '<h2>Your sessions</h2><p id="sessions-note">Not signed in. '
            '<a href="/login?user=alice">Sign in as alice</a> in two browsers.</p>'
        )
    try:
        found = middleware.sessions(owner)
    except ConfigurationError as exc:
        listing = f'<p id="sessions-note">{e(str(exc))}</p>'
    else:
        rows = "".join(
            f'<tr class="session"><td>{e(info.sid[:6])}…</td>'
            f"<td>{e(info.created.isoformat(timespec='seconds'))}</td>"
            f"<td>{e(info.last_seen.isoformat(timespec='seconds'))}</td>"
            f"<td>{'this one' if info.sid == session.sid else ''}</td></tr>"
            for info in found
        )
        listing = (
            f'<table id="sessions"><tr><th>session</th><th>created</th>'
            f"<th>last seen</th><th></th></tr>{rows}</table>"
        )
    return (
        f'<h2>Your sessions (<span id="owner">{e(owner)}</span>)</h2>{listing}'
        '<form method="post" action="/sessions/sign-out-others">'
        '<button id="sign-out-others">Sign out everywhere else</button></form>'
    )
