"""The example rules in rules/, run against the demo dataset: SQL and Python agree,
and each rule finds the accounts of the archetype it was written for."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.demo import reference_time, seed
from engine.models import Account, Contact
from engine.rules.compiler import matching_account_ids, matching_contact_ids
from engine.rules.evaluate import evaluate
from engine.rules.facts import events_of, load_contact_facts_many, load_facts, load_facts_many, rules_of
from engine.rules.validate import check_paths

RULES = Path(__file__).resolve().parents[3] / "rules"

# rule id -> the only archetype it may match (and must match at least once)
TARGETS = {
    "onboarding-stalled-day7": "stalled_onboarding",
    "key-feature-usage-falling": "falling_usage",
    "owner-changed-high-touch": "owner_changed",
    "renewal-within-60-days": "renewal_approaching",
}


@pytest.fixture(scope="module")
def shipped():
    check = check_paths([str(RULES)])
    assert check.problems == []
    return {rule.id: rule for rule in check.rules}


def test_example_rules_agree_and_hit_their_archetypes(db, shipped, monkeypatch):
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "36500")
    reference = reference_time()
    seed(db, accounts=300, seed=7, now=reference)
    # The demo's windows are the whole UTC days before its reference midnight;
    # evaluated at the last moment of the last day they line up with a rule's
    # "in the last N days, today included"; during the reference day itself
    # (an empty today in every window) each rule must still find only its archetype.
    for now in (reference - timedelta(microseconds=1), reference + timedelta(hours=23, minutes=59)):
        _check_rules(db, shipped, now)
    assert set(TARGETS) <= set(shipped)


def _check_rules(db, shipped, now):
    with db.read_session() as session:
        archetype = {a.id: a.traits["archetype"] for a in session.scalars(select(Account))}
        contacts = {c: a for c, a in session.execute(select(Contact.id, Contact.account_id))}
        for rule in shipped.values():
            if rule.level == "contact":
                by_sql = matching_contact_ids(session, rule.when, now)
                facts = load_contact_facts_many(session, contacts, now, events_of(rule.when), rules_of(rule.when))
                assert by_sql == {(c, a) for c, a in contacts.items() if evaluate(rule.when, facts[c], now)}, rule.id
                assert by_sql, rule.id  # the demo's admins were all added just now
                continue
            in_sql = matching_account_ids(session, rule.when, now)
            names = events_of(rule.when)
            many = load_facts_many(session, archetype, now, names)
            in_python = {a for a in archetype if evaluate(rule.when, many[a], now)}
            # The batch loader is the single-account loader, many times over.
            assert all(many[a] == load_facts(session, a, now, names) for a in list(archetype)[::25])
            assert in_sql == in_python, rule.id
            if rule.id in TARGETS:
                found = {archetype[a] for a in in_sql}
                assert found == {TARGETS[rule.id]}, (rule.id, found)
