"""The planted campaign in the demo plan (engine.demo.generate.CampaignPlan): opt-in, apart from
the default dataset, deterministic, and shaped as the campaign's rule needs it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from engine.delivery.holdout import in_holdout
from engine.demo.generate import (
    CAMPAIGN_GOAL,
    CAMPAIGN_MIN_DAYS,
    COHORT,
    CYCLE,
    CampaignPlan,
    build_plan,
    cohort_events,
)

REF = datetime(2026, 3, 2, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def flat(plan):
    """Everything a plan seeds, as plain data (records, contacts, events)."""
    accounts = [(a.record, a.contacts, a.signup_at) for a in plan.accounts]
    cohort = [(m.account.record, m.account.contacts, m.arm, m.entered_at, m.left_at, m.converted_at) for m in plan.cohort]
    return accounts, cohort, list(plan.events())


def test_the_default_plan_is_the_same_with_or_without_a_campaign():
    plain = build_plan(60, 7, 60, REF)
    explicit = build_plan(60, 7, 60, REF, campaign=None)
    planted = build_plan(60, 7, 60, REF, campaign=CampaignPlan(uplift=0.15, cohort=50))
    assert flat(plain) == flat(explicit)
    assert plain.cohort == [] and plain.campaign is None
    # The demo's own accounts and events come out exactly as before; the cohort's come after them.
    accounts, _, events = flat(plain)
    p_accounts, p_cohort, p_events = flat(planted)
    assert p_accounts == accounts and len(p_cohort) == 50
    assert p_events[: len(events)] == events
    assert {e["account_id"] for e in p_events[len(events) :]} == {m.account.external_id for m in planted.cohort}
    assert planted.archetype_counts() == plain.archetype_counts() and planted.tier_counts() == plain.tier_counts()


def test_the_cohort_is_deterministic_and_follows_the_seed():
    campaign = CampaignPlan(uplift=0.15, cohort=40)
    first = build_plan(10, 3, 60, REF, campaign=campaign)
    again = build_plan(10, 3, 60, REF + timedelta(hours=20), campaign=campaign)  # the same UTC day
    other = build_plan(10, 4, 60, REF, campaign=campaign)
    assert flat(first) == flat(again)
    assert flat(first)[1] != flat(other)[1]
    # The cohort does not depend on how many demo accounts come before it.
    assert flat(build_plan(25, 3, 60, REF, campaign=campaign))[1] == flat(first)[1]


def test_cohort_accounts_are_what_the_campaign_rule_needs():
    campaign = CampaignPlan(uplift=0.15, cohort=300)
    plan = build_plan(30, 42, 60, REF, campaign=campaign)
    demo_ids = {a.external_id for a in plan.accounts}
    demo_emails = {c["email"] for a in plan.accounts for c in a.contacts}
    emails = set()
    for m in plan.cohort:
        a = m.account
        assert a.tier == "tech" and a.archetype == COHORT == a.record["traits"]["archetype"]
        assert a.external_id.startswith("acct-c") and a.external_id not in demo_ids
        for c in a.contacts:
            assert c["email"] not in demo_emails | emails
            emails.add(c["email"])
        assert a.contacts[0]["role"] == "admin"
        # Signed up 45-60 days ago: out of the rule's 7-30 day segment at R, every window over.
        assert REF - timedelta(days=60) < a.signup_at <= REF - timedelta(days=45)
        # Entered the segment at the first 15-minute cycle a week after signup; left at 30 days.
        assert timedelta(0) <= m.entered_at - (a.signup_at + 7 * DAY) < CYCLE
        assert m.entered_at.minute % 15 == 0 and m.entered_at.second == 0
        assert timedelta(0) <= m.left_at - (a.signup_at + 30 * DAY) < CYCLE
        assert m.entered_at + campaign.within_days * DAY < REF - 20 * DAY
        # The arm is the rule's own holdout draw.
        assert m.arm == ("control" if in_holdout(campaign.rule_id, a.external_id, campaign.holdout) else "treated")

        events = cohort_events(m, plan)
        times = {e["id"]: datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in events}
        assert all(a.signup_at <= t < REF for t in times.values())
        goals = sorted(times[e["id"]] for e in events if e["name"] == CAMPAIGN_GOAL)
        assert not any(e["name"] == "report_run" for e in events)
        if m.converted_at is None:
            assert goals == []  # never a project: not inside the window, not before, not after
        else:
            assert goals[0] == m.converted_at  # the planted conversion is the first project
            assert m.entered_at + 3 * DAY <= m.converted_at < m.entered_at + (campaign.within_days - 1) * DAY
        assert any(e["name"] == "login" and times[e["id"]] >= REF - 7 * DAY for e in events)
        assert len(times) == len(events)


def test_conversions_are_drawn_with_the_planted_rates():
    campaign = CampaignPlan(uplift=0.15, control_rate=0.2, cohort=4000, holdout=50)
    plan = build_plan(1, 1, 60, REF, campaign=campaign)
    for arm, rate in (("treated", 0.35), ("control", 0.2)):
        members = [m for m in plan.cohort if m.arm == arm]
        converted = sum(m.converted_at is not None for m in members)
        assert abs(converted / len(members) - rate) < 4 * math.sqrt(rate * (1 - rate) / len(members)), arm
    assert abs(sum(m.arm == "control" for m in plan.cohort) / 4000 - 0.5) < 0.04


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uplift": 0.9}, "outside 0-100%"),
        ({"uplift": -0.3}, "outside 0-100%"),
        ({"uplift": 0.1, "control_rate": 1.2}, "not a probability"),
        ({"uplift": 0.1, "cohort": 0}, "at least 1"),
        ({"uplift": 0.1, "holdout": 0}, "control group"),
        ({"uplift": 0.1, "within_days": 3}, "at least 5"),
    ],
)
def test_a_campaign_that_cannot_be_planted_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CampaignPlan(**kwargs)


def test_a_campaign_needs_its_history():
    with pytest.raises(ValueError, match=f"at least {CAMPAIGN_MIN_DAYS}"):
        build_plan(10, 1, CAMPAIGN_MIN_DAYS - 1, REF, campaign=CampaignPlan(uplift=0.1))
    assert build_plan(10, 1, CAMPAIGN_MIN_DAYS - 1, REF).cohort == []  # without one, as before
