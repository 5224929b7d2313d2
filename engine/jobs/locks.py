"""One run at a time per installation, for periodic jobs: a Redis lock that lives as long as its holder.

The lock has a short TTL that a thread of the holding process renews while the
run goes on. A holder killed mid-run (SIGKILL, OOM, a lost host) stops
renewing, so the lock is free again within the TTL, not after the longest a
run may take; a live run keeps it however long it takes (the job timeout
bounds that).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.lock import Lock

log = logging.getLogger(__name__)


class Held:
    """What ``single_run`` yields: true while this run holds the lock."""

    def __init__(self, lock: Lock | None) -> None:
        self.lock = lock
        self.lost = False  # the lock expired under a live run (renewals failed for a whole TTL)

    def __bool__(self) -> bool:
        return self.lock is not None and not self.lost


@contextmanager
def single_run(conn: redis.Redis, key: str, ttl: float, wait: float = 0) -> Iterator[Held]:
    """Yields whether this run holds the lock (waiting up to ``wait`` seconds for it);
    renewed every third of ``ttl`` while the run goes on, released at the end."""
    # Not thread-local: the renewing thread must see the token the run acquired with.
    lock = conn.lock(key, timeout=ttl, blocking=wait > 0, blocking_timeout=wait or None, thread_local=False)
    if not lock.acquire():
        yield Held(None)
        return
    held = Held(lock)
    stop = threading.Event()
    keeper = threading.Thread(target=_renew, args=(held, key, ttl, stop), name=f"lock {key}", daemon=True)
    keeper.start()
    try:
        yield held
    finally:
        stop.set()
        keeper.join()
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("lock %s expired before the run finished", key)


def _renew(held: Held, key: str, ttl: float, stop: threading.Event) -> None:
    """Reset the TTL every ttl/3; a thread of the holder, so it dies with it."""
    assert held.lock is not None
    while not stop.wait(ttl / 3):
        try:
            held.lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            held.lost = True
            log.error("lock %s expired while its run was still going (renewals failed for %s s)", key, ttl)
            return
        except redis.exceptions.RedisError as exc:  # a blip: the next renewal may get through
            log.warning("lock %s not renewed: %s", key, exc)
