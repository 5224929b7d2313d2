"""One run at a time per installation, for periodic jobs: a Redis lock with a TTL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger(__name__)


@contextmanager
def single_run(conn: redis.Redis, key: str, ttl: int) -> Iterator[bool]:
    """Yields whether this run holds the lock; released at the end.

    The TTL frees the lock if the process dies holding it; it must outlive the
    job's own timeout, so a live run never loses it.
    """
    lock = conn.lock(key, timeout=ttl, blocking=False)
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            # The TTL ran out (a very slow run); another run may own it now.
            log.warning("lock %s expired before the run finished", key)
