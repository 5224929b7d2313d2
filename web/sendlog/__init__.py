"""The send log area of the admin: deliveries by rule and status, the latest with their reasons."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template, request

from engine.delivery.log import latest, paused_rules, status_counts
from engine.models import DELIVERY_STATUSES
from web.auth.roles import role_required
from web.context import get_db

bp = Blueprint("sendlog", __name__, url_prefix="/admin/deliveries")
PAGE = 100


@bp.get("/")
@role_required("viewer")
def index():
    status = request.args.get("status") or None
    rule_id = request.args.get("rule") or None
    if status is not None and status not in DELIVERY_STATUSES:
        abort(400, description=f"unknown status {status!r}: expected one of {', '.join(DELIVERY_STATUSES)}")
    with get_db().read_session() as session:
        counts = status_counts(session)
        paused = paused_rules(session)
        rows = latest(session, [status] if status else [], rule_id, PAGE)
    unknown = sum(c.get("unknown", 0) for c in counts.values())
    return render_template("sendlog/index.html", counts=counts, rows=rows, status=status, rule_id=rule_id,
                           unknown=unknown, page=PAGE, paused=paused)  # fmt: skip


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
