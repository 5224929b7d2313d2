"""Error pages: JSON under /api/, the sender's page under recipients' URLs, the admin's elsewhere.

404 and 405 are raised before any blueprint is chosen, so they are handled
here, at the app level, and routed by path.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from web.api.errors import http_error_response
from web.unsubscribe.views import error_page

API_PREFIX = "/api/"
# Pages for email recipients: their errors wear the sender's brand, not the admin's layout.
RECIPIENT_PREFIXES = ("/u/", "/preferences/", "/t/")

TITLES = {
    400: (_l("Request not understood"), _l("This request could not be read.")),
    403: (_l("Not allowed"), _l("Your role does not allow this page.")),
    404: (_l("Not found"), _l("There is no page at this address.")),
    405: (_l("Not allowed"), _l("This page does not accept that kind of request.")),
    429: (_l("Too many attempts"), _l("Too many attempts from your address or on this account; wait a minute and try again.")),
}


def handle_http_error(exc: HTTPException) -> Response | HTTPException | tuple[str, int]:
    if request.path.startswith(API_PREFIX):
        return http_error_response(exc)
    status = exc.code or 500
    if request.path.startswith(RECIPIENT_PREFIXES):
        return error_page(status)
    if status not in TITLES and status < 500:
        return exc  # werkzeug's own page is fine for the rare rest
    title, message = TITLES.get(status, (_l("Server error"), _l("Something went wrong; it has been logged.")))
    # A view's own reason (a 400's named field, a 403's role, what a 404 lacks) says more than the generic line.
    if status in (400, 403, 404) and exc.description and exc.description != type(exc).description:
        message = exc.description
    return render_template("error.html", title=title, message=message), status


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
