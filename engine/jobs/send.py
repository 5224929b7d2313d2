"""The sending jobs: the dispatch tick (every TOUCHLINE_DISPATCH_SECONDS) and ``send_batch`` (one per
batch of deliveries, carrying their ids only; engine.delivery.batch does the sending); and
``dispatch_written``, which the on_event re-check calls for the messages it just wrote."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from rq.job import Job, JobStatus

from engine.db import get_database
from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch, dispatch_only
from engine.jobs.locks import single_run
from engine.jobs.queues import get_queue, redis_connection
from engine.models import utcnow
from engine.settings import Settings, load_settings

log = logging.getLogger(__name__)

SEND_TIMEOUT = 600  # seconds a send job may run (100 messages over a slow SMTP server)
DISPATCH_TIMEOUT = 120
# The dispatch lock's TTL (dispatch_lock_ttl), renewed every third of it while a dispatch runs
# (engine.jobs.locks): a dispatch killed mid-pass holds up the next one by at most this.
DISPATCH_LOCK_TTL = 15
MIN_LOCK_TTL = 2
# How long the on_event fast path waits for a running pass to finish before leaving its
# messages to the next one: a pass over what is due takes well under a second.
FAST_PATH_WAIT = 5.0


def dispatch_lock_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:dispatch:lock"


def dispatch_lock_ttl(settings: Settings) -> float:
    """DISPATCH_LOCK_TTL, or the lease or queue grace if shorter: a killed dispatch's lock is
    gone before the messages it may have lost are judged lost, so it never lengthens the time
    they take to come back (settings.loss_noticed_within)."""
    return max(MIN_LOCK_TTL, min(DISPATCH_LOCK_TTL, settings.send_lease_seconds, settings.queue_grace_seconds))


def dispatch_tick() -> dict[str, Any]:
    """Sweep and dispatch once (the ``touchline-dispatch`` cron job); one at a time per installation."""
    settings = load_settings()
    started = time.monotonic()
    conn = redis_connection(settings)
    key = dispatch_lock_key(settings)
    with single_run(conn, key, dispatch_lock_ttl(settings)) as mine:
        if not mine:
            _log_skipped(conn, key, "dispatch")
            return {"status": "skipped", "reason": "another dispatch is running"}
        db = get_database(settings.database_url)
        queue = get_queue(settings=settings)

        def waiting(job_ids: set[str]) -> set[str]:
            """The jobs RQ still holds waiting to run (a backlog is not a loss)."""
            ids = sorted(job_ids)
            jobs = Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)
            return {j.id for j in jobs if j is not None and j.get_status(refresh=False) in WAITING}

        report = dispatch(db, utcnow(), _enqueuer(queue), gates=default_gates(settings),
                          queue_grace=timedelta(seconds=settings.queue_grace_seconds), waiting=waiting,
                          holding=lambda: bool(mine))  # fmt: skip
    outcome = {"status": "ok", **report.as_dict(), "duration_ms": round((time.monotonic() - started) * 1000)}
    log.info("dispatch %s", outcome)
    return outcome


def dispatch_written(delivery_ids: list[int], settings: Settings | None = None) -> dict[str, Any]:
    """Gate and queue these deliveries now, under the dispatch lock (so the limits see every
    other decision): the on_event fast path. If a pass holds the lock for longer than
    FAST_PATH_WAIT, they are left to the next pass, pending as they are."""
    settings = settings or load_settings()
    if not delivery_ids:
        return {"status": "ok", "queued": 0}
    conn = redis_connection(settings)
    key = dispatch_lock_key(settings)
    with single_run(conn, key, dispatch_lock_ttl(settings), wait=FAST_PATH_WAIT) as mine:
        if not mine:
            _log_skipped(conn, key, f"fast dispatch of {len(delivery_ids)} on_event messages")
            return {"status": "skipped", "reason": "another dispatch is running"}
        db = get_database(settings.database_url)
        report = dispatch_only(db, delivery_ids, utcnow(), _enqueuer(get_queue(settings=settings)),
                               gates=default_gates(settings), holding=lambda: bool(mine))  # fmt: skip
    return {"status": "ok", **report.as_dict()}


def _log_skipped(conn, key: str, what: str) -> None:
    try:
        left = f"{conn.pttl(key) / 1000:.1f} s"
    except Exception:  # only for the message
        left = "unknown"
    log.info("%s skipped: another dispatch holds %s (its lock expires in %s unless renewed); "
             "the next pass sends what is due", what, key, left)  # fmt: skip


def _enqueuer(queue):
    def enqueue(job_id: str, ids: list[int]) -> None:
        try:
            queue.enqueue(send_batch, job_id, ids, job_id=job_id, unique=True, job_timeout=SEND_TIMEOUT)
        except Exception as exc:  # already enqueued (a retried dispatch), or Redis failing
            # Either way the rows stay 'queued': the job runs, or the sweeper enqueues them again.
            log.warning("send job %s not enqueued: %s", job_id, exc)

    return enqueue


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


__all__ = ["dispatch_tick", "dispatch_written", "send_batch"]
