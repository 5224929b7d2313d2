"""The tick against a real Redis and the test database."""

from __future__ import annotations

import json
from datetime import timedelta

import redis
from sqlalchemy import func, select

from engine.db import Database
from engine.ingest import track_events
from engine.jobs.queues import redis_connection
from engine.jobs.tick import LOCK_TTL, PURGE_EVERY, last_tick, lock_key, purge_key, tick
from engine.models import Event, utcnow
from engine.settings import load_settings


def add_events(db: Database, *ages_in_days: int) -> None:
    now = utcnow()
    records = [
        {"id": f"ev-{n}", "account_id": "acme", "name": "project_created", "timestamp": (now - timedelta(days=age)).isoformat()}
        for n, age in enumerate(ages_in_days)
    ]
    with db.session() as session:
        # Stored back when they were recent: retention applies to their purge, not their arrival.
        result = track_events(session, records, retention_days=10_000)
    assert result.accepted == len(records), result.rejected


def event_ids(db: Database) -> list[str]:
    with db.read_session() as session:
        return sorted(session.scalars(select(Event.external_id)))


def test_tick_purges_expired_events_and_records_its_outcome(db: Database, redis_url: str) -> None:
    add_events(db, 400, 200, 10, 0)  # retention is 180 days by default
    outcome = tick()
    assert outcome["status"] == "ok"
    assert outcome["purged_events"] == 2
    assert event_ids(db) == ["ev-2", "ev-3"]

    recorded = last_tick(redis.Redis.from_url(redis_url))
    assert recorded == outcome
    assert json.loads(redis.Redis.from_url(redis_url).get("touchline:tick:last"))["purged_events"] == 2
    # The lock is released once the tick is done.
    assert not redis.Redis.from_url(redis_url).exists(lock_key(load_settings()))


def test_tick_is_idempotent(db: Database, redis_url: str) -> None:
    add_events(db, 300, 1)
    assert tick()["purged_events"] == 1
    second = tick()
    assert second["status"] == "ok" and "purged_events" not in second  # purge not due again yet
    redis.Redis.from_url(redis_url).delete(purge_key(load_settings()))
    assert tick()["purged_events"] == 0  # due again: nothing left to purge
    assert event_ids(db) == ["ev-1"]


def test_the_purge_runs_at_most_every_purge_interval(db: Database, redis_url: str) -> None:
    add_events(db, 1)
    assert tick()["purged_events"] == 0
    ttl = redis.Redis.from_url(redis_url).ttl(purge_key(load_settings()))
    assert PURGE_EVERY - 60 < ttl <= PURGE_EVERY
    add_events_later = [{"id": "late", "account_id": "acme", "name": "login", "timestamp": "2000-01-01T00:00:00Z"}]
    with db.session() as session:
        track_events(session, add_events_later, retention_days=100_000)
    assert "purged_events" not in tick()
    assert "late" in event_ids(db)


def test_a_tick_skips_while_another_holds_the_lock(db: Database, redis_url: str) -> None:
    add_events(db, 300)
    conn = redis_connection()
    other = conn.lock(lock_key(load_settings()), timeout=LOCK_TTL)
    assert other.acquire(blocking=False)
    try:
        assert 0 < conn.ttl(lock_key(load_settings())) <= LOCK_TTL
        assert tick() == {"status": "skipped", "reason": "another tick is running"}
        assert event_ids(db) == ["ev-0"]
        assert last_tick(conn) is None
    finally:
        other.release()
    assert tick()["purged_events"] == 1


def test_retention_comes_from_settings(db: Database, redis_url: str, monkeypatch) -> None:
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "5")
    add_events(db, 6, 4)
    assert tick()["purged_events"] == 1
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1
