"""Click tracking and the open pixel of customer email: the signed links, made at compose time.

The composer (engine.delivery.compose) hands every non-operational email to a contact
through ``Tracker.apply``: each http(s) link of its HTML part (``href`` of ``<a>`` and
``<area>``) and of its text part becomes ``<public_url>/t/c/<token>``, and, for a category
named in TOUCHLINE_TRACK_OPENS, a 1x1 image ``<public_url>/t/o/<token>.gif`` ends the HTML.
The unsubscribe and preference links, ``mailto:`` and every other scheme are left as they are.

A click token is itsdangerous' URL-safe serialisation of ``[delivery id, original URL]``,
signed with HMAC-SHA256 under the installation's secret key and the salt ``CLICK_SALT``;
an open token is ``[delivery id]`` under ``OPEN_SALT``. The same delivery and URL always
make the same token, so a message sent again carries the same links. The signature alone
is never enough to redirect: the click route follows a token only when it is one of the
tracking links of that delivery's message as stored when it was sent
(engine.delivery.engagement), so no signed token can become an open redirect.
"""

from __future__ import annotations

import base64
import hashlib
import html as htmlmod
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer

from engine.compliance import OPERATIONAL

CLICK_SALT = "touchline.click.v1"
OPEN_SALT = "touchline.open.v1"
CLICK_PATH = "/t/c/"
OPEN_PATH = "/t/o/"
MAX_TOKEN = 2000
# Longer links are left as written: their token would pass MAX_TOKEN.
MAX_URL = 1400
# Characters of a token (URL-safe base64 and the separating dots).
TOKEN_CHARS = "A-Za-z0-9_.-"
# Read back from a stored message (engine.delivery.engagement).
TRACKED_LINK = re.compile(r"/t/c/([" + TOKEN_CHARS + r"]+)")
# What the open pixel answers: the smallest transparent GIF (1x1, one colour, that colour transparent).
TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_PIXEL_SRC = re.compile(r'(<img\b[^>]*?\ssrc=")[^"]*/t/o/[' + TOKEN_CHARS + r']+\.gif(")', re.IGNORECASE)


class HasTrackingSettings(Protocol):
    secret_key: str
    public_url: str
    track_clicks: bool
    track_opens: tuple[str, ...]


class BadLink(ValueError):
    """A tracking token that is not one of ours: cut short, changed, or signed with another key."""


@dataclass(frozen=True)
class ClickToken:
    delivery_id: int
    url: str


def _serializer(secret_key: str, salt: str) -> URLSafeSerializer:
    if not secret_key:
        raise ValueError("settings.secret_key is empty: tracking links cannot be signed")
    return URLSafeSerializer(secret_key, salt=salt, signer_kwargs={"digest_method": hashlib.sha256})


def click_token(secret_key: str, delivery_id: int, url: str) -> str:
    return _serializer(secret_key, CLICK_SALT).dumps([delivery_id, url])


def open_token(secret_key: str, delivery_id: int) -> str:
    return _serializer(secret_key, OPEN_SALT).dumps([delivery_id])


def _loads(secret_key: str, salt: str, token: str) -> Any:
    if not isinstance(token, str) or not token:
        raise BadLink("the link has no token")
    if len(token) > MAX_TOKEN:
        raise BadLink("the link's token is too long to be one of ours")
    try:
        return _serializer(secret_key, salt).loads(token)
    except BadData:
        raise BadLink("the link is incomplete or has been changed (its signature does not match)") from None


def _delivery_id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BadLink("the link's token does not name a message")
    return value


def read_click_token(secret_key: str, token: str) -> ClickToken:
    """What a click token carries; ``BadLink`` saying what is wrong otherwise. A mail reader may
    take a sentence's full stop after a link into it: trailing dots are not part of a token."""
    payload = _loads(secret_key, CLICK_SALT, token.rstrip(".") if isinstance(token, str) else token)
    if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[1], str):
        raise BadLink("the link's token is malformed")
    return ClickToken(_delivery_id(payload[0]), payload[1])


def read_open_token(secret_key: str, token: str) -> int:
    """The delivery an open token names; ``BadLink`` otherwise."""
    payload = _loads(secret_key, OPEN_SALT, token)
    if not isinstance(payload, list) or len(payload) != 1:
        raise BadLink("the pixel's token is malformed")
    return _delivery_id(payload[0])


_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
# Kept in a host by browsers (UTS #46) but mapped away by Python's IDNA 2003 codec, through which
# the redirect's Location goes (werkzeug's iri_to_uri): straße.example would lead to strasse.example.
_IDNA_DEVIATIONS = re.compile("[\u00df\u03c2\u200c\u200d]")


def safe_target(url: str) -> bool:
    """Whether ``url`` may be a redirect's target: an absolute http(s) URL with a host, and
    nothing a browser might read differently from us (no whitespace, control characters or
    backslashes, no host that Python's IDNA codec reads differently from browsers or cannot encode).
    Links that fail it are not tracked, so every tracked link passes it."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    if _IDNA_DEVIATIONS.search(unicodedata.normalize("NFKC", parts.netloc)):
        return False  # the redirect would name another host than the browser would for the link
    try:
        (parts.hostname or "").encode("idna")  # as the redirect will: a label it refuses would be a 500
    except UnicodeError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and url.lower().startswith(("http://", "https://"))


# A start tag of a link, its quoted attribute values taken whole (a '>' inside one does not end it).
_LINK_TAG = re.compile(r"""<(?:a|area)(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)
# A URL in plain text: ASCII URL characters only, so a Japanese sentence's 。 or 」 right after it
# is not taken in; a sentence's closing punctuation is then trimmed off (_trim).
_TEXT_URL = re.compile(r"""https?://[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]+""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _trim(url: str) -> str:
    while url and url[-1] in ".,;:!?'":
        url = url[:-1]
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1]
    return url


class Tracker:
    """Rewrites one installation's email for tracking (``apply``); one per composer."""

    def __init__(self, settings: HasTrackingSettings) -> None:
        self.secret_key = settings.secret_key
        self.base = settings.public_url.rstrip("/")
        self.clicks = settings.track_clicks
        self.opens = frozenset(settings.track_opens)
        # Touchline's own recipient pages are never wrapped: unsubscribing must not depend on tracking.
        self._own = tuple(self.base + path for path in ("/u/", "/preferences/", "/t/"))

    def wanted(self, delivery_id: int, category: str, to_contact: bool) -> tuple[bool, bool]:
        """(clicks, opens) for a message: customer email of a delivery row (a preview's draft is
        id 0), never operational, never an alert to the account's owner."""
        if delivery_id <= 0 or category == OPERATIONAL or not to_contact:
            return False, False
        return self.clicks, category in self.opens

    def trackable(self, url: str, keep: frozenset[str]) -> bool:
        return url not in keep and not url.startswith(self._own) and safe_target(url)

    def link(self, delivery_id: int, url: str) -> str:
        return f"{self.base}{CLICK_PATH}{click_token(self.secret_key, delivery_id, url)}"

    def pixel(self, delivery_id: int) -> str:
        return f"{self.base}{OPEN_PATH}{open_token(self.secret_key, delivery_id)}.gif"

    def apply(self, delivery_id: int, category: str, to_contact: bool, html: str, text: str,
              keep: tuple[str | None, ...] = ()) -> tuple[str, str]:  # fmt: skip
        """``html`` and ``text`` as they go out for this delivery; ``keep``: links never rewritten
        (the message's unsubscribe and preference links)."""
        clicks, opens = self.wanted(delivery_id, category, to_contact)
        if clicks:
            kept = frozenset(k for k in keep if k)
            made: dict[str, str | None] = {}  # a link repeated (a button, the text part) is signed once

            def new_url(url: str) -> str | None:
                if url not in made:
                    made[url] = self.link(delivery_id, url) if self.trackable(url, kept) else None
                return made[url]

            html = rewrite_html(html, new_url)
            text = rewrite_text(text, new_url)
        if opens and html:
            html = add_pixel(html, self.pixel(delivery_id))
        return html, text


def rewrite_html(html: str, new_url) -> str:
    """``html`` with the ``href`` of each ``<a>``/``<area>`` replaced by ``new_url(original)``
    where that gives one (None: left as written). Nothing else of the document changes."""

    def tag(match: re.Match) -> str:
        source = match.group(0)
        found = _HREF.search(source)
        if found is None:
            return source
        raw = next(v for v in found.group(2, 3, 4) if v is not None)
        target = new_url(htmlmod.unescape(raw).strip())
        if target is None:
            return source
        return source[: found.start()] + f'{found.group(1)}"{htmlmod.escape(target)}"' + source[found.end() :]

    return _LINK_TAG.sub(tag, html) if html else html


def rewrite_text(text: str, new_url) -> str:
    """``text`` with each http(s) URL replaced by ``new_url(original)`` where that gives one."""

    def url(match: re.Match) -> str:
        found = match.group(0)
        original = _trim(found)
        target = new_url(original)
        return found if target is None else target + found[len(original) :]

    return _TEXT_URL.sub(url, text) if text else text


def add_pixel(html: str, src: str) -> str:
    """``html`` with a 1x1 image at the end of its body (or of the fragment)."""
    img = (f'<img src="{htmlmod.escape(src)}" width="1" height="1" alt="" '
           'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">')  # fmt: skip
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + img
    at = ends[-1].start()
    return html[:at] + img + html[at:]


def without_pixel(html: str) -> str:
    """``html`` with its open pixel's image turned into the same transparent GIF as a data: URL:
    a stored message shown in the admin looks as sent and loads nothing, so viewing it is not an open."""
    data = "data:image/gif;base64," + base64.b64encode(TRANSPARENT_GIF).decode("ascii")
    return _PIXEL_SRC.sub(lambda m: m.group(1) + data + m.group(2), html) if html else html


# -- scanners -------------------------------------------------------------------

# Within this long after the message was sent, a request is taken for a mail gateway checking
# the link (they fetch every link as the message arrives), not for the recipient.
SCANNER_SECONDS = 10
# User agents of link scanners and other machines (matched anywhere, case aside). Mail
# security gateways and URL scanners, link-preview bots, HTTP libraries and headless browsers.
SCANNER_AGENTS = re.compile(
    r"barracuda|mimecast|proofpoint|ppops|forcepoint|websense|symantec|messagelabs|trend ?micro|sophos|"
    r"fortinet|fortiguard|ironport|cisco|checkpoint|zscaler|paloalto|bitdefender|kaspersky|avast|"
    r"urlscan|safebrowsing|scanner|bot\b|crawler|spider|preview|facebookexternalhit|slackbot|"
    r"python-requests|python-urllib|aiohttp|httpx|curl/|wget/|go-http-client|java/|okhttp|libwww-perl|"
    r"apache-httpclient|node-fetch|axios/|headlesschrome|phantomjs|puppeteer|playwright",
    re.IGNORECASE,
)


# Browsers say where a response goes (Sec-Fetch-Dest): a link followed from a mail reader opens a
# page; one followed inside a frame is the message shown in a frame, such as the admin's own view of it.
FRAMES = frozenset({"iframe", "frame", "embed", "object"})


def scanner_flag(method: str, user_agent: str | None, sent_at: datetime | None, now: datetime,
                 fetch_dest: str | None = None) -> str | None:  # fmt: skip
    """Why this request looks like a link scanner (or anything else but a person reading the
    message) rather than a person; None if it does not."""
    if method.upper() == "HEAD":
        return "HEAD request (people's browsers send GET)"
    if (fetch_dest or "").strip().lower() in FRAMES:
        return "followed inside a frame (such as the admin's view of the message), not from a mail reader"
    agent = (user_agent or "").strip()
    if not agent:
        return "no user agent"
    found = SCANNER_AGENTS.search(agent)
    if found:
        return f"scanner user agent ({found.group(0).strip()})"
    if sent_at is not None and now - sent_at < timedelta(seconds=SCANNER_SECONDS):
        seconds = max(0.0, (now - sent_at).total_seconds())
        return f"{seconds:.0f} s after it was sent (under {SCANNER_SECONDS} s)"
    return None
