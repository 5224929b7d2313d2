"""A product's site for the snippet's browser tests: a host page on an origin of its own, with the
Content-Security-Policy a careful product sends, and (for what the real API never answers:
garbage, hangs, raw script in a body, a 401 to refresh) a scriptable stand-in of the nudge API."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SNIPPET = Path(__file__).resolve().parents[3] / "web" / "static" / "inapp" / "touchline.js"

HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>A product</title>
  <link rel="stylesheet" href="/host.css">
  <script src="{snippet}" defer></script>
  <script src="/host.js" defer></script>
</head>
<body>
  <h1>A product's page</h1>
  <p>Its own content, its own button:</p>
  <button id="host-button" type="button">Count</button> <output id="count">0</output>
  <p id="filler">Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>
</body>
</html>
"""
# A host whose CSS is hostile to anything embedded: none of it may reach the nudges.
HOST_CSS = """
* { font-family: serif !important; color: #c00; }
button { background: #0f0 !important; border-radius: 0 !important; }
div, li, ul, h2, p { margin: 40px; padding: 0 !important; border: 3px solid #f0f; }
"""
# No inline script: the configuration comes in this file, which the site writes per test.
HOST_JS = """
"use strict";
var count = 0, tokens = 0;
document.getElementById("host-button").addEventListener("click", function () {
  document.getElementById("count").textContent = String(++count);
});
document.getElementById("host-button").focus();
window.__tokenCalls = function () { return tokens; };
var config = %s;
if (window.Touchline) {
  window.Touchline.init({
    endpoint: config.endpoint, app: config.app, maxPerView: config.maxPerView, nonce: config.nonce,
    token: function () {
      tokens++;
      return fetch("/token", { cache: "no-store" }).then(function (r) { return r.text(); });
    },
  });
}
"""


class HostSite:
    """``url``: the host page. Set ``csp``, ``config`` (endpoint, app, maxPerView, nonce),
    ``snippet`` (the script's URL; default: this site's copy), ``token`` (a callable giving the
    token for each /token request). The stand-in API (``endpoint=site.origin``): ``answers``, a list
    of what each GET of nudges gets ("garbage", "hang", ("status", code), a dict body, or a callable
    of the request's headers giving one of those; the last one repeats), ``requests`` (method, path, headers), ``events`` (nudge id, body)."""

    def __init__(self) -> None:
        self.csp = ""
        self.config: dict = {}
        self.snippet = "/touchline.js"
        self.token = lambda: "token"
        self.answers: list = []
        self.requests: list[tuple[str, str, dict]] = []
        self.events: list[tuple[int, dict]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes = b"", kind: str = "text/plain", headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _cors(self) -> dict:
                return {"Access-Control-Allow-Origin": self.headers.get("Origin") or "*",
                        "Access-Control-Expose-Headers": "ETag, Retry-After"}  # fmt: skip

            def do_OPTIONS(self):  # noqa: N802 (http.server's name)
                self._send(204, headers={**self._cors(), "Access-Control-Allow-Methods": "GET, POST",
                                         "Access-Control-Allow-Headers": "Authorization, Content-Type, If-None-Match"})  # fmt: skip

            def do_GET(self):  # noqa: N802
                path = self.path.split("?")[0]
                if path == "/host.html":
                    page = HOST_PAGE.format(snippet=site.snippet).encode()
                    return self._send(200, page, "text/html; charset=utf-8", {"Content-Security-Policy": site.csp} if site.csp else {})
                if path == "/favicon.ico":  # not an error in the console
                    return self._send(204)
                if path == "/host.css":
                    return self._send(200, HOST_CSS.encode(), "text/css")
                if path == "/host.js":
                    return self._send(200, (HOST_JS % json.dumps(site.config)).encode(), "text/javascript")
                if path == "/touchline.js":
                    return self._send(200, SNIPPET.read_bytes(), "text/javascript")
                if path == "/token":
                    return self._send(200, site.token().encode(), headers={"Cache-Control": "no-store"})
                if path.endswith("/nudges"):
                    site.requests.append(("GET", self.path, dict(self.headers)))
                    answer = site.answers[0] if len(site.answers) == 1 else site.answers.pop(0) if site.answers else {"nudges": []}
                    if answer == "hang":
                        time.sleep(30)
                        return None
                    if answer == "garbage":
                        return self._send(200, b"<html>upstream error</html>", "text/html", self._cors())
                    if callable(answer):
                        answer = answer(self.headers)
                    if isinstance(answer, tuple):
                        return self._send(answer[1], b'{"error": {"code": "x", "message": "x"}}', "application/json", self._cors())
                    body = json.dumps({"unread": 0, "poll_after": 60, **answer}).encode()
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(304, headers={**self._cors(), "ETag": etag})
                    return self._send(200, body, "application/json", {**self._cors(), "ETag": etag})
                return self._send(404, b"not here")

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                site.requests.append(("POST", self.path, dict(self.headers)))
                site.events.append((int(self.path.split("/nudges/")[1].split("/")[0]), body))
                return self._send(200, b'{"first": true}', "application/json", self._cors())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.origin}/host.html"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> HostSite:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def nudge(id: int, kind: str = "card", priority: int = 50, title: str | None = None, body_html: str = "<p>Hello.</p>",
          cta: dict | None = None, locale: str = "en", seen: bool = False) -> dict:
    """One nudge as the API lists it (docs/inapp.md)."""
    return {"id": id, "kind": kind, "priority": priority, "title": title or f"Nudge {id}", "body_html": body_html,
            "body_text": "Hello.", "cta": cta, "locale": locale, "created_at": "2026-12-03T10:00:00Z",
            "expires_at": None, "seen": seen, "clicked": False}  # fmt: skip


class Console:
    """What a page reported: uncaught errors, and console messages by type."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.messages: list[tuple[str, str]] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.messages.append((msg.type, msg.text)))

    def of(self, kind: str) -> list[str]:
        return [text for t, text in self.messages if t == kind]
