"""Redis connection and RQ queues.

Every queue uses the JSON serializer (jobs carry ids, never pickled objects)
and the configured prefix, so several installations can share one Redis.
Finished and failed jobs expire so Redis memory stays bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from engine.settings import Settings, load_settings

if TYPE_CHECKING:
    from rq.job import Job

DEFAULT_QUEUE = "default"
# The periodic jobs (rule tick, dispatch with its sweeper): workers take them
# before anything else, so a backlog of send jobs never holds back the sweep
# that finds lost messages.
CONTROL_QUEUE = "control"
# Queues a worker listens on when none are named, highest priority first.
QUEUE_NAMES: tuple[str, ...] = (CONTROL_QUEUE, DEFAULT_QUEUE)
# Seconds a successful job's result is kept (RQ's default).
RESULT_TTL = 500
# Seconds a failed job (with its traceback) is kept for inspection: a week,
# instead of RQ's default of a year.
FAILURE_TTL = 7 * 24 * 3600

SERIALIZER = JSONSerializer


class RedisNotConfigured(RuntimeError):
    pass


class TouchlineQueue(Queue):
    """A queue whose jobs expire by default, whatever the caller passes."""

    def create_job(self, *args, **kwargs) -> Job:
        if kwargs.get("failure_ttl") is None:
            kwargs["failure_ttl"] = FAILURE_TTL
        if kwargs.get("result_ttl") is None:
            kwargs["result_ttl"] = RESULT_TTL
        return super().create_job(*args, **kwargs)


_connections: dict[str, redis.Redis] = {}


def redis_connection(settings: Settings | None = None) -> redis.Redis:
    """The process-wide Redis client for the configured URL.

    redis-py notices a fork and opens new sockets in the child, so the cached
    client is safe in RQ work-horses.
    """
    settings = settings or load_settings()
    url = settings.redis_url
    if not url:
        raise RedisNotConfigured(
            "TOUCHLINE_REDIS_URL is not set: point it at a Redis server "
            "(redis://host:6379/0), or use 'touchline up', which starts one for you"
        )
    conn = _connections.get(url)
    if conn is None:
        conn = _connections[url] = redis.Redis.from_url(url, **CLIENT_OPTIONS)
    return conn


# redis-py tells the server its name and version on every new connection (CLIENT SETINFO,
# two round trips), and recent versions look the version up in the installed packages'
# metadata each time. A work-horse opens its connections anew after every fork: this was
# about 5 ms of every job. Nothing reads that information; it is not sent.
CLIENT_OPTIONS = {"driver_info": None} if hasattr(redis, "DriverInfo") else {"lib_name": None, "lib_version": None}


def queue_name(name: str, settings: Settings | None = None) -> str:
    """``default`` -> ``touchline:default`` (with the configured prefix)."""
    settings = settings or load_settings()
    return f"{settings.queue_prefix}:{name}"


def get_queue(
    name: str = DEFAULT_QUEUE, connection: redis.Redis | None = None, settings: Settings | None = None
) -> TouchlineQueue:
    """The RQ queue ``name`` (unprefixed, e.g. ``"default"``)."""
    settings = settings or load_settings()
    return TouchlineQueue(
        queue_name(name, settings),
        connection=connection or redis_connection(settings),
        serializer=SERIALIZER,
    )
