"""Goals of the other kinds through the real path: a rule applied, cycles that open and close its
stays, the dispatcher and the send job, events ingested, and the outcomes pass.

``leaves_segment``: an outcome converts when the stay its occurrence fired for ends (the
account stops matching), at the exit, or at the exposure for a stay that ended before it.
``condition``: it converts at the first pass that finds the condition true for the account
inside the window, at that pass's time.
"""

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
from engine.models import Account, GoalOutcome, OutcomeGoal, RuleVersion, SegmentMembership
from engine.results.counts import arm_counts
from engine.results.outcomes import LOOKBACK, measure
from engine.rules.cycle import run_cycle
from engine.rules.versions import active_rules, apply_rules, bundle, validate_content
from engine.settings import load_settings

RULE = "trial-goal"
T0 = datetime(2026, 11, 2, 9, 0, 0, 250000, tzinfo=UTC)
SENT = T0 + timedelta(minutes=10)
LEAVE = "{leaves_segment: true, within: 14d}"
REPORTS = "{condition: {event.report_run.count: {in_last: 7d, gte: 2}}, within: 14d}"


def rule_text(goal: str, trigger: str = "on_enter", holdout: str = "50%", extra: str = "") -> str:
    return (f"id: {RULE}\nname: Trial goal\nwhen:\n  account.plan: trial\ntrigger: {trigger}\nactions:\n"
            f"  - in_app: {{template: onboarding/checklist, to: contacts}}\nholdout: {holdout}\ngoal: {goal}\n{extra}")  # fmt: skip


def apply(db, text: str, segments: dict[str, str] | None = None) -> None:
    content = bundle(text, segments or {})
    rule = _validated(content)
    with db.session() as s:
        apply_rules(s, [(rule, content)], author="test")


def _validated(content: str):
    result = validate_content(content, f"rules/{RULE}.yaml", RULE)
    assert result.problems == [], [str(p) for p in result.problems]
    return result.rule


def pick(treated: int, control: int, prefix: str = "acct") -> tuple[list[str], list[str]]:
    """Account ids the 50% holdout puts in each arm (it is a hash: chosen, not assumed)."""
    names = [f"{prefix}-{i}" for i in range(200)]
    return ([n for n in names if not in_holdout(RULE, n, 50)][:treated],
            [n for n in names if in_holdout(RULE, n, 50)][:control])  # fmt: skip


def add_accounts(db, names: list[str], plan: str = "trial") -> None:
    with db.session() as s:
        upsert_accounts(s, [{"id": n, "name": n, "plan": plan} for n in names])
        upsert_contacts(s, [{"id": f"{n}-u", "account_id": n, "email": f"{n}@x.test", "role": "admin"} for n in names])


def set_plan(db, names: list[str], plan: str) -> None:
    with db.session() as s:
        upsert_accounts(s, [{"id": n, "plan": plan} for n in names])


def cycle(db, at: datetime) -> None:
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, at, only_due=False, full=True)


def send(db, at: datetime, sent_at: datetime) -> None:
    settings = dataclasses.replace(load_settings(), policy_file=None)
    jobs: list = []
    dispatch(db, at, lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids, lambda: sent_at)


def fire_and_send(db, at: datetime, sent_at: datetime) -> None:
    cycle(db, at)
    send(db, at, sent_at)


def reports(db, account: str, at: datetime, n: int = 1) -> None:
    with db.session() as s:
        rows = [{"id": f"{account}-{at.isoformat()}-{i}", "account_id": account, "name": "report_run",
                 "timestamp": at.isoformat()} for i in range(n)]  # fmt: skip
        assert track_events(s, rows, now=at, retention_days=10_000).accepted == n


def outcomes(db) -> dict[str, list[GoalOutcome]]:
    with db.read_session() as s:
        rows = s.execute(select(GoalOutcome, Account.external_id).join(Account, Account.id == GoalOutcome.account_id)
                         .order_by(GoalOutcome.exposed_at, GoalOutcome.id))  # fmt: skip
        found: dict[str, list[GoalOutcome]] = {}
        for o, ext in rows:
            found.setdefault(ext, []).append(o)
        return found


def one(db) -> dict[str, GoalOutcome]:
    got = outcomes(db)
    assert all(len(v) == 1 for v in got.values()), got
    return {k: v[0] for k, v in got.items()}


def counts(report) -> tuple[int, int, int]:
    return report.added, report.converted, report.closed


# -- leaving the segment ------------------------------------------------------------


@pytest.fixture
def leaving(db):
    """Two treated and two control accounts of a leave goal, fired at T0 and sent at SENT."""
    treated, control = pick(2, 2)
    apply(db, rule_text(LEAVE))
    add_accounts(db, treated + control)
    fire_and_send(db, T0, SENT)
    return treated, control


def test_a_leave_goal_is_recorded_with_its_kind(db, leaving):
    treated, control = leaving
    assert counts(measure(db, SENT + timedelta(minutes=5))) == (4, 0, 0)
    got = one(db)
    for name in treated + control:
        o = got[name]
        assert (o.goal_kind, o.goal_event, o.state, o.converted_at) == ("leave", None, "open", None)
        assert o.exposed_at == (SENT if name in treated else T0)
        assert o.window_ends_at == o.exposed_at + timedelta(days=14)
    with db.read_session() as s:
        goal = s.scalars(select(OutcomeGoal)).one()
    assert (goal.goal_kind, goal.goal_event, goal.goal_condition, goal.window_days) == ("leave", None, None, 14)


def test_leaving_the_segment_converts_at_the_exit_in_both_arms(db, leaving):
    (t1, t2), (c1, c2) = leaving
    measure(db, SENT + timedelta(minutes=5))
    exit_at = T0 + timedelta(hours=20)
    set_plan(db, [t1, c1], "paid")  # they no longer match: the next cycle ends their stays
    cycle(db, exit_at)
    report = measure(db, exit_at + timedelta(minutes=5))
    assert not report.full and counts(report) == (0, 2, 0)
    got = one(db)
    assert (got[t1].state, got[t1].converted_at) == ("converted", exit_at)
    assert (got[c1].state, got[c1].converted_at) == ("converted", exit_at)
    assert (got[t2].state, got[c2].state) == ("open", "open")
    # Idempotent: again, and a full pass, change nothing.
    assert counts(measure(db, exit_at + timedelta(minutes=6))) == (0, 0, 0)
    again = measure(db, exit_at + timedelta(minutes=7), full=True)
    assert again.full and counts(again) == (0, 0, 0)
    assert {n: (o.state, o.converted_at) for n, o in one(db).items()} == {n: (o.state, o.converted_at) for n, o in got.items()}


def test_a_stay_that_ended_before_the_send_converts_at_the_exposure(db):
    """The treated subject left between the firing and the send: as its held-out twin leaving at
    the same time converts (its clock started at the firing), it converts, at its exposure."""
    treated, control = pick(1, 1)
    apply(db, rule_text(LEAVE))
    add_accounts(db, treated + control)
    cycle(db, T0)
    set_plan(db, treated + control, "paid")
    cycle(db, T0 + timedelta(minutes=5))  # both leave before the message goes out
    send(db, T0, SENT)
    assert counts(measure(db, SENT + timedelta(minutes=5))) == (2, 2, 0)
    got = one(db)
    assert (got[treated[0]].arm, got[treated[0]].converted_at) == ("treated", SENT)
    assert (got[control[0]].arm, got[control[0]].converted_at) == ("control", T0 + timedelta(minutes=5))


def test_an_exit_at_the_window_end_does_not_count_and_one_just_before_does(db, leaving):
    (t1, t2), (c1, c2) = leaving
    measure(db, SENT + timedelta(minutes=5))
    end = T0 + timedelta(days=14)  # the control windows' end
    set_plan(db, [c1], "paid")
    cycle(db, end - timedelta(microseconds=1))
    set_plan(db, [c2], "paid")
    cycle(db, end)
    report = measure(db, end + timedelta(minutes=1))
    assert (report.converted, report.closed) == (1, 1)
    got = one(db)
    assert (got[c1].state, got[c1].converted_at) == ("converted", end - timedelta(microseconds=1))
    assert (got[c2].state, got[c2].converted_at) == ("closed", None)
    assert (got[t1].state, got[t2].state) == ("open", "open")


def test_an_exit_recorded_late_converts_a_closed_outcome(db, leaving):
    """A cycle stamps exits with its start and commits later: a pass in between closes the outcome,
    the next one (looking back an hour) converts it; one later than that is the full pass's."""
    (t1, t2), (c1, c2) = leaving
    measure(db, SENT + timedelta(minutes=5))
    end = T0 + timedelta(days=14)
    assert measure(db, end + timedelta(minutes=1)).closed == 2  # the control windows ended
    set_plan(db, [c1], "paid")
    cycle(db, end - timedelta(minutes=2))  # stamped before that pass, recorded after it
    report = measure(db, end + timedelta(minutes=10))
    assert not report.full and report.converted == 1
    assert (one(db)[c1].state, one(db)[c1].converted_at) == ("converted", end - timedelta(minutes=2))
    measure(db, end + LOOKBACK + timedelta(minutes=1))
    set_plan(db, [c2], "paid")
    cycle(db, end - timedelta(minutes=3))  # its window ended more than the look-back before the last pass
    late = end + LOOKBACK + timedelta(minutes=5)
    assert measure(db, late).converted == 0
    assert one(db)[c2].state == "closed"
    full = measure(db, late + timedelta(minutes=1), full=True)
    assert full.converted == 1 and one(db)[c2].converted_at == end - timedelta(minutes=3)


def test_every_reminder_of_a_stay_converts_when_it_ends(db):
    """while_matching occurrences (remind:<stay>:<k>) and on_event ones (event:<stay>) map to their stay."""
    treated, _ = pick(1, 0)
    apply(db, rule_text(LEAVE, trigger="{while_matching: {every: 2d}}", holdout="0%"))
    add_accounts(db, treated)
    for day in (0, 2, 4):
        at = T0 + timedelta(days=day)
        fire_and_send(db, at, at + timedelta(minutes=10))
    assert measure(db, T0 + timedelta(days=4, hours=1)).added == 3
    exit_at = T0 + timedelta(days=5)
    set_plan(db, treated, "paid")
    cycle(db, exit_at)
    assert measure(db, exit_at + timedelta(minutes=5)).converted == 3
    got = outcomes(db)[treated[0]]
    assert [o.occurrence.split(":")[0] for o in got] == ["remind"] * 3
    assert {o.converted_at for o in got} == {exit_at}


def test_an_on_event_firing_converts_when_its_stay_ends(db):
    treated, _ = pick(1, 0)
    apply(db, rule_text(LEAVE, trigger="{on_event: {events: [report_run]}}", holdout="0%"))
    add_accounts(db, treated)
    reports(db, treated[0], T0 - timedelta(minutes=1))
    fire_and_send(db, T0, SENT)
    measure(db, SENT + timedelta(minutes=1))
    set_plan(db, treated, "paid")
    cycle(db, T0 + timedelta(days=1))
    assert measure(db, T0 + timedelta(days=1, minutes=1)).converted == 1
    o = one(db)[treated[0]]
    assert o.occurrence.startswith("event:") and o.converted_at == T0 + timedelta(days=1)


def test_a_contact_level_rule_converts_each_contact_whose_stay_ends(db):
    treated, _ = pick(1, 0)
    text = (f"id: {RULE}\nname: Admins\nlevel: contact\nwhen:\n  contact.role: admin\nactions:\n"
            f"  - in_app: {{template: onboarding/checklist, to: contact}}\ngoal: {LEAVE}\n")  # fmt: skip
    apply(db, text)
    add_accounts(db, treated)
    with db.session() as s:
        upsert_contacts(s, [{"id": f"{treated[0]}-v", "account_id": treated[0], "email": "v@x.test", "role": "admin"}])
    fire_and_send(db, T0, SENT)
    assert measure(db, SENT + timedelta(minutes=1)).added == 2
    with db.session() as s:  # one of the two is no longer an admin: only its stay ends
        upsert_contacts(s, [{"id": f"{treated[0]}-v", "account_id": treated[0], "role": "member"}])
    cycle(db, T0 + timedelta(days=2))
    assert measure(db, T0 + timedelta(days=2, minutes=1)).converted == 1
    with db.read_session() as s:
        ended = s.scalars(select(SegmentMembership.id).where(SegmentMembership.exited_at.is_not(None))).one()
    states = {o.occurrence: o.state for o in outcomes(db)[treated[0]]}
    assert states == {f"enter:{ended}": "converted", **{k: "open" for k in states if k != f"enter:{ended}"}}


# -- a condition becoming true ------------------------------------------------------


@pytest.fixture
def condition(db):
    treated, control = pick(2, 2)
    apply(db, rule_text(REPORTS))
    add_accounts(db, treated + control)
    fire_and_send(db, T0, SENT)
    return treated, control


def test_a_condition_converts_at_the_first_pass_that_sees_it_true(db, condition):
    (t1, t2), (c1, c2) = condition
    first = SENT + timedelta(minutes=5)
    assert counts(measure(db, first)) == (4, 0, 0)
    got = one(db)
    assert {o.goal_kind for o in got.values()} == {"condition"} and {o.goal_event for o in got.values()} == {None}
    with db.read_session() as s:
        goal = s.scalars(select(OutcomeGoal)).one()
    assert (goal.goal_kind, goal.goal_event, goal.window_days) == ("condition", None, 14)
    assert goal.goal_condition == "count of 'report_run' in last 7d gte 2.0"
    reports(db, t1, T0 + timedelta(days=1), 2)
    reports(db, c1, T0 + timedelta(days=1), 1)  # one is not enough
    reports(db, c2, T0 + timedelta(days=1), 3)
    at = T0 + timedelta(days=1, hours=1)
    assert counts(measure(db, at)) == (0, 2, 0)
    got = one(db)
    assert (got[t1].state, got[t1].converted_at) == ("converted", at)
    assert (got[c2].state, got[c2].converted_at) == ("converted", at)
    assert got[c1].state == got[t2].state == "open"
    reports(db, c1, T0 + timedelta(days=2))
    later = T0 + timedelta(days=2, hours=1)
    assert counts(measure(db, later)) == (0, 1, 0)
    assert one(db)[c1].converted_at == later
    assert one(db)[t1].converted_at == at  # the first time it was seen true stays
    assert counts(measure(db, later, full=True)) == (0, 0, 0)


def test_a_condition_is_read_inside_the_window_only(db):
    """At the exposure it counts (even when already true then); at the window's end it does not."""
    treated, control = pick(1, 2)
    apply(db, rule_text(REPORTS))
    add_accounts(db, treated + control)
    for name in treated + control[:1]:
        reports(db, name, T0 - timedelta(hours=1), 2)  # already true when the rule fires
    cycle(db, T0)
    report = measure(db, T0)  # the held-out exposure, exactly; the message is still to go out
    assert counts(report) == (2, 1, 0)
    assert one(db)[control[0]].converted_at == T0
    send(db, T0, SENT)
    assert counts(measure(db, SENT)) == (1, 1, 0)
    assert one(db)[treated[0]].converted_at == SENT
    end = T0 + timedelta(days=14)
    measure(db, end - timedelta(days=1))
    reports(db, control[1], end - timedelta(hours=1), 2)
    assert counts(measure(db, end)) == (0, 0, 1)  # true now, but the window has just ended
    assert (one(db)[control[1]].state, one(db)[control[1]].converted_at) == ("closed", None)


def test_a_condition_true_between_two_passes_only_is_not_seen(db, condition):
    """The resolution is the pass: a condition true and false again in between is missed."""
    (t1, _t2), _ = condition
    measure(db, SENT + timedelta(minutes=5))
    reports(db, t1, T0 + timedelta(days=1), 2)
    # The next pass runs 8 days later, when the two reports have left the 7-day window.
    assert measure(db, T0 + timedelta(days=9)).converted == 0
    assert one(db)[t1].state == "open"


def test_each_version_keeps_its_own_condition(db, condition):
    (t1, t2), (c1, c2) = condition
    measure(db, SENT + timedelta(minutes=5))
    apply(db, rule_text("{condition: {account.tier: low}, within: 7d}"))
    later = T0 + timedelta(days=1)
    newer, newer_control = pick(1, 1, prefix="later")
    add_accounts(db, newer + newer_control)
    fire_and_send(db, later, later + timedelta(minutes=10))
    with db.session() as s:
        upsert_accounts(s, [{"id": n, "tier": "low"} for n in (t1, c1, *newer)])
    report = measure(db, later + timedelta(hours=1))
    assert (report.added, report.converted) == (2, 1)
    got = one(db)
    with db.read_session() as s:
        v1, v2 = s.scalars(select(RuleVersion.id).where(RuleVersion.rule_id == RULE).order_by(RuleVersion.version))
        texts = {g.rule_version_id: g.goal_condition for g in s.scalars(select(OutcomeGoal))}
    assert texts == {v1: "count of 'report_run' in last 7d gte 2.0", v2: "account.tier eq 'low'"}
    assert (got[t1].rule_version_id, got[t1].state) == (v1, "open")  # its goal is the reports, not the tier
    assert (got[newer[0]].rule_version_id, got[newer[0]].state) == (v2, "converted")
    assert got[newer[0]].window_ends_at == got[newer[0]].exposed_at + timedelta(days=7)
    assert got[newer_control[0]].state == "open"


def test_a_condition_may_use_a_segment_stored_with_the_version(db):
    treated, control = pick(1, 1)
    segment = "id: big\nwhen:\n  account.mrr: {gte: 100}\n"
    apply(db, rule_text("{condition: {segment: big}, within: 14d}"), {"big": segment})
    add_accounts(db, treated + control)
    fire_and_send(db, T0, SENT)
    with db.session() as s:
        upsert_accounts(s, [{"id": control[0], "mrr": 150}])
    assert counts(measure(db, SENT + timedelta(minutes=5))) == (2, 1, 0)
    assert {n: o.state for n, o in one(db).items()} == {treated[0]: "open", control[0]: "converted"}


def test_counts_read_the_new_kinds_like_events(db, condition):
    (t1, t2), (c1, c2) = condition
    measure(db, SENT + timedelta(minutes=5))
    reports(db, t1, T0 + timedelta(days=1), 2)
    measure(db, T0 + timedelta(days=1, hours=1))
    measure(db, SENT + timedelta(days=14))
    with db.read_session() as s:
        assert arm_counts(s, RULE) == {"treated": (2, 1), "control": (2, 0)}


def test_a_version_that_no_longer_validates_converts_nothing(db, condition, caplog):
    """Its outcomes stay open until their windows end; the pass says why in the log."""
    (t1, _), _ = condition
    measure(db, SENT + timedelta(minutes=5))
    with db.session() as s:
        s.execute(update(RuleVersion).values(content="id: trial-goal\nname: broken\n"))
    reports(db, t1, T0 + timedelta(days=1), 2)
    assert measure(db, T0 + timedelta(days=1, hours=1)).converted == 0
    assert "no longer validates" in caplog.text
    assert measure(db, SENT + timedelta(days=14)).closed == 4
