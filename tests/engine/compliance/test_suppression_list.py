"""The suppression list: per category and for all, bounces and complaints, operational mail, batches."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.compliance import (
    InvalidAddress,
    UnsubscribeNotAllowed,
    known_categories,
    resubscribe,
    suppress,
    suppressed_addresses,
    suppression_for,
)
from engine.models import CategoryRejoin, Suppression
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules, pause_rule


def test_unsubscribing_from_one_category_leaves_the_others(session):
    suppress(session, "Ann@Example.com", "unsubscribed", "onboarding", "one-click")
    assert suppression_for(session, "ann@example.com", "onboarding") == "unsubscribed"
    assert suppression_for(session, "ANN@EXAMPLE.COM ", "onboarding") == "unsubscribed"
    assert suppression_for(session, "ann@example.com", "general") is None
    assert suppression_for(session, "bob@example.com", "onboarding") is None


def test_unsubscribing_from_all_covers_every_category_but_operational(session):
    suppress(session, "ann@example.com", "unsubscribed", None, "preferences")
    for category in ("general", "onboarding", "a-category-added-later"):
        assert suppression_for(session, "ann@example.com", category) == "unsubscribed"
    assert suppression_for(session, "ann@example.com", "operational") is None


def test_bounces_and_complaints_suppress_operational_too(session):
    suppress(session, "b@x.test", "bounced", None, "smtp")
    suppress(session, "c@x.test", "complained", None, "feedback-loop")
    assert suppression_for(session, "b@x.test", "operational") == "bounced"
    assert suppression_for(session, "c@x.test", "operational") == "complained"
    assert suppression_for(session, "c@x.test", "general") == "complained"


def test_operational_cannot_be_unsubscribed_from(session):
    with pytest.raises(UnsubscribeNotAllowed, match="operational"):
        suppress(session, "a@x.test", "unsubscribed", "operational", "preferences")
    suppress(session, "a@x.test", "bounced", "operational", "smtp")
    assert suppression_for(session, "a@x.test", "operational") == "bounced"


def test_suppress_is_idempotent_and_the_strongest_reason_wins(session):
    suppress(session, "a@x.test", "unsubscribed", None, "one-click")
    suppress(session, "A@x.test", "unsubscribed", None, "one-click")
    assert suppression_for(session, "a@x.test", "general") == "unsubscribed"
    suppress(session, "a@x.test", "complained", None, "feedback-loop")
    suppress(session, "a@x.test", "bounced", None, "smtp")  # weaker than a complaint: kept as complained
    suppress(session, "a@x.test", "unsubscribed", None, "one-click")
    rows = session.scalars(select(Suppression).where(Suppression.address == "a@x.test")).all()
    assert [(r.category, r.reason, r.source) for r in rows] == [("*", "complained", "feedback-loop")]


def test_the_strongest_of_a_category_row_and_an_all_row_is_reported(session):
    suppress(session, "a@x.test", "unsubscribed", "onboarding", "preferences")
    suppress(session, "a@x.test", "bounced", None, "smtp")
    assert suppression_for(session, "a@x.test", "onboarding") == "bounced"


def test_resubscribing_to_one_category_after_leaving_all(session):
    suppress(session, "a@x.test", "unsubscribed", None, "preferences")
    assert resubscribe(session, "a@x.test", "onboarding") is None
    assert suppression_for(session, "a@x.test", "onboarding") is None
    # Still out of everything else, categories added later included.
    assert suppression_for(session, "a@x.test", "general") == "unsubscribed"
    assert suppression_for(session, "a@x.test", "new-later") == "unsubscribed"
    # Leaving it again undoes the re-join.
    suppress(session, "a@x.test", "unsubscribed", "onboarding", "preferences")
    assert suppression_for(session, "a@x.test", "onboarding") == "unsubscribed"
    assert session.scalar(select(func.count()).select_from(CategoryRejoin)) == 0


def test_leaving_all_again_forgets_earlier_rejoins(session):
    suppress(session, "a@x.test", "unsubscribed", None, "preferences")
    resubscribe(session, "a@x.test", "onboarding")
    suppress(session, "a@x.test", "unsubscribed", None, "preferences")
    assert suppression_for(session, "a@x.test", "onboarding") == "unsubscribed"


def test_resubscribing_to_all_removes_unsubscribes_but_not_bounces(session):
    suppress(session, "a@x.test", "unsubscribed", None, "preferences")
    suppress(session, "a@x.test", "unsubscribed", "onboarding", "preferences")
    assert resubscribe(session, "a@x.test", None) is None
    assert suppression_for(session, "a@x.test", "onboarding") is None
    assert suppression_for(session, "a@x.test", "general") is None

    suppress(session, "b@x.test", "bounced", None, "smtp")
    assert resubscribe(session, "b@x.test", None) == "bounced"
    assert resubscribe(session, "b@x.test", "onboarding") == "bounced"
    assert suppression_for(session, "b@x.test", "onboarding") == "bounced"


def test_bad_arguments_are_refused(session):
    with pytest.raises(ValueError, match="reason"):
        suppress(session, "a@x.test", "spam", None, "x")
    with pytest.raises(ValueError, match="source"):
        suppress(session, "a@x.test", "bounced", None, "")
    with pytest.raises(InvalidAddress):
        suppress(session, "no-at-sign", "bounced", None, "smtp")
    with pytest.raises(ValueError, match="category"):
        suppress(session, "a@x.test", "bounced", "*", "smtp")  # "all" is None, never the stored sentinel


def test_set_wise_lookup(session):
    suppress(session, "a@x.test", "unsubscribed", "onboarding", "one-click")
    suppress(session, "b@x.test", "unsubscribed", None, "preferences")
    suppress(session, "c@x.test", "bounced", None, "smtp")
    suppress(session, "d@x.test", "unsubscribed", None, "preferences")
    resubscribe(session, "d@x.test", "onboarding")
    suppress(session, "e@x.test", "unsubscribed", "general", "one-click")
    addresses = ["A@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test", "f@x.test", "contact:12"]
    assert suppressed_addresses(session, addresses, "onboarding") == {
        "A@x.test": "unsubscribed",
        "b@x.test": "unsubscribed",
        "c@x.test": "bounced",
    }
    assert suppressed_addresses(session, addresses, "operational") == {"c@x.test": "bounced"}
    assert suppressed_addresses(session, [], "general") == {}


def test_set_wise_lookup_agrees_with_one_by_one_across_batches(session):
    addresses = [f"user{i}@x.test" for i in range(1200)]
    for i, address in enumerate(addresses):
        if i % 7 == 0:
            suppress(session, address, "unsubscribed", "onboarding", "one-click")
        elif i % 11 == 0:
            suppress(session, address, "bounced", None, "smtp")
    batch = suppressed_addresses(session, addresses, "onboarding")
    assert len(batch) == len([i for i in range(1200) if i % 7 == 0 or i % 11 == 0])
    for address in addresses[:200]:
        assert batch.get(address) == suppression_for(session, address, "onboarding")


RULE = """\
id: {id}
name: Test
{category}when:
  account.plan: trial
actions:
  - email: {{template: trial/nudge, to: role:admin}}
"""


def test_known_categories_are_those_of_applied_rules_plus_general(session):
    assert known_categories(session) == ["general"]
    for rule_id, category in (("a", "onboarding"), ("b", "renewals"), ("c", None), ("d", "operational")):
        text = RULE.format(id=rule_id, category=f"category: {category}\n" if category else "")
        rule = validate_text(text, f"{rule_id}.yaml", expected_id=rule_id).rule
        assert rule is not None
        apply_rules(session, [(rule, text)], author="test")
    pause_rule(session, "b", "testing")  # a paused rule's recipients can still manage it
    assert known_categories(session) == ["general", "onboarding", "operational", "renewals"]
