"""Goal outcomes through the real path: a rule with a holdout and a goal applied, a cycle, the
dispatcher and the send job, events ingested, then the outcomes pass (engine.results.outcomes)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.delivery.holdout import in_holdout
from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.models import Account, Delivery, GoalOutcome, OutcomeGoal, RuleVersion
from engine.results.counts import arm_counts, daily_counts
from engine.results.outcomes import measure
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

RULE = "trial-nudge"
T0 = datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)  # microseconds: the stored format is kept exactly
SENT = T0 + timedelta(minutes=10)


def rule_text(goal: str = "{event: project_created, within: 14d}", holdout: str = "50%") -> str:
    return (f"id: {RULE}\nname: Trial nudge\nwhen:\n  account.plan: trial\nactions:\n"
            f"  - in_app: {{template: onboarding/checklist, to: contacts}}\nholdout: {holdout}\ngoal: {goal}\n")  # fmt: skip


def apply(db, text: str) -> None:
    rule = validate_text(text, f"{RULE}.yaml", expected_id=RULE).rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")


def pick(treated: int, control: int, prefix: str = "acct") -> tuple[list[str], list[str]]:
    """Account ids the 50% holdout puts in each arm (it is a hash: chosen, not assumed)."""
    names = [f"{prefix}-{i}" for i in range(200)]
    held = [n for n in names if in_holdout(RULE, n, 50)]
    kept = [n for n in names if not in_holdout(RULE, n, 50)]
    return kept[:treated], held[:control]


def add_accounts(db, names: list[str], with_contact: bool = True) -> None:
    with db.session() as s:
        upsert_accounts(s, [{"id": n, "name": n, "plan": "trial"} for n in names])
        if with_contact:
            upsert_contacts(s, [{"id": f"{n}-u", "account_id": n, "email": f"{n}@x.test", "role": "admin"} for n in names])


def event(db, account: str, at: datetime, name: str = "project_created", arrived: datetime | None = None) -> None:
    key = f"{account}-{name}-{at.isoformat()}"
    with db.session() as s:
        result = track_events(s, [{"id": key, "account_id": account, "name": name, "timestamp": at.isoformat()}],
                              now=arrived or at, retention_days=10_000)  # fmt: skip
    assert result.accepted == 1, result.rejected


def outcomes(db) -> dict[str, GoalOutcome]:
    with db.read_session() as s:
        rows = s.execute(select(GoalOutcome, Account.external_id).join(Account, Account.id == GoalOutcome.account_id))
        return {ext: o for o, ext in rows}


def counts(report) -> tuple[int, int, int]:
    return report.added, report.converted, report.closed


@pytest.fixture
def campaign(db, fire_and_send):
    """Two treated and two control accounts of a 50% holdout rule, fired at T0 and sent at SENT."""
    treated, control = pick(2, 2)
    apply(db, rule_text())
    add_accounts(db, treated + control)
    fire_and_send(T0, SENT)
    return treated, control


def test_both_arms_get_an_outcome_clocked_at_their_exposure(db, campaign):
    treated, control = campaign
    report = measure(db, SENT + timedelta(minutes=5))
    assert report.full and counts(report) == (4, 0, 0)
    got = outcomes(db)
    assert sorted(got) == sorted(treated + control)
    with db.read_session() as s:
        version_id = s.scalar(select(RuleVersion.id).where(RuleVersion.rule_id == RULE))
        deliveries = {d.id: d for d in s.scalars(select(Delivery))}
    for name in treated:
        o = got[name]
        assert (o.arm, o.exposed_at, o.state, o.converted_at) == ("treated", SENT, "open", None)
        assert deliveries[o.delivery_id].status == "sent" and deliveries[o.delivery_id].sent_at == SENT
    for name in control:
        o = got[name]
        # The held_out row is written when the cycle fires: its clock starts there.
        assert (o.arm, o.exposed_at, o.state) == ("control", T0, "open")
        assert deliveries[o.delivery_id].status == "held_out"
    for o in got.values():
        assert o.rule_id == RULE and o.rule_version_id == version_id and o.goal_event == "project_created"
        assert o.window_ends_at == o.exposed_at + timedelta(days=14)
        assert o.occurrence == deliveries[o.delivery_id].occurrence


def test_only_goal_events_inside_the_window_convert(db, campaign):
    (t1, t2), (c1, c2) = campaign
    measure(db, SENT + timedelta(minutes=5))
    end = SENT + timedelta(days=14)
    event(db, t1, SENT - timedelta(minutes=1))  # before its exposure: the message had not gone out
    event(db, t1, SENT + timedelta(days=3))  # the first inside: its conversion
    event(db, t1, SENT + timedelta(days=5))
    event(db, t1, SENT + timedelta(days=4), name="login")  # not the goal
    event(db, t2, end)  # exactly at the window's end: outside
    event(db, t2, end + timedelta(seconds=1))
    event(db, c1, T0)  # exactly at the exposure: inside
    event(db, c2, T0 - timedelta(microseconds=1))
    report = measure(db, end + timedelta(minutes=1))
    assert (report.converted, report.closed) == (2, 2)
    got = outcomes(db)
    assert (got[t1].state, got[t1].converted_at) == ("converted", SENT + timedelta(days=3))
    assert (got[c1].state, got[c1].converted_at) == ("converted", T0)
    assert (got[t2].state, got[t2].converted_at) == ("closed", None)
    assert (got[c2].state, got[c2].converted_at) == ("closed", None)


def test_windows_close_and_a_second_pass_changes_nothing(db, campaign):
    (t1, t2), (c1, c2) = campaign
    assert counts(measure(db, SENT + timedelta(minutes=5))) == (4, 0, 0)
    assert counts(measure(db, SENT + timedelta(minutes=6))) == (0, 0, 0)
    event(db, t1, SENT + timedelta(hours=2))
    first = measure(db, SENT + timedelta(hours=3))
    assert not first.full and counts(first) == (0, 1, 0)
    assert counts(measure(db, SENT + timedelta(hours=3))) == (0, 0, 0)
    # The control windows end 10 minutes before the treated ones.
    assert counts(measure(db, T0 + timedelta(days=14))) == (0, 0, 2)
    assert {n: o.state for n, o in outcomes(db).items()} == {t1: "converted", t2: "open", c1: "closed", c2: "closed"}
    assert counts(measure(db, SENT + timedelta(days=14))) == (0, 0, 1)
    before = {n: (o.state, o.converted_at, o.updated_at) for n, o in outcomes(db).items()}
    again = measure(db, SENT + timedelta(days=14, minutes=1), full=True)
    assert again.full and counts(again) == (0, 0, 0) and again.corrected == 0
    assert {n: (o.state, o.converted_at, o.updated_at) for n, o in outcomes(db).items()} == before


def test_an_outcome_added_after_its_event_was_seen_still_converts(db):
    """A send recorded after a pass had already read the event that converts it (a late commit)."""
    treated, _ = pick(1, 0)
    apply(db, rule_text(holdout="0%"))
    add_accounts(db, treated)
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, T0, only_due=False)
    measure(db, T0 + timedelta(minutes=1))  # the full pass of the day: nothing sent yet
    event(db, treated[0], SENT + timedelta(minutes=10))
    assert counts(measure(db, SENT + timedelta(minutes=15))) == (0, 0, 0)  # its event is seen now
    settings = dataclasses.replace(load_settings(), policy_file=None)
    jobs: list = []
    dispatch(db, T0, lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids, lambda: SENT)  # stamped before the pass, committed after it
    report = measure(db, SENT + timedelta(minutes=20))
    assert not report.full and counts(report) == (1, 1, 0)
    assert outcomes(db)[treated[0]].converted_at == SENT + timedelta(minutes=10)


def test_an_event_arriving_late_converts_a_closed_outcome_or_moves_a_conversion_earlier(db, campaign):
    (t1, t2), _ = campaign
    measure(db, SENT + timedelta(minutes=5))
    event(db, t1, SENT + timedelta(days=6))
    end = SENT + timedelta(days=14)
    measure(db, end + timedelta(minutes=1))
    assert outcomes(db)[t2].state == "closed"
    # Imported later, dated inside the windows.
    event(db, t2, SENT + timedelta(days=2), arrived=end + timedelta(hours=1))
    event(db, t1, SENT + timedelta(days=1), arrived=end + timedelta(hours=1))
    report = measure(db, end + timedelta(hours=2))
    assert not report.full and (report.converted, report.corrected) == (1, 1)
    got = outcomes(db)
    assert (got[t2].state, got[t2].converted_at) == ("converted", SENT + timedelta(days=2))
    assert (got[t1].state, got[t1].converted_at) == ("converted", SENT + timedelta(days=1))


def test_an_occurrence_nothing_was_sent_for_has_no_outcome(db, fire_and_send):
    treated, control = pick(2, 1)
    apply(db, rule_text())
    add_accounts(db, treated + control, with_contact=False)  # no recipient: skipped, in either arm
    add_accounts(db, treated[1:])
    fire_and_send(T0, SENT)
    with db.session() as s:  # the message failed instead of going out
        s.execute(update(Delivery).where(Delivery.status == "sent").values(status="failed", sent_at=None))
    assert counts(measure(db, SENT + timedelta(minutes=5))) == (0, 0, 0)
    assert outcomes(db) == {}


def test_a_new_goal_applies_to_new_firings_only(db, campaign, fire_and_send):
    treated, control = campaign
    measure(db, SENT + timedelta(minutes=5))
    apply(db, rule_text(goal="{event: invite_sent, within: 120d}"))
    newer_treated, newer_control = pick(1, 1, prefix="later")
    add_accounts(db, newer_treated + newer_control)
    later = T0 + timedelta(days=1)
    fire_and_send(later, later + timedelta(minutes=10))
    for name in treated + control + newer_treated + newer_control:
        event(db, name, later + timedelta(hours=1), name="invite_sent")
    report = measure(db, later + timedelta(hours=2))
    assert (report.added, report.converted) == (2, 2)
    got = outcomes(db)
    with db.read_session() as s:
        v1, v2 = s.scalars(select(RuleVersion.id).where(RuleVersion.rule_id == RULE).order_by(RuleVersion.version))
        assert {g.rule_version_id: (g.goal_event, g.window_days) for g in s.scalars(select(OutcomeGoal))} == {
            v1: ("project_created", 14), v2: ("invite_sent", 90)}  # at most 90 days
    for name in treated + control:
        assert (got[name].rule_version_id, got[name].goal_event, got[name].state) == (v1, "project_created", "open")
    for name in newer_treated + newer_control:
        o = got[name]
        assert (o.rule_version_id, o.goal_event, o.state) == (v2, "invite_sent", "converted")
        assert o.window_ends_at == o.exposed_at + timedelta(days=90)


def test_counts_take_a_unit_once_its_window_ended(db, campaign):
    (t1, t2), (c1, c2) = campaign
    measure(db, SENT + timedelta(minutes=5))
    event(db, t1, SENT + timedelta(days=1))
    event(db, c1, T0 + timedelta(days=2))
    with db.read_session() as s:
        assert arm_counts(s, RULE) == {"treated": (0, 0), "control": (0, 0)}
    measure(db, SENT + timedelta(days=3))
    with db.read_session() as s:
        # Converted, but the other windows are still open: nothing is counted yet.
        assert arm_counts(s, RULE) == {"treated": (0, 0), "control": (0, 0)}
    measure(db, T0 + timedelta(days=14, minutes=5))  # the control windows ended, not the treated ones
    with db.read_session() as s:
        assert arm_counts(s, RULE) == {"treated": (0, 0), "control": (2, 1)}
    measure(db, T0 + timedelta(days=16))
    with db.read_session() as s:
        assert arm_counts(s, RULE) == {"treated": (2, 1), "control": (2, 1)}
        assert arm_counts(s, RULE, since=SENT) == {"treated": (2, 1), "control": (0, 0)}
        assert arm_counts(s, RULE, version_ids=[-1]) == {"treated": (0, 0), "control": (0, 0)}
        days = daily_counts(s, RULE, 4)
    # Days 13 to 16 after T0: the windows ended on day 14 (both arms), nothing after.
    assert days == [(0, 0, 0, 0), (2, 1, 2, 1), (2, 1, 2, 1), (2, 1, 2, 1)]
    assert days[1].treated_n == 2 and days[1].control_x == 1
    with db.read_session() as s:
        assert daily_counts(s, RULE, 1) == [(2, 1, 2, 1)]  # earlier days are the first day's start


def test_a_contact_level_rule_has_an_outcome_per_contact_firing_at_the_account(db, fire_and_send):
    """Each contact's stay is its own occurrence; the outcomes are the account's (its events, its arm)."""
    treated, control = pick(1, 1)
    text = (f"id: {RULE}\nname: Admins\nlevel: contact\nwhen:\n  contact.role: admin\nactions:\n"
            "  - in_app: {template: onboarding/checklist, to: contact}\nholdout: 50%\n"
            "goal: {event: project_created, within: 14d}\n")  # fmt: skip
    apply(db, text)
    add_accounts(db, treated + control)
    with db.session() as s:  # a second admin at each account
        upsert_contacts(s, [{"id": f"{n}-v", "account_id": n, "email": f"{n}-v@x.test", "role": "admin"}
                            for n in treated + control])  # fmt: skip
    fire_and_send(T0, SENT)
    event(db, treated[0], SENT + timedelta(days=1))
    assert counts(measure(db, SENT + timedelta(days=2))) == (4, 2, 0)
    with db.read_session() as s:
        rows = s.execute(select(Account.external_id, GoalOutcome.arm, GoalOutcome.occurrence, GoalOutcome.state)
                         .join(Account, Account.id == GoalOutcome.account_id)).all()  # fmt: skip
    by_account: dict[str, list] = {}
    for ext, arm, occurrence, state in rows:
        by_account.setdefault(ext, []).append((arm, state))
    assert sorted(by_account[treated[0]]) == [("treated", "converted"), ("treated", "converted")]
    assert sorted(by_account[control[0]]) == [("control", "open"), ("control", "open")]
    assert len({occurrence for *_, occurrence, _ in rows}) == 4
