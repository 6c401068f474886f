"""The demo's plumbing: pages (GET) and actions (POST) registered by
decorator, and the WSGI app that routes to them.

An action changes the session and answers ``303 See Other`` back to the page
its form came from (Post/Redirect/Get), with a ``done`` key naming one of
its messages; a POST from another site is refused first (403). A ``GET`` of
an action's URL shows the first page with the action's button; anything
else is 404 or 405. The demo itself (actions, pages) is in
:mod:`sessionware._demo`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data

from sessionware import _demo_page as ui
from sessionware.errors import CookieTooLargeError, StoreError
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session
from sessionware.stores.base import Store
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = [
    "ACTIONS",
    "MESSAGES",
    "PAGES",
    "DemoApp",
    "DemoRequest",
    "action",
    "button",
    "page",
    "probe",
]

#: Forms are tiny; a larger body is refused before it is read.
MAX_FORM_BYTES = 16 * 1024


@dataclass
class DemoRequest:
    """What a page or an action gets: the session, the middleware, the input."""

    environ: WSGIEnvironment
    session: Session
    middleware: SessionMiddleware
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    message: str = ""  # a page may set the message shown above its panels


Page = Callable[[DemoRequest], str]
Action = Callable[[DemoRequest], str]

PAGES: dict[str, tuple[str, Page]] = {}  # path -> (title, render)
ACTIONS: dict[str, Action] = {}  # path -> run; returns a key of MESSAGES
MESSAGES: dict[str, str] = {
    "too_large": (
        "Not saved: that change did not fit. The session cookie would have been over "
        "the 4093 bytes browsers keep (CookieTooLargeError), so your session is as it "
        "was. Store less, or run the demo with a server-side store (--store "
        "sqlite:///demo.db) or CookieStore(overflow=...)."
    ),
}


def page(path: str, title: str) -> Callable[[Page], Page]:
    """Register a GET page: ``render(request)`` returns its panels' HTML."""

    def register(render: Page) -> Page:
        PAGES[path] = (title, render)
        return render

    return register


def action(path: str, **messages: str) -> Callable[[Action], Action]:
    """Register a POST action; ``messages`` are the outcomes it may return."""

    def register(run: Action) -> Action:
        ACTIONS[path] = run
        MESSAGES.update(messages)
        return run

    return register


def button(
    path: str,
    label: str,
    code: str,
    fields: str = "",
    *,
    ident: str = "",
    back: str = "/",
    danger: bool = False,
) -> str:
    """A form that POSTs to action ``path`` and comes back to page ``back``."""
    ident = ident or "do-" + path.strip("/")
    css = ' class="danger"' if danger else ""
    return (
        f'<form method="post" action="{escape(path)}">'
        f'<input type="hidden" name="next" value="{escape(back)}">{fields}'
        f'<button id="{escape(ident)}"{css}>{escape(label)}</button>'
        f"<code>{escape(code)}</code></form>"
    )


def _same_origin(environ: WSGIEnvironment) -> bool:
    """Whether a POST comes from this site's own pages (CSRF defence).

    Browsers send ``Origin`` with every POST and ``Sec-Fetch-Site`` with
    every request; a client that sends neither (curl, a test client) is no
    cross-site attacker's browser."""
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return bool(origin == f"{environ['wsgi.url_scheme']}://{host}")


class DemoApp:
    """The bare WSGI app behind the demo; :func:`make_app` wraps it."""

    def __init__(self) -> None:
        self.middleware: SessionMiddleware | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.middleware is not None, "use make_app()"
        session: Session = environ[self.middleware.config.environ_key]
        try:
            status, headers, data = self._respond(environ, session)
            # Saved here, not by the middleware when the response starts, so
            # that a store that does not answer is a page, not a bare 500.
            headers += self.middleware.save_session(session)
        except StoreError as exc:
            status, headers, data = self._store_down(exc)
        start_response(status, headers)
        return [data]

    def _store_down(self, exc: StoreError) -> tuple[str, list[tuple[str, str]], bytes]:
        assert self.middleware is not None
        store = self.middleware.store
        message = (
            f"The store does not answer: {exc} Nothing was saved. Start it, or run the "
            "demo with another store (sessionware demo --store sqlite:///demo.db)."
        )
        nav = [(target, label) for target, (label, _) in PAGES.items()]
        panels = ui.store_down_panel(store)
        body = ui.layout("Store unavailable", nav, "", message, panels, f"here with {store!r}.")
        return "503 Service Unavailable", _html_headers(body), body.encode("utf-8")

    def _respond(
        self, environ: WSGIEnvironment, session: Session
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status, headers and body of one request (the session not saved yet)."""
        assert self.middleware is not None
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        request = DemoRequest(environ, session, self.middleware, query)
        if method == "POST" and path in ACTIONS:
            if not _same_origin(environ):
                return _text("403 Forbidden", "cross-site POST refused\n")
            try:
                _, form, _ = parse_form_data(environ, max_content_length=MAX_FORM_BYTES)
            except RequestEntityTooLarge:
                return _text("413 Content Too Large", "form too large\n")
            request.form = {name: form.get(name, "") for name in form}
            done = ACTIONS[path](request)
            try:
                # Saved here rather than by the middleware, to say so on the
                # page when the change did not fit (nothing is saved then).
                saved = self.middleware.save_session(session)
            except CookieTooLargeError:
                done, saved = "too_large", []
            back = request.form.get("next", "/")
            back = back if back in PAGES else "/"
            # A relative URL: never built from the Host header, which the
            # client chooses (a path in PAGES starts with one "/", never two).
            location = back + "?done=" + quote(done)
            headers = [("Location", location), ("Content-Length", "0"), *saved]
            return "303 See Other", headers, b""
        if method not in ("GET", "HEAD"):
            allow = "POST" if path in ACTIONS else "GET, HEAD"
            return _text("405 Method Not Allowed", "", ("Allow", allow))
        here = path
        if path in ACTIONS:
            request.message = f"POST {path} changes the session: use its button below."
            here = "/"
        elif path not in PAGES:
            return _text("404 Not Found", "not found; see / for the demo\n")
        else:
            request.message = MESSAGES.get(query.get("done", ""), "")
        # A page says whether the store answers even before the session
        # needs it (a new visitor's session touches no store until saved).
        probe(self.middleware.store)
        title, render = PAGES[here]
        panels = render(request)
        store = type(self.middleware.store).__name__
        nav = [(target, label) for target, (label, _) in PAGES.items()]
        body = ui.layout(title, nav, here, request.message, panels, f"here with {store}.")
        return "200 OK", _html_headers(body), body.encode("utf-8")


def probe(store: Store | CookieStore) -> None:
    """Look up an id no session has: :class:`StoreError` when the store does
    not answer (the cookie store has nothing to ask)."""
    if not isinstance(store, CookieStore):
        store.load("sessionware-demo-probe")


def _html_headers(body: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body.encode("utf-8")))),
        ("Cache-Control", "no-store"),
    ]


def _text(
    status: str, text: str, extra: tuple[str, str] | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    data = text.encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    return status, headers + ([extra] if extra else []), data
