"""Recording a planted campaign's past deliveries (engine.demo.campaign) once its rule is applied."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.delivery.policy import load_policy
from engine.delivery.windows import is_open, resolve_timezone
from engine.demo import seed
from engine.demo.campaign import PROVIDER_RESPONSE, CampaignError, campaign_for, record_campaign, rule_problems
from engine.demo.generate import CampaignPlan, build_plan
from engine.models import Account, Contact, Delivery, SegmentMembership
from engine.rules.firing import dedupe_key
from engine.rules.validate import validate_text
from engine.rules.versions import RuleSource, apply_rules, read_rules

RULES = Path(__file__).resolve().parents[3] / "rules"
RULE_ID = "onboarding-stalled-day7"
REF = datetime(2026, 3, 2, tzinfo=timezone.utc)
CAMPAIGN = CampaignPlan(uplift=0.15, cohort=40)


@pytest.fixture(autouse=True)
def _long_retention(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "36500")


def shipped_rule() -> RuleSource:
    loaded = read_rules([str(RULES)])
    return next(s for s in loaded.rules if s.rule.id == RULE_ID)


def apply(db, source: RuleSource) -> None:
    with db.session() as s:
        apply_rules(s, [source], "test")


def seeded(db, campaign: CampaignPlan = CAMPAIGN):
    seed(db, accounts=5, seed=3, days=60, now=REF, campaign=campaign)
    return build_plan(5, 3, 60, REF, campaign=campaign)


def test_the_shipped_rule_carries_the_default_campaign():
    planned = campaign_for(shipped_rule().rule, uplift=0.15)
    assert planned == CampaignPlan(uplift=0.15)  # holdout 10%, project_created within 14 days


def test_the_campaign_is_written_as_the_rule_fires_and_sends(db):
    plan = seeded(db)
    source = shipped_rule()
    apply(db, source)
    recorded = record_campaign(db, plan)
    members = {m.account.external_id: m for m in plan.cohort}
    arms = {arm: sum(m.arm == arm for m in plan.cohort) for arm in ("treated", "control")}
    assert (recorded.accounts, recorded.already, recorded.other) == (40, 0, 0)
    assert (recorded.treated, recorded.control) == (arms["treated"], arms["control"]) and arms["control"] > 0

    window = source.rule.send_window
    with db.read_session() as s:
        ext = dict(s.execute(select(Account.id, Account.external_id)).all())
        contacts = {c.id: c for c in s.scalars(select(Contact))}
        stays = {ext[m.account_id]: m for m in s.scalars(select(SegmentMembership))}
        rows = s.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert set(stays) == set(members)
    for external_id, stay in stays.items():
        m = members[external_id]
        assert (stay.rule_id, stay.subject_key) == (RULE_ID, f"account:{stay.account_id}")
        assert (stay.entered_at, stay.exited_at, stay.last_fired_at) == (m.entered_at, m.left_at, m.entered_at)

    assert len(rows) == 2 * 40  # an email and an in-app nudge to each account's one admin
    for row in rows:
        m, stay = members[ext[row.account_id]], stays[ext[row.account_id]]
        assert row.occurrence == f"enter:{stay.id}"
        assert row.dedupe_key == dedupe_key(RULE_ID, row.action_index, row.recipient, row.occurrence)
        assert row.created_at == m.entered_at and contacts[row.contact_id].role == "admin"
        assert row.channel == ("email", "in_app")[row.action_index]
        # Why it fired, as the cycle saw it then: every condition held.
        assert row.explanation["at"] == m.entered_at.isoformat() and row.explanation["tree"]["ok"] is True
        if m.arm == "control":
            assert row.status == "held_out" and row.sent_at is None and row.reason.startswith("holdout:")
            continue
        assert row.status == "sent" and row.provider_response == PROVIDER_RESPONSE and row.reason is None
        contact = contacts[row.contact_id]
        zone = resolve_timezone(window, contact.timezone, None).zone
        assert is_open(window, zone, row.due_at) and row.due_at >= row.created_at
        assert timedelta(seconds=30) <= row.sent_at - row.due_at < timedelta(minutes=4)
        if m.converted_at is not None:  # the planted conversion lies in the window the first send opens
            assert row.sent_at <= m.converted_at < row.sent_at + timedelta(days=14)

    # Recording again changes nothing.
    again = record_campaign(db, plan)
    assert (again.accounts, again.already, again.sent, again.held_out) == (0, 40, 0, 0)
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == len(rows)
        assert s.scalar(select(func.count()).select_from(SegmentMembership)) == 40


def test_accounts_in_the_global_holdout_are_in_neither_arm(db, tmp_path):
    plan = seeded(db)
    apply(db, shipped_rule())
    path = tmp_path / "policy.yaml"
    path.write_text("global_holdout: {percent: 20%, measure: {event: login, within: 30d}}\n")
    recorded = record_campaign(db, plan, policy=load_policy(path))
    assert recorded.other > 0 and recorded.treated + recorded.control + recorded.other == 40
    with db.read_session() as s:
        reasons = set(s.scalars(select(Delivery.reason).where(Delivery.status == "skipped")))
    assert reasons == {"global holdout: in the program's 20% control group"}


def test_the_rule_must_be_applied_and_fit_the_plan(db):
    plan = seeded(db)
    with pytest.raises(CampaignError, match="not applied"):
        record_campaign(db, plan)
    source = shipped_rule()
    text = source.content.replace("holdout: 10%", "holdout: 20%")
    apply(db, RuleSource(validate_text(text, f"{RULE_ID}.yaml", expected_id=RULE_ID).rule, text))
    with pytest.raises(CampaignError, match="holdout is 20%, the campaign's arms were drawn for 10%"):
        record_campaign(db, plan)
    with db.read_session() as s:  # nothing written
        assert s.scalar(select(func.count()).select_from(SegmentMembership)) == 0
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
    text = source.content.replace("within: 14d", "within: 7d").replace("holdout: 10%", "holdout: 0%")
    rule = validate_text(text, f"{RULE_ID}.yaml", expected_id=RULE_ID).rule
    assert rule_problems(rule, CAMPAIGN) == ["it has no holdout",
                                             "its goal window is 7 days, the conversions were planted for 14"]  # fmt: skip
    with pytest.raises(CampaignError, match="cannot carry the planted campaign: it has no holdout"):
        campaign_for(rule, uplift=0.1)
