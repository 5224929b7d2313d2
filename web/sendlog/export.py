"""The send log as CSV: any filter, streamed in keyset chunks with a short read session each."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import render_template, request

from engine.delivery.log import EXPORT_HEADER, FilterError, export_record, export_rows, page
from web.auth.roles import role_required
from web.context import get_db
from web.export import stream_csv
from web.sendlog.views import bp, read_filter


@bp.get("/export.csv")
@role_required("viewer")
def export_csv():
    db = get_db()
    try:
        f = read_filter(request.args)
        with db.read_session() as session:  # an unknown rule or account is refused before streaming
            page(session, f, limit=1)
    except FilterError as exc:
        return render_template("sendlog/export_error.html", error=exc), 400
    filename = f"deliveries-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    return stream_csv(filename, EXPORT_HEADER, (export_record(row) for row in export_rows(db, f)))
