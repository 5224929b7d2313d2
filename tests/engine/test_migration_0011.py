"""Migration 0011 tells the stubs of an existing database from the accounts already described."""

from datetime import datetime, timezone

from sqlalchemy import text

from engine import migrate
from engine.ingest import upsert_accounts
from engine.models import Account

CREATED = datetime(2026, 10, 1, 12, 0)


def test_existing_accounts_are_described_since_created_unless_they_are_still_stubs(db):
    """On the test database (SQLite, or PostgreSQL when configured): back to 0010, rows, up again."""
    migrate.downgrade(db, "0010")
    try:
        _fill_and_upgrade(db)
    finally:
        migrate.upgrade(db)


def _fill_and_upgrade(db):
    columns = "external_id, name, tier, owner, traits, created_at, updated_at"
    with db.engine.begin() as conn:
        insert = text(f"INSERT INTO accounts ({columns}) VALUES (:id, :name, :tier, :owner, :traits, :at, :at)")
        for row in (
            {"id": "stub", "name": "stub", "tier": "tech", "owner": None, "traits": "{}"},
            {"id": "named", "name": "Named Inc", "tier": "tech", "owner": None, "traits": "{}"},
            {"id": "owned", "name": "owned", "tier": "tech", "owner": "bob", "traits": "{}"},
            {"id": "traits", "name": "traits", "tier": "tech", "owner": None, "traits": '{"seats": 3}'},
            {"id": "changed", "name": "changed", "tier": "tech", "owner": None, "traits": "{}"},
        ):
            conn.execute(insert, {**row, "at": CREATED})
        conn.execute(
            text(
                "INSERT INTO account_changes (account_id, field, old_value, new_value, changed_at, source) "
                "SELECT id, 'owner', 'kim', NULL, :at, 'api' FROM accounts WHERE external_id = 'changed'"
            ),
            {"at": CREATED},
        )
    migrate.upgrade(db)
    with db.session() as session:
        described = {a.external_id: a.described_at for a in session.query(Account)}
        assert described == {
            "stub": None,
            "named": CREATED.replace(tzinfo=timezone.utc),
            "owned": CREATED.replace(tzinfo=timezone.utc),
            "traits": CREATED.replace(tzinfo=timezone.utc),
            "changed": CREATED.replace(tzinfo=timezone.utc),
        }
        # The stub's first description after the upgrade is its initial state.
        upsert_accounts(session, [{"id": "stub", "owner": "bob", "tier": "low"}, {"id": "owned", "owner": "carol"}])
    with db.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT a.external_id, c.field FROM account_changes c JOIN accounts a ON a.id = c.account_id")
        ).all()
    assert sorted(rows) == [("changed", "owner"), ("owned", "owner")]
