"""The Python evaluator: documented edge cases, explanations, and facts read from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rulecases import CASES, CONTACT_CASES, NOW, acc, ago, con, contact_facts_from_spec, facts_from_spec, logins, person, sent, spec
from ruledata import contact_ids, write_accounts

from engine.rules.ast import All, Any_, Changed, Compare, FieldRef, Not, Received, RelativeTime, Trend, Usage, Window
from engine.rules.evaluate import evaluate, explain
from engine.rules.facts import events_of, load_contact_facts, load_contact_facts_many, load_facts, rules_of


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


def test_explain_received_shows_the_latest_matching_send():
    facts = facts_from_spec(spec(deliveries=[
        sent(NOW - timedelta(days=9)), sent(NOW - timedelta(days=2)), sent(NOW - timedelta(days=1), "failed"),
        sent(NOW - timedelta(days=1), template="onboarding/b", index=1),
    ]))  # fmt: skip
    node = explain(All((Received("welcome", "intro", 14), Received("welcome", 1), Received("other"))), facts, NOW)
    intro, second, other = node.children
    assert (intro.text, intro.value, intro.held) == ("received 'intro' of rule 'welcome' within 14d", NOW - timedelta(days=2), True)
    assert (second.text, second.value, second.held) == ("received action 1 of rule 'welcome'", NOW - timedelta(days=1), True)
    assert (other.text, other.value, other.held) == ("received any action of rule 'other'", None, False)


def test_rules_of_collects_received_rules():
    cond = All((Received("welcome", within=7), Not(Any_((Received("other", "x"), Usage("login", "count", None, "gt", 1))))))
    assert rules_of(cond) == {"welcome", "other"}
    assert rules_of(Usage("login", "count", None, "gt", 1)) == set()


def test_received_without_the_rules_deliveries_loaded_is_refused():
    # A caller that forgot rules_of would otherwise read "never received" for every account.
    with pytest.raises(ValueError, match="rules_of"):
        evaluate(Received("third"), facts_from_spec(spec(deliveries=[sent(NOW, rule="third")])), NOW)


def test_load_facts_reads_sent_deliveries_of_the_named_rules(db):
    mine = spec(deliveries=[
        sent(NOW - timedelta(days=3), template="onboarding/b", index=1),
        sent(None, "pending"), sent(NOW, "failed"), sent(None),
        sent(NOW + timedelta(days=1)),  # in the future: loaded, the evaluator leaves it out
        sent(NOW, rule="other"), sent(NOW, rule="third"),
    ])  # fmt: skip
    first, _ = write_accounts(db, [mine, spec(deliveries=[sent(NOW)])], NOW)
    with db.read_session() as s:
        facts = load_facts(s, first, NOW, set(), {"welcome", "other"})
        bare = load_facts(s, first, NOW, set())
    assert sorted(facts.sent, key=lambda d: d[3]) == [
        ("welcome", 1, "onboarding/b", NOW - timedelta(days=3)),
        ("other", 0, "intro", NOW),
        ("welcome", 0, "intro", NOW + timedelta(days=1)),
    ]
    assert facts.sent_rules == {"welcome", "other"}
    assert (bare.sent, bare.sent_rules) == ([], frozenset())
    assert evaluate(Received("welcome", within=7), facts, NOW) is True
    assert evaluate(Received("welcome", 0), facts, NOW) is False


def test_contact_fields_need_contact_facts():
    with pytest.raises(ValueError, match="contact.role: contact fields need a contact-level rule"):
        evaluate(Compare(FieldRef("contact", "role"), "eq", "admin"), facts_from_spec(spec()), NOW)
    with pytest.raises(ValueError, match="contact.last_seen_at"):
        evaluate(RelativeTime(con("last_seen_at"), older_than=1), facts_from_spec(spec()), NOW)


@pytest.mark.parametrize(("account", "cond", "expected"), [c[1:] for c in CONTACT_CASES], ids=[c[0] for c in CONTACT_CASES])
def test_contact_edge_cases(account, cond, expected):
    assert evaluate(cond, contact_facts_from_spec(account), NOW) is expected


def test_explain_for_a_contact_reads_the_contact_and_its_account():
    facts = contact_facts_from_spec(spec(plan="pro", usage=logins(d1=3), people=[person(role="admin", email=None)]))
    cond = All((
        Compare(con("role"), "eq", "admin"),
        Compare(con("email"), "exists", True),
        Compare(acc("plan"), "eq", "pro"),
        Usage("login", "count", Window(7), "gte", 3),
    ))  # fmt: skip
    node = explain(cond, facts, NOW)
    assert [(c.text, c.value, c.held) for c in node.children] == [
        ("contact.role eq 'admin'", "admin", True),
        ("contact.email exists True", None, False),
        ("account.plan eq 'pro'", "pro", True),
        ("count of 'login' in last 7d gte 3", 3.0, True),
    ]
    assert node.held is False


def test_contact_level_invalid_trees_are_refused():
    facts = contact_facts_from_spec(spec(people=[person()]))
    for cond in (Compare(con("mrr"), "gt", 1), Compare(con("role"), "gt", 3), RelativeTime(con("role"), older_than=1)):
        with pytest.raises(ValueError):
            evaluate(cond, facts, NOW)


def test_load_contact_facts_reads_contacts_and_shares_their_account(db):
    seen = NOW - timedelta(days=2)
    account = spec(plan="pro", usage=logins(d1=2), traits={"industry": "saas"}, people=[
        person({"score": 3}, role="admin", email="ann@x.example", name="Ann", locale="ja", timezone="Asia/Tokyo",
               last_seen_at=seen),
        person(role="member"),
    ])  # fmt: skip
    ids = write_accounts(db, [account, spec(people=[person()])], NOW)
    contacts = contact_ids(db)
    with db.read_session() as s:
        many = load_contact_facts_many(s, list(contacts.values()), NOW, {"login"})
        ann, other = many[contacts["c-0-0"]], many[contacts["c-0-1"]]
        assert load_contact_facts(s, contacts["c-0-0"], NOW, {"login"}) == ann
        with pytest.raises(LookupError):
            load_contact_facts(s, max(contacts.values()) + 1, NOW, set())
    assert ann.fields == {"external_id": "c-0-0", "email": "ann@x.example", "name": "Ann", "role": "admin",
                          "locale": "ja", "timezone": "Asia/Tokyo", "last_seen_at": seen, "created_at": NOW}  # fmt: skip
    assert ann.traits == {"score": 3} and other.traits == {}
    assert ann.account is other.account  # one AccountFacts per account
    assert ann.account.account_id == ids[0] and ann.account.fields["plan"] == "pro"
    assert ann.account.usage == {("login", ago(1)): 2}
    assert many[contacts["c-1-0"]].account.account_id == ids[1]


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
