"""Error pages: JSON under /api/, the sender's page under recipients' URLs, the admin's elsewhere.

404 and 405 are raised before any blueprint is chosen, so they are handled
here, at the app level, and routed by path.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from web.api.errors import http_error_response
from web.unsubscribe.views import error_page

API_PREFIX = "/api/"
# Pages for email recipients: their errors wear the sender's brand, not the admin's layout.
RECIPIENT_PREFIXES = ("/u/", "/preferences/")

TITLES = {
    403: ("Not allowed", "Your role does not allow this page."),
    404: ("Not found", "There is no page at this address."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    429: ("Too many attempts", "Too many attempts from your address; wait a minute and try again."),
}


def handle_http_error(exc: HTTPException) -> Response | HTTPException | tuple[str, int]:
    if request.path.startswith(API_PREFIX):
        return http_error_response(exc)
    status = exc.code or 500
    if request.path.startswith(RECIPIENT_PREFIXES):
        return error_page(status)
    if status not in TITLES and status < 500:
        return exc  # werkzeug's own page is fine for the rare rest
    title, message = TITLES.get(status, ("Server error", "Something went wrong; it has been logged."))
    if status == 403 and exc.description and not exc.description.startswith("You don't have"):
        message = exc.description
    return render_template("error.html", title=title, message=message), status


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
