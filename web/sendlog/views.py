"""The send log: one GET form of filters, the matching deliveries newest first in keyset pages,
counts by status. The queries are engine.delivery.log's, as for `touchline deliveries list`."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, render_template, request
from werkzeug.datastructures import MultiDict

from engine.delivery.log import (
    CHANNELS, COUNT_CAP, REASON_SCAN, STATUS_ORDER, FilterError, Key, LogFilter, count_by_status, page,
    paused_rules, rule_choices,
)  # fmt: skip
from web.auth.roles import role_required
from web.context import get_db
from web.paging import decode_cursor, encode_cursor, url_with
from web.templating import render_page

bp = Blueprint("sendlog", __name__, url_prefix="/admin/deliveries")
FIELDS = ("rule", "status", "channel", "account", "recipient", "since", "until", "reason")


def read_filter(args: MultiDict) -> LogFilter:
    """The filter from query arguments; FilterError names the bad field."""
    return LogFilter.parse({name: args.getlist(name) if name == "status" else args.get(name) for name in FIELDS})


def _key(name: str) -> Key | None:
    got = decode_cursor(request.args.get(name), datetime, int)  # a damaged cursor is a 400 there
    return Key(*got) if got else None


def cursor(key: Key | None) -> str | None:
    """A page's key as the opaque token its link carries."""
    return encode_cursor(key.at, key.id) if key else None


@bp.get("/")
@role_required("viewer")
def index():
    ctx = {"args": request.args, "url_with": url_with, "statuses": STATUS_ORDER, "channels": CHANNELS, "cap": COUNT_CAP,
           "scan": REASON_SCAN, "has_detail": "sendlog.delivery" in current_app.view_functions}  # fmt: skip
    db = get_db()
    with db.read_session() as session:
        ctx["rules"] = rule_choices(session)
        ctx["paused"] = paused_rules(session)
        try:
            f = read_filter(request.args)
            got = page(session, f, before=_key("before"), after=_key("after"))
            counts = count_by_status(session, f)
        except FilterError as exc:
            return render_template("sendlog/index.html", error=exc, f=None, **ctx), 400
    older, newer = cursor(got.older), cursor(got.newer)
    paged = bool(request.args.get("before") or request.args.get("after"))
    return render_page("sendlog/index.html", "sendlog/_results.html", f=f, log_page=got, counts=counts,
                       older=older, newer=newer, paged=paged, error=None, **ctx)  # fmt: skip
