"""Importing accounts after their events, and a CRM's owner history with its real dates."""

import json
from datetime import datetime, timezone

from click.testing import CliRunner
from sqlalchemy import select

from engine.cli import cli
from engine.importer import import_file
from engine.models import Account, AccountChange


def run(*args):
    return CliRunner().invoke(cli, ["import", *map(str, args)])


def changes(db):
    with db.read_session() as s:
        rows = s.execute(
            select(Account.external_id, AccountChange.field, AccountChange.old_value, AccountChange.new_value,
                   AccountChange.changed_at, AccountChange.source)
            .join(Account)
            .order_by(Account.external_id, AccountChange.changed_at)
        )
        return [tuple(r) for r in rows]


def test_accounts_imported_after_their_events_record_no_changes(db, tmp_path):
    events = tmp_path / "events.ndjson"
    events.write_text(
        "".join(json.dumps({"id": f"e-{a}", "account_id": a, "name": "login"}) + "\n" for a in ("acme", "beta")),
        encoding="utf-8",
    )
    assert run("events", events).exit_code == 0
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("id,name,owner,tier,plan\nacme,Acme,bob,low,team\nbeta,Beta,kim,high,\n", encoding="utf-8")
    result = run("accounts", accounts)
    assert result.exit_code == 0, result.output
    assert changes(db) == []
    with db.read_session() as s:
        assert s.scalars(select(Account.owner).order_by(Account.external_id)).all() == ["bob", "kim"]


def test_a_csv_changed_at_column_dates_the_changes_and_bad_values_are_reported_by_line(db, tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("id,owner,tier\nacme,carol,low\n", encoding="utf-8")
    assert run("accounts", accounts).exit_code == 0
    # The CRM's owner history, newest first, loaded after the accounts.
    history = tmp_path / "owners.csv"
    history.write_text(
        "id,owner,changed_at\n"
        "acme,carol,2025-06-01T09:00:00+02:00\n"
        "acme,bob,2025-03-01T00:00:00Z\n"
        "acme,dan,2025-04-01\n"
        "acme,erin,2999-01-01T00:00:00Z\n"
        "acme,alice,2025-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    summary = import_file(db, "accounts", history)
    assert (summary.stored, summary.exit_code) == (3, 1)
    problems = [(e.line, e.field) for e in summary.first_errors]
    assert problems == [(4, "changed_at"), (5, "changed_at")]
    assert "has no timezone" in summary.first_errors[0].reason
    assert "in the future" in summary.first_errors[1].reason
    utc = timezone.utc
    assert changes(db) == [
        ("acme", "owner", "alice", "bob", datetime(2025, 3, 1, tzinfo=utc), "import"),
        ("acme", "owner", "bob", "carol", datetime(2025, 6, 1, 7, tzinfo=utc), "import"),
    ]
    with db.read_session() as s:
        assert s.scalar(select(Account.owner)) == "carol"
    # Importing the same file again changes nothing.
    import_file(db, "accounts", history)
    assert len(changes(db)) == 2


def test_ndjson_changed_at_field(db, tmp_path):
    path = tmp_path / "accounts.ndjson"
    path.write_text(
        json.dumps({"id": "acme", "plan": "free", "changed_at": "2025-01-01T00:00:00Z"}) + "\n"
        + json.dumps({"id": "acme", "plan": "team", "changed_at": "2025-02-01T00:00:00Z"}) + "\n"
        + json.dumps({"id": "acme", "plan": "pro", "changed_at": 1740000000}) + "\n",
        encoding="utf-8",
    )
    summary = import_file(db, "accounts", path)
    assert [(e.line, e.field) for e in summary.first_errors] == [(3, "changed_at")]
    assert [c[1:5] for c in changes(db)] == [("plan", "free", "team", datetime(2025, 2, 1, tzinfo=timezone.utc))]
