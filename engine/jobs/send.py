"""The sending jobs: the dispatch tick (every TOUCHLINE_DISPATCH_SECONDS) and ``send_batch`` (one per
batch of deliveries, carrying their ids only; engine.delivery.batch does the sending)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from rq.job import Job, JobStatus

from engine.db import get_database
from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch
from engine.jobs.locks import single_run
from engine.jobs.queues import get_queue, redis_connection
from engine.models import utcnow
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

        def waiting(job_ids: set[str]) -> set[str]:
            """The jobs RQ still holds waiting to run (a backlog is not a loss)."""
            ids = sorted(job_ids)
            jobs = Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)
            return {j.id for j in jobs if j is not None and j.get_status(refresh=False) in WAITING}

        report = dispatch(db, utcnow(), enqueue, gates=default_gates(settings),
                          queue_grace=timedelta(seconds=settings.queue_grace_seconds), waiting=waiting)  # fmt: skip
    outcome = {"status": "ok", **report.as_dict(), "duration_ms": round((time.monotonic() - started) * 1000)}
    log.info("dispatch %s", outcome)
    return outcome


WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def default_gates(settings: Settings) -> list:
    """The checks every due delivery passes before it is queued (engine.delivery.gates)."""
    from engine.delivery.gates import standard_gates

    return standard_gates(settings)


def send_batch(job_id: str, ids: list[int]) -> dict[str, int]:
    """Send the deliveries this job still carries (the RQ job)."""
    settings = load_settings()
    db = get_database(settings.database_url)
    return send_claimed(db, settings, job_id, ids, utcnow)


__all__ = ["dispatch_tick", "send_batch"]
