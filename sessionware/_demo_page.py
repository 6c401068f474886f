"""The demo's HTML: one page layout with inline CSS (no build step, no
external assets) and the panels that show what sessionware did with the
request's session: its data as JSON, the cookie as the browser holds it, and
what a server-side store holds."""

from __future__ import annotations

import json
import os
from html import escape
from typing import TYPE_CHECKING, Any

from werkzeug.http import dump_cookie, parse_cookie

from sessionware._codec import decode
from sessionware.cli import to_json
from sessionware.stores.cookie import CookieStore

if TYPE_CHECKING:
    from sessionware.middleware import SessionMiddleware
    from sessionware.session import Session

#: Largest ``Set-Cookie`` header browsers reliably keep (sessionware warns above it).
COOKIE_LIMIT = 4093

_CSS = """
:root { --ink:#1d2330; --soft:#5b6475; --line:#e3e6ec; --card:#fff; --bg:#f4f6fa;
  --accent:#4f46e5; --accent-soft:#eef0ff; --good:#0f9d58; --warn:#d97706; --bad:#dc2626;
  --mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
@media (prefers-color-scheme: dark) { :root { --ink:#e8eaf0; --soft:#a3abbd; --line:#2c3240;
  --card:#191d26; --bg:#10131a; --accent:#8b85ff; --accent-soft:#23244a; } }
* { box-sizing:border-box }
body { margin:0; background:var(--bg); color:var(--ink); line-height:1.5;
  font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif }
header { background:linear-gradient(120deg,#4f46e5,#0ea5e9); color:#fff; padding:22px 0 18px }
header h1 { margin:0; font-size:26px; letter-spacing:-.02em }
header p { margin:4px 0 0; opacity:.9 }
header nav a { color:#fff; margin-right:14px; font-weight:600; text-decoration:none;
  border-bottom:2px solid transparent }
header nav a.here { border-color:#fff }
.wrap { max-width:1080px; margin:0 auto; padding:0 20px }
main { display:grid; grid-template-columns:repeat(auto-fit,minmax(330px,1fr)); gap:18px;
  padding:20px 0 }
section { background:var(--card); border:1px solid var(--line); border-radius:12px;
  padding:16px 18px; box-shadow:0 1px 2px rgba(0,0,0,.04); min-width:0 }
section.wide { grid-column:1/-1 }
h2 { font-size:16px; margin:0 0 10px } h2 small { color:var(--soft); font-weight:400 }
p.note, .note { color:var(--soft); font-size:13px; margin:8px 0 0 }
#message { margin:18px 0 0; padding:12px 16px; border-radius:10px; background:var(--accent-soft);
  border-left:4px solid var(--accent) }
#message:empty { display:none }
table { border-collapse:collapse; width:100% }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line);
  vertical-align:top; font-size:14px }
th { color:var(--soft); font-weight:500; white-space:nowrap; width:1% }
code, pre, td.mono { font-family:var(--mono); font-size:13px }
td.mono, code { overflow-wrap:anywhere }
pre { margin:0; padding:12px; background:var(--bg); border-radius:8px; overflow:auto;
  max-height:340px }
.meter { height:10px; background:var(--line); border-radius:5px; overflow:hidden; margin:8px 0 2px }
.meter span { display:block; height:100%; background:var(--good) }
.meter.high span { background:var(--warn) } .meter.over span { background:var(--bad) }
.pill { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px;
  background:var(--accent-soft); color:var(--accent); margin-right:4px }
.actions { display:grid; grid-template-columns:repeat(auto-fill,minmax(230px,1fr)); gap:10px }
.actions form { border:1px solid var(--line); border-radius:10px; padding:10px; margin:0 }
.actions code { display:block; color:var(--soft); font-size:12px; margin-top:6px }
button { font:inherit; font-weight:600; color:#fff; background:var(--accent); border:0;
  border-radius:8px; padding:6px 12px; cursor:pointer }
button:hover { filter:brightness(1.1) }
button.danger { background:var(--bad) }
input { font:inherit; width:7.5em; padding:4px 6px; border:1px solid var(--line);
  border-radius:6px; background:var(--card); color:var(--ink) }
footer { color:var(--soft); font-size:13px; padding:0 0 30px }
"""


def layout(
    title: str, nav: list[tuple[str, str]], here: str, message: str, body: str, status: str
) -> str:
    """The whole page: header and navigation, the message, the panels."""
    links = "".join(
        f'<a href="{escape(path)}"{" class=here" if path == here else ""}>{escape(label)}</a>'
        for path, label in nav
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · sessionware demo</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style></head>
<body>
<header><div class="wrap"><h1>sessionware demo</h1>
<p>Flask's session API for every WSGI app: {escape(status)}</p>
<nav>{links}</nav></div></header>
<div class="wrap"><p id="message" role="status">{escape(message)}</p>
<main>{body}</main>
<footer>Served by process <span id="pid">{os.getpid()}</span>: with several
workers, any of them reads the session. Every change above is a POST that
answers with a redirect (Post/Redirect/Get), so reloading a page never
repeats it.</footer></div>
<script>
const seen = document.getElementById("js-cookie");
if (seen) seen.textContent = document.cookie || "(nothing)";
</script>
</body></html>
"""


def _row(name: str, value: object, ident: str = "", mono: bool = False) -> str:
    """A table row; ``value`` is text (escaped here, so no caller can forget)."""
    attrs = (f' id="{ident}"' if ident else "") + (' class="mono"' if mono else "")
    return f"<tr><th>{escape(name)}</th><td{attrs}>{escape(str(value))}</td></tr>"


def session_panel(session: Session) -> str:
    """The session object: its flags and its data as JSON."""
    stored = not session.new
    # A new session's sid was never saved (and an empty one never will be):
    # show only an id the browser actually holds.
    sid = session.sid if stored else "none"
    data = json.dumps(to_json(dict(session)), indent=2, sort_keys=True, ensure_ascii=False)
    rows = "".join(
        (
            _row("sid", sid, "sid", mono=True),
            _row("new", session.new, "new"),
            _row("permanent", session.permanent, "permanent"),
            _row("owner", session.owner, "owner"),
            _row("keys", len(session), "keys"),
        )
    )
    return f"""<section><h2>The session <small>environ["session"]</small></h2>
<table>{rows}</table>
<h2 style="margin-top:14px">Its data, as JSON</h2>
<pre id="data">{escape(data)}</pre>
<p class="note">Values JSON has no type for are tagged: <code>{{"$tuple": [...]}}</code>,
<code>{{"$datetime": "..."}}</code>, as <code>sessionware decode</code> prints them.</p>
</section>"""


def _parts(value: str, store: Any) -> str:
    """What the cookie value is made of, in words."""
    if not isinstance(store, CookieStore):
        return "the session id, signed (HMAC-SHA256): the data stays on the server"
    body, _, rest = value.rpartition(".")
    body = body.rpartition(".")[0]
    if body.startswith("~"):
        kind = "AES-GCM encrypted msgpack"
    elif body.startswith("."):
        kind = "zlib-compressed msgpack, base64"
    else:
        kind = "msgpack, base64"
    return (
        f"payload ({len(body)} bytes: {kind}) . timestamp . signature "
        f"({len(rest)} bytes, HMAC-SHA256)"
    )


def cookie_panel(session: Session, middleware: SessionMiddleware, environ: Any) -> str:
    """The cookie as the browser holds it: size against the limit, attributes."""
    config = middleware.config
    value = parse_cookie(environ).get(config.cookie_name)
    intro = '<section><h2>The cookie your browser holds <small id="cookie-name">'
    intro += f"{escape(config.cookie_name)}</small></h2>"
    js = '<p class="note">JavaScript on this page sees in <code>document.cookie</code>: '
    js += '<code id="js-cookie"></code></p>'
    if value is None or session.new:
        said = (
            "Your browser holds no session cookie: nothing is sent until the session holds data."
            if value is None
            else "Your browser sent a session cookie that does not verify (tampered, expired "
            "or signed with another key): this request has a new, empty session."
        )
        return f'{intro}<p id="cookie">{said}</p>{js}</section>'
    max_age = config.permanent_lifetime if session.permanent else None
    header = dump_cookie(
        config.cookie_name,
        value,
        max_age=max_age,
        path=config.cookie_path,
        domain=config.cookie_domain,
        secure=config.cookie_secure,
        httponly=config.cookie_httponly,
        samesite=config.cookie_samesite,
        partitioned=config.cookie_partitioned,
        max_size=0,
    )
    size = len(header)
    percent = min(100.0, 100.0 * size / COOKIE_LIMIT)
    level = "over" if size > COOKIE_LIMIT else "high" if percent > 75 else ""
    shown = value if len(value) <= 36 else f"{value[:24]}…{value[-8:]}"
    days = config.permanent_lifetime / 86400
    expires = (
        f"Max-Age={config.permanent_lifetime} ({days:g} days), renewed on each visit"
        if max_age is not None
        else "none: the browser drops it when it closes"
    )
    rows = "".join(
        (
            _row("value", shown, "cookie-value", mono=True),
            _row("holds", _parts(value, middleware.store)),
            _row("Expires", expires, "cookie-expires"),
            _row("HttpOnly", "yes: scripts cannot read it" if config.cookie_httponly else "no"),
            _row("SameSite", config.cookie_samesite, "cookie-samesite"),
            _row("Secure", "yes: HTTPS only" if config.cookie_secure else "no"),
            _row("Path", config.cookie_path),
        )
    )
    return f"""{intro}
<div class="meter {level}"><span style="width:{percent:.1f}%"></span></div>
<p class="note"><b id="cookie-size">{size}</b> bytes of the {COOKIE_LIMIT} a browser keeps
(the whole <code>Set-Cookie</code> header); over it, sessionware warns.</p>
<table id="cookie">{rows}</table>{js}</section>"""


def store_panel(session: Session, middleware: SessionMiddleware) -> str:
    """What the store holds for this session."""
    store = middleware.store
    head = f'<section><h2>The store <small id="store">{escape(repr(store))}</small></h2>'
    if isinstance(store, CookieStore):
        secret = "encrypted" if store.encrypt else "signed, not encrypted: readable, not changeable"
        return (
            f"{head}<p>Nothing on the server: the whole session travels in the cookie, "
            f"timestamped and {secret}. Any number of workers and machines read it with "
            "the same secret key.</p>"
            '<p class="note">See it with <code>sessionware decode COOKIE --secret-key KEY</code>, '
            "or use a server-side store: <code>sessionware demo --store "
            "sqlite:///demo.db</code>.</p></section>"
        )
    if session.new:
        return f'{head}<p id="record">No record: nothing is stored for a new session.</p></section>'
    record = store.load(session.sid) or {}
    rows = []
    for key in sorted(record):
        blob = record[key]
        try:
            shown = json.dumps(to_json(decode(blob)), ensure_ascii=False)
        except Exception:  # show the size of what the codec cannot read, never fail
            shown = "(not decodable)"
        name = f"\\x00{key[1:]}" if key.startswith("\x00") else key
        rows.append(
            f"<tr><td class=mono>{escape(name)}</td><td>{len(blob)}</td>"
            f"<td class=mono>{escape(shown)}</td></tr>"
        )
    total = sum(len(blob) for blob in record.values())
    return f"""{head}
<p>One record under the session id, one msgpack value per top-level key: a save
writes only the keys that changed. <span class="pill" id="record-size">{total} bytes</span></p>
<table id="record"><tr><th>key</th><th>bytes</th><th>value</th></tr>{"".join(rows)}</table>
<p class="note">Keys that start with <code>\\x00</code> are sessionware's own: when
the session was created, and its flags.</p></section>"""


def store_down_panel(store: Any) -> str:
    """What the page shows instead of the panels while the store does not answer."""
    return (
        f'<section class="wide" id="store-down"><h2>The store does not answer '
        f"<small>{escape(repr(store))}</small></h2>"
        "<p>Every page of the demo reads the session, and this store holds it: "
        "nothing can be shown or changed until it answers. Reload this page once "
        "it runs again.</p></section>"
    )
