"""queue_status: workers, queued and failed jobs from RQ; Redis down is an answer."""

from __future__ import annotations

from dataclasses import replace

from engine.embedded.process import free_port
from engine.jobs.queues import get_queue
from engine.jobs.status import queue_status
from engine.jobs.worker import make_worker
from engine.settings import load_settings


def test_counts_queued_and_failed_jobs_and_live_workers(redis_url):
    settings = replace(load_settings(), redis_url=redis_url)
    assert queue_status(settings).available and queue_status(settings).queued == 0
    queue = get_queue("default", settings=settings)
    queue.enqueue("engine.no_such_module.job")
    queue.enqueue("engine.no_such_module.job")
    status = queue_status(settings)
    assert (status.available, status.queued, status.failed, status.workers) == (True, 2, 0, 0)
    alive = make_worker(["default"], settings=settings)
    alive.register_birth()
    try:
        assert queue_status(settings).workers == 1
    finally:
        alive.register_death()
    make_worker(["default"], settings=settings).work(burst=True)  # registers, fails both jobs, leaves
    status = queue_status(settings)
    assert (status.queued, status.failed, status.workers) == (0, 2, 0)
    assert {q.name: q.failed for q in status.queues} == {"control": 0, "default": 2}


def test_redis_down_or_unset_is_unavailable_not_an_error():
    down = queue_status(replace(load_settings(), redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    assert not down.available and down.problem == "Redis does not answer (ConnectionError)"
    unset = queue_status(replace(load_settings(), redis_url=None))
    assert not unset.available and unset.problem == "TOUCHLINE_REDIS_URL is not set"
