"""The sending jobs: the dispatch tick (cron, every minute) and ``send_batch`` (one per batch of deliveries).

``send_batch`` carries delivery ids only. It claims the rows that are still
queued under its own job id (so a duplicate or late job claims nothing),
renders each one, hands it to the channel over one connection for the batch,
and records each outcome in its own short transaction right after the
provider answered. See engine.delivery.outbox for the states.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import Database, get_database
from engine.delivery import outbox
from engine.delivery.dispatch import dispatch
from engine.jobs.locks import single_run
from engine.jobs.queues import get_queue, redis_connection
from engine.models import Delivery, utcnow
from engine.settings import Settings, load_settings

log = logging.getLogger(__name__)

SEND_TIMEOUT = 600  # seconds a send job may run (100 messages over a slow SMTP server)
DISPATCH_TIMEOUT = 120
DISPATCH_LOCK_TTL = DISPATCH_TIMEOUT + 60


def dispatch_lock_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:dispatch:lock"


def dispatch_tick() -> dict[str, Any]:
    """Sweep and dispatch once (the ``touchline-dispatch`` cron job); one at a time per installation."""
    settings = load_settings()
    started = time.monotonic()
    with single_run(redis_connection(settings), dispatch_lock_key(settings), DISPATCH_LOCK_TTL) as mine:
        if not mine:
            return {"status": "skipped", "reason": "another dispatch is running"}
        db = get_database(settings.database_url)
        queue = get_queue(settings=settings)

        def enqueue(job_id: str, ids: list[int]) -> None:
            try:
                queue.enqueue(send_batch, job_id, ids, job_id=job_id, unique=True, job_timeout=SEND_TIMEOUT)
            except Exception as exc:  # already enqueued (a retried dispatch), or Redis failing
                # Either way the rows stay 'queued': the job runs, or the sweeper enqueues them again.
                log.warning("send job %s not enqueued: %s", job_id, exc)

        report = dispatch(db, utcnow(), enqueue, gates=default_gates(settings))
    outcome = {"status": "ok", **report.as_dict(), "duration_ms": round((time.monotonic() - started) * 1000)}
    log.info("dispatch %s", outcome)
    return outcome


def default_gates(settings: Settings) -> list:
    """The checks every due delivery passes before it is queued (engine.delivery.gates)."""
    from engine.delivery.gates import standard_gates

    return standard_gates(settings)


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("claimed", "sent", "deferred", "failed", "suppressed")}


def send_batch(job_id: str, ids: list[int]) -> dict[str, int]:
    """Send the deliveries this job still carries (the RQ job)."""
    settings = load_settings()
    db = get_database(settings.database_url)
    return send_claimed(db, settings, job_id, ids, utcnow)


def send_claimed(db: Database, settings: Settings, job_id: str, ids: list[int], clock=utcnow) -> dict[str, int]:
    from engine.delivery.compose import Composer
    from engine.delivery.channels import ChannelConfigError, config_from_settings, get_channel

    report = BatchReport()
    with db.session() as session:
        claimed = outbox.claim(session, ids, job_id, clock())
    report.claimed = len(claimed)
    if not claimed:
        return report.as_dict()
    attempts = {c.id: c.attempts for c in claimed}
    with db.read_session() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(attempts)).order_by(Delivery.id)).all()
        composer = Composer(session, settings, clock())
        messages = {row.id: composer.compose(row) for row in rows}
    channels = {row.channel for row in rows}
    for name in sorted(channels):
        batch = [row for row in rows if row.channel == name]
        try:
            channel = get_channel(name, config_from_settings(name, settings))
        except ChannelConfigError as exc:  # the instance is not set up for this channel: wait, do not lose
            with db.session() as session:
                for row in batch:
                    outbox.mark_transient(session, row.id, attempts[row.id], clock(), str(exc))
            report.deferred += len(batch)
            continue
        with channel:
            down: str | None = None
            for row in batch:
                composed = messages[row.id]
                now = clock()
                if composed.error is not None:  # could not be rendered: never sent half-made
                    with db.session() as session:
                        outbox.mark_failed(session, row.id, now, composed.error)
                    report.failed += 1
                    continue
                if down is not None:  # the channel failed for the whole batch: the rest waits
                    with db.session() as session:
                        outbox.mark_transient(session, row.id, attempts[row.id], now, down)
                    report.deferred += 1
                    continue
                result = channel.send(composed.message)
                with db.session() as session:
                    _record(session, row, attempts[row.id], composed.message.message_id, result, clock(), report)
                if result.channel_down:
                    down = result.provider_response
    return report.as_dict()


def _record(
    session: Session, row: Delivery, attempts: int, message_id: str, result, now: datetime, report: BatchReport
) -> None:
    from engine.compliance import suppress

    if result.status == "sent":
        outbox.mark_sent(session, row.id, now, message_id or None, result.provider_response)
        report.sent += 1
    elif result.status == "transient":
        if result.maybe_delivered and row.category not in outbox.RESEND_CATEGORIES:
            reason = f"unknown: the connection was lost after the message was handed over ({result.provider_response})"
            outbox.mark_failed(session, row.id, now, reason, status="unknown")
            report.failed += 1
            return
        status = outbox.mark_transient(session, row.id, attempts, now, result.provider_response)
        report.deferred += status == "deferred"
        report.failed += status == "failed"
    elif result.hard_bounce:
        suppress(session, row.recipient, "bounced", None, source=f"delivery {row.id}")
        outbox.mark_failed(session, row.id, now, f"hard bounce, address suppressed: {result.provider_response}",
                           status="suppressed")  # fmt: skip
        report.suppressed += 1
    else:
        outbox.mark_failed(session, row.id, now, f"permanent error: {result.provider_response}")
        report.failed += 1


__all__ = ["dispatch_tick", "send_batch", "send_claimed"]
