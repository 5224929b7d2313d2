"""A real RQ worker (burst mode) on the real Redis and the test database."""

from __future__ import annotations

import json
import os
import zlib

import pytest
import redis
from sqlalchemy import select, text

from engine.db import Database, get_database
from engine.jobs.queues import FAILURE_TTL, get_queue, queue_name
from engine.jobs.scheduler import JsonCronJob, make_scheduler
from engine.jobs.tick import last_tick, tick
from engine.jobs.worker import make_worker
from engine.models import Account, utcnow
from engine.settings import Settings, load_settings


pytestmark = pytest.mark.usefixtures("keep_signal_handlers")


def probe_pool(url: str, account: str) -> dict:
    """Runs in the work-horse: how many pooled connections did it inherit?"""
    db = get_database(url)
    inherited = db.engine.pool.checkedin()
    now = utcnow()
    with db.session() as session:
        session.add(Account(external_id=account, name=account, tier="tech", traits={}, created_at=now, updated_at=now))
    return {"pid": os.getpid(), "inherited_connections": inherited}


def explode(account: str) -> None:
    raise RuntimeError(f"boom for {account}")


def test_work_horses_get_a_fresh_connection_pool(db: Database, redis_url: str) -> None:
    parent_db = get_database(db.url)
    with parent_db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert parent_db.engine.pool.checkedin() >= 1  # so a horse would inherit one without the fork hook

    queue = get_queue()
    assert queue.name == "touchline:default"
    job = queue.enqueue(probe_pool, db.url, "acme")
    assert make_worker().work(burst=True)

    job.refresh()
    assert job.is_finished, job.latest_result().exc_string if job.latest_result() else job.get_status()
    result = job.return_value()
    assert result["pid"] != os.getpid()  # it ran in a forked work-horse
    assert result["inherited_connections"] == 0
    with db.read_session() as session:
        assert session.scalars(select(Account.external_id)).all() == ["acme"]
    # The parent's pool is untouched by the fork.
    assert parent_db.engine.pool.checkedin() >= 1


def test_jobs_are_json_and_failures_expire(db: Database, redis_url: str) -> None:
    queue = get_queue()
    job = queue.enqueue(explode, "acme")
    conn = redis.Redis.from_url(redis_url)
    # JSON, not pickle: the (zlib-compressed) payload names the function and carries its ids.
    payload = json.loads(zlib.decompress(conn.hget(job.key, "data")))
    assert payload == [f"{__name__}.explode", None, ["acme"], {}]
    make_worker().work(burst=True)
    job.refresh()
    assert job.is_failed
    assert "boom for acme" in job.latest_result().exc_string
    assert 0 < conn.ttl(job.key) <= FAILURE_TTL


def test_the_cron_jobs_enqueue_a_tick_and_a_dispatch_the_worker_can_run(db: Database, redis_url: str) -> None:
    settings = load_settings()
    scheduler = make_scheduler(settings)
    cron_job, dispatch_job, *_others = scheduler.get_jobs()  # the goal outcomes job: test_outcomes_job.py
    assert isinstance(cron_job, JsonCronJob) and isinstance(dispatch_job, JsonCronJob)
    assert cron_job.cron == settings.tick_cron and cron_job.queue_name == queue_name("control", settings)
    job = cron_job.enqueue(scheduler.connection)
    assert job.func_name == f"{tick.__module__}.tick"
    make_worker().work(burst=True)
    job.refresh()
    assert job.is_finished
    assert last_tick(scheduler.connection)["status"] == "ok"
    assert dispatch_job.interval == settings.dispatch_seconds == 30 and dispatch_job.cron is None
    sent = dispatch_job.enqueue(scheduler.connection)  # the dispatch, every 30 seconds
    assert sent.func_name == "engine.jobs.send.dispatch_tick"
    make_worker().work(burst=True)
    sent.refresh()
    assert sent.is_finished and sent.return_value()["status"] == "ok"


def test_a_lost_job_is_noticed_within_two_minutes_by_default() -> None:
    # A lease (or grace) running out, then the next dispatch: the sweeper has the messages back.
    assert Settings().loss_noticed_within == 120
    assert load_settings().loss_noticed_within <= 120
