"""The dispatcher: due deliveries become RQ send jobs, and lost ones are found again.

Run every TOUCHLINE_DISPATCH_SECONDS by the scheduler (``touchline-dispatch``), apart from the
rule-evaluation tick so that a long evaluation never delays sending. One
pass:

1. the sweeper (engine.delivery.outbox.sweep) settles rows whose job or worker
   was lost, judged from the table;
2. due rows (``pending`` or ``deferred`` with ``due_at <= now``) of unpaused
   rules are read in priority order, a chunk at a time, and each one is
   checked before it may go (``gates``: suppression, send window, limits);
3. the rest are marked ``queued`` under a job id and committed, and only then
   one RQ job per batch of up to ``BATCH`` rows of one channel is enqueued,
   carrying delivery ids only. A crash between the commit and the enqueue
   leaves rows ``queued`` that the next pass's sweeper enqueues again.

``dispatch_only`` does steps 2 and 3 for given rows only: the ``on_event``
re-check dispatches what it just wrote without waiting for the next pass.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.db import Database
from engine.delivery import outbox
from engine.models import Delivery, RuleState
from engine.sqlutil import chunks

log = logging.getLogger(__name__)

D = Delivery.__table__
RS = RuleState.__table__
BATCH = 100  # deliveries per send job: one SMTP connection each
CHUNK = 1000  # due rows read and decided per transaction

Enqueue = Callable[[str, list[int]], None]  # (job id, delivery ids)
Waiting = Callable[[set[str]], set[str]]  # job ids -> those still waiting to run
Holding = Callable[[], bool]  # whether the pass still holds the dispatch lock


@dataclass
class Due:
    """A due delivery as the gates see it."""

    id: int
    rule_id: str
    occurrence: str
    channel: str
    category: str
    priority: int
    account_id: int
    contact_id: int | None
    recipient: str
    due_at: datetime


@dataclass
class Verdicts:
    """What the gates decided for a chunk: ids by outcome, with reasons."""

    skipped: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> (status, reason)
    deferred: dict[int, tuple[datetime, str]] = field(default_factory=dict)  # id -> (until, reason)

    def decided(self, delivery_id: int) -> bool:
        return delivery_id in self.skipped or delivery_id in self.deferred


class Gate(Protocol):
    """A check every due delivery passes before it is queued."""

    def __call__(self, session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None: ...


@dataclass
class DispatchReport:
    queued: int = 0
    jobs: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # status -> count
    deferred: int = 0
    requeued: int = 0
    unknown: int = 0
    stopped: bool = False  # the lock was lost mid-pass: the rest waits for the next pass

    def as_dict(self) -> dict[str, Any]:
        out = {"queued": self.queued, "jobs": self.jobs, "skipped": self.skipped, "deferred": self.deferred,
               "requeued": self.requeued, "unknown": self.unknown}  # fmt: skip
        return out | {"stopped": True} if self.stopped else out


def job_id_for(ids: Sequence[int], now: datetime) -> str:
    """Derived from the deliveries and the moment they were queued: the same queueing is one job."""
    digest = hashlib.sha256((",".join(map(str, sorted(ids))) + f"@{now.isoformat()}").encode()).hexdigest()[:16]
    return f"send-{min(ids)}-{digest}"


def dispatch(db: Database, now: datetime, enqueue: Enqueue, gates: Iterable[Gate] = (),
             queue_grace: timedelta = outbox.QUEUE_GRACE, waiting: Waiting | None = None,
             holding: Holding | None = None) -> DispatchReport:  # fmt: skip
    """One pass. ``waiting(job_ids)`` says which jobs are still waiting in the queue (RQ);
    rows queued too long under one of those are left to it, the others are enqueued again.
    ``holding()`` says whether this pass still holds the dispatch lock; checked before each chunk."""
    report = DispatchReport()
    gates = list(gates)
    with db.session() as session:
        swept = outbox.sweep(session, now, queue_grace)
        report.unknown = swept.unknown
        jobs = {job for job in swept.stale.values() if job}
        alive = waiting(jobs) if waiting is not None and jobs else set()
        lost = [i for i, job in swept.stale.items() if job not in alive]
        requeue = _requeue(session, sorted(set(swept.requeue) | set(lost)), now)
    for job_id, ids in requeue:
        enqueue(job_id, ids)
        report.requeued += len(ids)
        report.jobs += 1
    _queue_due(db, now, enqueue, gates, report, holding=holding)
    return report


def dispatch_only(db: Database, ids: Sequence[int], now: datetime, enqueue: Enqueue, gates: Iterable[Gate] = (),
                  holding: Holding | None = None) -> DispatchReport:  # fmt: skip
    """Gate and queue these deliveries, those of them still due, as a pass would: no sweep, no other rows.
    The ``on_event`` fast path: what a re-check wrote goes out without waiting for the next pass."""
    report = DispatchReport()
    gates = list(gates)
    for part in chunks(sorted(set(ids)), CHUNK):
        _queue_due(db, now, enqueue, gates, report, only=part, holding=holding)
    return report


def pending_written(db: Database, rule_ids: Iterable[str], at: datetime) -> list[int]:
    """The deliveries of these rules written at ``at`` (one evaluation's ``now``) and still pending."""
    rule_ids = sorted(set(rule_ids))
    if not rule_ids:
        return []
    with db.read_session() as session:
        stmt = select(D.c.id).where(D.c.rule_id.in_(rule_ids), D.c.created_at == at, D.c.status == "pending")
        return list(session.scalars(stmt))


def _queue_due(db: Database, now: datetime, enqueue: Enqueue, gates: list[Gate], report: DispatchReport,
               only: list[int] | None = None, holding: Holding | None = None) -> None:  # fmt: skip
    """Due rows (of ``only``, if given), a chunk at a time: gates, then queued, then enqueued."""
    after: Due | None = None
    while True:
        if holding is not None and not holding():
            # The dispatch lock expired under this pass: another may be deciding the same rows
            # against the same budgets now. Whatever is left waits for the next pass.
            log.error("dispatch stopped: it no longer holds the dispatch lock")
            report.stopped = True
            return
        # The gates read, then a short write transaction records their verdicts: send jobs
        # record every message in a transaction of their own, and on SQLite they would
        # wait out the gates of a whole chunk for the write lock. Each write is conditional
        # on the row's status, so a row that changed in between is left as it is.
        with db.read_session() as session:
            due = _due(session, now, after, only)
            if not due:
                return
            after = due[-1]
            verdicts = Verdicts()
            for gate in gates:
                gate(session, [d for d in due if not verdicts.decided(d.id)], now, verdicts)
        batches = _batches([(d.id, d.channel) for d in due if not verdicts.decided(d.id)], now)
        with db.session() as session:
            _settle(session, verdicts, now, report)
            for job_id, ids in batches:
                report.queued += len(outbox.mark_queued(session, ids, job_id, now, ("pending", "deferred")))
        for job_id, ids in batches:  # after the commit: a job never runs before its rows say queued
            enqueue(job_id, ids)
            report.jobs += 1


def _due(session: Session, now: datetime, after: Due | None, only: list[int] | None = None) -> list[Due]:
    """The next chunk of due rows (among ``only``) in priority order (higher first, then oldest), after ``after``."""
    paused = select(RS.c.rule_id).where(RS.c.paused.is_(True))
    stmt = (
        select(D.c.id, D.c.rule_id, D.c.occurrence, D.c.channel, D.c.category, D.c.priority, D.c.account_id, D.c.contact_id,
               D.c.recipient, D.c.due_at)  # fmt: skip
        .where(D.c.status.in_(("pending", "deferred")), D.c.due_at <= now, D.c.rule_id.not_in(paused))
        .order_by(D.c.priority.desc(), D.c.due_at, D.c.id)
        .limit(CHUNK)
    )
    if only is not None:
        stmt = stmt.where(D.c.id.in_(only))
    if after is not None:  # keyset pagination on (priority desc, due_at, id)
        stmt = stmt.where(
            or_(
                D.c.priority < after.priority,
                and_(D.c.priority == after.priority,
                     or_(D.c.due_at > after.due_at, and_(D.c.due_at == after.due_at, D.c.id > after.id))),
            )
        )  # fmt: skip
    return [Due(*row) for row in session.execute(stmt)]


def _settle(session: Session, verdicts: Verdicts, now: datetime, report: DispatchReport) -> None:
    by_reason: dict[tuple[str, str], list[int]] = {}
    for delivery_id, key in verdicts.skipped.items():
        by_reason.setdefault(key, []).append(delivery_id)
    for (status, reason), ids in by_reason.items():
        n = outbox.mark_skipped(session, ids, now, reason, status=status)
        report.skipped[status] = report.skipped.get(status, 0) + n
    for delivery_id, (until, reason) in verdicts.deferred.items():
        report.deferred += int(outbox.defer(session, delivery_id, now, until, reason))


def _batches(rows: list[tuple[int, str]], now: datetime) -> list[tuple[str, list[int]]]:
    """(job id, ids): the (id, channel) rows in jobs of up to BATCH ids of one channel."""
    by_channel: dict[str, list[int]] = {}
    for delivery_id, channel in rows:
        by_channel.setdefault(channel, []).append(delivery_id)
    out = []
    for ids in by_channel.values():
        ids.sort()
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            out.append((job_id_for(part, now), part))
    return out


def _requeue(session: Session, ids: list[int], now: datetime) -> list[tuple[str, list[int]]]:
    """Rows the sweeper found lost, queued again under new job ids (the old job, if it ever runs, claims nothing)."""
    if not ids:
        return []
    rows = session.execute(select(D.c.id, D.c.channel).where(D.c.id.in_(ids), D.c.status == "queued")).all()
    batches = _batches([(i, ch) for i, ch in rows], now)
    for job_id, part in batches:
        outbox.mark_queued(session, part, job_id, now, ("queued",))
    return batches
