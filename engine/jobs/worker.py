"""The RQ worker Touchline runs: JSON jobs, prefixed queues, no orphans."""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Sequence

import redis
from rq import Worker

from engine.embedded.process import die_with_parent
from engine.jobs.queues import QUEUE_NAMES, SERIALIZER, TouchlineQueue, get_queue, redis_connection
from engine.settings import Settings, load_settings

_fork_hook_installed = False

# What the jobs import, imported once in the worker instead of in every
# work-horse: RQ forks a horse per job, and each would import these again
# (about a quarter of a second per job, 2 ms per message of a send job of 100).
PRELOAD = ("engine.jobs.send", "engine.jobs.tick", "engine.jobs.recheck", "engine.delivery.compose", "engine.delivery.channels", "jsonschema")


def make_worker(
    queues: Sequence[str] = QUEUE_NAMES,
    connection: redis.Redis | None = None,
    settings: Settings | None = None,
) -> Worker:
    """A worker on the given (unprefixed) queue names, in priority order."""
    settings = settings or load_settings()
    connection = connection or redis_connection(settings)
    return Worker(
        [get_queue(name, connection, settings) for name in queues],
        connection=connection,
        serializer=SERIALIZER,
        queue_class=TouchlineQueue,
    )


def _forked_children_die_with_worker() -> None:
    """Work-horses and RQ's scheduler process are forked, and PDEATHSIG is
    cleared on fork: without this a worker killed with SIGKILL would leave
    them running."""
    global _fork_hook_installed
    if not _fork_hook_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=die_with_parent)
        _fork_hook_installed = True


def run_worker(queues: Sequence[str] = QUEUE_NAMES, burst: bool = False) -> bool:
    """Work until stopped (or, with ``burst``, until the queues are empty)."""
    _forked_children_die_with_worker()
    for module in PRELOAD:
        importlib.import_module(module)
    from engine.delivery.batch import warm_up

    warm_up(load_settings())
    # Everything loaded so far lives as long as the worker: out of the collector's sight,
    # a work-horse's collections do not walk (and copy, page by page) the parent's heap.
    gc.collect()  # what the warm-up left behind is not kept for the worker's life
    gc.freeze()
    worker = make_worker(queues)
    # with_scheduler: this worker also moves due delayed/retried jobs onto
    # their queues (RQ lets one worker per queue do it at a time).
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
