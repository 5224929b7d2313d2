"""The deliveries table as a state machine: every transition of the sending pipeline, in one place.

::

    pending/deferred --dispatch--> queued --claim--> sending --mark--> sent
                                                         |--> deferred (transient error, retried later)
    queued --postpone--> deferred (the channel failed for another message of the batch: no attempt used)
                                                         |--> failed (permanent error, or retries used up)
                                                         '--> suppressed (hard bounce)
    sending with an expired lease --sweep--> unknown (marketing) | queued again (operational)
    queued for too long --sweep--> queued again (a new job)

Each transition is one conditional UPDATE (``WHERE status = <the state it
leaves>``), so two workers, a late job and the sweeper can never both move one
row: whichever comes second changes nothing. That is what makes RQ's
at-least-once delivery of jobs safe. ``sent`` is written in its own short
transaction right after the provider accepted the message, so the window in
which a message went out but the row does not say so is the time of one
commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, update

from engine.models import Delivery
from engine.sqlutil import Prepared, Tx

D = Delivery.__table__

# Transient failures are retried after these delays, then the delivery fails.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
# How long a claimed row may stay 'sending' before the sweeper judges its worker dead
# (TOUCHLINE_SEND_LEASE_SECONDS; the send job passes the configured value).
LEASE = timedelta(seconds=90)
# How long a row may stay 'queued' (its job waiting or lost) before the sweeper enqueues it again
# (TOUCHLINE_QUEUE_GRACE_SECONDS; the dispatch tick passes the configured value).
QUEUE_GRACE = timedelta(seconds=90)
# Categories whose lost sends are sent again; a marketing message is never sent twice.
RESEND_CATEGORIES = frozenset({"operational"})
MAX_REASON = 2000


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    category: str


def mark_queued(session: Tx, ids: Sequence[int], job_id: str, now: datetime, from_status: Sequence[str]) -> list[int]:
    """pending/deferred (or queued, when the sweeper re-enqueues) -> queued, under ``job_id``; the ids moved."""
    if not ids:
        return []
    stmt = (
        update(D)
        .where(D.c.id.in_(ids), D.c.status.in_(from_status))
        .values(status="queued", job_id=job_id, queued_at=now, lease_until=None, updated_at=now)
        .returning(D.c.id)
    )
    return list(session.scalars(stmt))


# The statements a send job runs for every message are built once: building one costs
# more than running it on SQLite.
_HOLD = (
    update(D)
    .where(D.c.id.in_(bindparam("ids", expanding=True)), D.c.job_id == bindparam("job"), D.c.status == "queued")
    .values(lease_until=bindparam("until"))
)


def hold(session: Tx, ids: Sequence[int], job_id: str, until: datetime) -> int:
    """A running job stamps the rows it still carries (``queued`` under its id) with a lease:
    while it holds, the sweeper leaves them to it, however long the batch takes."""
    if not ids:
        return 0
    return session.execute(_HOLD, {"ids": list(ids), "job": job_id, "until": until}).rowcount or 0


_CLAIM = (
    update(D)
    .where(D.c.id.in_(bindparam("ids", expanding=True)), D.c.status == "queued", D.c.job_id == bindparam("job"))
    .values(status="sending", lease_until=bindparam("until"), attempts=D.c.attempts + 1, updated_at=bindparam("now"))
    .returning(D.c.id, D.c.attempts, D.c.category)
)


# One row, as the send job claims them: run on the driver's cursor (engine.sqlutil.Prepared).
_CLAIM_ONE = Prepared(
    update(D)
    .where(D.c.id == bindparam("delivery_id"), D.c.status == "queued", D.c.job_id == bindparam("job"))
    .values(status="sending", lease_until=bindparam("until"), attempts=D.c.attempts + 1, updated_at=bindparam("now"))
    .returning(D.c.id, D.c.attempts, D.c.category)
)


def claim(session: Tx, ids: Sequence[int], job_id: str, now: datetime, lease: timedelta = LEASE) -> list[Claimed]:
    """queued -> sending with a lease, for the rows this job still carries; the rest is left alone.

    A row re-queued under another job (the sweeper thought this one lost) is not
    this job's any more: only rows with this ``job_id`` are claimed.
    """
    if not ids:
        return []
    if len(ids) == 1:
        got = _CLAIM_ONE.rows(session, {"delivery_id": ids[0], "job": job_id, "until": now + lease, "now": now})
        return [Claimed(*row) for row in got]
    rows = session.execute(_CLAIM, {"ids": list(ids), "job": job_id, "until": now + lease, "now": now})
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def renew(session: Tx, delivery_id: int, job_id: str, until: datetime) -> bool:
    """The job holding a row in 'sending' extends its lease (a provider taking long to answer)."""
    stmt = (
        update(D)
        .where(D.c.id == delivery_id, D.c.status == "sending", D.c.job_id == job_id)
        .values(lease_until=until)
    )
    return session.execute(stmt).rowcount == 1


def _leave_sending(session: Tx, delivery_id: int, job_id: str, now: datetime, **values) -> bool:
    """Only the job holding the claim may record its outcome: a job whose lease ran out
    (and whose row the sweeper settled or gave to another job) changes nothing."""
    stmt = (
        update(D)
        .where(D.c.id == delivery_id, D.c.status == "sending", D.c.job_id == job_id)
        .values(updated_at=now, **values)
    )
    return session.execute(stmt).rowcount == 1


_MARK_SENT = Prepared(
    update(D)
    .where(
        D.c.id == bindparam("delivery_id"),
        # Spelled out, not IN: a Prepared statement takes no IN lists.
        or_(and_(D.c.job_id == bindparam("job"), or_(D.c.status == "sending", D.c.status == "unknown")), D.c.status == "queued"),
    )
    .values(status="sent", sent_at=bindparam("now"), message_id=bindparam("mid"),
            provider_response=bindparam("response"), lease_until=None, reason=None, updated_at=bindparam("now"))  # fmt: skip
)


def mark_sent(session: Tx, delivery_id: int, now: datetime, message_id: str | None, response: str, *,
              job_id: str) -> bool:  # fmt: skip
    """The provider accepted it: that is a fact, so it is recorded even when this job's
    lease ran out meanwhile (the row judged unknown, or queued again for an operational
    resend that has not been claimed yet) -- which also stops that resend."""
    params = {"delivery_id": delivery_id, "job": job_id, "now": now, "mid": message_id,
              "response": response[:MAX_REASON]}  # fmt: skip
    return _MARK_SENT.rowcount(session, params) == 1


def unclaim(session: Tx, delivery_id: int, now: datetime, until: datetime, reason: str, *, job_id: str) -> bool:
    """sending -> deferred to ``until``, giving back the attempt: it was not tried (the
    instance lacks a setting the message needs)."""
    return _leave_sending(session, delivery_id, job_id, now, status="deferred", due_at=until, reason=reason[:MAX_REASON],
                          lease_until=None, attempts=D.c.attempts - 1)  # fmt: skip


def mark_transient(session: Tx, delivery_id: int, attempts: int, now: datetime, error: str, *,
                   job_id: str) -> str:  # fmt: skip
    """Retry later with backoff, or fail once the retries are used up; the status written."""
    if attempts > len(BACKOFF):
        reason = f"failed after {attempts} attempts; last error: {error}"
        _leave_sending(session, delivery_id, job_id, now, status="failed", reason=reason[:MAX_REASON], lease_until=None)
        return "failed"
    when = retry_at(attempts, now)
    reason = f"transient error (attempt {attempts}), retry at {when:%Y-%m-%d %H:%M:%S}Z: {error}"
    _leave_sending(session, delivery_id, job_id, now, status="deferred", due_at=when, reason=reason[:MAX_REASON],
                   lease_until=None)  # fmt: skip
    return "deferred"


def retry_at(attempts: int, now: datetime) -> datetime:
    """When a message that failed its ``attempts``-th try goes again (the last delay once they are used up)."""
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1]


def postpone(session: Tx, ids: Sequence[int], job_id: str, now: datetime, until: datetime, reason: str) -> int:
    """queued (under ``job_id``) -> deferred to ``until`` without an attempt: it was never tried
    (the channel failed for another message of its batch), so it uses none of its retries."""
    if not ids:
        return 0
    stmt = (
        update(D)
        .where(D.c.id.in_(ids), D.c.status == "queued", D.c.job_id == job_id)
        .values(status="deferred", due_at=until, reason=reason[:MAX_REASON], updated_at=now)
    )
    return session.execute(stmt).rowcount or 0


def mark_failed(session: Tx, delivery_id: int, now: datetime, error: str, status: str = "failed", *,
                job_id: str) -> bool:  # fmt: skip
    """A permanent outcome: failed, suppressed (a hard bounce) or unknown, with the reason."""
    return _leave_sending(session, delivery_id, job_id, now, status=status, reason=error[:MAX_REASON], lease_until=None)


def release(session: Tx, ids: Sequence[int], job_id: str, now: datetime, status: str, reason: str) -> int:
    """queued (under ``job_id``, not yet claimed) -> ``status`` without an attempt: decided at send
    time (suppressed meanwhile; pending again while its rule is paused)."""
    if not ids:
        return 0
    stmt = (
        update(D)
        .where(D.c.id.in_(ids), D.c.status == "queued", D.c.job_id == job_id)
        .values(status=status, reason=reason[:MAX_REASON], updated_at=now)
    )
    return session.execute(stmt).rowcount or 0


def mark_skipped(session: Tx, ids: Sequence[int], now: datetime, reason: str, status: str = "skipped",
                 from_status: Sequence[str] = ("pending", "deferred")) -> int:  # fmt: skip
    """Decided before sending (suppressed, skipped by a limit, held out): nothing goes out."""
    if not ids:
        return 0
    stmt = (
        update(D)
        .where(D.c.id.in_(ids), D.c.status.in_(from_status))
        .values(status=status, reason=reason[:MAX_REASON], updated_at=now)
    )
    return session.execute(stmt).rowcount or 0


def defer(session: Tx, delivery_id: int, now: datetime, until: datetime, reason: str,
          from_status: Sequence[str] = ("pending", "deferred")) -> bool:  # fmt: skip
    """Not now (a send window, a paused rule): it goes at ``until``, never dropped."""
    stmt = (
        update(D)
        .where(D.c.id == delivery_id, D.c.status.in_(from_status))
        .values(status="deferred", due_at=until, reason=reason[:MAX_REASON], updated_at=now)
    )
    return session.execute(stmt).rowcount == 1


@dataclass
class SweepResult:
    requeue: list[int]  # ids to enqueue again (lost operational sends)
    unknown: int  # marketing sends whose worker died mid-send: never resent
    stale: dict[int, str | None] = field(default_factory=dict)  # id -> job id: queued too long, no running job holds it


def sweep(session: Tx, now: datetime, queue_grace: timedelta = QUEUE_GRACE) -> SweepResult:
    """Find rows whose job was lost, judged from the table: queued too long, or sending past the lease.

    A row still 'sending' after its lease may have gone out (the provider
    accepted it and the worker died before writing 'sent'). Marketing rows
    become ``unknown`` and are never sent again; operational rows are sent
    again (with the same Message-ID, so a duplicate is recognisable).
    """
    expired = session.execute(
        select(D.c.id, D.c.category, D.c.attempts).where(D.c.status == "sending", D.c.lease_until < now)
    ).all()
    # An operational message whose workers keep dying is not resent forever.
    worn = [i for i, category, attempts in expired if category in RESEND_CATEGORIES and attempts > len(BACKOFF)]
    resend = [i for i, category, attempts in expired if category in RESEND_CATEGORIES and i not in worn]
    lost = [i for i, category, _a in expired if category not in RESEND_CATEGORIES]
    still_expired = [D.c.status == "sending", D.c.lease_until < now]  # re-checked: a late job may have settled it
    unknown = 0
    if lost:
        reason = ("unknown: the worker stopped after claiming this message and before recording the outcome; "
                  "it may or may not have been sent, and is not sent again (marketing)")  # fmt: skip
        unknown = session.execute(
            update(D).where(D.c.id.in_(lost), *still_expired)
            .values(status="unknown", reason=reason, updated_at=now)
        ).rowcount or 0  # fmt: skip
    if worn:
        unknown += session.execute(
            update(D).where(D.c.id.in_(worn), *still_expired)
            .values(status="unknown", lease_until=None, updated_at=now,
                    reason=f"unknown: {len(BACKOFF) + 1} workers stopped while sending it; not sent again")
        ).rowcount or 0  # fmt: skip
    if resend:
        session.execute(
            update(D)
            .where(D.c.id.in_(resend), *still_expired)
            .values(status="queued", queued_at=now, lease_until=None, updated_at=now,
                    reason="sent again: the worker stopped before recording the outcome (operational)")  # fmt: skip
        )
    # Queued too long, and not held by a running job: its job is waiting in the queue, or lost.
    stale = session.execute(
        select(D.c.id, D.c.job_id).where(
            D.c.status == "queued",
            D.c.queued_at < now - queue_grace,
            or_(D.c.lease_until.is_(None), D.c.lease_until < now),
        )
    ).all()
    return SweepResult(sorted(set(resend)), unknown, {i: job for i, job in stale if i not in set(resend)})
