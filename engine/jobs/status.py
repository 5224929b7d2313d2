"""What the queues are doing, for the admin's dashboard: read from RQ, never raising."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from rq import Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from engine.jobs.queues import CLIENT_OPTIONS, QUEUE_NAMES, get_queue
from engine.settings import Settings, load_settings

# Seconds to wait for Redis: a page showing queue status must render promptly with Redis gone.
TIMEOUT = 1.0

_connections: dict[str, redis.Redis] = {}


@dataclass(frozen=True)
class QueueCounts:
    name: str
    queued: int
    started: int
    failed: int


@dataclass(frozen=True)
class QueueStatus:
    """``available`` False (with ``problem``) when Redis is not set or does not answer."""

    available: bool
    problem: str | None = None
    workers: int = 0
    queues: list[QueueCounts] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return sum(q.queued for q in self.queues)

    @property
    def failed(self) -> int:
        return sum(q.failed for q in self.queues)


def _connection(url: str) -> redis.Redis:
    conn = _connections.get(url)
    if conn is None:
        conn = _connections[url] = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, **CLIENT_OPTIONS
        )
    return conn


def queue_status(settings: Settings | None = None) -> QueueStatus:
    """Workers alive on Touchline's queues (RQ forgets a worker whose heartbeat lapses), and
    per queue the jobs waiting, running and failed (failed ones are kept 7 days).
    Redis unset or down is an answer (``available`` False), not an error."""
    settings = settings or load_settings()
    if not settings.redis_url:
        return QueueStatus(False, "TOUCHLINE_REDIS_URL is not set")
    try:
        conn = _connection(settings.redis_url)
        queues, workers = [], set()
        for name in QUEUE_NAMES:
            queue = get_queue(name, connection=conn, settings=settings)
            counts = QueueCounts(name, queue.count, StartedJobRegistry(queue=queue).count, FailedJobRegistry(queue=queue).count)
            queues.append(counts)
            workers.update(w.name for w in Worker.all(queue=queue))
    except (redis.RedisError, OSError) as exc:
        return QueueStatus(False, f"Redis does not answer ({exc.__class__.__name__})")
    return QueueStatus(True, None, len(workers), queues)
