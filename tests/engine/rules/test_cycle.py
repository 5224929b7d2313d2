"""The evaluation cycle against the test database: memberships, deliveries, debounce, schedule."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from engine.db import Database
from engine.ingest import upsert_accounts, upsert_contacts
from engine.jobs.tick import tick
from engine.models import Account, Contact, Delivery, RuleState, RuleVersion, SegmentMembership
from engine.rules.ast import Compare, FieldRef
from engine.rules.cycle import is_due, run_cycle
from engine.rules.firing import dedupe_key
from engine.rules.schema import Rule
from engine.rules.validate import validate_text

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)

BASE = """\
id: {id}
name: Trial nudge
when:
  account.plan: trial
trigger: {trigger}
schedule: "{schedule}"
min_dwell: {dwell}
actions:
{actions}
"""
EMAIL_ADMIN = "  - email: {template: trial/nudge, to: role:admin}\n"
IN_APP_ALL = "  - in_app: {template: trial/checklist, to: contacts}\n"
EMAIL_OWNER = "  - email: {template: trial/owner-alert, to: owner}\n"


def rule_text(
    rule_id="trial-nudge", trigger="on_enter", schedule="*/15 * * * *", dwell="0d", actions=EMAIL_ADMIN
) -> str:
    return BASE.format(id=rule_id, trigger=trigger, schedule=schedule, dwell=dwell, actions=actions)


def make_rule(rule_id="trial-nudge", **kwargs) -> Rule:
    text = rule_text(rule_id, **kwargs)
    result = validate_text(text, f"{rule_id}.yaml", expected_id=rule_id)
    assert result.rule is not None, result.problems
    return result.rule


def activate(
    db: Database, rule: Rule, paused: bool = False, content: str = "(test)"
) -> tuple[RuleState, RuleVersion, Rule]:
    """Store a version and a state row for ``rule``, as applying it would."""
    with db.session() as s:
        version = RuleVersion(rule_id=rule.id, version=1, content=content, content_hash="0" * 64, author="test")
        s.add(version)
        s.flush()
        state = RuleState(rule_id=rule.id, active_version_id=version.id, paused=paused)
        s.add(state)
    return state, version, rule


def accounts(db: Database, **plans: str) -> None:
    with db.session() as s:
        result = upsert_accounts(s, [{"id": a, "name": a, "plan": p} for a, p in plans.items()])
    assert not result.rejected, result.rejected


def contacts(db: Database, *records: dict) -> None:
    with db.session() as s:
        result = upsert_contacts(s, list(records))
    assert not result.rejected, result.rejected


def account_id(db: Database, external_id: str) -> int:
    with db.read_session() as s:
        return s.scalars(select(Account.id).where(Account.external_id == external_id)).one()


def deliveries(db: Database, **where) -> list[Delivery]:
    with db.read_session() as s:
        stmt = select(Delivery).filter_by(**where).order_by(Delivery.id)
        return list(s.scalars(stmt))


def memberships(db: Database) -> list[SegmentMembership]:
    with db.read_session() as s:
        return list(s.scalars(select(SegmentMembership).order_by(SegmentMembership.id)))


def count(db: Database, model) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def world(db: Database) -> Database:
    """acme (trial) has an admin and a member; beta (trial) only a member; gamma is on pro."""
    accounts(db, acme="trial", beta="trial", gamma="pro")
    contacts(
        db,
        {"id": "ann", "account_id": "acme", "email": "ann@acme.test", "role": "admin"},
        {"id": "max", "account_id": "acme", "email": "max@acme.test", "role": "member"},
        {"id": "bob", "account_id": "beta", "email": "bob@beta.test", "role": "member"},
        {"id": "gus", "account_id": "gamma", "email": "gus@gamma.test", "role": "admin"},
    )
    return db


def test_entering_accounts_get_memberships_and_deliveries(world: Database) -> None:
    rules = [activate(world, make_rule(actions=EMAIL_ADMIN + IN_APP_ALL))]
    outcome = run_cycle(world, rules, T0).by_rule()["trial-nudge"]
    assert (outcome.status, outcome.matched, outcome.entered, outcome.fired) == ("evaluated", 2, 2, 2)
    # acme: one email (ann) + two in-app (ann, max); beta: in-app for bob, and a skipped email.
    assert (outcome.deliveries, outcome.skipped_deliveries) == (4, 1)

    acme, beta = account_id(world, "acme"), account_id(world, "beta")
    stays = {m.account_id: m for m in memberships(world)}
    assert set(stays) == {acme, beta}
    for m in stays.values():
        assert (m.exited_at, m.entered_at, m.subject_key) == (None, T0, f"account:{m.account_id}")

    email = deliveries(world, account_id=acme, channel="email")
    assert [(d.recipient, d.status, d.template) for d in email] == [("ann@acme.test", "pending", "trial/nudge")]
    occurrence = f"enter:{stays[acme].id}"
    assert email[0].occurrence == occurrence
    assert email[0].dedupe_key == f"trial-nudge|0|ann@acme.test|{occurrence}"
    assert email[0].rule_version_id == rules[0][1].id
    assert email[0].explanation["tree"] == {"if": "account.plan eq 'trial'", "ok": True, "saw": "trial"}

    with world.read_session() as s:
        ids = {e: i for e, i in s.execute(select(Contact.external_id, Contact.id))}
    in_app = deliveries(world, account_id=acme, channel="in_app")
    assert sorted((d.recipient, d.contact_id) for d in in_app) == sorted(
        [(f"contact:{ids['ann']}", ids["ann"]), (f"contact:{ids['max']}", ids["max"])]
    )

    skipped = deliveries(world, account_id=beta, channel="email")
    assert [(d.status, d.reason) for d in skipped] == [("skipped", "no recipient: no contact with role admin")]
    with world.read_session() as s:
        assert s.get(RuleState, "trial-nudge").last_evaluated_at == T0


def test_contacts_without_an_email_and_accounts_without_an_owner_are_skipped_with_a_reason(world: Database) -> None:
    contacts(world, {"id": "eve", "account_id": "beta", "role": "admin"})  # an admin without an address
    rules = [activate(world, make_rule(actions=EMAIL_ADMIN + EMAIL_OWNER))]
    run_cycle(world, rules, T0)
    beta = account_id(world, "beta")
    assert [(d.action_index, d.recipient, d.status, d.reason) for d in deliveries(world, account_id=beta)] == [
        (0, "(none)", "skipped", "no recipient: no contact with role admin and an email address"),
        (1, "(none)", "skipped", "no recipient: the account has no owner"),
    ]
    with world.session() as s:
        upsert_accounts(s, [{"id": "acme", "owner": "csm@vendor.test"}])
    run_cycle(world, rules, T0 + HOUR, only_due=False)  # acme already fired: the owner change sends nothing new
    assert [d.status for d in deliveries(world, account_id=account_id(world, "acme"), action_index=1)] == ["skipped"]


def test_a_contact_sharing_an_address_gets_a_skipped_duplicate_row_not_a_second_message(world: Database) -> None:
    contacts(world, {"id": "ann2", "account_id": "acme", "email": "ann@acme.test", "role": "admin"})
    rules = [activate(world, make_rule())]
    outcome = run_cycle(world, rules, T0).by_rule()["trial-nudge"]
    acme = account_id(world, "acme")
    with world.read_session() as s:
        ids = {e: i for e, i in s.execute(select(Contact.external_id, Contact.id))}
    rows = {d.contact_id: d for d in deliveries(world, account_id=acme, channel="email")}
    first, second = sorted(rows)
    assert (rows[first].status, rows[first].recipient) == ("pending", "ann@acme.test")
    assert (rows[second].status, rows[second].recipient) == ("skipped", "ann@acme.test")
    assert rows[second].reason == f"skipped: duplicate: ann@acme.test already gets this message (as contact #{first})"
    assert {first, second} == {ids["ann"], ids["ann2"]}
    assert (outcome.deliveries, outcome.skipped_deliveries) == (1, 2)  # the duplicate, and beta's admin-less email
    run_cycle(world, rules, T0 + HOUR, only_due=False)  # nothing new on the next pass
    assert len(deliveries(world, account_id=acme, channel="email")) == 2


def test_a_second_run_at_the_same_time_writes_nothing_new(world: Database) -> None:
    rules = [activate(world, make_rule(actions=EMAIL_ADMIN + IN_APP_ALL))]
    run_cycle(world, rules, T0)
    before = (count(world, Delivery), count(world, SegmentMembership))
    assert run_cycle(world, rules, T0).by_rule()["trial-nudge"].status == "not_due"
    again = run_cycle(world, rules, T0, only_due=False).by_rule()["trial-nudge"]
    assert (again.status, again.matched, again.entered, again.exited, again.deliveries, again.skipped_deliveries) == (
        "evaluated", 2, 0, 0, 0, 0,
    )  # fmt: skip
    assert (count(world, Delivery), count(world, SegmentMembership)) == before
    # Even a stay that looks unfired (as if its mark were lost) cannot send twice: the dedupe key holds.
    with world.session() as s:
        s.execute(update(SegmentMembership).values(last_fired_at=None))
    again = run_cycle(world, rules, T0 + HOUR, only_due=False).by_rule()["trial-nudge"]
    assert (again.fired, again.deliveries, again.skipped_deliveries) == (2, 0, 0)
    assert count(world, Delivery) == before[0]


def test_two_cycles_at_once_write_each_membership_and_delivery_once(db: Database) -> None:
    accounts(db, **{f"acct-{n:02d}": "trial" for n in range(30)})
    contacts(db, *({"id": f"c-{n:02d}", "account_id": f"acct-{n:02d}", "email": f"a{n}@x.test", "role": "admin"}
                   for n in range(30)))  # fmt: skip
    rules = [activate(db, make_rule(actions=EMAIL_ADMIN + IN_APP_ALL))]
    start = threading.Barrier(2)
    reports, errors = [], []

    def cycle() -> None:
        try:
            start.wait()
            reports.append(run_cycle(db, rules, T0, only_due=False))
        except Exception as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=cycle) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert [o.status for r in reports for o in r.rules] == ["evaluated", "evaluated"]
    assert count(db, SegmentMembership) == 30
    assert count(db, Delivery) == 60  # one email and one in-app per account
    with db.read_session() as s:
        assert s.scalar(select(func.count(func.distinct(Delivery.dedupe_key)))) == 60
    assert sum(o.entered for r in reports for o in r.rules) == 30
    assert sum(o.deliveries for r in reports for o in r.rules) == 60


def test_leaving_closes_the_membership_and_reentry_fires_again(world: Database) -> None:
    rules = [activate(world, make_rule())]
    run_cycle(world, rules, T0)
    acme = account_id(world, "acme")
    with world.session() as s:
        upsert_accounts(s, [{"id": "acme", "plan": "pro"}])
    out = run_cycle(world, rules, T0 + HOUR).by_rule()["trial-nudge"]
    assert (out.exited, out.entered, out.deliveries) == (1, 0, 0)
    first = [m for m in memberships(world) if m.account_id == acme]
    assert [(m.entered_at, m.exited_at) for m in first] == [(T0, T0 + HOUR)]

    with world.session() as s:
        upsert_accounts(s, [{"id": "acme", "plan": "trial"}])
    out = run_cycle(world, rules, T0 + 2 * HOUR).by_rule()["trial-nudge"]
    assert (out.entered, out.deliveries, out.debounced) == (1, 1, 0)
    stays = [m for m in memberships(world) if m.account_id == acme]
    assert len(stays) == 2 and stays[1].exited_at is None
    assert [d.occurrence for d in deliveries(world, account_id=acme)] == [f"enter:{m.id}" for m in stays]


def test_min_dwell_delays_the_entry_and_debounces_quick_reentries(world: Database) -> None:
    rules = [activate(world, make_rule(dwell="3d"))]
    acme = account_id(world, "acme")

    def run(at: datetime, plan: str | None = None):
        if plan:
            with world.session() as s:
                upsert_accounts(s, [{"id": "acme", "plan": plan}])
        out = run_cycle(world, rules, at).by_rule()["trial-nudge"]
        return out, [d.occurrence for d in deliveries(world, account_id=acme, status="pending")]

    out, sent = run(T0)
    assert (out.entered, sent) == (2, [])  # in the segment, but not for 3 days yet
    out, sent = run(T0 + 3 * DAY - HOUR)
    assert sent == []
    out, sent = run(T0 + 3 * DAY)  # a later cycle picks up the stay once it is old enough
    first = memberships(world)[0]
    assert sent == [f"enter:{first.id}"]

    run(T0 + 4 * DAY, plan="pro")  # leaves...
    run(T0 + 5 * DAY, plan="trial")  # ...and comes back a day later
    out, sent = run(T0 + 8 * DAY)  # the new stay has lasted 3 days, but it re-entered within 3 days
    assert (out.debounced, len(sent)) == (1, 1)
    out, sent = run(T0 + 9 * DAY)
    assert (out.debounced, len(sent)) == (0, 1)  # decided once: not reconsidered

    run(T0 + 10 * DAY, plan="pro")
    run(T0 + 13 * DAY, plan="trial")  # back after 3 days away: a new entry
    out, sent = run(T0 + 16 * DAY)
    last = [m for m in memberships(world) if m.account_id == acme][-1]
    assert sent[-1] == f"enter:{last.id}" and len(sent) == 2


def test_a_stay_shorter_than_min_dwell_never_fires(world: Database) -> None:
    rules = [activate(world, make_rule(dwell="2d"))]
    run_cycle(world, rules, T0)
    with world.session() as s:
        upsert_accounts(s, [{"id": "acme", "plan": "pro"}])
    run_cycle(world, rules, T0 + DAY)
    run_cycle(world, rules, T0 + 5 * DAY)
    assert deliveries(world, account_id=account_id(world, "acme")) == []


def test_while_matching_reminds_once_per_period(world: Database) -> None:
    rules = [activate(world, make_rule(trigger="{while_matching: {every: 7d}}"))]
    acme = account_id(world, "acme")
    for at in (T0, T0 + DAY, T0 + 6 * DAY, T0 + 7 * DAY, T0 + 7 * DAY + HOUR, T0 + 8 * DAY,
               T0 + 15 * DAY, T0 + 15 * DAY + 2 * HOUR, T0 + 21 * DAY, T0 + 21 * DAY):  # fmt: skip
        run_cycle(world, rules, at, only_due=False)
    stay = next(m for m in memberships(world) if m.account_id == acme)
    sent = deliveries(world, account_id=acme)
    assert [d.occurrence for d in sent] == [f"remind:{stay.id}:{k}" for k in range(4)]
    assert [d.due_at for d in sent] == [T0, T0 + 7 * DAY, T0 + 15 * DAY, T0 + 21 * DAY]


def test_a_rule_not_due_is_not_evaluated(world: Database) -> None:
    rules = [activate(world, make_rule(schedule="0 9 * * *"))]  # daily at 09:00 UTC
    assert run_cycle(world, rules, T0).by_rule()["trial-nudge"].status == "evaluated"  # never evaluated: due
    accounts(world, delta="trial")
    later = run_cycle(world, rules, T0 + 5 * HOUR).by_rule()["trial-nudge"]
    assert later.status == "not_due"
    assert account_id(world, "delta") not in {m.account_id for m in memberships(world)}
    next_day = run_cycle(world, rules, T0 + 23 * HOUR).by_rule()["trial-nudge"]  # 09:00 the next day
    assert (next_day.status, next_day.entered) == ("evaluated", 1)
    with world.read_session() as s:
        assert s.get(RuleState, "trial-nudge").last_evaluated_at == T0 + 23 * HOUR


def test_is_due_follows_the_cron_schedule() -> None:
    assert is_due("*/15 * * * *", None, T0)
    assert not is_due("*/15 * * * *", T0, T0 + timedelta(minutes=14))
    assert is_due("*/15 * * * *", T0 + timedelta(minutes=1), T0 + timedelta(minutes=15))


def test_paused_and_broken_rules_do_not_stop_the_others(world: Database) -> None:
    broken = Rule(
        id="broken",
        name="Broken",
        when=Compare(FieldRef("contact", "role"), "eq", "admin"),  # not evaluable in an account rule: raises
        actions=make_rule().actions,
    )
    contact_level = Rule(id="per-contact", name="Per contact", when=make_rule().when, actions=(), level="contact")
    rules = [
        activate(world, broken),
        activate(world, make_rule("paused-one"), paused=True),
        activate(world, contact_level),
        activate(world, make_rule("works")),
    ]
    report = run_cycle(world, rules, T0).by_rule()
    assert report["broken"].status == "error" and "contact-level rule" in report["broken"].reason
    assert report["paused-one"].status == "paused"
    assert report["per-contact"].status == "evaluated"
    assert (report["works"].status, report["works"].entered) == ("evaluated", 2)
    with world.read_session() as s:
        assert s.get(RuleState, "broken").last_evaluated_at is None  # rolled back: retried next tick
    summary = run_cycle(world, rules, T0 + HOUR).summary()
    assert summary["errors"] == {"broken": report["broken"].reason}
    assert (summary["evaluated"], summary["paused"], summary["error"]) == (2, 1, 1)


def test_a_very_long_recipient_still_fits_the_dedupe_key() -> None:
    key = dedupe_key("r" * 100, 3, "x" * 300 + "@example.test", "remind:123456789:42")
    assert len(key) <= 255 and key.startswith("r" * 100 + "|3|sha256:") and key.endswith("|remind:123456789:42")
    assert dedupe_key("r", 0, "a@b.test", "enter:1") == "r|0|a@b.test|enter:1"


def test_the_tick_runs_the_cycle_for_active_rules(world: Database, redis_url: str) -> None:
    text = rule_text(schedule="0 0 1 1 *")  # yearly: due once (never evaluated), then not again
    activate(world, make_rule(schedule="0 0 1 1 *"), content=text)
    first = tick()
    assert first["status"] == "ok"
    assert {k: first["rules"][k] for k in ("rules", "evaluated", "entered", "deliveries", "skipped_deliveries")} == {
        "rules": 1, "evaluated": 1, "entered": 2, "deliveries": 1, "skipped_deliveries": 1,
    }  # fmt: skip
    second = tick()
    assert (second["rules"]["not_due"], second["rules"]["deliveries"]) == (1, 0)
    assert count(world, Delivery) == 2


def test_a_rule_whose_version_changed_since_loading_waits_for_the_next_cycle(world: Database) -> None:
    state, old, rule = activate(world, make_rule())
    with world.session() as s:
        newer = RuleVersion(rule_id=rule.id, version=2, content="(test)", content_hash="1" * 64, author="test")
        s.add(newer)
        s.flush()
        s.get(RuleState, rule.id).active_version_id = newer.id
    outcome = run_cycle(world, [(state, old, rule)], T0).by_rule()[rule.id]
    assert (outcome.status, outcome.reason) == ("skipped", "another version was applied since the rules were loaded")
    assert count(world, SegmentMembership) == 0


def test_the_circuit_breaker_pauses_a_rule_that_would_send_too_much_and_writes_nothing(world: Database) -> None:
    text = rule_text(actions=IN_APP_ALL) + "max_messages_per_cycle: 2\n"  # acme has 2 contacts, beta 1: 3 messages
    result = validate_text(text, "trial-nudge.yaml", expected_id="trial-nudge")
    assert result.rule is not None, result.problems
    rules = [activate(world, result.rule)]
    report = run_cycle(world, rules, T0)
    outcome = report.by_rule()["trial-nudge"]
    assert outcome.status == "tripped" and "more than 2 messages" in outcome.reason
    assert report.summary()["alerts"] == {"trial-nudge": outcome.reason}
    with world.read_session() as s:
        state = s.get(RuleState, "trial-nudge")
        assert state.paused and "circuit breaker" in state.paused_reason
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
        assert s.scalar(select(func.count()).select_from(SegmentMembership)) == 0  # rolled back: fires after a resume
    assert run_cycle(world, rules, T0 + HOUR).by_rule()["trial-nudge"].status == "paused"


def test_the_default_ceiling_is_far_above_the_plan(world: Database) -> None:
    from engine.rules.firing import CEILING_FLOOR, message_ceiling

    rule = make_rule()
    version = RuleVersion(rule_id=rule.id, version=1, content="", content_hash="", author="t", predicted_messages=None)
    assert message_ceiling(rule, version) == CEILING_FLOOR
    version.predicted_messages = 5_000
    assert message_ceiling(rule, version) == 50_000


def test_holdout_accounts_get_held_out_rows_and_no_message(db: Database) -> None:
    from engine.delivery.holdout import in_holdout

    names = [f"acct{i}" for i in range(20)]
    accounts(db, **{n: "trial" for n in names})
    contacts(db, *({"id": f"{n}-admin", "account_id": n, "email": f"{n}@x.test", "role": "admin"} for n in names))
    text = rule_text() + "holdout: 50%\n"
    rule = validate_text(text, "trial-nudge.yaml", expected_id="trial-nudge").rule
    report = run_cycle(db, [activate(db, rule)], T0).by_rule()["trial-nudge"]
    expected = {n for n in names if in_holdout("trial-nudge", n, 50)}
    assert 0 < len(expected) < len(names)  # the test data puts some on each side
    with db.read_session() as s:
        rows = s.execute(select(Account.external_id, Delivery.status, Delivery.reason).join(Account)).all()
    assert {a for a, status, _r in rows if status == "held_out"} == expected
    assert {a for a, status, _r in rows if status == "pending"} == set(names) - expected
    assert all("control group" in r for _a, status, r in rows if status == "held_out")
    assert (report.held_out, report.deliveries) == (len(expected), len(names) - len(expected))
