"""``on_event`` within seconds: accounts that just got events are re-checked by a job, not at the next tick.

The events API adds the accounts of newly stored events to a Redis set and
enqueues one ``recheck_pending`` job unless one is already scheduled (a flag
with a TTL), so a burst of batches costs one job, not one per batch. The job
clears the flag first, then drains the set and re-checks the active
``on_event`` rules for those accounts (engine.rules.cycle.recheck_accounts),
and dispatches the messages it wrote at once, through the dispatch's gates
and under its lock (engine.jobs.send.dispatch_written), so they do not wait
for the next dispatch pass.
Every step is safe to repeat or to lose: an extra job finds the set empty,
ids a failing job had taken are put back, ids not yet taken by a killed job
are picked up by the next one, and the tick evaluates every rule on its
schedule anyway (an on_event stay fires from the rollups there too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis

from engine.db import Database, get_database
from engine.delivery.dispatch import pending_written
from engine.jobs.queues import CLIENT_OPTIONS, get_queue, redis_connection
from engine.models import utcnow
from engine.rules.cycle import recheck_accounts
from engine.rules.schema import OnEvent
from engine.rules.versions import active_rules
from engine.settings import Settings, load_settings

log = logging.getLogger(__name__)

DRAIN = 2000  # account ids per SPOP and per re-check
FLAG_TTL = 60  # seconds: a lost job's flag expires and the next batch schedules another
RECHECK_TIMEOUT = 300


def pending_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:recheck:accounts"


def flag_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:recheck:scheduled"


def request_recheck(account_ids: Iterable[int], settings: Settings | None = None) -> bool:
    """Note the accounts and schedule a re-check job if none is; True if a job was enqueued."""
    ids = sorted(set(account_ids))
    if not ids:
        return False
    settings = settings or load_settings()
    conn = _quick_connection(settings.redis_url)
    conn.sadd(pending_key(settings), *ids)
    if not conn.set(flag_key(settings), "1", nx=True, ex=FLAG_TTL):
        return False
    get_queue(settings=settings).enqueue(recheck_pending, job_timeout=RECHECK_TIMEOUT)
    return True


_quick: dict[str, redis.Redis] = {}


def _quick_connection(url: str | None) -> redis.Redis:
    """A client with short timeouts for the ingest path: an unreachable Redis must not hold up the API response."""
    if not url:
        return redis_connection()  # raises the clear "not configured" error
    conn = _quick.get(url)
    if conn is None:
        conn = _quick[url] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, **CLIENT_OPTIONS)
    return conn


def recheck_pending() -> dict[str, Any]:
    """Re-check the active on_event rules for every pending account (the RQ job)."""
    settings = load_settings()
    conn = redis_connection(settings)
    # Cleared before draining: ids added from now on schedule a new job.
    conn.delete(flag_key(settings))
    db = get_database(settings.database_url)
    with db.read_session() as session:
        rules = [r for r in active_rules(session) if isinstance(r[2].trigger, OnEvent)]
    totals: dict[str, Any] = {"accounts": 0, "rules": len(rules), "entered": 0, "fired": 0, "deliveries": 0, "queued": 0}
    while True:
        raw = conn.spop(pending_key(settings), DRAIN)
        if not raw:
            break
        ids = {int(i) for i in raw}
        totals["accounts"] += len(ids)
        if not rules:
            continue
        now = utcnow()
        try:
            report = recheck_accounts(db, rules, ids, now)
        except Exception:
            # Put them back for the next job (the flag is clear, so the next batch schedules one).
            conn.sadd(pending_key(settings), *ids)
            raise
        summary = report.summary()
        for name in ("entered", "fired", "deliveries"):
            totals[name] += summary[name]
        if summary.get("errors"):
            totals.setdefault("errors", {}).update(summary["errors"])
        totals["queued"] += _dispatch_now(db, settings, [o.rule_id for o in report.rules if o.deliveries], now)
    log.info("on_event re-check %s", totals)
    return totals


def _dispatch_now(db: Database, settings: Settings, rule_ids: list[str], now: datetime) -> int:
    """Queue the messages this re-check wrote (those rules' rows stamped ``now``), through the
    dispatch's gates, instead of leaving them to the next pass; how many were queued. A failure
    here loses nothing: the rows stay in the table for the next pass."""
    if not rule_ids:
        return 0
    from engine.jobs.send import dispatch_written  # the sending side, only in workers

    try:
        outcome = dispatch_written(pending_written(db, rule_ids, now), settings)
    except Exception:
        log.exception("on_event messages not dispatched at once; the next dispatch pass sends them")
        return 0
    return int(outcome.get("queued", 0))
