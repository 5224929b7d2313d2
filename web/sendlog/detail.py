"""A delivery's page: its status history, the explanation stored when the rule fired, the gates'
verdicts and the message exactly as sent (engine.delivery.detail, as `touchline deliveries show`).

The message's HTML is served by its own route with a sandboxing Content-Security-Policy
and shown in a sandboxed iframe: no script of it runs, it cannot reach the admin's pages,
and what is shown is the stored part, never a new rendering."""

from __future__ import annotations

from flask import abort, make_response, render_template

from engine.delivery.detail import delivery_detail
from engine.delivery.tracking import without_pixel
from web.auth.roles import role_required
from web.context import get_db
from web.security import sandboxed_html
from web.sendlog.views import bp

# The message's own document: no script, no request but its inline styles and images (data:
# or https), shown only inside the admin's own pages.
CHECK_ORDER = ("holdout", "suppression", "window", "limit")


@bp.get("/<int:delivery_id>")
@role_required("viewer")
def delivery(delivery_id: int):
    with get_db().read_session() as session:
        detail = delivery_detail(session, delivery_id)
    if detail is None:
        return render_template("sendlog/delivery_not_found.html", delivery_id=delivery_id), 404
    return render_template("sendlog/delivery.html", d=detail, row=detail.delivery, m=detail.message)


@bp.get("/<int:delivery_id>/message.html")
@role_required("viewer")
def delivery_html(delivery_id: int):
    """The HTML part as sent, for the page's sandboxed iframe."""
    with get_db().read_session() as session:
        detail = delivery_detail(session, delivery_id)
    if detail is None or detail.message is None or detail.message.html is None:
        abort(404)
    # Its open pixel, if it has one, is shown without being loaded: reading it here is not an open.
    return sandboxed_html(without_pixel(detail.message.html))


@bp.get("/<int:delivery_id>/message.eml")
@role_required("viewer")
def delivery_raw(delivery_id: int):
    """The message exactly as it was handed over, as a file (an email opens in a mail reader)."""
    with get_db().read_session() as session:
        detail = delivery_detail(session, delivery_id)
    if detail is None or detail.message is None:
        abort(404)
    email = detail.message.channel == "email"
    response = make_response(detail.message.raw)
    response.mimetype = "message/rfc822" if email else "application/json"
    name = f"delivery-{delivery_id}.{'eml' if email else 'json'}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
