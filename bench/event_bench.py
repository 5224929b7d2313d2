"""Event benchmark: an event posted to the HTTP API -> its on_event email accepted by the mail server,
and its in-app nudge readable through the nudge API.

The embedded run's shape, each part real and on 127.0.0.1: a fresh SQLite
database, a Redis server (engine.embedded), ``touchline web`` (waitress),
one ``touchline worker`` and ``touchline scheduler`` with the default
dispatch interval (TOUCHLINE_DISPATCH_SECONDS=30), and an aiosmtpd sink in
this process that notes when each message arrives. One rule, ``on_event:
export``, sends an email and an in-app nudge to the account's admin.

One event at a time, for a different account each (so the fatigue policy
plays no part), with a random pause of up to a second between them:
POST /api/v1/events, then wait for the email at the sink and for the nudge in
GET /api/v1/inapp/<app>/nudges (polled every 20 ms with the contact's identity
token, as the product's page would). Latency = from just before the POST to the
sink's acceptance of the message, and to the first API answer listing the
nudge, on this process's clock. One event before the measured ones warms the
worker up and is not counted.

    python -m bench.event_bench                   # 30 events
    python -m bench.event_bench --events 60

Targets (docs/performance.md, "on_event messages"): event -> SMTP accepted,
and event -> nudge listed by the API, each within 2 s at the 95th percentile.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95 = 2.0  # seconds, event -> SMTP accepted
TARGET_INAPP_P95 = 2.0  # seconds, event -> nudge listed by the nudge API
QUEUE_PREFIX = "touchline-event-bench"

RULE = """\
id: bench-first-export
name: Bench tip after an export
category: onboarding
when:
  account.plan: pro
trigger: {on_event: {events: [export]}}
actions:
  - email: {template: onboarding/stalled, to: role:admin}
  - in_app: {template: onboarding/checklist, to: role:admin, expires_in: 7d}
"""


class Arrivals:
    """aiosmtpd handler: recipient -> monotonic time of acceptance."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        with self.lock:
            self.count += 1
            for to in envelope.rcpt_tos:
                self.at.setdefault(to, now)
        return "250 OK"


def environment(tmp: Path, redis_url: str, smtp_port: int, web_port: int) -> dict[str, str]:
    (tmp / "policy.yaml").write_text("default_timezone: UTC\n")
    return {
        "TOUCHLINE_ENV": "development",
        "TOUCHLINE_DATABASE_URL": f"sqlite:///{tmp / 'event-bench.db'}",
        "TOUCHLINE_REDIS_URL": redis_url,
        "TOUCHLINE_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "TOUCHLINE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "TOUCHLINE_PORT": str(web_port),
        "TOUCHLINE_INSTANCE_DIR": str(tmp / "instance"),
        "TOUCHLINE_SECRET_KEY": "bench-secret-key-not-for-production",
        "TOUCHLINE_QUEUE_PREFIX": QUEUE_PREFIX,
        "TOUCHLINE_TEMPLATES_DIR": str(ROOT / "email_templates"),
        "TOUCHLINE_POLICY_FILE": str(tmp / "policy.yaml"),
        "TOUCHLINE_API_RATE_LIMIT": "100000/minute",
        "TOUCHLINE_INAPP_RATE_LIMIT": "100000/minute",
    }


def populate(db, accounts: int) -> tuple[str, object]:
    """Accounts with an admin each, the rule applied; an API key's token and an in-app key."""
    from engine.auth import create_api_key
    from engine.inapp.keys import create_key
    from engine.ingest import upsert_accounts, upsert_contacts
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules

    result = validate_text(RULE, "bench-first-export.yaml", expected_id="bench-first-export")
    if not result.ok:
        raise SystemExit("the bench rule does not validate:\n" + "\n".join(map(str, result.problems)))
    with db.session() as session:
        upsert_accounts(session, [{"id": f"acct-{i}", "name": f"Sample {i}", "plan": "pro"} for i in range(accounts)])
        upsert_contacts(session, [{"id": f"admin-{i}", "account_id": f"acct-{i}", "email": f"admin{i}@example.com",
                                   "name": f"Admin {i}", "role": "admin"} for i in range(accounts)])  # fmt: skip
        apply_rules(session, [(result.rule, RULE)], author="bench")
        _key, token = create_api_key(session, "event bench")
        inapp = create_key(session, actor="cli:bench")
    return token, inapp


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    from engine.embedded.process import die_with_parent

    with log.open("w") as fh:
        return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env={**os.environ, **env},
                                stdout=fh, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)  # noqa: PLW1509 (started before any thread)  # fmt: skip


def wait_ready(web_port: int, procs: list[subprocess.Popen], logs: Path, timeout: float = 60) -> None:
    from rq import Worker

    from engine.jobs.queues import get_queue, redis_connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/readyz", timeout=2) as response:
                web = response.status == 200
        except OSError:
            web = False
        if web and Worker.count(connection=redis_connection(), queue=get_queue()) >= 1:
            return
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in sorted(logs.glob("*.log")))
            raise SystemExit(f"the processes did not start:\n{tails}")
        time.sleep(0.1)


def post_event(web_port: int, token: str, event_id: str, account: str) -> None:
    body = json.dumps({"events": [{"id": event_id, "account_id": account, "name": "export"}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{web_port}/api/v1/events", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise SystemExit(f"POST /api/v1/events answered {response.status}: {response.read()[:300]!r}")


def nudge_listed(web_port: int, app_id: str, token: str) -> bool:
    """Whether the nudge API lists a nudge for the token's contact."""
    request = urllib.request.Request(f"http://127.0.0.1:{web_port}/api/v1/inapp/{app_id}/nudges",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return bool(json.load(response)["nudges"])


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def bench(events: int, timeout: float, seed: int = 7) -> bool:
    from aiosmtpd.controller import Controller

    from engine import migrate
    from engine.db import Database
    from engine.embedded.process import free_port
    from engine.embedded.redis_server import RedisServer
    from engine.inapp.tokens import mint_token

    rng = random.Random(seed)
    print(f"event benchmark: {events} events, each POST /api/v1/events -> on_event email at an SMTP sink; "
          "SQLite, Redis, 1 worker, the scheduler (dispatch every 30 s), waitress, all on 127.0.0.1", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="touchline-event-bench-") as name:
        tmp = Path(name)
        (tmp / "instance").mkdir()
        logs = tmp / "logs"
        logs.mkdir()
        redis = RedisServer(tmp / "redis").start()
        smtp_port, web_port = free_port(), free_port()
        env = environment(tmp, redis.url, smtp_port, web_port)
        os.environ.update(env)
        db = Database(env["TOUCHLINE_DATABASE_URL"])
        migrate.upgrade(db)
        token, inapp = populate(db, events + 1)
        procs = [start(args, env, logs / f"{args[0]}.log") for args in (["web"], ["worker"], ["scheduler"])]
        sink = Arrivals()
        smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        email: list[float] = []
        in_app: list[float] = []
        try:
            wait_ready(web_port, procs, logs)
            for i in range(events + 1):  # the first warms the worker up
                address, account = f"admin{i}@example.com", f"acct-{i}"
                identity = mint_token(inapp.secret, inapp.kid, contact=f"admin-{i}", account=account)
                listed_at = None
                posted = time.monotonic()
                post_event(web_port, token, f"evt-{i}", account)
                deadline = posted + timeout
                while address not in sink.at or listed_at is None:
                    if listed_at is None and nudge_listed(web_port, inapp.app_id, identity):
                        listed_at = time.monotonic()
                    if time.monotonic() > deadline:
                        tails = "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in sorted(logs.glob("*.log")))
                        print(f"  FAILED: event {i}: nothing after {timeout:g} s\n{tails}")
                        return False
                    time.sleep(0.02)
                if i:
                    email.append(sink.at[address] - posted)
                    in_app.append(listed_at - posted)
                time.sleep(rng.random())
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            smtp.stop()
            redis.stop()
            db.dispose()
    p50, p95 = statistics.median(email), percentile(email, 95)
    print(f"  email, event -> SMTP accepted: p50 {p50:.2f} s, p95 {p95:.2f} s, max {max(email):.2f} s "
          f"(target p95 <= {TARGET_P95:.1f} s: {'met' if p95 <= TARGET_P95 else 'NOT met'})")  # fmt: skip
    in_p95 = percentile(in_app, 95)
    print(f"  in-app nudge, event -> listed by GET /api/v1/inapp/<app>/nudges: p50 {statistics.median(in_app):.2f} s, "
          f"p95 {in_p95:.2f} s, max {max(in_app):.2f} s "
          f"(target p95 <= {TARGET_INAPP_P95:.1f} s: {'met' if in_p95 <= TARGET_INAPP_P95 else 'NOT met'})")  # fmt: skip
    exact = sink.count == events + 1 and len(sink.at) == events + 1
    if not exact:
        print(f"  FAILED: the sink got {sink.count} messages for {events + 1} events")
    return exact


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30, help="measured events (at least 30 for a p95)")
    parser.add_argument("--timeout", type=float, default=90, help="give up on an event after this many seconds")
    args = parser.parse_args(argv)
    sys.exit(0 if bench(args.events, args.timeout) else 1)


if __name__ == "__main__":
    main()
