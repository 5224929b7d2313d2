"""``/t/c/<token>``: record a click and redirect to the link's original URL; ``/t/o/<token>.gif``:
record an open and answer a transparent 1x1 GIF.

A click redirects only to a URL of the delivery's message as stored when it was sent
(engine.delivery.engagement); anything else gets a plain page saying the link does not work,
never a redirect. Recording never stands in the way: when the row cannot be written the
click still goes where it leads.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, make_response, redirect, render_template, request
from werkzeug.urls import iri_to_uri

from engine.delivery import engagement
from engine.delivery.tracking import TRANSPARENT_GIF, BadLink, read_click_token, read_open_token, scanner_flag
from engine.models import utcnow
from web.context import get_db, get_settings
from web.i18n import LOCALES
from web.security import content_security_policy, logo_origin
from web.unsubscribe.strings import STRINGS

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__)

NO_CACHE = "no-store, no-cache, must-revalidate, max-age=0"


def _locale() -> str:
    """The browser's language: nothing else is known of who follows a link (and the sign-in's
    user is not looked up, so the page renders with the database down)."""
    g.locale = request.accept_languages.best_match(LOCALES, default="en") or "en"
    return g.locale


def _page(status: int, problem: str | None = None) -> Response:
    """The plain page of a link that leads nowhere (400, 404) or cannot be checked now (503)."""
    locale = _locale()
    settings = get_settings()
    html = render_template("tracking/error.html", status=status, problem=problem, locale=locale,
                           t=STRINGS[locale], brand=settings.brand)  # fmt: skip
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    # The sender's logo, from the sender's site, as on the unsubscribe pages.
    response.headers["Content-Security-Policy"] = content_security_policy(logo_origin(settings))
    if status == 503:
        response.headers["Retry-After"] = "60"
    return response


def _client() -> tuple[str, str | None, str | None]:
    return request.method, request.headers.get("User-Agent"), request.remote_addr


@bp.get("/t/c/<token>")
def click(token: str):
    settings = get_settings()
    try:
        link = read_click_token(settings.secret_key, token)
    except BadLink as exc:
        return _page(400, str(exc))
    db = get_db()
    try:
        with db.read_session() as session:
            target = engagement.click_target(session, link, token)
    except Exception:  # noqa: BLE001 -- the database is down: the link cannot be checked, so it is not followed
        log.exception("click on a link of delivery %s: the link could not be checked", link.delivery_id)
        return _page(503)
    if target is None:
        return _page(404, "this link is not one of the links of the message it names")
    method, agent, address = _client()
    now = utcnow()
    flagged = scanner_flag(method, agent, target.sent_at, now, request.headers.get("Sec-Fetch-Dest"))
    try:
        engagement.record(db, target, "click", now, method, agent, address, flagged)
    except Exception:  # noqa: BLE001 -- a click not recorded still goes where it leads
        log.exception("click on a link of delivery %s: not recorded", target.delivery_id)
    response = redirect(iri_to_uri(target.url), 302)
    response.headers["Cache-Control"] = NO_CACHE
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/t/o/<token>.gif")
def pixel(token: str):
    settings = get_settings()
    try:
        delivery_id = read_open_token(settings.secret_key, token)
    except BadLink as exc:
        return _page(400, str(exc))
    db = get_db()
    method, agent, address = _client()
    now = utcnow()
    try:
        with db.read_session() as session:
            target = engagement.pixel_target(session, delivery_id)
        if target is not None:
            engagement.record(db, target, "open", now, method, agent, address, scanner_flag(method, agent, target.sent_at, now))
    except Exception:  # noqa: BLE001 -- the image is answered whatever happens: a mail reader shows nothing broken
        log.exception("open of delivery %s: not recorded", delivery_id)
    response = make_response(TRANSPARENT_GIF)
    response.mimetype = "image/gif"
    response.headers["Cache-Control"] = NO_CACHE
    response.headers["Pragma"] = "no-cache"
    response.headers["Expires"] = "0"
    return response
