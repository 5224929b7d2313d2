"""Admin pages. Each view states the least role that may see it."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.admin import stats
from web.auth.roles import role_required
from web.context import get_db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@role_required("viewer")
def dashboard():
    with get_db().read_session() as session:
        overview = stats.overview(session)
    return render_template("admin/dashboard.html", overview=overview)


@bp.get("/api-keys")
@role_required("admin")
def api_keys():
    with get_db().read_session() as session:
        keys = stats.api_keys(session)
    return render_template("admin/api_keys.html", keys=keys)
