from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from engine.models import Account, Delivery, SegmentMembership
from engine.rules.overview import rules_overview
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules, pause_rule

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
NUDGE = """\
id: nudge
name: Nudge tech accounts
category: onboarding
when: {account.tier: tech}
trigger: {while_matching: {every: 7d}}
actions:
  - email: {template: a, to: role:admin}
"""
OTHER = """\
id: other
name: The other one
when: {account.tier: high}
trigger: {on_event: {events: [project_created]}}
actions:
  - email: {template: a, to: owner}
"""


@pytest.fixture
def applied(db):
    rules = [(validate_text(text, f"{rid}.yaml", expected_id=rid).rule, text) for rid, text in (("nudge", NUDGE), ("other", OTHER))]
    with db.session() as s:
        applied = {a.rule_id: a for a in apply_rules(s, rules, "ann")}
        account = s.scalar(insert(Account).values(external_id="acme", name="Acme").returning(Account.id))
    return applied, account


def _deliveries(db, applied, account, rows):
    with db.session() as s:
        for n, (rule_id, status, created_at) in enumerate(rows):
            s.execute(insert(Delivery).values(
                dedupe_key=f"k{n}", rule_id=rule_id, rule_version_id=applied[rule_id].version_id, action_index=0,
                channel="email", template="a", account_id=account, recipient="a@x.test", occurrence=str(n),
                status=status, created_at=created_at,
            ))  # fmt: skip


def test_one_summary_per_applied_rule_with_what_it_is(db, applied):
    with db.session() as s:
        found = {r.rule_id: r for r in rules_overview(s, NOW)}
    assert sorted(found) == ["nudge", "other"]
    nudge = found["nudge"]
    assert (nudge.name, nudge.category, nudge.trigger) == ("Nudge tech accounts", "onboarding", "while_matching every 7d")
    assert (nudge.state, nudge.paused_reason, nudge.version, nudge.author) == ("active", None, 1, "ann")
    assert nudge.last_evaluated_at is None
    assert found["other"].trigger == "on_event: project_created"
    assert found["other"].category == "general"


def test_counts_the_last_seven_days_by_status_edges_included(db, applied):
    applied_rules, account = applied
    week = timedelta(days=7)
    _deliveries(db, applied_rules, account, [
        ("nudge", "sent", NOW - week),  # the window's first instant: in
        ("nudge", "sent", NOW),  # now: in
        ("nudge", "sent", NOW - week - timedelta(microseconds=1)),  # just before: out
        ("nudge", "sent", NOW + timedelta(seconds=1)),  # after now (a clock ahead): out
        ("nudge", "held_out", NOW - timedelta(days=1)),
        ("nudge", "skipped", NOW - timedelta(days=2)),
        ("nudge", "skipped", NOW - timedelta(days=3)),
        ("nudge", "test", NOW - timedelta(days=1)),  # a test send is never counted as sent
        ("nudge", "pending", NOW - timedelta(days=1)),
        ("other", "sent", NOW - timedelta(hours=1)),
    ])  # fmt: skip
    with db.session() as s:
        found = {r.rule_id: r for r in rules_overview(s, NOW)}
    assert (found["nudge"].sent, found["nudge"].held_out, found["nudge"].skipped) == (2, 1, 2)
    assert (found["other"].sent, found["other"].held_out, found["other"].skipped) == (1, 0, 0)


def test_in_segment_counts_open_stays_only(db, applied):
    applied_rules, account = applied
    with db.session() as s:
        s.add(SegmentMembership(rule_id="nudge", subject_key=f"account:{account}", account_id=account))
        s.add(SegmentMembership(rule_id="other", subject_key=f"account:{account}", account_id=account,
                                exited_at=NOW - timedelta(days=1)))  # fmt: skip
    with db.session() as s:
        found = {r.rule_id: r for r in rules_overview(s, NOW)}
    assert (found["nudge"].in_segment, found["other"].in_segment) == (1, 0)


def test_paused_with_its_reason_and_tripped_by_the_circuit_breaker(db, applied):
    with db.session() as s:
        pause_rule(s, "nudge", "copy review")
        pause_rule(s, "other", "circuit breaker: more than 1,000 messages in one cycle (...)")
    with db.session() as s:
        found = {r.rule_id: r for r in rules_overview(s, NOW)}
    assert (found["nudge"].state, found["nudge"].paused_reason) == ("paused", "copy review")
    assert found["other"].state == "tripped"
    assert found["other"].paused_reason.startswith("circuit breaker:")


def test_no_rules_applied_is_an_empty_list(db):
    with db.session() as s:
        assert rules_overview(s, NOW) == []
