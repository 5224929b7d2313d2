"""The audit trail: one GET form of filters, entries newest first in keyset pages, each with
its before/after diff. Read-only: the area has no POST route. Queries are engine.audit's,
as for `touchline audit list`."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from engine.audit import AUDIT_OBJECT_TYPES, AuditFilter, entry_diff, list_entries
from web.auth.roles import role_required
from web.context import get_db
from web.paging import decode_cursor, encode_cursor, url_with

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
PAGE_SIZE = 50

OBJECT_LABELS = {
    "rule": _l("Rule"), "segment": _l("Segment"), "template": _l("Template"), "user": _l("User"),
    "api_key": _l("API key"), "suppression": _l("Suppression"), "setting": _l("Setting"), "test_send": _l("Test send"),
}  # fmt: skip


class FilterProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _day(name: str) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterProblem(name, _("%(value)s is not a date; use YYYY-MM-DD", value=value)) from None


def read_filter() -> AuditFilter:
    """The filter from the query string; FilterProblem names the field at fault."""
    object_type = (request.args.get("object_type") or "").strip() or None
    if object_type and object_type not in AUDIT_OBJECT_TYPES:
        raise FilterProblem("object_type", _("%(value)s is not an object type", value=object_type))
    since, until = _day("since"), _day("until")
    try:
        return AuditFilter(actor=(request.args.get("actor") or "").strip()[:400] or None, object_type=object_type,
                           object_id=(request.args.get("object") or "").strip()[:400] or None,
                           since=since, until=until)  # fmt: skip
    except ValueError:  # the only other refusal: the dates the wrong way round
        raise FilterProblem("until", _("the end date is before the start date")) from None


@bp.get("/")
@role_required("viewer")
def index():
    ctx = {"args": request.args, "object_types": AUDIT_OBJECT_TYPES, "labels": OBJECT_LABELS}
    try:
        f = read_filter()
    except FilterProblem as problem:
        return render_template("audit/index.html", problem=problem, entries=[], **ctx), 400
    cursor = decode_cursor(request.args.get("before"), datetime, int)  # a damaged one is a 400
    with get_db().read_session() as session:
        page = list_entries(session, f, cursor, PAGE_SIZE)
        entries = [(e, entry_diff(e)) for e in page.entries]
    older = url_with(before=encode_cursor(*page.next_cursor)) if page.next_cursor else None
    first = url_with(before=None) if cursor else None
    return render_template("audit/index.html", problem=None, entries=entries, older=older, first=first,
                           filtered=not f.is_empty(), **ctx)  # fmt: skip
