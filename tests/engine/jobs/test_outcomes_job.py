"""The goal outcomes pass as a cron job (engine.jobs.outcomes), on a real RQ worker and Redis."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import select

from engine.db import Database
from engine.jobs.locks import single_run
from engine.jobs.outcomes import LOCK_TTL, OUTCOMES_EVERY, lock_key, measure_outcomes
from engine.jobs.queues import queue_name
from engine.jobs.scheduler import make_scheduler
from engine.jobs.worker import make_worker
from engine.models import OutcomePass
from engine.settings import load_settings

pytestmark = pytest.mark.usefixtures("keep_signal_handlers")


def test_the_scheduler_runs_an_outcomes_pass_every_five_minutes(db: Database, redis_url: str) -> None:
    settings = load_settings()
    scheduler = make_scheduler(settings)
    (job,) = [j for j in scheduler.get_jobs() if j.name == "touchline-outcomes"]
    assert job.interval == OUTCOMES_EVERY == 300 and job.queue_name == queue_name("default", settings)
    enqueued = job.enqueue(scheduler.connection)
    assert enqueued.func_name == "engine.jobs.outcomes.measure_outcomes"
    make_worker().work(burst=True)
    enqueued.refresh()
    assert enqueued.is_finished
    result = enqueued.return_value()
    assert result["status"] == "ok" and result["full"] and result["added"] == 0
    with db.read_session() as s:
        assert len(s.scalars(select(OutcomePass)).all()) == 1


def test_a_pass_running_makes_the_next_one_a_no_op(db: Database, redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    with single_run(conn, lock_key(load_settings()), LOCK_TTL) as mine:
        assert mine
        assert measure_outcomes() == {"status": "skipped", "reason": "another outcomes pass is running"}
    assert measure_outcomes()["status"] == "ok"
    assert not conn.exists(lock_key(load_settings()))
