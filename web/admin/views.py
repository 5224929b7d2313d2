"""Admin pages. Each view states the least role that may see it."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for

from engine.delivery.log import COUNT_CAP
from engine.delivery.stats import dashboard_stats
from engine.embedded.mailcatcher import list_messages, mail_dir, read_message
from engine.jobs.status import queue_status
from engine.models import utcnow
from engine.results.harm import standing
from web.auth.roles import role_required
from web.context import get_db, get_settings

bp = Blueprint("admin", __name__, url_prefix="/admin")
# Caught messages listed on the dashboard.
MAIL_SHOWN = 10


@bp.get("/")
@role_required("viewer")
def dashboard():
    settings = get_settings()
    with get_db().read_session() as session:
        stats = dashboard_stats(session, utcnow())
        hurting = standing(session)  # flags raised by the review after each outcomes pass
    queues = queue_status(settings)  # Redis down reads as "unavailable", never an error
    folder = mail_dir(settings.instance_dir)
    mail = list_messages(folder, limit=MAIL_SHOWN) if folder.is_dir() else None
    return render_template("admin/dashboard.html", stats=stats, queues=queues, mail=mail, cap=COUNT_CAP, hurting=hurting)


@bp.get("/mail/<key>")
@role_required("viewer")
def show_mail(key: str):
    """One caught message (embedded run): its headers, text, and HTML in a sandboxed frame."""
    folder = mail_dir(get_settings().instance_dir)
    # Maildir keys are file names: anything else (a path, a dot file) is not a message.
    if not folder.is_dir() or not key.replace(".", "").replace("_", "").replace("-", "").replace(",", "").replace(":", "").isalnum():
        abort(404)
    try:
        message = read_message(folder, key)
    except (KeyError, FileNotFoundError):
        abort(404)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return render_template(
        "admin/mail.html", message=message, key=key,
        text=text.get_content() if text else None, html=html.get_content() if html else None,
    )  # fmt: skip


@bp.get("/api-keys")
@role_required("admin")
def api_keys():
    # The page moved to the users area, which can also create and revoke keys.
    return redirect(url_for("apikeys.index"), 301)
