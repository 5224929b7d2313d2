"""The run commands' checks and the worker command as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import redis
from click.testing import CliRunner

from engine.cli import cli
from engine.db import Database
from engine.jobs.queues import get_queue
from engine.jobs.tick import last_tick, tick


def test_up_refuses_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["up", "--port", str(port), "--no-demo"])
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output


def test_worker_needs_redis(db: Database, monkeypatch) -> None:
    monkeypatch.delenv("TOUCHLINE_REDIS_URL", raising=False)
    result = CliRunner().invoke(cli, ["worker", "--burst"])
    assert result.exit_code == 1
    assert "TOUCHLINE_REDIS_URL is not set" in result.output


def test_scheduler_rejects_a_bad_cron_expression(db: Database, redis_url: str, monkeypatch) -> None:
    monkeypatch.setenv("TOUCHLINE_TICK_CRON", "every minute")
    result = CliRunner().invoke(cli, ["scheduler"])
    assert result.exit_code == 1
    assert "TOUCHLINE_TICK_CRON='every minute' is not a valid cron expression" in result.output


def test_worker_burst_runs_queued_jobs_and_exits(db: Database, redis_url: str) -> None:
    job = get_queue().enqueue(tick)
    done = subprocess.run(
        [sys.executable, "-P", "-m", "engine.cli", "worker", "--burst"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    job.refresh()
    assert job.is_finished
    assert last_tick(redis.Redis.from_url(redis_url))["status"] == "ok"
