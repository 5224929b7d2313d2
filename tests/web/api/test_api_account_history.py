"""POST /api/v1/accounts: changed_at dates a change; a bad one rejects its record only."""

from datetime import datetime, timezone

from sqlalchemy import select

from engine.models import Account, AccountChange


def history(db):
    with db.read_session() as s:
        return s.execute(
            select(AccountChange.field, AccountChange.old_value, AccountChange.new_value, AccountChange.changed_at)
            .order_by(AccountChange.changed_at)
        ).all()


def test_events_then_accounts_record_no_change_and_changed_at_dates_a_real_one(client, auth, db):
    events = client.post("/api/v1/events", headers=auth, json={"events": [{"id": "e1", "account_id": "acme", "name": "login"}]})
    assert events.status_code == 200
    first = {"id": "acme", "name": "Acme", "owner": "bob", "tier": "low", "plan": "team", "changed_at": "2026-01-05T00:00:00Z"}
    assert client.post("/api/v1/accounts", headers=auth, json={"accounts": [first]}).status_code == 200
    assert history(db) == []

    moved = {"id": "acme", "owner": "carol", "changed_at": "2026-11-02T09:30:00+09:00"}
    answer = client.post("/api/v1/accounts", headers=auth, json={"accounts": [moved]})
    assert (answer.status_code, answer.json) == (200, {"accepted": 1, "duplicates": 0, "rejected": []})
    assert [tuple(r) for r in history(db)] == [("owner", "bob", "carol", datetime(2026, 11, 2, 0, 30, tzinfo=timezone.utc))]


def test_a_bad_changed_at_is_a_per_record_rejection(client, auth, db):
    answer = client.post(
        "/api/v1/accounts",
        headers=auth,
        json={"accounts": [
            {"id": "acme", "owner": "bob"},
            {"id": "beta", "owner": "kim", "changed_at": "2026-11-02 09:30"},
            {"id": "gamma", "owner": "lee", "changed_at": "2999-01-01T00:00:00Z"},
        ]},
    )
    assert answer.status_code == 207
    rejected = {(e["index"], e["field"], e["id"]) for e in answer.json["rejected"]}
    assert rejected == {(1, "changed_at", "beta"), (2, "changed_at", "gamma")}
    reasons = [e["reason"] for e in answer.json["rejected"]]
    assert any("has no timezone" in r for r in reasons) and any("in the future" in r for r in reasons)
    with db.read_session() as s:
        assert s.scalars(select(Account.external_id)).all() == ["acme"]
