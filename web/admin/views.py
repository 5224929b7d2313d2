"""Admin pages. Each view states the least role that may see it."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

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
    # The page moved to the users area, which can also create and revoke keys.
    return redirect(url_for("users.api_keys"), 301)
