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
from sessionware.middleware import SessionMiddleware
from sessionware.session import Session

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

__all__ = ["ACTIONS", "MESSAGES", "PAGES", "DemoApp", "DemoRequest", "action", "button", "page"]

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
MESSAGES: dict[str, str] = {}


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
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        request = DemoRequest(environ, session, self.middleware, query)
        if method == "POST" and path in ACTIONS:
            if not _same_origin(environ):
                return _text(start_response, "403 Forbidden", "cross-site POST refused\n")
            try:
                _, form, _ = parse_form_data(environ, max_content_length=MAX_FORM_BYTES)
            except RequestEntityTooLarge:
                return _text(start_response, "413 Content Too Large", "form too large\n")
            request.form = {name: form.get(name, "") for name in form}
            done = ACTIONS[path](request)
            back = request.form.get("next", "/")
            back = back if back in PAGES else "/"
            # A relative URL: never built from the Host header, which the
            # client chooses (a path in PAGES starts with one "/", never two).
            location = back + "?done=" + quote(done)
            start_response("303 See Other", [("Location", location), ("Content-Length", "0")])
            return [b""]
        if method not in ("GET", "HEAD"):
            allow = "POST" if path in ACTIONS else "GET, HEAD"
            return _text(start_response, "405 Method Not Allowed", "", ("Allow", allow))
        here = path
        if path in ACTIONS:
            request.message = f"POST {path} changes the session: use its button below."
            here = "/"
        elif path not in PAGES:
            return _text(start_response, "404 Not Found", "not found; see / for the demo\n")
        else:
            request.message = MESSAGES.get(query.get("done", ""), "")
        title, render = PAGES[here]
        panels = render(request)
        store = type(self.middleware.store).__name__
        nav = [(target, label) for target, (label, _) in PAGES.items()]
        body = ui.layout(title, nav, here, request.message, panels, f"here with {store}.")
        data = body.encode("utf-8")
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [data]


def _text(
    start_response: StartResponse, status: str, text: str, extra: tuple[str, str] | None = None
) -> list[bytes]:
    data = text.encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    start_response(status, headers + ([extra] if extra else []))
    return [data]
