"""Error pages: JSON under /api/, HTML everywhere else.

404 and 405 are raised before any blueprint is chosen, so they are handled
here, at the app level, and routed by path.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from web.api.errors import http_error_response

API_PREFIX = "/api/"

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
    if status not in TITLES and status < 500:
        return exc  # werkzeug's own page is fine for the rare rest
    title, message = TITLES.get(status, ("Server error", "Something went wrong; it has been logged."))
    if status == 403 and exc.description and not exc.description.startswith("You don't have"):
        message = exc.description
    return render_template("error.html", title=title, message=message), status


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
