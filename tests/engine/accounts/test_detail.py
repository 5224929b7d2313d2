"""account_detail: contacts, history, usage, timeline, and rule explanations that agree with touchline explain."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from engine.accounts import UnknownAccount, account_detail
from engine.cli import cli
from engine.compliance.suppressions import suppress
from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.models import Account, Contact, Delivery, RuleVersion
from engine.rules.versions import apply_rules, read_rules
from tests.conftest import ROOT

AT = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
RULES = ROOT / "rules"


@pytest.fixture
def stalled(db):
    """A tech account ten days after signup, no project, an admin added yesterday, an owner change,
    a delivery and an unsubscribe; the shipped rules applied."""
    with db.session() as s:
        apply_rules(s, read_rules([str(RULES)]).rules, author="test")
        upsert_accounts(s, [{"id": "stalled", "name": "Stalled Ltd", "tier": "tech", "plan": "team", "mrr": 149,
                             "signup_at": (AT - timedelta(days=10)).isoformat(), "traits": {"seats": 4},
                             "changed_at": (AT - timedelta(days=10)).isoformat()}])  # fmt: skip
        upsert_accounts(s, [{"id": "stalled", "owner": "kim@cs.example", "changed_at": (AT - timedelta(days=3)).isoformat()}])
        upsert_contacts(s, [
            {"id": "stalled-u1", "account_id": "stalled", "email": "ann@stalled.example", "name": "Ann", "role": "admin",
             "locale": "en"},
            {"id": "stalled-u2", "account_id": "stalled", "email": "bob@stalled.example", "role": "member"},
        ])  # fmt: skip
        # The API takes no creation time: the admin joined the day before AT.
        s.execute(update(Contact).where(Contact.external_id == "stalled-u1").values(created_at=AT - timedelta(days=1)))
        events = [
            {"id": f"e{i}", "account_id": "stalled", "contact_id": "stalled-u1", "name": "login",
             "timestamp": (AT - timedelta(days=i % 3, hours=1)).isoformat()}
            for i in range(5)
        ] + [{"id": "r1", "account_id": "stalled", "name": "report_run", "timestamp": (AT - timedelta(days=2)).isoformat()}]  # fmt: skip
        assert track_events(s, events, now=AT).accepted == 6
        version = s.query(RuleVersion).filter_by(rule_id="onboarding-stalled-day7").one()
        account_id = s.scalar(select(Account.id).where(Account.external_id == "stalled"))
        s.add(Delivery(
            dedupe_key="k1", rule_id="onboarding-stalled-day7", rule_version_id=version.id, action_index=0,
            channel="email", template="onboarding/stalled", account_id=account_id, recipient="ann@stalled.example",
            occurrence="1", status="sent", created_at=AT - timedelta(days=2), sent_at=AT - timedelta(days=2),
        ))  # fmt: skip
        s.flush()
        suppress(s, "bob@stalled.example", "unsubscribed", "onboarding", "one-click").created_at = AT - timedelta(hours=5)
    return db


def detail(db, external_id="stalled"):
    with db.read_session() as s:
        return account_detail(s, external_id, AT)


def test_fields_contacts_and_unsubscribes(stalled):
    d = detail(stalled)
    assert (d.name, d.tier, d.plan, d.owner, d.traits) == ("Stalled Ltd", "tech", "team", "kim@cs.example", {"seats": 4})
    assert [(c.external_id, c.email, c.role, c.unsubscribed) for c in d.contacts] == [
        ("stalled-u1", "ann@stalled.example", "admin", False),
        ("stalled-u2", "bob@stalled.example", "member", True),
    ]
    assert d.contacts[1].suppressions == (("onboarding", "unsubscribed"),)


def test_change_history_newest_first(stalled):
    d = detail(stalled)
    assert [(c.field, c.old_value, c.new_value, c.changed_at) for c in d.changes] == [
        ("owner", None, "kim@cs.example", AT - timedelta(days=3)),
    ]


def test_usage_is_90_days_of_the_rollups_with_rule_events_first(stalled):
    d = detail(stalled)
    by_name = {s.event: s for s in d.usage}
    # Events the applied rules read lead, marked key, even with no usage at all.
    assert [s.event for s in d.usage if s.key] == sorted(s.event for s in d.usage if s.key)
    assert by_name["project_created"].key and by_name["project_created"].total == 0
    assert by_name["login"].total == 5 and by_name["report_run"].total == 1
    days = by_name["login"].days
    assert len(days) == 90 and days[-1][0] == date(2026, 11, 20) and days[0][0] == date(2026, 8, 23)
    assert dict(days)[date(2026, 11, 20)] == 2  # i = 0, 3


def test_timeline_days_hold_events_changes_deliveries_and_unsubscribes(stalled):
    d = detail(stalled)
    days = {day.day: day for day in d.timeline}
    assert list(days) == sorted(days, reverse=True)
    assert dict(days[date(2026, 11, 18)].events) == {"login": 1, "report_run": 1}
    assert [(i.kind, i.status) for i in days[date(2026, 11, 18)].items] == [("delivery", "sent")]
    assert "onboarding-stalled-day7: email to ann@stalled.example" in days[date(2026, 11, 18)].items[0].text
    assert [i.kind for i in days[date(2026, 11, 17)].items] == ["change"]
    unsub = [i for day in d.timeline for i in day.items if i.kind == "suppression"]
    assert len(unsub) == 1 and "bob@stalled.example unsubscribed (category onboarding" in unsub[0].text


def _flatten(node, depth=1):
    seen = "" if node.children else f"  (saw: {'missing' if node.value is None else node.value})"
    yield f"{'  ' * depth}[{'yes' if node.held else 'no '}] {node.text}{seen}"
    for child in node.children:
        yield from _flatten(child, depth + 1)


def _cli_tree(rule_id: str, subject: str) -> tuple[list[str], bool]:
    result = CliRunner().invoke(cli, ["explain", rule_id, subject, "--rules", str(RULES), "--at", AT.isoformat()])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    return [line for line in lines if re.match(r"\s+\[(yes|no )\]", line)], lines[-1].endswith(f"matches {rule_id}") and " not " not in lines[-1]


def test_every_applied_rule_is_explained_as_touchline_explain_explains_it(stalled):
    d = detail(stalled)
    assert sorted(r.rule_id for r in d.rules) == sorted(p.stem for p in RULES.glob("*.yaml") if p.stem != "policy")
    for rule in d.rules:
        for check in rule.checks:
            subject = "stalled" if rule.level == "account" else check.subject
            lines, held = _cli_tree(rule.rule_id, subject)
            assert list(_flatten(check.tree)) == lines, rule.rule_id
            assert check.held == held, rule.rule_id
    by_id = {r.rule_id: r for r in d.rules}
    assert by_id["onboarding-stalled-day7"].matches
    welcome = by_id["new-admin-welcome"]
    # Per contact: the new admin passes its own conditions but the account is younger than 30 days.
    assert welcome.level == "contact" and (welcome.matching, welcome.subjects) == (0, 2)
    ann = {c.subject: c for c in welcome.checks}["stalled-u1"].tree
    assert [(leaf.text, leaf.held) for leaf in ann.children[:3]] == [
        ("contact.role eq 'admin'", True), ("contact.created_at newer_than: 3d", True), ("account.signup_at older_than: 30d", False),
    ]  # fmt: skip


def test_paused_rules_are_listed_and_marked(stalled):
    from engine.rules.versions import pause_rule

    with stalled.session() as s:
        pause_rule(s, "renewal-within-60-days", "checking")
    rule = {r.rule_id: r for r in detail(stalled).rules}["renewal-within-60-days"]
    assert rule.paused and rule.paused_reason == "checking"


def test_unknown_account(stalled):
    with pytest.raises(UnknownAccount, match="no account with id 'ghost'"):
        detail(stalled, "ghost")


def test_goals_that_are_no_event_mark_their_condition_events_as_key(stalled):
    from engine.rules.validate import validate_text

    texts = {
        "leaver": "id: leaver\nname: Leaver\nwhen:\n  account.plan: team\nactions:\n"
                  "  - in_app: {template: onboarding/checklist, to: contacts}\ngoal: {leaves_segment: true, within: 14d}\n",
        "invites": "id: invites\nname: Invites\nwhen:\n  account.plan: team\nactions:\n"
                   "  - in_app: {template: onboarding/checklist, to: contacts}\n"
                   "goal: {condition: {event.invite_sent.count: {in_last: 7d, gte: 2}}, within: 14d}\n",
    }  # fmt: skip
    with stalled.session() as s:
        apply_rules(s, [(validate_text(t, f"{i}.yaml", expected_id=i).rule, t) for i, t in texts.items()], author="test")
    d = detail(stalled)
    assert {u.event: u.key for u in d.usage}["invite_sent"] is True
