"""on_event within seconds: the events API schedules one re-check job; a real worker runs it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.db import Database
from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.jobs.queues import get_queue, redis_connection
from engine.jobs.recheck import pending_key, recheck_pending, request_recheck
from engine.jobs.worker import make_worker
from engine.models import Account, Delivery, SegmentMembership, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")

RULE = """\
id: export-tip
name: Tip after the first export
when:
  account.plan: pro
trigger: {on_event: {events: [export]}}
actions:
  - email: {template: tips/export, to: role:admin}
"""


@pytest.fixture
def world(db: Database, redis_url: str) -> dict[str, int]:
    """Two pro accounts with an admin each, and the on_event rule applied."""
    rule = validate_text(RULE, "export-tip.yaml", expected_id="export-tip").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": a, "name": a, "plan": "pro"} for a in ("acme", "beta")])
        upsert_contacts(s, [{"id": f"{a}-admin", "account_id": a, "email": f"admin@{a}.test", "role": "admin"}
                            for a in ("acme", "beta")])  # fmt: skip
        return {a: s.scalars(select(Account.id).where(Account.external_id == a)).one() for a in ("acme", "beta")}


def export(db: Database, account: str, event_id: str, when=None) -> set[int]:
    with db.session() as s:
        result = track_events(s, [{"id": event_id, "account_id": account, "name": "export",
                                   "timestamp": (when or utcnow()).isoformat()}])  # fmt: skip
    assert result.accepted == 1, result.rejected
    return set(result.new_events)


def deliveries(db: Database) -> dict[int, str]:
    with db.read_session() as s:
        return {a: o for a, o in s.execute(select(Delivery.account_id, Delivery.occurrence))}


def tick_cycle(db: Database, now) -> None:
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, now, only_due=False)


def test_an_event_fires_the_rule_through_a_worker_without_waiting_for_the_tick(db, world):
    tick_cycle(db, utcnow())  # both enter the segment; nobody has exported yet
    assert deliveries(db) == {}
    touched = export(db, "acme", "e1")
    assert touched == {world["acme"]}
    assert request_recheck(touched) is True
    assert request_recheck(touched) is False  # one job for a burst of batches
    assert get_queue().count == 1
    assert make_worker().work(burst=True)
    with db.read_session() as s:
        stay = s.scalars(select(SegmentMembership.id).where(SegmentMembership.account_id == world["acme"])).one()
    assert deliveries(db) == {world["acme"]: f"event:{stay}"}
    assert redis_connection().scard(pending_key(load_settings())) == 0
    # The next event of the same stay does not fire again.
    request_recheck(export(db, "acme", "e2"))
    make_worker().work(burst=True)
    assert deliveries(db) == {world["acme"]: f"event:{stay}"}


def test_the_recheck_enters_a_matching_account_itself(db, world):
    """No tick ran: the re-check opens the membership and fires in one go."""
    request_recheck(export(db, "beta", "e1"))
    totals = recheck_pending()
    assert (totals["accounts"], totals["rules"], totals["entered"], totals["deliveries"]) == (1, 1, 1, 1)
    assert set(deliveries(db)) == {world["beta"]}


def test_an_event_before_entering_does_not_fire_but_the_tick_catches_a_lost_recheck(db, world):
    long_ago = utcnow() - timedelta(days=3)
    export(db, "acme", "old", when=long_ago)  # before the account entered: not an event "for a member"
    tick_cycle(db, utcnow())
    assert deliveries(db) == {}
    export(db, "beta", "e1")  # stored, but the re-check is never requested (Redis was down)
    tick_cycle(db, utcnow() + timedelta(hours=1))
    assert set(deliveries(db)) == {world["beta"]}


def test_a_paused_rule_is_not_rechecked(db, world):
    from engine.rules.versions import pause_rule

    with db.session() as s:
        pause_rule(s, "export-tip", "testing")
    request_recheck(export(db, "acme", "e1"))
    assert recheck_pending()["rules"] == 0
    assert deliveries(db) == {}


def test_a_recheck_between_a_ticks_read_and_its_write_is_not_undone(db, world):
    """The tick reads its matches, a re-check opens and fires a stay, then the tick writes:
    the tick must see the change (the rule's generation moved), not close the stay and fire again."""
    from engine.rules import cycle

    with db.session() as s:
        upsert_accounts(s, [{"id": "acme", "name": "acme", "plan": "free"}])
    now = utcnow()
    with db.read_session() as s:
        rules = active_rules(s)
        states = {st.rule_id: st for st in s.scalars(select(cycle.RuleState))}
    _state, version, rule = rules[0]
    plan = cycle.Pass("account", False, "test", generation=states[rule.id].generation)
    cycle._match(db, [(version, rule, plan)], states, now)  # the tick's snapshot: acme does not match
    assert world["acme"] not in plan.matches

    with db.session() as s:
        upsert_accounts(s, [{"id": "acme", "name": "acme", "plan": "pro"}])
    cycle.recheck_accounts(db, rules, export(db, "acme", "e1"), utcnow())  # opens the stay and fires
    assert set(deliveries(db)) == {world["acme"]}

    with db.session() as s:  # the tick writes with its stale matches
        outcome = cycle._run_rule(s, version, rule, now, False, plan, now, 0)
    assert outcome.exited == 0 and world["acme"] in plan.matches
    cycle.recheck_accounts(db, rules, export(db, "acme", "e2"), utcnow())
    with db.read_session() as s:
        stays = s.execute(select(SegmentMembership.entered_at, SegmentMembership.exited_at)
                          .where(SegmentMembership.account_id == world["acme"])).all()  # fmt: skip
    assert len(stays) == 1 and stays[0].exited_at is None
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 1


def test_re_checks_between_two_cycles_count_together_against_the_circuit_breaker(db, redis_url):
    from engine.models import RuleState
    from engine.rules import cycle

    text = RULE.replace("trigger:", "max_messages_per_cycle: 2\ntrigger:")
    rule = validate_text(text, "export-tip.yaml", expected_id="export-tip").rule
    names = ("a1", "a2", "a3")
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": a, "name": a, "plan": "pro"} for a in names])
        upsert_contacts(s, [{"id": f"{a}-admin", "account_id": a, "email": f"admin@{a}.test", "role": "admin"}
                            for a in names])  # fmt: skip
    tick_cycle(db, utcnow())  # all three enter; nobody has exported yet
    with db.read_session() as s:
        rules = active_rules(s)
    outcomes = [cycle.recheck_accounts(db, rules, export(db, a, f"e-{a}"), utcnow()).by_rule()["export-tip"] for a in names]
    # One message each time, within the ceiling each time; the third makes three since the cycle.
    assert [o.status for o in outcomes] == ["evaluated", "evaluated", "tripped"]
    assert "more than 2 messages" in outcomes[2].reason
    assert len(deliveries(db)) == 2
    with db.read_session() as s:
        assert s.get(RuleState, "export-tip").paused


# -- the fast path: what a re-check writes is dispatched at once ---------------------------

SENDING_RULE = RULE.replace("tips/export", "onboarding/stalled")


@pytest.fixture
def sending_world(db: Database, world: dict[str, int], smtp_server, monkeypatch) -> dict[str, int]:
    """The world, with a template that renders and the mail server the worker sends to."""
    rule = validate_text(SENDING_RULE, "export-tip.yaml", expected_id="export-tip").rule
    with db.session() as s:
        apply_rules(s, [(rule, SENDING_RULE)], author="test")
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    tick_cycle(db, utcnow())  # both enter; nobody has exported yet
    return world


def statuses(db: Database) -> dict[str, str]:
    with db.read_session() as s:
        return dict(s.execute(select(Delivery.recipient, Delivery.status)).all())


def test_an_events_email_reaches_the_mail_server_without_waiting_for_a_dispatch_pass(db, sending_world, smtp_server):
    request_recheck(export(db, "acme", "e1"))
    assert make_worker().work(burst=True)  # the re-check job, then the send job it queued; no dispatch pass
    assert statuses(db) == {"admin@acme.test": "sent"}
    assert [m["to"] for m in smtp_server.handler.messages] == [["admin@acme.test"]]


def test_the_fast_path_keeps_the_gates(db, sending_world, smtp_server):
    from engine.compliance.suppressions import suppress

    with db.session() as s:
        suppress(s, "admin@acme.test", "complained", None, "test")
    request_recheck(export(db, "acme", "e1") | export(db, "beta", "e2"))
    make_worker().work(burst=True)
    assert statuses(db) == {"admin@acme.test": "suppressed", "admin@beta.test": "sent"}
    assert [m["to"] for m in smtp_server.handler.messages] == [["admin@beta.test"]]


def test_while_a_pass_holds_the_dispatch_lock_the_fast_path_leaves_its_rows_to_the_next_pass(
    db, sending_world, smtp_server, monkeypatch, caplog
):
    """Two dispatchers deciding at once could both spend the same limit: the fast path waits
    for the lock, and past FAST_PATH_WAIT leaves the rows pending for the pass that holds it."""
    import logging

    from engine.jobs import send
    from engine.jobs.send import dispatch_lock_key, dispatch_tick

    monkeypatch.setattr(send, "FAST_PATH_WAIT", 0.3)
    conn = redis_connection()
    other = conn.lock(dispatch_lock_key(load_settings()), timeout=30)
    assert other.acquire(blocking=False)
    request_recheck(export(db, "acme", "e1"))
    with caplog.at_level(logging.INFO, logger="engine.jobs.send"):
        totals = recheck_pending()
    assert (totals["deliveries"], totals["queued"]) == (1, 0)
    assert statuses(db) == {"admin@acme.test": "pending"}
    assert any("on_event messages skipped: another dispatch holds" in r.getMessage() for r in caplog.records)
    other.release()
    assert dispatch_tick()["queued"] == 1  # the next pass sends it
    make_worker().work(burst=True)
    assert statuses(db) == {"admin@acme.test": "sent"}
