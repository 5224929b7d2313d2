"""The Python evaluator: documented edge cases, explanations, and facts read from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rulecases import CASES, NOW, acc, ago, facts_from_spec, logins, spec
from ruledata import write_accounts

from engine.rules.ast import All, Any_, Changed, Compare, FieldRef, Not, RelativeTime, Trend, Usage, Window
from engine.rules.evaluate import evaluate, explain
from engine.rules.facts import events_of, load_facts


@pytest.mark.parametrize(("account", "cond", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_edge_cases(account, cond, expected):
    assert evaluate(cond, facts_from_spec(account), NOW) is expected


def test_explain_shows_values_and_outcomes():
    facts = facts_from_spec(spec(plan=None, mrr=120.0, usage=logins(d1=3)))
    cond = All((
        Compare(acc("mrr"), "gt", 100),
        Not(Compare(acc("plan"), "eq", "pro")),
        Usage("login", "count", Window(7), "gte", 5),
    ))  # fmt: skip
    node = explain(cond, facts, NOW)
    assert (node.text, node.held) == ("all of", False)
    mrr, not_plan, usage = node.children
    assert (mrr.text, mrr.value, mrr.held) == ("account.mrr gt 100", 120.0, True)
    assert (not_plan.held, not_plan.children[0].value, not_plan.children[0].held) == (True, None, False)
    assert (usage.text, usage.value, usage.held) == ("count of 'login' in last 7d gte 5", 3.0, False)
    assert node.held is evaluate(cond, facts, NOW)


def test_explain_missing_trend_and_change():
    facts = facts_from_spec(spec(changes=[("owner", NOW - timedelta(days=3))]))
    node = explain(Any_((Trend("login", 7, "lt", 0), Changed("owner", Window(30)))), facts, NOW)
    trend, changed = node.children
    assert (trend.value, trend.held) == (None, False)
    assert (changed.value, changed.held) == (NOW - timedelta(days=3), True)
    assert node.held is True


def test_events_of_collects_usage_and_trend_events():
    cond = All((Usage("login", "count", Window(7), "gt", 1), Not(Any_((Trend("export", 7, "lt", 0),)))))
    assert events_of(cond) == {"login", "export"}
    assert events_of(Compare(acc("plan"), "eq", "x")) == set()


def test_contact_fields_are_not_supported_yet():
    with pytest.raises(NotImplementedError, match="contact.role"):
        evaluate(Compare(FieldRef("contact", "role"), "eq", "admin"), facts_from_spec(spec()), NOW)


@pytest.mark.parametrize(
    "cond",
    [
        Compare(acc("mrr"), "eq", "100"),  # text constant for a number column
        Compare(acc("plan"), "gt", 3),
        Compare(acc("plan"), "contains", 3),
        Compare(acc("beta", True), "gt", True),
        Compare(acc("nope"), "eq", "x"),
        Compare(acc("signup_at"), "gt", "2026-01-01"),
        RelativeTime(acc("plan"), older_than=3),
        Changed("name", Window(7)),
    ],
    ids=str,
)
def test_invalid_trees_are_refused(cond):
    with pytest.raises(ValueError):
        evaluate(cond, facts_from_spec(spec()), NOW)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="naive"):
        evaluate(Usage("login", "count", Window(7), "gt", 1), facts_from_spec(spec()), NOW.replace(tzinfo=None))


def test_load_facts_reads_one_account(db):
    mine, other = spec(
        plan="pro", mrr=19.99, traits={"seats": 4},
        usage=logins(d1=2, d3=1) | {("export", ago(1)): 7, ("login", ago(-1)): 9},
        contacts={("login", ago(1)): {0, 1}},
        changes=[("owner", NOW - timedelta(days=2))],
    ), spec(plan="free", usage=logins(d1=5), changes=[("tier", NOW)])  # fmt: skip
    first, _ = write_accounts(db, [mine, other], NOW)
    with db.read_session() as s:
        facts = load_facts(s, first, NOW, {"login"})
    assert facts.fields["plan"] == "pro"
    assert facts.fields["mrr"] == 19.99 and isinstance(facts.fields["mrr"], float)
    assert facts.traits == {"seats": 4}
    # Only the asked-for event, only days up to today.
    assert facts.usage == {("login", ago(1)): 2, ("login", ago(3)): 1}
    assert [len(ids) for ids in facts.contacts.values()] == [2]
    assert facts.changes == [("owner", NOW - timedelta(days=2))]
    assert facts.fields["created_at"] == NOW


def test_load_facts_unknown_account(db):
    with db.read_session() as s, pytest.raises(LookupError):
        load_facts(s, 12345, NOW, set())
