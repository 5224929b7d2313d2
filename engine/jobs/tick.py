"""The periodic evaluation tick: one job, enqueued by the cron scheduler.

It runs the evaluation cycle for the active rules (each rule decides from its
own cron schedule whether it is due) and purges raw events past the retention
period. A tick is idempotent, and a Redis lock with a TTL keeps two
ticks (a slow one and the next, or two schedulers by mistake) from running
at once: the second one returns "skipped" without touching anything.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

import redis

from engine.db import Database, get_database
from engine.ingest import purge_expired_events
from engine.jobs.locks import single_run
from engine.jobs.queues import redis_connection
from engine.models import utcnow
from engine.rules.cycle import run_cycle
from engine.rules.versions import active_rules
from engine.settings import Settings, load_settings

log = logging.getLogger(__name__)

# A tick longer than this is killed by the worker (RQ job timeout).
TICK_TIMEOUT = 300
# The tick lock's TTL, renewed every third of it while the tick runs (engine.jobs.locks):
# a tick killed mid-run holds up the next one by at most this, not by the longest a tick may take.
LOCK_TTL = 30
PURGE_EVERY = 6 * 3600  # seconds


def last_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:tick:last"


def purge_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:purge:last"


def lock_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:tick:lock"


def tick() -> dict[str, Any]:
    """Run one tick; return (and record in Redis) what it did."""
    settings = load_settings()
    conn = redis_connection(settings)
    with single_run(conn, lock_key(settings), LOCK_TTL) as mine:
        if not mine:
            log.info("tick skipped: another tick holds %s", lock_key(settings))
            return {"status": "skipped", "reason": "another tick is running"}
        outcome = _run(settings, conn)
    log.info("tick %s", outcome)
    return outcome


def _run(settings: Settings, conn: redis.Redis) -> dict[str, Any]:
    started, clock = utcnow(), time.monotonic()
    outcome: dict[str, Any] = {"started_at": started.isoformat()}
    try:
        db = get_database(settings.database_url)
        # The purge walks the whole events table, so it runs at most every
        # PURGE_EVERY, not on every tick; the key expires to say it is due.
        if conn.set(purge_key(settings), started.isoformat(), nx=True, ex=PURGE_EVERY):
            outcome["purged_events"] = purge_expired_events(db, settings.event_retention_days)
        # The cycle's now is taken after the purge, which may take a while:
        # memberships must not be stamped earlier than the data they were read from.
        outcome["rules"] = evaluate_rules(db, utcnow(), settings)
        outcome["status"] = "ok"
    except Exception as exc:
        outcome["status"] = "error"
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        outcome["finished_at"] = utcnow().isoformat()
        outcome["duration_ms"] = round((time.monotonic() - clock) * 1000)
        conn.set(last_key(settings), json.dumps(outcome))
    return outcome


def evaluate_rules(db: Database, now: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Run the cycle for every active rule; a failing rule is counted, not fatal. A rule the
    circuit breaker paused is alerted to its owner and the admins (engine.delivery.alerts)."""
    from engine.delivery.alerts import alert_circuit_breaker

    with db.read_session() as session:
        rules = active_rules(session)
    report = run_cycle(db, rules, now)
    summary = report.summary()
    by_id = {rule.id: rule for _state, _version, rule in rules}
    tripped = [o for o in report.rules if o.status == "tripped" and o.rule_id in by_id]
    if tripped:
        settings = settings or load_settings()
        summary["alerted"] = {o.rule_id: alert_circuit_breaker(db, settings, by_id[o.rule_id], o.reason or "").as_dict()
                              for o in tripped}  # fmt: skip
    return summary


def last_tick(conn: redis.Redis, settings: Settings | None = None) -> dict[str, Any] | None:
    """The outcome of the last tick that ran, or None if none has."""
    raw = conn.get(last_key(settings or load_settings()))
    return json.loads(raw) if raw else None
