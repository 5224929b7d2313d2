"""Every transition of a delivery, and that a row can never be moved twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.delivery import outbox
from engine.delivery.dispatch import dispatch, job_id_for
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery, RuleState
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

RULE = """\
id: {id}
name: Test
category: {category}
priority: {priority}
when:
  account.plan: trial
actions:
  - email: {{template: trial/nudge, to: role:admin}}
"""


def make_deliveries(db: Database, n: int, rule_id="nudge", category="general", priority=0) -> list[int]:
    """``n`` pending deliveries, through the real cycle."""
    text = RULE.format(id=rule_id, category=category, priority=priority)
    rule = validate_text(text, f"{rule_id}.yaml", expected_id=rule_id).rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": f"{rule_id}-a{i}", "name": "a", "plan": "trial"} for i in range(n)])
        upsert_contacts(s, [{"id": f"{rule_id}-c{i}", "account_id": f"{rule_id}-a{i}", "email": f"{rule_id}{i}@x.test",
                             "role": "admin"} for i in range(n)])  # fmt: skip
    with db.read_session() as s:
        rules = [r for r in active_rules(s) if r[2].id == rule_id]
    run_cycle(db, rules, NOW, only_due=False)
    with db.read_session() as s:
        return list(s.scalars(select(Delivery.id).where(Delivery.rule_id == rule_id).order_by(Delivery.id)))


def statuses(db: Database) -> dict[int, str]:
    with db.read_session() as s:
        return {i: st for i, st in s.execute(select(Delivery.id, Delivery.status))}


class Jobs:
    """Records what the dispatcher enqueues (the enqueue function is the seam to RQ)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, list[int]]] = []

    def __call__(self, job_id: str, ids: list[int]) -> None:
        self.jobs.append((job_id, ids))


def test_dispatch_queues_due_rows_in_batches_and_a_second_pass_queues_nothing(db, monkeypatch):
    from engine.delivery import dispatch as d

    monkeypatch.setattr(d, "BATCH", 2)
    ids = make_deliveries(db, 5)
    jobs = Jobs()
    report = dispatch(db, NOW, jobs)
    assert (report.queued, report.jobs) == (5, 3)
    assert sorted(i for _j, part in jobs.jobs for i in part) == ids
    assert set(statuses(db).values()) == {"queued"}
    assert dispatch(db, NOW, Jobs()).queued == 0


def test_claim_takes_only_rows_of_this_job_once(db):
    ids = make_deliveries(db, 3)
    with db.session() as s:
        outbox.mark_queued(s, ids, "job-1", NOW, ("pending",))
    with db.session() as s:
        assert [c.id for c in outbox.claim(s, ids, "job-other", NOW)] == []  # re-queued elsewhere: not ours
        first = outbox.claim(s, ids, "job-1", NOW)
    with db.session() as s:
        again = outbox.claim(s, ids, "job-1", NOW)  # RQ ran the job twice
    assert [c.id for c in first] == ids and again == [] and first[0].attempts == 1
    with db.session() as s:
        assert outbox.mark_sent(s, ids[0], NOW, "<m@x>", "250 ok", job_id="job-1")
        assert not outbox.mark_sent(s, ids[0], NOW, "<m@x>", "250 ok", job_id="job-1")  # already sent: nothing moves


def test_transient_errors_back_off_then_fail(db):
    (delivery,) = make_deliveries(db, 1)
    at = NOW
    for attempt, delay in enumerate(outbox.BACKOFF, start=1):
        with db.session() as s:
            outbox.mark_queued(s, [delivery], f"j{attempt}", at, ("pending", "deferred"))
            (claimed,) = outbox.claim(s, [delivery], f"j{attempt}", at)
            assert claimed.attempts == attempt
            assert outbox.mark_transient(s, delivery, claimed.attempts, at, "451 try later", job_id=f"j{attempt}") == "deferred"
            row = s.get(Delivery, delivery)
            assert row.due_at == at + delay and "451 try later" in row.reason
        at += delay
    with db.session() as s:
        outbox.mark_queued(s, [delivery], "last", at, ("deferred",))
        (claimed,) = outbox.claim(s, [delivery], "last", at)
        assert outbox.mark_transient(s, delivery, claimed.attempts, at, "451 again", job_id="last") == "failed"
        assert "after 5 attempts" in s.get(Delivery, delivery).reason


@pytest.mark.parametrize("category, after", [("general", "unknown"), ("operational", "queued")])
def test_a_send_lost_mid_flight_is_unknown_for_marketing_and_sent_again_for_operational(db, category, after):
    ids = make_deliveries(db, 2, category=category)
    with db.session() as s:
        outbox.mark_queued(s, ids, "job-1", NOW, ("pending",))
        outbox.claim(s, ids, "job-1", NOW)
        outbox.mark_sent(s, ids[0], NOW, "<m@x>", "250 ok", job_id="job-1")  # the first went out and was recorded
    jobs = Jobs()
    report = dispatch(db, NOW + outbox.LEASE + timedelta(seconds=1), jobs)
    assert statuses(db) == {ids[0]: "sent", ids[1]: after}
    if after == "unknown":
        assert report.unknown == 1 and jobs.jobs == []
    else:
        assert report.requeued == 1 and jobs.jobs[0][1] == [ids[1]]


def test_a_job_lost_before_it_ran_is_enqueued_again_under_a_new_id(db):
    ids = make_deliveries(db, 2)
    first = Jobs()
    dispatch(db, NOW, first)  # queued, but the job never runs (Redis lost it)
    assert dispatch(db, NOW + timedelta(seconds=30), Jobs()).requeued == 0  # not yet: it may just be waiting
    again = Jobs()
    report = dispatch(db, NOW + outbox.QUEUE_GRACE + timedelta(seconds=1), again)
    assert report.requeued == 2 and again.jobs[0][0] != first.jobs[0][0]
    with db.session() as s:  # the old job, if it runs after all, finds nothing to claim
        assert outbox.claim(s, ids, first.jobs[0][0], NOW) == []


def test_a_paused_rules_deliveries_wait(db):
    low = make_deliveries(db, 2, rule_id="low", priority=1)
    high = make_deliveries(db, 2, rule_id="high", priority=9)
    with db.session() as s:
        s.get(RuleState, "low").paused = True
    jobs = Jobs()
    dispatch(db, NOW, jobs)
    assert [i for _j, part in jobs.jobs for i in part] == high
    assert {statuses(db)[i] for i in low} == {"pending"}


def test_job_ids_are_derived_from_the_deliveries():
    assert job_id_for([3, 1, 2], NOW) == job_id_for([1, 2, 3], NOW) != job_id_for([1, 2], NOW)


def test_a_job_whose_lease_ran_out_cannot_overwrite_the_next_jobs_outcome(db):
    """J1 claims, its lease runs out, the sweeper re-queues the (operational) row and J2 claims it:
    J1's late transient error changes nothing, and J2's success is what the row says."""
    (delivery,) = make_deliveries(db, 1, category="operational")
    with db.session() as s:
        outbox.mark_queued(s, [delivery], "J1", NOW, ("pending",))
        outbox.claim(s, [delivery], "J1", NOW)
    later = NOW + outbox.LEASE + timedelta(seconds=10)
    with db.session() as s:
        assert outbox.sweep(s, later).requeue == [delivery]
        outbox.mark_queued(s, [delivery], "J2", later, ("queued",))
        (claimed,) = outbox.claim(s, [delivery], "J2", later)
    with db.session() as s:
        assert outbox.mark_transient(s, delivery, 1, later, "451 late", job_id="J1") == "deferred"  # it tried
    with db.session() as s:
        assert outbox.mark_sent(s, delivery, later, "<m@x>", "250 ok", job_id="J2")
    assert statuses(db)[delivery] == "sent"


def test_an_accepted_message_is_recorded_sent_even_after_its_lease_ran_out(db):
    (delivery,) = make_deliveries(db, 1)  # marketing: the sweeper calls it unknown
    with db.session() as s:
        outbox.mark_queued(s, [delivery], "J1", NOW, ("pending",))
        outbox.claim(s, [delivery], "J1", NOW)
    with db.session() as s:
        assert outbox.sweep(s, NOW + outbox.LEASE + timedelta(seconds=1)).unknown == 1
    with db.session() as s:
        assert outbox.mark_sent(s, delivery, NOW, "<m@x>", "250 ok", job_id="J1")  # the provider did accept it
    assert statuses(db)[delivery] == "sent"


def test_an_operational_message_is_not_resent_forever(db):
    (delivery,) = make_deliveries(db, 1, category="operational")
    at = NOW
    for n in range(len(outbox.BACKOFF) + 1):
        with db.session() as s:
            outbox.mark_queued(s, [delivery], f"J{n}", at, ("pending", "queued"))
            outbox.claim(s, [delivery], f"J{n}", at)
        at += outbox.LEASE + timedelta(seconds=1)
        with db.session() as s:
            outbox.sweep(s, at)  # its worker died each time
    assert statuses(db)[delivery] == "unknown"



def test_a_backlog_is_not_a_loss_rows_of_waiting_or_running_jobs_stay_with_them(db):
    ids = make_deliveries(db, 3)
    first = Jobs()
    dispatch(db, NOW, first)
    (job_id, _ids) = first.jobs[0]
    late = NOW + outbox.QUEUE_GRACE + timedelta(seconds=1)
    # The job is still waiting in RQ's queue (a backlog): its rows are left to it.
    assert dispatch(db, late, Jobs(), waiting=lambda jobs: set(jobs)).requeued == 0
    # Running: it holds its rows with a lease it renews, so even RQ's view does not matter.
    with db.session() as s:
        outbox.hold(s, ids, job_id, late + outbox.LEASE)
    assert dispatch(db, late, Jobs(), waiting=lambda jobs: set()).requeued == 0
    # The holder stopped renewing (it died) and RQ no longer has it waiting: lost, enqueued again.
    again = Jobs()
    assert dispatch(db, late + outbox.LEASE + timedelta(seconds=1), again, waiting=lambda jobs: set()).requeued == 3
    assert again.jobs[0][0] != job_id
