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


def test_scheduler_warns_in_production_when_the_senders_brand_is_incomplete(db: Database, redis_url: str) -> None:
    import threading

    env = {**os.environ, "TOUCHLINE_ENV": "production", "TOUCHLINE_SECRET_KEY": "a-long-enough-production-secret",
           "TOUCHLINE_BRAND_COMPANY": "Kumo K.K.", "TOUCHLINE_QUEUE_PREFIX": "brandwarn"}  # fmt: skip
    process = subprocess.Popen([sys.executable, "-P", "-m", "engine.cli", "scheduler"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    stop = threading.Timer(60, process.terminate)  # readline() blocks: the deadline ends the process
    stop.start()
    try:
        line = ""
        while "warning" not in line and (line or process.poll() is None):
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
    finally:
        stop.cancel()
        process.terminate()
        process.wait(30)
    assert line.startswith(
        "scheduler: warning: TOUCHLINE_BRAND_POSTAL_ADDRESS, TOUCHLINE_BRAND_SUPPORT_EMAIL are not set: "
        "production sends no marketing email without the sender's name, postal address and support address; "
        "non-operational email to customers will wait until they are set"
    ), line
