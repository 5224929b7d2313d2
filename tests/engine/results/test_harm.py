"""A play that hurts is flagged on its rule, its owner and the admins are alerted once (real SMTP
on loopback), the flag clears when the results stop showing harm, and the rule keeps running."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from email import message_from_bytes, policy

from sqlalchemy import select, update

from engine.auth import create_user
from engine.models import AuditEntry, GoalOutcome, ResultFlag, RuleState
from engine.results.harm import open_flags, review_harm
from engine.settings import load_settings


def settings_for(smtp_server):
    return dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_server.port}", webhook_url=None)


def test_a_hurting_play_is_flagged_and_alerted_once_and_never_paused(db, campaign, smtp_server):
    with db.session() as s:
        create_user(s, "admin@vendor.test", "correct horse battery staple", role="admin")
    c = campaign(accounts=400, treated_rate=0.1, control_rate=0.5, review=False)
    settings = settings_for(smtp_server)
    first = review_harm(db, settings, c.measured_at)
    assert first.raised == ["trial-nudge: conversion"]
    assert first.alerts["trial-nudge"].sent == ["email to owner@vendor.test", "email to admin@vendor.test"]
    mail = message_from_bytes(smtp_server.handler.messages[0]["data"], policy=policy.default)
    assert mail["Subject"] == "Touchline: rule trial-nudge may be hurting its accounts"
    body = mail.get_body(("plain",)).get_content()
    assert "convert less than control" in body and "pausing it is your decision" in body
    assert "/admin/results/trial-nudge" in body

    # Reviewed again: the flag stands, no second alert.
    again = review_harm(db, settings, c.measured_at + timedelta(minutes=5))
    assert again.raised == [] and again.alerts == {} and len(smtp_server.handler.messages) == 2
    with db.read_session() as s:
        (flag,) = open_flags(s)
        assert (flag.rule_id, flag.kind) == ("trial-nudge", "conversion") and flag.alerted_at is not None
        assert "owner@vendor.test" in flag.alert
        assert not s.get(RuleState, "trial-nudge").paused
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == "trial-nudge")).all()
        assert actions.count("flag_harm") == 1

    # The control group's conversions are taken back (as if they had been misattributed): no harm,
    # the flag clears; harm again raises it again, with a new alert.
    with db.session() as s:
        s.execute(update(GoalOutcome).where(GoalOutcome.arm == "control").values(converted_at=None, state="closed"))
    cleared = review_harm(db, settings, c.measured_at + timedelta(minutes=10))
    assert cleared.cleared == ["trial-nudge: conversion"]
    with db.read_session() as s:
        assert open_flags(s) == []
        assert s.get(ResultFlag, ("trial-nudge", "conversion")).cleared_at is not None


def test_without_a_channel_the_flag_still_stands_and_says_the_alert_failed(db, campaign):
    c = campaign(accounts=400, treated_rate=0.1, control_rate=0.5, review=False)
    settings = dataclasses.replace(load_settings(), smtp_url=None, webhook_url=None)
    review = review_harm(db, settings, c.measured_at)
    assert review.raised == ["trial-nudge: conversion"]
    with db.read_session() as s:
        (flag,) = open_flags(s)
        assert flag.alerted_at is None and "no channel set up for alerts" in flag.alert


def test_a_play_that_helps_raises_nothing(db, campaign, smtp_server):
    c = campaign(accounts=200, treated_rate=0.5, control_rate=0.2, review=False)
    review = review_harm(db, settings_for(smtp_server), c.measured_at)
    assert review.raised == [] and smtp_server.handler.messages == []
