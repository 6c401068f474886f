"""The demo's "Your sessions" page: set the session's owner (a sign-in),
see where you are signed in (``mw.sessions``), and sign out everywhere else
(``mw.revoke_owner(owner, keep=session.sid)``).

Registered with the demo's ``page``/``action`` decorators when
:mod:`sessionware._demo` imports it. Set the same owner in two browsers,
then press "Sign out everywhere else" in one: the other is signed out on its next
request. Listing and signing out need a server-side store (``--store
sqlite:///demo.db``); with the cookie store the page says so, and offers no
sign-out button.
"""

from __future__ import annotations

from html import escape

from sessionware import _demo_page as ui
from sessionware._demo_app import DemoRequest, action, button, page
from sessionware.errors import ConfigurationError


@action(
    "/login",
    login="Owner set (a sign-in): session.regenerate(), then session.owner = the name.",
    login_noname="Give a name to set as the owner.",
)
def _login(request: DemoRequest) -> str:
    user = request.form.get("user", "").strip()
    if not user:
        return "login_noname"
    session = request.session
    session.regenerate()  # against session fixation
    session.owner = user
    session["user"] = user
    return "login"


@action(
    "/sign-out-others",
    signed_out="Signed out everywhere else: mw.revoke_owner(owner, keep=session.sid).",
    not_signed_in="Set an owner first: this session has none.",
    no_revocation="This store cannot end other sessions: see the note on this page.",
)
def _sign_out_others(request: DemoRequest) -> str:
    owner = request.session.owner
    if owner is None:
        return "not_signed_in"
    try:
        request.middleware.revoke_owner(owner, keep=request.session.sid)
    except ConfigurationError:
        return "no_revocation"
    return "signed_out"


def _listing(request: DemoRequest, owner: str) -> str:
    session = request.session
    try:
        found = request.middleware.sessions(owner)
    except ConfigurationError as exc:
        return f'<p class="note" id="sessions-note">{escape(str(exc))}</p>'
    rows = "".join(
        f'<tr class="session"><td><code>{escape(info.sid[:6])}…</code></td>'
        f"<td>{escape(info.created.isoformat(timespec='seconds'))}</td>"
        f"<td>{escape(info.last_seen.isoformat(timespec='seconds'))}</td>"
        f"<td>{'this browser' if info.sid == session.sid else ''}</td></tr>"
        for info in found
    )
    return (
        '<table id="sessions"><tr><th>session</th><th>created</th><th>last seen</th>'
        f"<th></th></tr>{rows}</table>"
    )


def _can_revoke(request: DemoRequest) -> bool:
    """Whether ``revoke_owner`` can work: a server-side store, or the cookie
    store with a revocation store (``revocation=``)."""
    control = request.middleware.control
    return control.store is not None or control.revocations is not None


#: Shown instead of the sign-out button where it cannot work.
_CANNOT_REVOKE = (
    '<p class="note" id="sign-out-note">No "sign out everywhere else" here: with the '
    "cookie store each browser holds its whole session, and nothing on the server "
    "can take a cookie back. Run the demo with a server-side store "
    "(<code>sessionware demo --store sqlite:///demo.db</code>), or give the "
    "middleware a revocation store (<code>revocation=</code>).</p>"
)


@page("/sessions", "Your sessions")
def _sessions(request: DemoRequest) -> str:
    owner = request.session.owner
    cards = [
        button(
            "/login",
            "Set owner (sign in)",
            "session.regenerate(); session.owner = name",
            '<input name="user" value="alice" required> ',
            back="/sessions",
        )
    ]
    if owner is None:
        body = (
            '<p id="sessions-note">Not signed in: this session has no owner. Set the '
            "same owner in two browsers, then sign out everywhere else from one of them.</p>"
        )
    else:
        body = (
            f'<p>Signed in as <b id="signed-in-as">{escape(owner)}</b>. '
            "<code>mw.sessions(owner)</code>, newest first:</p>" + _listing(request, owner)
        )
        if _can_revoke(request):
            cards.append(
                button(
                    "/sign-out-others",
                    "Sign out everywhere else",
                    "mw.revoke_owner(owner, keep=session.sid)",
                    back="/sessions",
                    danger=True,
                )
            )
    if not _can_revoke(request):
        body += _CANNOT_REVOKE
    return (
        f'<section class="wide"><h2>Where am I signed in?</h2>{body}'
        f'<div class="actions">{"".join(cards)}</div></section>' + ui.session_panel(request.session)
    )
