"""The global holdout when rules fire: an account in the program's control group gets, for a
marketing play, rows that are recorded and never sent ("global holdout: ..."), drawn before
and apart from the rule's own holdout; exempt categories and owner alerts are untouched; the
plan, the delivery page and the per-rule outcomes agree."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from engine.delivery.batch import send_claimed
from engine.delivery.detail import delivery_detail
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.delivery.holdout import in_global_holdout, in_holdout
from engine.delivery.policy import GlobalHoldout, Policy, ProgramMeasure
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Account, Delivery, GoalOutcome
from engine.results.outcomes import measure
from engine.rules.cycle import run_cycle
from engine.rules.firing import GlobalHoldoutUnknown, program_holdout
from engine.rules.plan import plan
from engine.rules.validate import validate_text
from engine.rules.versions import RuleSource, active_rules, apply_rules
from engine.settings import load_settings

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PERCENT = 20  # large, so that a few hundred accounts give both groups plenty of members
REASON = "global holdout: in the program's 20% control group"
POLICY = f"""\
fatigue:
  exempt_categories: [operational]
  per_account: {{max: 100, per: 1d}}
global_holdout:
  percent: {PERCENT}%
  exempt_categories: [csm-alerts]
  measure: {{event: login, within: 30d}}
"""


def rule_text(rule_id: str, category: str, actions: str, extra: str = "") -> str:
    return f"id: {rule_id}\nname: {rule_id}\ncategory: {category}\nwhen:\n  account.plan: trial\nactions:\n{actions}{extra}"


TO_ADMINS = "  - email: {template: onboarding/stalled, to: role:admin}\n"
TO_ALL_IN_APP = "  - in_app: {template: onboarding/checklist, to: contacts}\n"
TO_OWNER = "  - email: {template: alerts/owner-changed, to: owner}\n"
RULES = {
    # a marketing play with its own 10% holdout, an in-app nudge and an alert to the owner
    "win-back": rule_text("win-back", "reengagement", TO_ADMINS + TO_ALL_IN_APP + TO_OWNER,
                          "holdout: 10%\ngoal: {event: login, within: 7d}\nmax_messages_per_cycle: 100000\n"),  # fmt: skip
    "receipts": rule_text("receipts", "operational", TO_ADMINS),  # always exempt
    "csm-ping": rule_text("csm-ping", "csm-alerts", TO_ADMINS),  # exempt by the policy
    "owner-only": rule_text("owner-only", "product-tips", TO_OWNER),  # nothing to a customer
    # a marketing play with a holdout and a goal, to customers only
    "tips": rule_text("tips", "product-tips", TO_ADMINS + TO_ALL_IN_APP, "holdout: 10%\ngoal: {event: login, within: 7d}\n"),
}


@pytest.fixture
def policy_file(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    monkeypatch.setenv("TOUCHLINE_POLICY_FILE", str(path))
    return path


def names(n: int, prefix: str = "acct") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def populate(db, accounts: list[str]) -> None:
    """Trial accounts, each with an owner, an admin and a member, inserted in the order given."""
    with db.session() as s:
        upsert_accounts(s, [{"id": a, "name": a, "plan": "trial", "owner": f"csm+{a}@vendor.test"} for a in accounts])
        upsert_contacts(s, [c for a in accounts for c in (
            {"id": f"{a}-admin", "account_id": a, "email": f"admin@{a}.test", "role": "admin"},
            {"id": f"{a}-member", "account_id": a, "email": f"member@{a}.test", "role": "member"},
        )])  # fmt: skip


def apply(db, *rule_ids: str) -> None:
    with db.session() as s:
        apply_rules(s, [(validate_text(RULES[r], f"{r}.yaml", expected_id=r).rule, RULES[r]) for r in rule_ids], author="test")


def cycle(db, now: datetime = NOW):
    with db.read_session() as s:
        rules = active_rules(s)
    return run_cycle(db, rules, now, only_due=False)


def rows(db, rule_id: str) -> list[tuple[str, Delivery]]:
    with db.read_session() as s:
        found = s.execute(select(Account.external_id, Delivery).join(Account, Account.id == Delivery.account_id)
                          .where(Delivery.rule_id == rule_id).order_by(Delivery.id)).all()  # fmt: skip
        s.expunge_all()
    return [(ext, d) for ext, d in found]


def test_a_marketing_play_records_but_never_sends_to_the_program_control_group(db, policy_file):
    accounts = names(400)
    populate(db, accounts)
    apply(db, "win-back")
    report = cycle(db)
    assert report.by_rule()["win-back"].status == "evaluated"
    globally = {a for a in accounts if in_global_holdout(a, PERCENT)}
    assert 40 < len(globally) < 120  # about 20% of 400
    for ext, d in rows(db, "win-back"):
        to_customer = d.contact_id is not None
        if ext in globally and to_customer:
            # Drawn first: the rule's own draw does not matter, and it is no unit of the rule's experiment.
            assert (d.status, d.reason, d.variant) == ("skipped", REASON, None), (ext, d.recipient)
        elif in_holdout("win-back", ext, 10):
            assert (d.status, d.reason) == ("held_out", "holdout: in the rule's 10% control group")
        else:
            assert (d.status, d.reason) == ("pending", None), (ext, d.recipient)
    skipped = {ext for ext, d in rows(db, "win-back") if d.status == "skipped"}
    assert skipped == globally
    # The owner's alert goes for every account (apart from the rule's own control group).
    owner_rows = [(ext, d) for ext, d in rows(db, "win-back") if d.contact_id is None]
    assert len(owner_rows) == len(accounts)
    assert all(d.status == ("held_out" if in_holdout("win-back", ext, 10) else "pending") for ext, d in owner_rows)
    # The cycle counts them with the rows that go nowhere; the breaker counts only what goes.
    outcome = report.by_rule()["win-back"]
    assert outcome.skipped_deliveries == 3 * len(globally)  # admin email, admin and member nudges


def test_exempt_categories_and_owner_alerts_are_untouched(db, policy_file):
    accounts = names(300)
    populate(db, accounts)
    apply(db, "receipts", "csm-ping", "owner-only")
    cycle(db)
    for rule_id in ("receipts", "csm-ping", "owner-only"):
        found = rows(db, rule_id)
        assert len(found) == len(accounts), rule_id
        assert {d.status for _ext, d in found} == {"pending"}, rule_id


def test_the_group_is_the_draw_whatever_the_order_or_database_ids(db, policy_file):
    accounts = names(300, "shuffled")
    order = accounts[:]
    random.Random(3).shuffle(order)
    populate(db, order)  # database ids in another order than the names
    apply(db, "win-back")
    cycle(db)
    skipped = {ext for ext, d in rows(db, "win-back") if d.status == "skipped"}
    assert skipped == {a for a in accounts if in_global_holdout(a, PERCENT)}


def test_off_or_absent_holds_no_one(db, policy_file):
    policy_file.write_text("global_holdout: {percent: 0%}\n")
    populate(db, names(200))
    apply(db, "win-back")
    cycle(db)
    assert "skipped" not in {d.status for _ext, d in rows(db, "win-back")}


def test_a_policy_that_cannot_be_used_stops_marketing_plays_only_until_it_is_fixed(db, policy_file):
    policy_file.write_text("global_holdout: {percent: 50%, measure: {event: login, within: 30d}}\n")
    accounts = names(100)
    populate(db, accounts)
    apply(db, "win-back", "receipts", "owner-only")
    report = cycle(db).by_rule()
    assert report["win-back"].status == "error"
    assert "GlobalHoldoutUnknown: the policy file cannot be used, so its global holdout is unknown: " in report["win-back"].reason
    assert "global_holdout.percent: 50% is out of range" in report["win-back"].reason
    assert rows(db, "win-back") == []  # nothing written: its memberships too were rolled back
    # Rules that cannot be a marketing play do not need the file.
    assert report["receipts"].status == report["owner-only"].status == "evaluated"
    assert len(rows(db, "receipts")) == len(rows(db, "owner-only")) == len(accounts)

    policy_file.write_text(POLICY)
    assert cycle(db, NOW + timedelta(minutes=1)).by_rule()["win-back"].status == "evaluated"
    skipped = {ext for ext, d in rows(db, "win-back") if d.status == "skipped"}
    assert skipped == {a for a in accounts if in_global_holdout(a, PERCENT)}


def test_program_holdout_of_a_rule():
    holdout = GlobalHoldout(5.0, ProgramMeasure("login", 30), frozenset({"operational", "csm-alerts"}))
    policy = Policy(global_holdout=holdout)
    rule = {r: validate_text(t, f"{r}.yaml", expected_id=r).rule for r, t in RULES.items()}
    assert program_holdout(rule["win-back"], policy) is holdout
    assert program_holdout(rule["csm-ping"], policy) is None
    assert program_holdout(rule["owner-only"], policy) is None
    assert program_holdout(rule["receipts"], policy) is None
    assert program_holdout(rule["win-back"], Policy()) is None
    # Owner alerts and operational rules never need the file, even a broken one.
    assert program_holdout(rule["receipts"]) is None and program_holdout(rule["owner-only"]) is None


def test_a_broken_policy_is_an_error_for_a_play(policy_file):
    policy_file.write_text("global_holdout: [5]\n")
    with pytest.raises(GlobalHoldoutUnknown, match="global_holdout: expected a global holdout"):
        program_holdout(validate_text(RULES["win-back"], "win-back.yaml", expected_id="win-back").rule)


def test_the_plan_counts_what_the_cycle_records_only(db, policy_file):
    accounts = names(300)
    populate(db, accounts)
    source = RuleSource(validate_text(RULES["win-back"], "win-back.yaml", expected_id="win-back").rule, RULES["win-back"])
    with db.read_session() as s:
        (planned,) = plan(s, [source], NOW)
    globally = {a for a in accounts if in_global_holdout(a, PERCENT)}
    ruled = {a for a in accounts if in_holdout("win-back", a, 10)}
    assert planned.global_held_out == len(globally)
    assert planned.held_out == len(ruled)
    assert planned.messages == {"email": 2 * len(accounts), "in_app": 2 * len(accounts)}
    # With no global holdout in the policy given, only the rule's own group is left out.
    with db.read_session() as s:
        (bare,) = plan(s, [source], NOW, policy=Policy())
    assert bare.global_held_out == 0
    assert bare.messages_after_holdout == {"email": 2 * (len(accounts) - len(ruled)), "in_app": 2 * (len(accounts) - len(ruled))}

    apply(db, "win-back")
    cycle(db)
    written = rows(db, "win-back")
    for channel in ("email", "in_app"):
        pending = sum(1 for _ext, d in written if d.channel == channel and d.status == "pending")
        assert planned.messages_after_holdout[channel] == pending, channel


def test_the_plan_of_a_contact_level_play(db, policy_file):
    text = ("id: per-admin\nname: Per admin\ncategory: onboarding\nlevel: contact\nwhen: {contact.role: admin}\n"
            "actions:\n  - email: {template: onboarding/new-admin, to: contact}\n"
            "  - email: {template: alerts/owner-changed, to: owner}\n")  # fmt: skip
    accounts = names(200)
    populate(db, accounts)
    source = RuleSource(validate_text(text, "per-admin.yaml", expected_id="per-admin").rule, text)
    with db.read_session() as s:
        (planned,) = plan(s, [source], NOW)
    globally = {a for a in accounts if in_global_holdout(a, PERCENT)}
    assert planned.entering == len(accounts)  # one admin each
    assert planned.global_held_out == len(globally)
    assert planned.messages_after_holdout == {"email": 2 * len(accounts) - len(globally)}
    with db.session() as s:
        apply_rules(s, [(source.rule, text)], author="test")
    cycle(db)
    written = rows(db, "per-admin")
    assert sum(1 for _e, d in written if d.status == "pending") == planned.messages_after_holdout["email"]
    assert {e for e, d in written if d.status == "skipped" and d.reason == REASON} == globally


def test_the_delivery_page_says_global_holdout(db, policy_file):
    accounts = names(60)
    populate(db, accounts)
    apply(db, "win-back")
    cycle(db)
    held = next(d for ext, d in rows(db, "win-back") if d.status == "skipped")
    kept = next(d for ext, d in rows(db, "win-back") if d.status == "pending")
    with db.read_session() as s:
        verdicts = {v.check: v for v in delivery_detail(s, held.id).verdicts}
        assert (verdicts["holdout"].outcome, verdicts["holdout"].text) == ("stopped", REASON)
        assert {verdicts[c].outcome for c in ("suppression", "window", "limit")} == {"not_reached"}
        verdicts = {v.check: v for v in delivery_detail(s, kept.id).verdicts}
        assert verdicts["holdout"].outcome == "passed"


def test_per_rule_outcomes_never_take_globally_held_rows(db, policy_file):
    """Sent and held out, the rule's arms; the program's control group is in neither of them."""
    accounts = names(400)
    populate(db, accounts)
    apply(db, "tips")
    cycle(db)
    settings = dataclasses.replace(load_settings(), policy_file=policy_file)
    jobs: list = []
    dispatch(db, NOW, lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids, lambda: NOW + timedelta(minutes=5))
    measure(db, NOW + timedelta(minutes=10))
    globally = {a for a in accounts if in_global_holdout(a, PERCENT)}
    written = rows(db, "tips")
    assert {ext for ext, d in written if d.status == "sent"}.isdisjoint(globally)  # nothing went to them
    with db.read_session() as s:
        units = s.execute(select(Account.external_id, GoalOutcome.arm, GoalOutcome.delivery_id)
                          .join(Account, Account.id == GoalOutcome.account_id)).all()  # fmt: skip
    by_id = {d.id: d for _e, d in written}
    assert units and {ext for ext, _arm, _d in units}.isdisjoint(globally)
    assert {by_id[d].status for _e, _a, d in units} == {"sent", "held_out"}
    control = {ext for ext, arm, _d in units if arm == "control"}
    treated = {ext for ext, arm, _d in units if arm == "treated"}
    # The rule's arms split the rest by the rule's own 10%.
    rest = [a for a in accounts if a not in globally]
    assert control == {a for a in rest if in_holdout("tips", a, 10)}
    assert treated == {a for a in rest if not in_holdout("tips", a, 10)}


def test_an_owner_alert_sent_to_a_globally_held_account_makes_no_treated_unit(db, policy_file):
    """win-back alerts the owner too: that row goes out (or is held out by the rule's own draw) for
    the program's control group, but the account is in neither arm of the rule's experiment."""
    accounts = names(300)
    populate(db, accounts)
    apply(db, "win-back")
    cycle(db)
    with db.session() as s:  # every row not held back went out, the owner's alerts included
        s.execute(update(Delivery).where(Delivery.rule_id == "win-back", Delivery.status == "pending")
                  .values(status="sent", sent_at=NOW + timedelta(minutes=5)))  # fmt: skip
    measure(db, NOW + timedelta(minutes=10))
    globally = {a for a in accounts if in_global_holdout(a, PERCENT)}
    owner_rows = {ext: d.status for ext, d in rows(db, "win-back") if d.contact_id is None}
    # The owners' alerts went out, or were held out by the rule's own draw.
    assert globally and {owner_rows[a] for a in globally} == {"sent", "held_out"}
    with db.read_session() as s:
        units = {ext for (ext,) in s.execute(select(Account.external_id).join(GoalOutcome, GoalOutcome.account_id == Account.id))}
    assert units and units.isdisjoint(globally)
    assert units == set(accounts) - globally
