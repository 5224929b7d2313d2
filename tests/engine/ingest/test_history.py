"""The history of owner, tier and plan: a stub's first description is its initial
state, and a change can carry the time it really happened (changed_at)."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.models import Account, AccountChange, utcnow
from engine.rules.compiler import matching_account_ids
from engine.rules.evaluate import evaluate
from engine.rules.facts import events_of, load_facts
from engine.rules.validate import validate_file

RULES = Path(__file__).resolve().parents[3] / "rules"


def history(session, account="acme", field=None):
    stmt = (
        select(AccountChange)
        .join(Account)
        .where(Account.external_id == account)
        .order_by(AccountChange.changed_at, AccountChange.id)
    )
    if field:
        stmt = stmt.where(AccountChange.field == field)
    return [(c.field, c.old_value, c.new_value, c.changed_at) for c in session.scalars(stmt)]


def account(session, external_id="acme"):
    return session.scalar(select(Account).where(Account.external_id == external_id))


def at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def owner_changed_rule_matches(session, external_id="acme", now=None):
    """Whether the shipped owner-change rule holds for this account, in SQL and in Python (they must agree)."""
    result = validate_file(RULES / "owner-changed-high-touch.yaml")
    assert result.ok, result.problems
    rule = result.rule
    now = now or utcnow()
    session.flush()
    acme = account(session, external_id)
    in_sql = acme.id in matching_account_ids(session, rule.when, now)
    in_python = evaluate(rule.when, load_facts(session, acme.id, now, events_of(rule.when)), now)
    assert in_sql == in_python
    return in_sql


# -- a stub's first description ------------------------------------------------


def test_filling_in_a_stub_made_by_an_event_records_no_change(session):
    track_events(session, [{"id": "e1", "account_id": "acme", "name": "login"}])
    assert account(session).described_at is None  # a stub: nothing about it is known yet
    upsert_accounts(session, [{"id": "acme", "name": "Acme", "owner": "bob", "tier": "low", "plan": "team"}], source="import")
    acme = account(session)
    assert (acme.name, acme.owner, acme.tier, acme.plan) == ("Acme", "bob", "low", "team")
    assert history(session) == []
    assert acme.described_at is not None


def test_filling_in_a_stub_made_by_a_contact_records_no_change(session):
    upsert_contacts(session, [{"id": "u1", "account_id": "acme", "email": "u1@acme.test"}])
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "tier": "high"}])
    assert history(session) == []


def test_after_the_first_description_a_change_is_a_change(session):
    track_events(session, [{"id": "e1", "account_id": "acme", "name": "login"}])
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "tier": "low"}])
    upsert_accounts(session, [{"id": "acme", "owner": "carol"}], source="import")
    [(field, old, new, when)] = history(session)
    assert (field, old, new) == ("owner", "bob", "carol")
    assert utcnow() - when < timedelta(minutes=1)
    # An owner given for the first time after the first description is a change too.
    upsert_accounts(session, [{"id": "other", "name": "Other"}])
    upsert_accounts(session, [{"id": "other", "owner": "dan"}])
    assert [(f, o, n) for f, o, n, _ in history(session, "other")] == [("owner", None, "dan")]


def test_shipped_owner_change_rule_ignores_a_stub_filled_in_and_fires_on_a_real_change(session):
    track_events(session, [{"id": "e1", "account_id": "acme", "name": "login"}])
    upsert_accounts(session, [{"id": "acme", "name": "Acme", "owner": "bob", "tier": "low", "plan": "team"}], source="import")
    assert not owner_changed_rule_matches(session)
    upsert_accounts(session, [{"id": "acme", "owner": "carol"}])
    assert owner_changed_rule_matches(session)


# -- changed_at: when a change really happened ---------------------------------


def test_a_dated_change_is_recorded_at_its_time(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice", "tier": "low", "changed_at": "2025-01-10T09:00:00Z"}])
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": "2025-03-01T09:00:00+09:00"}])
    assert history(session) == [("owner", "alice", "bob", at("2025-03-01T00:00:00Z"))]
    assert account(session).owner == "bob"
    # Long ago: the shipped rule does not see it as a recent change.
    assert not owner_changed_rule_matches(session)


def test_a_recent_dated_change_fires_the_owner_rule(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice", "tier": "low"}])
    five_days_ago = (utcnow() - timedelta(days=5)).isoformat()
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": five_days_ago}])
    assert owner_changed_rule_matches(session)
    assert not owner_changed_rule_matches(session, now=utcnow() + timedelta(days=30))


def test_an_older_change_goes_into_its_place_and_the_newest_stays_current(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice", "changed_at": "2025-01-01T00:00:00Z"}])
    upsert_accounts(session, [{"id": "acme", "owner": "carol", "changed_at": "2025-06-01T00:00:00Z"}])
    # From a CRM export, after the fact: bob owned it from March.
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": "2025-03-01T00:00:00Z"}])
    assert [(o, n, w) for _, o, n, w in history(session)] == [
        ("alice", "bob", at("2025-03-01T00:00:00Z")),
        ("bob", "carol", at("2025-06-01T00:00:00Z")),  # its old value follows the history
    ]
    assert account(session).owner == "carol"


def test_a_dated_change_replaces_the_one_recorded_when_it_was_learnt(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice", "tier": "low", "changed_at": "2025-01-01T00:00:00Z"}])
    upsert_accounts(session, [{"id": "acme", "owner": "bob"}])  # recorded now
    assert owner_changed_rule_matches(session)
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": "2025-03-01T00:00:00Z"}])
    assert [(o, n, w) for _, o, n, w in history(session)] == [("alice", "bob", at("2025-03-01T00:00:00Z"))]
    assert not owner_changed_rule_matches(session)


def test_history_loaded_in_any_order_comes_out_the_same(db):
    rows = [
        {"id": "acme", "owner": "alice", "plan": "free", "changed_at": "2024-01-01T00:00:00Z"},
        {"id": "acme", "owner": "bob", "changed_at": "2024-06-01T00:00:00Z"},
        {"id": "acme", "owner": "carol", "plan": "team", "changed_at": "2025-02-01T00:00:00Z"},
        {"id": "acme", "owner": "carol", "changed_at": "2025-03-01T00:00:00Z"},  # says nothing new
    ]
    expected = [
        ("owner", "alice", "bob", at("2024-06-01T00:00:00Z")),
        ("owner", "bob", "carol", at("2025-02-01T00:00:00Z")),
        ("plan", "free", "team", at("2025-02-01T00:00:00Z")),
    ]
    orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]
    for order in orders:
        for one_batch in (False, True):
            with db.session() as session:
                session.execute(Account.__table__.delete())
                # Known first from an undated import, as a CRM sync would have left it.
                upsert_accounts(session, [{"id": "acme", "owner": "carol", "plan": "team"}])
                batches = [[rows[i] for i in order]] if one_batch else [[rows[i]] for i in order]
                for batch in batches:
                    result = upsert_accounts(session, batch, source="import")
                    assert result.rejected == []
                assert sorted(history(session), key=lambda c: (c[3], c[0])) == expected, (order, one_batch)
                acme = account(session)
                assert (acme.owner, acme.plan) == ("carol", "team")


def test_a_dated_record_for_a_new_account_is_its_initial_state(session):
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": "2025-03-01T00:00:00Z"}])
    assert history(session) == []
    assert account(session).described_at == at("2025-03-01T00:00:00Z")


def test_sending_a_dated_change_again_changes_nothing(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice"}])
    record = {"id": "acme", "owner": "bob", "changed_at": "2025-03-01T00:00:00Z"}
    upsert_accounts(session, [record])
    first = history(session)
    upsert_accounts(session, [record])
    assert history(session) == first and len(first) == 1


def test_a_backdated_change_marks_the_account_for_the_incremental_cycle(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice", "changed_at": "2025-01-01T00:00:00Z"}])
    upsert_accounts(session, [{"id": "acme", "owner": "carol", "changed_at": "2025-06-01T00:00:00Z"}])
    session.flush()
    before = account(session).updated_at
    upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": "2025-03-01T00:00:00Z"}])
    session.flush()
    assert account(session).updated_at > before


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2025-03-01T09:00:00", "has no timezone"),
        ("2025-03-01", "has no timezone"),
        ("yesterday", "is not an ISO 8601"),
        (1740800000, "expected an ISO 8601"),
        ("2999-01-01T00:00:00Z", "in the future"),
    ],
)
def test_a_bad_changed_at_rejects_its_record_only(session, value, reason):
    upsert_accounts(session, [{"id": "acme", "owner": "alice"}])
    result = upsert_accounts(
        session,
        [{"id": "acme", "owner": "bob", "changed_at": value}, {"id": "beta", "owner": "kim"}],
    )
    assert result.accepted == 1
    [error] = result.rejected
    assert (error.index, error.field, error.id) == (0, "changed_at", "acme")
    assert reason in error.reason
    assert account(session).owner == "alice" and history(session) == []


def test_a_clock_a_little_ahead_is_taken_as_now(session):
    upsert_accounts(session, [{"id": "acme", "owner": "alice"}])
    ahead = (utcnow() + timedelta(minutes=2)).isoformat()
    assert upsert_accounts(session, [{"id": "acme", "owner": "bob", "changed_at": ahead}]).rejected == []
    [(_, _, _, when)] = history(session)
    assert when <= utcnow()


def test_a_differing_value_dated_before_the_first_description_changed_at_that_description(session):
    # Described (undated) as alice at import; the CRM says carol from June 2025. Both hold:
    # carol before, alice from the import on, so the change is dated the import.
    upsert_accounts(session, [{"id": "acme", "owner": "alice"}])
    described = account(session).described_at
    upsert_accounts(session, [{"id": "acme", "owner": "carol", "changed_at": "2025-06-01T00:00:00Z"}])
    assert history(session) == [("owner", "carol", "alice", described)]
    assert account(session).owner == "alice"
