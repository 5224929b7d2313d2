"""The cron scheduler: enqueues the tick on ``settings.tick_cron``.

Run exactly one per installation. RQ's CronScheduler has no leader election,
so two would enqueue every tick twice; the tick's own lock makes the second
one a no-op, but it is wasted work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from rq import cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.job import Job

from engine.jobs.outcomes import OUTCOMES_EVERY, OUTCOMES_TIMEOUT, measure_outcomes
from engine.jobs.queues import CONTROL_QUEUE, DEFAULT_QUEUE, SERIALIZER, TouchlineQueue, queue_name, redis_connection
from engine.jobs.send import DISPATCH_TIMEOUT, dispatch_tick
from engine.jobs.tick import TICK_TIMEOUT, tick
from engine.settings import Settings, load_settings

log = logging.getLogger(__name__)


class JsonCronJob(CronJob):
    """RQ's CronJob enqueues with the default (pickle) serializer; our workers
    read JSON, so enqueue through a Touchline queue instead."""

    def enqueue(self, connection: redis.Redis) -> Job:
        if not self.func:
            raise ValueError(f"cron job {self.name} has no function to enqueue")
        queue = TouchlineQueue(self.queue_name, connection=connection, serializer=SERIALIZER)
        with connection.pipeline() as pipeline:
            job = queue.enqueue(self.func, args=self.args, kwargs=self.kwargs, **self.job_options, pipeline=pipeline)
            assert job.enqueued_at is not None
            stamp = job.enqueued_at.timestamp()
            pipeline.zadd(self.job_history_key, {job.id: stamp})
            pipeline.zremrangebyrank(self.job_history_key, 0, -101)
            pipeline.expire(self.job_history_key, 7 * 24 * 3600)
            cron_job_registry.add(self.name, pipeline, enqueue_timestamp=stamp)
            pipeline.execute()
        log.info("enqueued %s on %s (job %s)", self.func_name, self.queue_name, job.id)
        return job


class TouchlineCronScheduler(CronScheduler):
    def register(self, func: Callable, queue_name: str, **options: Any) -> CronJob:  # type: ignore[override]
        job = JsonCronJob(queue_name=queue_name, func=func, **options)
        self._cron_jobs.append(job)
        log.info("registered %s.%s on %s (%s)", func.__module__, func.__name__, queue_name, options.get("cron"))
        return job


def make_scheduler(settings: Settings | None = None, connection: redis.Redis | None = None) -> TouchlineCronScheduler:
    settings = settings or load_settings()
    connection = connection or redis_connection(settings)
    scheduler = TouchlineCronScheduler(connection=connection)
    scheduler.register(
        tick,
        queue_name(CONTROL_QUEUE, settings),
        cron=settings.tick_cron,
        job_timeout=TICK_TIMEOUT,
        # A tick nobody picked up within a minute is stale: the next one replaces it.
        ttl=max(60, TICK_TIMEOUT // 5),
        name="touchline-tick",
    )
    # Sending runs apart from rule evaluation: a long evaluation never holds messages
    # back, and the sweeper finds a lost job within settings.loss_noticed_within.
    scheduler.register(
        dispatch_tick,
        queue_name(CONTROL_QUEUE, settings),
        interval=settings.dispatch_seconds,
        job_timeout=DISPATCH_TIMEOUT,
        ttl=max(60, settings.dispatch_seconds),
        name="touchline-dispatch",
    )
    # Goal outcomes (engine.jobs.outcomes): not urgent, so on the default queue: workers take
    # the tick and the dispatch first; one that waited past its ttl is replaced by the next.
    scheduler.register(
        measure_outcomes,
        queue_name(DEFAULT_QUEUE, settings),
        interval=OUTCOMES_EVERY,
        job_timeout=OUTCOMES_TIMEOUT,
        ttl=OUTCOMES_EVERY,
        name="touchline-outcomes",
    )
    return scheduler


def other_schedulers(scheduler: CronScheduler) -> list[str]:
    """Names of other live cron schedulers on the same Redis."""
    return [s.name for s in CronScheduler.all(scheduler.connection) if s.name != scheduler.name]
