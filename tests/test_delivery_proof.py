"""The delivery pipeline in its production shape, proven from the outside.

PostgreSQL, a real ``redis-server``, two ``touchline worker`` processes and
``touchline scheduler`` as separate processes, and an SMTP server in this
process that counts what arrives. The scheduler runs the dispatch every second
(TOUCHLINE_DISPATCH_SECONDS=1) so the test does not wait half a minute between
passes; nothing else drives the pipeline.

1. A campaign to 2,000 people: each gets exactly one email.
2. A second campaign while the workers are killed with SIGKILL again and again
   (the worker and its work-horse) and restarted, and Redis is killed once and
   started again with its data gone, losing every job it held: nobody gets the
   email twice, everybody gets it except at most one person per kill, each of
   whom is recorded ``unknown``, and the campaign finishes with nobody
   stepping in.
3. A worker killed in the middle of a dispatch pass (held at its first write
   while it holds the dispatch lock): the lock is free again within its TTL,
   and a third campaign written just after the kill is sending within the
   time a lost message takes to come back (the lease or grace plus one
   dispatch interval: two minutes with the defaults).

The full proof runs on PostgreSQL (TOUCHLINE_TEST_DATABASE_URL, as CI's
PostgreSQL phase sets it, with ``-m proof``); a smaller one, with fewer people
and kills, runs on the test database of the default test command (SQLite,
as the embedded run). Short leases (TOUCHLINE_SEND_LEASE_SECONDS,
TOUCHLINE_QUEUE_GRACE_SECONDS) and that dispatch interval keep them to about
a minute and a half and under a minute.
"""

from __future__ import annotations

import os
import re
import threading
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select, text

from engine.db import Database
from engine.embedded.process import free_port
from engine.embedded.procfs import command_line, descendants, is_running, start_time
from engine.embedded.redis_server import RedisServer
from engine.ingest import upsert_accounts, upsert_contacts
from engine.jobs.send import dispatch_lock_key, dispatch_lock_ttl
from engine.models import Delivery, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
_script = Path(sys.executable).with_name("touchline")
TOUCHLINE = [str(_script)] if _script.exists() else [sys.executable, "-P", "-m", "engine.cli"]



@dataclass(frozen=True)
class Scale:
    accounts: int
    admins: int  # per account
    kills: int  # workers SIGKILLed mid-send in the second campaign
    pace: float  # seconds each message of the second campaign takes: it must outlast its kills
    timeout: float = 240.0  # per campaign: room for one retry after a transient error (1 minute) on a loaded machine

    @property
    def recipients(self) -> int:
        return self.accounts * self.admins


FULL = Scale(accounts=400, admins=5, kills=6, pace=0.015)  # 2,000 recipients
SMALL = Scale(accounts=40, admins=5, kills=2, pace=0.1)  # 200 recipients, about 10 s of sending
LEASE = 5  # seconds a message may stay 'sending' (the default is 90)
GRACE = 8  # seconds a job may stay 'queued' (the default is 90)
DISPATCH_SECONDS = 1
# The two-minute bound of the defaults (lease or grace, 90 s, plus one dispatch interval, 30 s),
# at this test's settings; SLACK is for starting processes on a loaded machine.
LOSS_BOUND = max(LEASE, GRACE) + DISPATCH_SECONDS
SLACK = 4.0

RULE = """\
id: {id}
name: Proof campaign {id}
category: newsletter
max_messages_per_cycle: 5000
when:
  account.plan: trial
actions:
  - email: {{template: {template}, to: role:admin}}
"""
# No fatigue limits: two campaigns to the same people a minute apart are the point here.
POLICY = "default_timezone: UTC\n"


@pytest.fixture
def postgres(db: Database) -> Database:
    if db.dialect != "postgresql":
        pytest.skip(
            "the delivery proof runs on PostgreSQL: set TOUCHLINE_TEST_DATABASE_URL=postgresql+psycopg://... "
            "(CI's PostgreSQL phase runs it with `-m proof`)"
        )
    return db


class CountingHandler:
    """Keeps (recipient, Message-ID) of every message accepted. ``delay``: seconds
    to wait before taking a message, so a kill can land while one is in flight."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.delay = 0.0
        self.pace = 0.0  # seconds every message takes (the second campaign must outlast its kills)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name
        if self.delay or self.pace:
            import asyncio

            await asyncio.sleep(self.delay or self.pace)
        found = re.search(rb"^Message-ID:\s*(\S+)", envelope.content, re.MULTILINE | re.IGNORECASE)
        message_id = found.group(1).decode() if found else ""
        for to in envelope.rcpt_tos:
            self.received.append((to, message_id))
        return "250 2.0.0 accepted"


@dataclass
class Fleet:
    """The touchline processes of the test, and every pid they ever had."""

    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen] = field(default_factory=list)
    scheduler: subprocess.Popen | None = None
    seen: dict[int, tuple[int | None, str]] = field(default_factory=dict)  # pid -> (start time, command line)
    exits: list[str] = field(default_factory=list)  # processes that stopped without being killed
    log_of: dict[int, Path] = field(default_factory=dict)  # pid -> its output
    started = 0

    def start(self, *args: str) -> subprocess.Popen:
        self.started += 1
        log = self.logs / f"{args[0]}-{self.started}.log"
        with log.open("w") as fh:
            process = subprocess.Popen([*TOUCHLINE, *args], env=self.env, cwd=self.env["PROOF_CWD"],
                                       stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        self.note(process.pid)
        self.log_of[process.pid] = log
        return process

    def note(self, pid: int) -> None:
        for p in {pid, *descendants(pid)}:
            if p not in self.seen:
                self.seen[p] = (start_time(p), command_line(p))

    def note_all(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                self.note(process.pid)

    def kill_tree(self, process: subprocess.Popen) -> None:
        """SIGKILL a worker and everything below it (its work-horse sits in a group of its own)."""
        tree = descendants(process.pid)
        self.note(process.pid)
        for pid in [*tree, process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(10)

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(self.logs.glob("*.log")))


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    logs = tmp_path / "logs"
    logs.mkdir()
    fleet = Fleet(env={}, logs=logs)
    yield fleet
    for process in [*fleet.workers, fleet.scheduler]:  # whatever a failing test left running
        if process is not None and process.poll() is None:
            fleet.kill_tree(process)
    for pid, (started, _cmd) in fleet.seen.items():
        if is_running(pid, started):
            os.kill(pid, signal.SIGKILL)


def campaign(db: Database, rule_id: str, template: str, recipients: int) -> None:
    """Apply the rule and run one cycle: ``recipients`` pending rows."""
    text = RULE.format(id=rule_id, template=template)
    rule = validate_text(text, f"{rule_id}.yaml", expected_id=rule_id).rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="proof")
    with db.read_session() as s:
        rules = [r for r in active_rules(s) if r[2].id == rule_id]
    run_cycle(db, rules, utcnow(), only_due=False)
    assert sum(counts(db, rule_id).values()) == recipients  # the dispatch may have queued some already


def counts(db: Database, rule_id: str) -> dict[str, int]:
    with db.read_session() as s:
        return dict(s.execute(select(Delivery.status, func.count()).where(Delivery.rule_id == rule_id)
                              .group_by(Delivery.status)).all())  # fmt: skip


UNSETTLED = ("pending", "queued", "sending", "deferred")


def wait_settled(db: Database, rule_id: str, fleet: Fleet, deadline: float, during=None) -> None:
    while any(counts(db, rule_id).get(s) for s in UNSETTLED):
        if during is not None:
            during()
        if time.monotonic() > deadline:
            pytest.fail(f"campaign {rule_id} not finished: {counts(db, rule_id)}\n{fleet.output()}")
        time.sleep(0.25)


def lose_redis(server: RedisServer) -> None:
    """SIGKILL the Redis server and delete what it persisted (its log stays)."""
    assert server.process is not None
    server.process.kill()
    server.process.wait(10)
    server.process = None
    for path in server.data_dir.iterdir():
        if path.name != "redis.log":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def send_job_of(fleet: Fleet, process: subprocess.Popen) -> str | None:
    """The send job this worker is running, if it is running one, from what it logged (not
    from Redis, which forgets its workers when it loses its data)."""
    text = fleet.log_of[process.pid].read_text(errors="replace")
    started = re.findall(r"send_batch\(.*\) \((send-\d+-[0-9a-f]+)\)$", text, re.MULTILINE)
    over = set(re.findall(r"(?:Job OK|[Ff]ailed).*?\((send-\d+-[0-9a-f]+)\)", text))
    running = [job for job in started if job not in over]
    return running[-1] if running else None


def in_flight(db: Database, job_id: str, timeout: float = 2.0) -> bool:
    """Wait until a message of this job is being sent (claimed, not yet recorded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read_session() as s:
            if s.scalar(select(func.count()).where(Delivery.job_id == job_id, Delivery.status == "sending")):
                return True
        time.sleep(0.01)
    return False


def dispatch_running(fleet: Fleet) -> subprocess.Popen | None:
    """The worker whose log shows a dispatch started and not finished."""
    for process in fleet.workers:
        text_ = fleet.log_of[process.pid].read_text(errors="replace")
        started = re.findall(r"dispatch_tick\(\) \(([0-9a-f-]+)\)$", text_, re.MULTILINE)
        over = set(re.findall(r"(?:Job OK|[Ff]ailed).*?\(([0-9a-f-]+)\)", text_))
        if started and started[-1] not in over:
            return process
    return None


class WritesHeld:
    """Holds the database's write lock (SQLite) or an EXCLUSIVE lock on deliveries (PostgreSQL),
    so a dispatch that starts waits at its first write, holding its dispatch lock."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> WritesHeld:
        self.session_cm = self.db.session()
        session = self.session_cm.__enter__()
        if self.db.dialect == "postgresql":
            session.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
        else:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
        return self

    def __exit__(self, *exc) -> None:
        self.session_cm.__exit__(None, None, None)


class TokenWatch(threading.Thread):
    """Notes when the lock key stops holding ``token`` (its holder's), from ``since``."""

    def __init__(self, conn: redis.Redis, key: str, token: bytes, since: float) -> None:
        super().__init__(daemon=True)
        self.conn, self.key, self.token, self.since = conn, key, token, since
        self.freed_after: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if self.conn.get(self.key) != self.token:
                self.freed_after = time.monotonic() - self.since
                return
            time.sleep(0.02)


@pytest.mark.e2e
@pytest.mark.proof
def test_two_campaigns_reach_everyone_once_through_killed_workers_and_a_restarted_redis(
    postgres: Database, fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prove(postgres, FULL, fleet, tmp_path, monkeypatch)


@pytest.mark.e2e
def test_a_smaller_proof_on_the_test_database(db: Database, fleet: Fleet, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The same proof at a tenth of the size, in the default test run (SQLite there, as the
    embedded run); CI's PostgreSQL phase runs the full one instead."""
    prove(db, SMALL, fleet, tmp_path, monkeypatch)


def prove(db: Database, scale: Scale, fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.controller import Controller

    recipients = scale.recipients

    sink = CountingHandler()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    try:
        cwd = tmp_path / "run"
        (cwd / "rules").mkdir(parents=True)
        (cwd / "rules" / "policy.yaml").write_text(POLICY)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
        settings = {
            "TOUCHLINE_ENV": "test",
            "TOUCHLINE_INSTANCE_DIR": str(tmp_path / "instance"),
            "TOUCHLINE_SECRET_KEY": "proof-secret-key-0123456789abcdef",
            "TOUCHLINE_DATABASE_URL": db.url,
            "TOUCHLINE_REDIS_URL": redis_server.url,
            "TOUCHLINE_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "TOUCHLINE_PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
            "TOUCHLINE_TEMPLATES_DIR": str(ROOT / "email_templates"),
            "TOUCHLINE_SMTP_TIMEOUT": "3",
            "TOUCHLINE_WEBHOOK_TIMEOUT": "3",
            "TOUCHLINE_SEND_LEASE_SECONDS": str(LEASE),
            "TOUCHLINE_QUEUE_GRACE_SECONDS": str(GRACE),
            "TOUCHLINE_DISPATCH_SECONDS": str(DISPATCH_SECONDS),
            "TOUCHLINE_POLICY_FILE": str(cwd / "rules" / "policy.yaml"),
        }
        env.update(settings, PYTHONUNBUFFERED="1", PROOF_CWD=str(cwd))
        fleet.env = env
        for key, value in settings.items():  # this process applies the rules to the same installation
            monkeypatch.setenv(key, value)

        with db.session() as s:
            upsert_accounts(s, [{"id": f"acc{a}", "name": f"Account {a}", "plan": "trial"} for a in range(scale.accounts)])
            upsert_contacts(s, [{"id": f"p{a}-{k}", "account_id": f"acc{a}", "email": f"p{a}-{k}@proof.test",
                                 "name": f"Person {a}-{k}", "role": "admin"}
                                for a in range(scale.accounts) for k in range(scale.admins)])  # fmt: skip
        everyone = {f"p{a}-{k}@proof.test" for a in range(scale.accounts) for k in range(scale.admins)}

        fleet.workers = [fleet.start("worker"), fleet.start("worker")]
        fleet.scheduler = fleet.start("scheduler")

        # 1. One campaign, nothing going wrong: each person gets exactly one email.
        campaign(db, "first", "onboarding/stalled", recipients)
        started = time.monotonic()

        def watch() -> None:
            fleet.note_all()
            for process in [*fleet.workers, fleet.scheduler]:
                if process.poll() is not None and f"{process.pid}" not in " ".join(fleet.exits):
                    fleet.exits.append(f"{process.args[-1]} {process.pid}: exit {process.returncode}")

        wait_settled(db, "first", fleet, started + scale.timeout, during=watch)
        first_took = time.monotonic() - started
        assert counts(db, "first") == {"sent": recipients}
        first = list(sink.received)
        assert Counter(to for to, _m in first) == Counter(everyone), "not exactly one email per person"
        assert len({m for _to, m in first}) == recipients and "" not in {m for _to, m in first}
        with db.read_session() as s:
            recorded = set(s.scalars(select(Delivery.message_id).where(Delivery.rule_id == "first")))
        assert recorded == {m for _to, m in first}

        assert fleet.exits == [], f"processes exited by themselves:\n{fleet.output()}"

        # 2. The second campaign, through SIGKILLed workers and a Redis restart.
        kills: list[str] = []

        def supervise() -> None:
            """What the process manager does (docker-compose.yml: restart: unless-stopped)."""
            for i, process in enumerate(fleet.workers):
                if process.poll() is not None:
                    # RQ's worker exits when Redis goes away in the middle of a job.
                    assert redis_restarted, f"a worker exited by itself:\n{fleet.output()}"
                    fleet.exits.append(f"worker {process.pid}: exit {process.returncode}")
                    fleet.workers[i] = fleet.start("worker")
            if fleet.scheduler.poll() is not None:
                assert redis_restarted, f"the scheduler exited by itself:\n{fleet.output()}"
                fleet.exits.append(f"scheduler {fleet.scheduler.pid}: exit {fleet.scheduler.returncode}")
                fleet.scheduler = fleet.start("scheduler")
        redis_restarted = False
        next_kill = time.monotonic() + 2.0

        def havoc() -> None:
            nonlocal redis_restarted, next_kill
            fleet.note_all()
            supervise()
            if time.monotonic() < next_kill:
                return
            next_kill = time.monotonic() + 2.0
            if len(kills) >= scale.kills // 2 and not redis_restarted:
                # Killed, and started again on the same port with its data gone: every job it
                # held is lost, and only the sweeper, reading the table, can find their messages.
                lose_redis(redis_server)
                time.sleep(1.0)
                redis_server.start()
                redis_restarted = True
                return
            if len(kills) >= scale.kills:
                return
            for i, process in enumerate(fleet.workers):
                job = send_job_of(fleet, process)
                if job is None:
                    continue
                # Slow the server down for a moment, so the kill lands while a message is
                # being handed over (the one case that cannot be settled for sure).
                sink.delay = 0.3
                try:
                    if in_flight(db, job):
                        fleet.kill_tree(process)
                        kills.append(job)
                        fleet.workers[i] = fleet.start("worker")
                finally:
                    sink.delay = 0.0
                return

        sink.received.clear()
        # Paced so the campaign lasts longer than the kills and the restart take, however fast sending gets.
        sink.pace = scale.pace
        campaign(db, "second", "reengagement/we-miss-you", recipients)
        started = time.monotonic()
        wait_settled(db, "second", fleet, started + scale.timeout, during=havoc)
        second_took = time.monotonic() - started
        assert len(kills) == scale.kills and redis_restarted, f"only {len(kills)} kills landed during a send: {kills}"

        second = list(sink.received)
        by_person = Counter(to for to, _m in second)
        assert [to for to, n in by_person.items() if n > 1] == [], "someone got the email twice"
        assert [m for m, n in Counter(m for _to, m in second).items() if n > 1] == []
        assert set(by_person) <= everyone
        final = counts(db, "second")
        assert set(final) <= {"sent", "unknown"}, final
        with db.read_session() as s:
            rows = s.execute(select(Delivery.recipient, Delivery.status, Delivery.reason, Delivery.message_id)
                             .where(Delivery.rule_id == "second")).all()  # fmt: skip
        unknown = {to: reason for to, status, reason, _m in rows if status == "unknown"}
        sent = {to: m for to, status, _r, m in rows if status == "sent"}
        # Everyone got it but at most one person per kill, and each of those is recorded unknown.
        missing = everyone - set(by_person)
        assert missing <= set(unknown), f"lost without a trace: {sorted(missing - set(unknown))}"
        assert 1 <= len(unknown) <= scale.kills, unknown  # the kills landed mid-send: at most one message each
        assert all(reason.startswith("unknown:") for reason in unknown.values())
        # Every row that says sent was received, with its Message-ID.
        assert {(to, m) for to, m in sent.items()} <= set(second)
        # The jobs Redis lost, and the rest of the killed workers' batches, were found again from the
        # table: the dispatch's sweeper queued their rows again (the campaign could not finish otherwise).
        requeued = sum(int(n) for log in fleet.logs.glob("worker-*.log")
                       for n in re.findall(r"'requeued': (\d+)", log.read_text(errors="replace")))  # fmt: skip
        assert requeued > 0, f"nothing was queued again after Redis lost its jobs:\n{fleet.output()}"
        print(f"\nfirst campaign {first_took:.1f}s; second {second_took:.1f}s with {len(kills)} kills, "
              f"Redis lost, {requeued} messages queued again by the sweeper, {len(unknown)} unknown "
              f"({len(missing)} of them not received); exited by themselves: {fleet.exits}")  # fmt: skip

        # 3. A worker killed while it runs the dispatch: its lock goes with it.
        sink.received.clear()
        sink.pace = 0.0
        fleet.note_all()
        supervise()
        conn = redis.Redis.from_url(redis_server.url)
        key = dispatch_lock_key(load_settings())
        with WritesHeld(db):
            deadline = time.monotonic() + 20
            while (victim := dispatch_running(fleet)) is None or not conn.exists(key):
                assert time.monotonic() < deadline, f"no dispatch started:\n{fleet.output()}"
                time.sleep(0.05)
            token = conn.get(key)
            fleet.kill_tree(victim)
            killed_at = time.monotonic()
            watch_lock = TokenWatch(conn, key, token, killed_at)
            watch_lock.start()
            fleet.workers[fleet.workers.index(victim)] = fleet.start("worker")
        campaign(db, "third", "onboarding/stalled", recipients)
        written_at = time.monotonic()
        while not sink.received:
            assert time.monotonic() - written_at < 200, f"nothing sent after the dispatch was killed:\n{fleet.output()}"
            time.sleep(0.05)
        first_after = time.monotonic() - written_at
        watch_lock.join(5)
        watch_lock.stop.set()
        ttl = dispatch_lock_ttl(load_settings())
        assert watch_lock.freed_after is not None and watch_lock.freed_after <= ttl + 1.0, (
            f"the killed dispatch's lock outlived it by more than its {ttl} s TTL")
        # Messages written while the dead dispatch's lock was still there went out within the
        # time a lost message may take to come back (two minutes with the defaults).
        assert first_after <= LOSS_BOUND + SLACK, f"first message {first_after:.1f}s after the campaign was written"
        wait_settled(db, "third", fleet, time.monotonic() + scale.timeout, during=lambda: (fleet.note_all(), supervise()))
        assert counts(db, "third") == {"sent": recipients}
        skipped = sum(log.read_text(errors="replace").count("dispatch skipped: another dispatch holds")
                      for log in fleet.logs.glob("worker-*.log"))  # fmt: skip
        assert skipped > 0, "the dispatches that found the lock taken said nothing"
        print(f"dispatch killed mid-pass: its lock free {watch_lock.freed_after:.1f}s after (TTL {ttl}s); "
              f"a campaign written then sending {first_after:.1f}s later (bound {LOSS_BOUND}s + {SLACK:.0f}s)")

        # Nothing is left: the scheduler and workers stop on SIGTERM, and no process of theirs survives.
        fleet.note_all()
        for process in [*fleet.workers, fleet.scheduler]:
            process.send_signal(signal.SIGTERM)
        for process in [*fleet.workers, fleet.scheduler]:
            assert process.wait(30) is not None
        deadline = time.monotonic() + 10
        alive = dict(fleet.seen)
        while alive and time.monotonic() < deadline:
            alive = {pid: (st, cmd) for pid, (st, cmd) in alive.items() if is_running(pid, st)}
            time.sleep(0.1)
        assert alive == {}, f"processes left behind: {alive}"
        assert any("worker" in cmd for _st, cmd in fleet.seen.values()) and len(fleet.seen) > 2 + scale.kills
    finally:
        smtp.stop()
        redis_server.stop()
