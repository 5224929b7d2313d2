"""The periodic jobs' lock against a real Redis: it lives as long as its holder, no longer."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time

import pytest
import redis

from engine.db import Database
from engine.jobs.locks import single_run
from engine.jobs.send import DISPATCH_LOCK_TTL, dispatch_lock_key, dispatch_lock_ttl, dispatch_tick
from engine.settings import load_settings


def test_a_live_run_keeps_the_lock_past_its_ttl(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    with single_run(conn, "t:lock", ttl=0.6) as mine:
        assert mine
        for _ in range(8):  # 2.4 s: four TTLs
            time.sleep(0.3)
            with single_run(conn, "t:lock", ttl=0.6) as other:
                assert not other, "a second run got the lock while the first was still going"
        assert mine and not mine.lost
    assert not conn.exists("t:lock")


def _hold_forever(url: str, ready) -> None:
    conn = redis.Redis.from_url(url)
    with single_run(conn, "t:lock", ttl=1.0):
        ready.set()
        time.sleep(60)


def test_a_killed_holder_frees_the_lock_within_its_ttl(redis_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_forever, args=(redis_url, ready))
    holder.start()
    try:
        assert ready.wait(10)
        conn = redis.Redis.from_url(redis_url)
        time.sleep(1.5)  # renewed meanwhile
        assert conn.exists("t:lock")
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        while conn.exists("t:lock"):
            assert time.monotonic() - killed < 1.5, "the lock outlived its holder by more than its TTL"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.join()


@pytest.mark.parametrize(("lease", "grace", "ttl"), [(None, None, DISPATCH_LOCK_TTL), ("5", "8", 5), ("90", "10", 10)])
def test_the_dispatch_lock_is_short_enough_not_to_hold_up_the_sweeper(monkeypatch, lease, grace, ttl) -> None:
    """A dispatch killed mid-pass must not delay lost messages past the lease (or grace)
    plus one interval: its lock has to be free before they are judged lost."""
    for name, value in (("TOUCHLINE_SEND_LEASE_SECONDS", lease), ("TOUCHLINE_QUEUE_GRACE_SECONDS", grace)):
        if value is not None:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOUCHLINE_SMTP_TIMEOUT", "3")  # as the delivery proof runs it, with a 5 s lease
    monkeypatch.setenv("TOUCHLINE_WEBHOOK_TIMEOUT", "3")
    settings = load_settings()
    assert dispatch_lock_ttl(settings) == ttl <= min(settings.send_lease_seconds, settings.queue_grace_seconds)


def test_a_skipped_dispatch_says_so_in_the_log(db: Database, redis_url: str, caplog) -> None:
    conn = redis.Redis.from_url(redis_url)
    key = dispatch_lock_key(load_settings())
    other = conn.lock(key, timeout=DISPATCH_LOCK_TTL)
    assert other.acquire(blocking=False)
    with caplog.at_level(logging.INFO, logger="engine.jobs.send"):
        assert dispatch_tick()["status"] == "skipped"
    assert any(f"dispatch skipped: another dispatch holds {key}" in r.getMessage() for r in caplog.records)
    other.release()
    assert dispatch_tick()["status"] == "ok"


def test_the_tick_lock_follows_its_holder_too() -> None:
    # A tick killed mid-run must not hold up evaluation for the longest a tick may take.
    from engine.jobs.tick import LOCK_TTL, TICK_TIMEOUT

    assert LOCK_TTL <= 30 < TICK_TIMEOUT
