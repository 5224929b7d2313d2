"""The incremental cycle: after a full evaluation, only what changed is re-checked, and nothing is missed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from engine.db import Database
from engine.ingest import track_events, upsert_accounts
from engine.models import Account
from engine.rules import changes
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules

NOW = datetime.now(timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0)
STEP = timedelta(minutes=15)

TEMPLATE = """\
id: {id}
name: Test
when:
{when}
actions:
  - in_app: {{template: t, to: contacts}}
"""


@pytest.fixture(autouse=True)
def _no_margins(monkeypatch):
    # The margins re-check recent writes for safety; here every write is recent, so they would hide what is tested.
    monkeypatch.setattr(changes, "UPDATED_MARGIN", timedelta(0))
    monkeypatch.setattr(changes, "EVENT_ID_LAG", 0)


def apply(db: Database, rule_id: str, when: str) -> None:
    text = TEMPLATE.format(id=rule_id, when=when)
    result = validate_text(text, f"{rule_id}.yaml", expected_id=rule_id)
    assert result.rule is not None, result.problems
    with db.session() as s:
        apply_rules(s, [(result.rule, text)], author="test")


def cycle(db: Database, now: datetime, full: bool = False):
    with db.read_session() as s:
        rules = active_rules(s)
    report = run_cycle(db, rules, now, only_due=False, full=full)
    assert report.summary()["error"] == 0, report.summary()
    return report.by_rule()


def accounts(db: Database, **plans: str) -> dict[str, int]:
    with db.session() as s:
        upsert_accounts(s, [{"id": a, "name": a, "plan": p} for a, p in plans.items()])
        return {a: s.query(Account.id).filter(Account.external_id == a).scalar() for a in plans}


def caught_up(db: Database, now: datetime) -> None:
    """A forced full evaluation at the same now finds nothing the incremental one missed."""
    for outcome in cycle(db, now, full=True).values():
        assert (outcome.entered, outcome.exited) == (0, 0), outcome


def test_only_changed_accounts_are_rechecked(db):
    ids = accounts(db, a="trial", b="pro", c="pro")
    apply(db, "trials", "  account.plan: trial")
    first = cycle(db, NOW)["trials"]
    assert (first.mode, first.entered) == ("full", 1)
    accounts(db, b="trial")  # an upsert that changes the plan
    second = cycle(db, NOW + STEP)["trials"]
    assert (second.mode, second.checked, second.entered) == ("incremental", 1, 1)
    caught_up(db, NOW + STEP)
    assert ids


def test_new_events_make_an_account_checked(db):
    accounts(db, a="pro", b="pro")
    apply(db, "active", "  event.login.count: {in_last: 7d, gte: 1}")
    assert cycle(db, NOW)["active"].entered == 0
    with db.session() as s:
        track_events(s, [{"account_id": "a", "name": "login", "timestamp": (NOW - timedelta(hours=1)).isoformat()}])
    second = cycle(db, NOW + STEP)["active"]
    assert (second.mode, second.checked, second.entered) == ("incremental", 1, 1)
    caught_up(db, NOW + STEP)


def test_time_passing_a_relative_boundary_is_checked_without_any_write(db):
    accounts(db, a="pro", b="pro")
    with db.session() as s:  # a signs up 7 days before NOW + 10 minutes: it crosses "older than 7d" between cycles
        s.execute(update(Account).where(Account.external_id == "a").values(signup_at=NOW - timedelta(days=7) + timedelta(minutes=10)))
        s.execute(update(Account).where(Account.external_id == "b").values(signup_at=NOW - timedelta(days=2)))
    apply(db, "settled", "  account.signup_at: {older_than: 7d}")
    assert cycle(db, NOW)["settled"].entered == 0
    second = cycle(db, NOW + STEP)["settled"]
    assert (second.mode, second.checked, second.entered) == ("incremental", 1, 1)
    caught_up(db, NOW + STEP)


@pytest.mark.parametrize(
    "later, reason",
    [(timedelta(days=1), "a new UTC day"), (changes.FULL_EVERY, "more than")],
)
def test_a_new_day_or_an_old_full_evaluation_means_a_full_one(db, later, reason):
    accounts(db, a="trial")
    apply(db, "trials", "  account.plan: trial")
    cycle(db, NOW)
    outcome = cycle(db, NOW + later)["trials"]
    assert outcome.mode == "full" and reason in outcome.reason


def test_a_new_version_and_reading_deliveries_mean_full_evaluations(db):
    accounts(db, a="trial")
    apply(db, "trials", "  account.plan: trial")
    apply(db, "after", "  received: {rule: trials}")
    cycle(db, NOW)
    apply(db, "trials", "  account.plan: pro")
    outcomes = cycle(db, NOW + STEP)
    assert outcomes["trials"].mode == "full" and "new version" in outcomes["trials"].reason
    assert outcomes["after"].mode == "full" and "deliveries" in outcomes["after"].reason
    assert outcomes["trials"].exited == 1


def test_a_contact_moving_to_another_account_keeps_its_stay_with_the_new_account(db):
    from sqlalchemy import select

    from engine.ingest import upsert_contacts
    from engine.models import SegmentMembership

    ids = accounts(db, a="pro", b="pro")
    with db.session() as s:
        upsert_contacts(s, [{"id": "c1", "account_id": "a", "email": "c1@a.test", "role": "admin"}])
    text = TEMPLATE.format(id="admins", when="  contact.role: admin").replace("name: Test", "name: Test\nlevel: contact")
    result = validate_text(text, "admins.yaml", expected_id="admins")
    assert result.rule is not None, result.problems
    with db.session() as s:
        apply_rules(s, [(result.rule, text)], author="test")
    assert cycle(db, NOW)["admins"].entered == 1
    with db.session() as s:
        upsert_contacts(s, [{"id": "c1", "account_id": "b", "email": "c1@a.test", "role": "admin"}])
    second = cycle(db, NOW + STEP)["admins"]
    assert (second.mode, second.entered, second.exited) == ("incremental", 0, 0)
    with db.read_session() as s:
        assert s.scalars(select(SegmentMembership.account_id)).all() == [ids["b"]]
    caught_up(db, NOW + STEP)
