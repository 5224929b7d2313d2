"""The send log's CSV: any filter, every matching row, formula cells escaped, bad filters refused."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_the_csv_has_every_row_of_the_filter(db, login_as, add_deliveries, monkeypatch):
    monkeypatch.setattr("engine.delivery.log.EXPORT_CHUNK", 4)  # several read sessions
    ids = add_deliveries([{"account": "acme" if i % 2 else "initech", "status": "failed" if i % 3 else "sent",
                           "created_at": T0 + timedelta(seconds=i)} for i in range(30)]  # fmt: skip
                         + [{"account": "acme", "status": "failed", "reason": "=HYPERLINK(\"x\")", "contact": "@Ann"}])
    response = login_as("viewer").get("/admin/deliveries/export.csv?account=acme&status=failed")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    expected = [ids[i] for i in range(30) if i % 2 and i % 3] + [ids[30]]
    assert sorted(int(r["id"]) for r in rows) == sorted(expected)
    assert all(r["account"] == "acme" and r["status"] == "failed" for r in rows)
    special = next(r for r in rows if int(r["id"]) == ids[30])
    assert special["reason"] == "'=HYPERLINK(\"x\")" and special["contact_name"] == "'@Ann"


def test_a_bad_filter_is_a_400_before_any_row(db, login_as, add_deliveries):
    add_deliveries([{}])
    response = login_as("viewer").get("/admin/deliveries/export.csv?account=nobody")
    assert response.status_code == 400 and 'data-field="account"' in response.get_data(as_text=True)
