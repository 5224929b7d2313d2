"""``touchline up`` end to end: real processes, a real Redis server, real HTTP.

Each test starts the embedded run in its own instance folder, ingests events
through the HTTP API, then stops it (SIGTERM, or SIGKILL on the parent) and
checks in /proc that no process of its tree is left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.embedded.mailcatcher import list_messages
from engine.embedded.process import free_port
from engine.embedded.procfs import command_line, descendants, is_running, start_time
from engine.models import Event

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_script = Path(sys.executable).with_name("touchline")
TOUCHLINE = [str(_script)] if _script.exists() else [sys.executable, "-P", "-m", "engine.cli"]


@dataclass
class Run:
    process: subprocess.Popen
    port: int
    env: dict[str, str]
    instance: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(predicate, timeout: float, what: str, run: Run | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if run is not None and run.process.poll() is not None:
            pytest.fail(f"touchline up exited with {run.process.returncode} while waiting for {what}:\n{run.output()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}" + (f":\n{run.output()}" if run else ""))
        time.sleep(0.1)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def start_up(instance: Path, log_name: str = "up.log") -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    env.update(TOUCHLINE_INSTANCE_DIR=str(instance), PYTHONUNBUFFERED="1")
    port = free_port()
    log = instance.parent / log_name
    with log.open("w") as fh:
        process = subprocess.Popen(
            [*TOUCHLINE, "up", "--port", str(port), "--no-demo"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            # Its own process group, like a command started from a terminal.
            start_new_session=True,
        )
    run = Run(process, port, env, instance, log)
    wait_for(lambda: http_status(f"{run.base_url}/readyz") == 200, READY_TIMEOUT, "/readyz to answer 200", run)
    wait_for(lambda: "Ctrl-C to stop" in run.output(), 10, "the ready banner", run)
    return run


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "instance"


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    """Whatever a test started is killed at the end, even when it fails half-way."""
    started: list[Run] = []
    yield started
    for run in started:
        tree = descendants(run.process.pid)
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def process_tree(run: Run) -> dict[int, tuple[int | None, str]]:
    """pid -> (start time, command line) of every process below ``touchline up``."""
    return {pid: (start_time(pid), command_line(pid)) for pid in descendants(run.process.pid)}


def assert_all_gone(tree: dict[int, tuple[int | None, str]], timeout: float) -> None:
    def alive() -> dict[int, str]:
        return {pid: cmd for pid, (started, cmd) in tree.items() if is_running(pid, started)}

    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive() == {}, f"processes left behind: {alive()}"


def create_api_key(run: Run) -> str:
    done = subprocess.run(
        [*TOUCHLINE, "api-keys", "create", "e2e"], env=run.env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("tl_")
    return token


def post_events(run: Run, token: str, events: list[dict]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{run.base_url}/api/v1/events",
        data=json.dumps({"events": events}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def stored_event_ids(instance: Path) -> list[str]:
    db = Database(f"sqlite:///{instance / 'touchline.db'}")
    try:
        with db.read_session() as session:
            return sorted(session.scalars(select(Event.external_id)))
    finally:
        db.dispose()


def check_tree(tree: dict[int, tuple[int | None, str]]) -> None:
    commands = [cmd for _, cmd in tree.values()]
    for part in ("redis-server", "mailcatcher", "worker", "scheduler", "web"):
        assert any(part in cmd for cmd in commands), f"no {part} process in {commands}"


def test_up_serves_the_api_and_stops_cleanly_on_sigterm(instance: Path, runs: list[Run]) -> None:
    run = start_up(instance)
    runs.append(run)
    out = run.output()
    assert f"{run.base_url}/readyz" in out and f"kept in {instance / 'mail'}" in out
    passwords = re.findall(r"password: (\S+)", out)
    assert len(passwords) == 1 and "admin@localhost" in out
    # Commands run beside it (touchline render) find the port it runs on in the instance folder.
    assert (instance / "web_url").read_text().strip() == run.base_url
    assert "sender brand: Example App, demo values" in out

    token = create_api_key(run)
    events = [
        {"id": "e2e-1", "account_id": "acme", "name": "project_created", "properties": {"source": "e2e"}},
        {"id": "e2e-2", "account_id": "acme", "contact_id": "ana", "name": "report_viewed"},
    ]
    status, body = post_events(run, token, events)
    assert status == 200, body
    assert stored_event_ids(instance) == ["e2e-1", "e2e-2"]
    assert post_events(run, "tl_nope_wrong", events)[0] == 401
    # Outgoing mail is caught in the instance folder.
    smtp_port = int(re.search(r"listening on smtp://127\.0\.0\.1:(\d+)", out).group(1))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.test", "b@example.test", "caught?"
    message.set_content("hello")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    assert [m.subject for m in list_messages(instance / "mail")] == ["caught?"]

    tree = process_tree(run)
    check_tree(tree)
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(STOP_TIMEOUT) == 0, run.output()
    assert_all_gone(tree, timeout=10)
    assert "received SIGTERM, stopping" in run.output()
    assert not (instance / "web_url").exists()

    # A second start on the same instance keeps the data and shows no password.
    again = start_up(instance, "up-again.log")
    runs.append(again)
    assert "password:" not in again.output()
    assert stored_event_ids(instance) == ["e2e-1", "e2e-2"]
    tree = process_tree(again)
    # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    os.killpg(again.process.pid, signal.SIGINT)
    assert again.process.wait(STOP_TIMEOUT) == 0, again.output()
    assert_all_gone(tree, timeout=10)
    assert "received SIGINT, stopping" in again.output()
    # Redis sits in its own group: it was stopped last, with SIGTERM, not hit by the Ctrl-C.
    redis_log = (instance / "redis" / "redis.log").read_text()
    assert "Received SIGTERM" in redis_log and "Received SIGINT" not in redis_log


def test_children_die_with_a_parent_killed_by_sigkill(instance: Path, runs: list[Run]) -> None:
    run = start_up(instance)
    runs.append(run)
    token = create_api_key(run)
    status, body = post_events(run, token, [{"id": "k-1", "account_id": "acme", "name": "login"}])
    assert status == 200, body

    tree = process_tree(run)
    check_tree(tree)
    run.process.kill()
    run.process.wait(STOP_TIMEOUT)
    # Nobody is left to stop them: only PR_SET_PDEATHSIG does.
    assert_all_gone(tree, timeout=STOP_TIMEOUT)
    assert stored_event_ids(instance) == ["k-1"]
