"""Send benchmark: pending deliveries to SMTP-accepted emails, through the real dispatcher, RQ and two workers.

Builds a fresh SQLite database in a temporary folder (10,000 trial accounts
with one admin contact each, English and Japanese), applies one email rule
(the shipped ``onboarding/stalled`` template) and runs one evaluation cycle,
which writes 10,000 pending deliveries (timed on its own, not part of the
send figure). Then, against a real Redis (engine.embedded) and an aiosmtpd
sink in a child process on 127.0.0.1 that accepts every message and records
its Message-ID:

- the raw rate: one smtplib connection sending the campaign's own first 200
  messages, built in advance, into the sink for a few seconds: the ceiling
  for any sender of these messages in this run (and, for reference, the
  same for a small plain-text message);
- the send rate: two ``touchline worker`` processes are started (and idle),
  then the dispatch tick queues every due delivery as RQ send jobs of 100,
  and the workers send them. Rate = deliveries / (first dispatch to the last
  row marked sent), checked against the sink: exactly one message per
  delivery, no Message-ID twice.

    python -m bench.send_bench                   # 10,000 deliveries, 2 workers
    python -m bench.send_bench --deliveries 2000 --workers 1
    python -m bench.send_bench --profile         # cProfile of send_claimed for one batch, in-process

Targets (docs/performance.md, "Sending"): 10,000 personalised sends in 20 s
or less (500/s), and at least half the raw rate.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "onboarding/stalled"
JA_SHARE = 0.2  # accounts (and their admins) in Japanese
RAW_SECONDS = 3.0
QUEUE_PREFIX = "touchline-bench"

# Targets (docs/performance.md, "Sending").
TARGET_RATE = 500.0  # messages/s: 10,000 in 20 s
TARGET_RAW_SHARE = 0.5

RULE = """\
id: bench-stalled
name: Bench stalled onboarding
category: onboarding
max_messages_per_cycle: 1000000
when:
  account.plan: trial
actions:
  - email: {{template: {template}, to: role:admin}}
"""


# -- the SMTP sink (child process) ---------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _Counting:
    """Accepts everything; counts messages and Message-IDs (duplicates included)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.bytes = 0
        self.ids: dict[bytes, int] = {}
        self.no_id = 0

    async def handle_DATA(self, server, session, envelope):
        data = envelope.content
        self.count += 1
        self.bytes += len(data)
        found = _MESSAGE_ID.search(data, 0, 4096)
        if found is None:
            self.no_id += 1
        else:
            key = found.group(1)
            self.ids[key] = self.ids.get(key, 0) + 1
        return "250 OK"

    def stats(self) -> dict:
        return {"count": self.count, "bytes": self.bytes, "unique_ids": len(self.ids), "no_id": self.no_id,
                "duplicates": sum(n - 1 for n in self.ids.values() if n > 1)}  # fmt: skip


def run_sink(port: int) -> None:
    """The sink process: serve on 127.0.0.1:port; answer ``stats`` / ``reset`` lines on stdin until EOF."""
    from aiosmtpd.controller import Controller

    handler = _Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print(json.dumps({"ready": port}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                handler.reset()
                print(json.dumps({"reset": True}), flush=True)
            elif command == "stats":
                print(json.dumps(handler.stats()), flush=True)
    finally:
        controller.stop()


class Sink:
    def __init__(self, port: int) -> None:
        from engine.embedded.process import die_with_parent

        self.port = port
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.send_bench", "--sink", str(port)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=die_with_parent)  # noqa: PLW1509 (no threads here yet)  # fmt: skip
        if "ready" not in self._read():
            raise SystemExit("the SMTP sink did not start")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the SMTP sink stopped (exit code {self.proc.poll()})")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- data ---------------------------------------------------------------------------


def environment(tmp: Path, redis_url: str, smtp_port: int) -> dict[str, str]:
    """What the workers (and the in-process dispatch) read their settings from."""
    return {
        "TOUCHLINE_ENV": "development",
        "TOUCHLINE_DATABASE_URL": f"sqlite:///{tmp / 'send-bench.db'}",
        "TOUCHLINE_REDIS_URL": redis_url,
        "TOUCHLINE_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "TOUCHLINE_PUBLIC_URL": "http://127.0.0.1:8000",
        "TOUCHLINE_INSTANCE_DIR": str(tmp / "instance"),
        "TOUCHLINE_SECRET_KEY": "bench-secret-key-not-for-production",
        "TOUCHLINE_QUEUE_PREFIX": QUEUE_PREFIX,
        "TOUCHLINE_TEMPLATES_DIR": str(ROOT / "email_templates"),
        "TOUCHLINE_MAIL_FROM": "Touchline Bench <bench@touchline.test>",
    }


def populate(db, deliveries: int, seed: int = 3) -> dict[str, float]:
    """Accounts and admins through the ingest functions, the rule applied, one cycle; timings."""
    from engine.ingest import upsert_accounts, upsert_contacts
    from engine.models import utcnow
    from engine.rules.cycle import run_cycle
    from engine.rules.validate import validate_text
    from engine.rules.versions import active_rules, apply_rules

    rng = random.Random(seed)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    for start in range(0, deliveries, 1000):
        accounts, contacts = [], []
        for i in range(start + 1, min(deliveries, start + 1000) + 1):
            ja = rng.random() < JA_SHARE
            accounts.append({"id": f"acct-{i:06d}", "name": f"株式会社サンプル{i}" if ja else f"Sample {i} Ltd",
                             "plan": "trial", "locale": "ja" if ja else "en", "timezone": "Asia/Tokyo" if ja else "UTC"})  # fmt: skip
            contacts.append({"id": f"admin-{i:06d}", "account_id": f"acct-{i:06d}", "email": f"admin{i}@example.com",
                             "name": f"管理者 {i}" if ja else f"Admin {i}", "role": "admin", "locale": "ja" if ja else "en"})  # fmt: skip
        with db.session() as session:
            for upsert, records in ((upsert_accounts, accounts), (upsert_contacts, contacts)):
                result = upsert(session, records)
                if result.rejected:
                    raise SystemExit(f"generated records rejected: {result.rejected[:3]}")
    timings["ingest"] = time.perf_counter() - started
    text = RULE.format(template=TEMPLATE)
    result = validate_text(text, "bench-stalled.yaml", expected_id="bench-stalled")
    if not result.ok:
        raise SystemExit("the bench rule does not validate:\n" + "\n".join(map(str, result.problems)))
    with db.session() as session:
        apply_rules(session, [(result.rule, text)], author="bench")
    with db.read_session() as session:
        rules = active_rules(session)
    started = time.perf_counter()
    report = run_cycle(db, rules, utcnow(), only_due=False)
    timings["cycle"] = time.perf_counter() - started
    summary = report.summary()
    if summary["deliveries"] != deliveries:
        raise SystemExit(f"the cycle wrote {summary['deliveries']} pending deliveries, expected {deliveries}: {summary}")
    return timings


# -- measurements -------------------------------------------------------------------

SYNTHETIC = (
    "From: Touchline Bench <bench@touchline.test>\r\nTo: admin@example.com\r\n"
    "Subject: Your first project is two minutes away\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
    "Message-ID: <raw.{n}@touchline.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    + "Hi there, nobody has created a project yet. A project is where the work comes together.\r\n" * 12
)
RAW_SAMPLE = 200  # campaign messages built in advance for the raw rate


def campaign_sample(db, n: int = RAW_SAMPLE) -> list[bytes]:
    """The bytes of the campaign's first ``n`` messages, built in advance (nothing is marked)."""
    from sqlalchemy import select

    from engine.delivery.channels.mime import build_email
    from engine.delivery.compose import Composer
    from engine.models import Delivery, utcnow
    from engine.settings import load_settings

    settings = load_settings()
    with db.read_session() as session:
        rows = session.execute(select(Delivery.__table__).order_by(Delivery.id).limit(n)).all()
        composer = Composer(session, settings, utcnow())
        composer.prefetch(rows)
        return [build_email(composer.compose(row).message, settings.mail_from).data for row in rows]


def raw_rate(port: int, seconds: float, messages: list[bytes]) -> tuple[int, float]:
    """Pre-built messages, in turn, over one smtplib connection for ``seconds``: (sent, elapsed)."""
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    sent = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        smtp.sendmail("bench@touchline.test", ["admin@example.com"], messages[sent % len(messages)])
        sent += 1
    elapsed = time.perf_counter() - started
    smtp.quit()
    return sent, elapsed


def _rss_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has waited for (RQ work-horses)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]
    except OSError:
        return []


def start_workers(n: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen]:
    from engine.embedded.process import die_with_parent

    procs = []
    for k in range(n):
        log = open(logs / f"worker-{k}.log", "w")  # noqa: SIM115 (kept open for the process's life)
        procs.append(subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], cwd=ROOT, env={**os.environ, **env},
                                      stdout=log, stderr=subprocess.STDOUT,
                                      preexec_fn=die_with_parent))  # noqa: PLW1509 (this process runs no threads)  # fmt: skip
    return procs


def wait_for_workers(n: int, procs: list[subprocess.Popen], logs: Path, timeout: float = 60) -> None:
    from rq import Worker

    from engine.jobs.queues import get_queue, redis_connection

    queue = get_queue()
    deadline = time.monotonic() + timeout
    while Worker.count(connection=redis_connection(), queue=queue) < n:
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            tails = "\n".join((logs / f"worker-{k}.log").read_text()[-2000:] for k in range(len(procs)))
            raise SystemExit(f"the workers did not start:\n{tails}")
        time.sleep(0.1)


def stop_workers(procs: list[subprocess.Popen]) -> float:
    """SIGTERM (RQ's warm shutdown) and reap; the CPU seconds they used, their reaped work-horses included."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    cpu = 0.0
    for p in procs:
        while p.returncode is None:
            pid, code, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = code
                cpu += usage.ru_utime + usage.ru_stime
            elif time.monotonic() > deadline:
                p.kill()
            else:
                time.sleep(0.05)
    return cpu


def status_counts(db) -> dict[str, int]:
    from sqlalchemy import func, select

    from engine.models import Delivery

    with db.read_session() as session:
        return dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


def last_sent_at(db) -> datetime:
    from sqlalchemy import func, select

    from engine.models import Delivery

    with db.read_session() as session:
        value = session.scalar(select(func.max(Delivery.sent_at)))
    if isinstance(value, str):  # SQLite hands back text for an aggregate
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def send(db, deliveries: int, workers: int, env: dict[str, str], tmp: Path, timeout: float, sink: Sink) -> dict:
    """Dispatch everything and let ``workers`` workers send it; figures."""
    from rq.registry import FailedJobRegistry

    from engine.jobs.queues import get_queue
    from engine.jobs.send import dispatch_tick

    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    procs = start_workers(workers, env, logs)
    peaks: dict[int, int] = {}  # pid -> peak RSS KiB seen (workers: VmHWM; work-horses: sampled VmRSS)
    horses: set[int] = set()
    cpu = {"workers": 0.0, "sink": 0.0, "dispatch": 0.0}  # seconds used from the dispatch on
    try:
        wait_for_workers(workers, procs, logs)
        cpu = {"workers": -sum(_cpu_seconds(p.pid) for p in procs), "sink": -_cpu_seconds(sink.proc.pid),
               "dispatch": -time.process_time()}  # fmt: skip
        begun = datetime.now(UTC)
        started = time.perf_counter()
        outcome = dispatch_tick()
        dispatched = time.perf_counter() - started
        cpu["dispatch"] += time.process_time()
        if outcome.get("status") != "ok" or outcome.get("queued") != deliveries:
            raise SystemExit(f"dispatch did not queue every delivery: {outcome}")
        deadline = time.monotonic() + timeout
        failed = FailedJobRegistry(queue=get_queue())
        while True:
            counts = status_counts(db)
            if failed.count:  # a send job raised: its rows would wait for the sweeper, so stop here
                tail = "\n".join((logs / f"worker-{k}.log").read_text()[-1500:] for k in range(len(procs)))
                raise SystemExit(f"{failed.count} send jobs failed ({counts}); the workers' logs end with:\n{tail}")
            for p in procs:
                peaks[p.pid] = max(peaks.get(p.pid, 0), _rss_kib(p.pid, "VmHWM"))
                for child in _children(p.pid):
                    horses.add(child)
                    peaks[child] = max(peaks.get(child, 0), _rss_kib(child, "VmRSS"))
            if not any(counts.get(s) for s in ("pending", "queued", "sending", "deferred")):
                break
            if time.monotonic() > deadline or all(p.poll() is not None for p in procs):
                raise SystemExit(f"not all deliveries were sent after {timeout:g} s: {counts}")
            time.sleep(0.25)  # the figure is taken from sent_at, not from this poll
        elapsed = (last_sent_at(db) - begun).total_seconds()
        cpu["sink"] += _cpu_seconds(sink.proc.pid)
    finally:
        # Their start-up before the dispatch was subtracted above.
        cpu["workers"] += stop_workers(procs)
    worker_peak = max((peaks.get(p.pid, 0) for p in procs), default=0)
    horse_peak = max((peaks[h] for h in horses), default=0)
    return {"dispatch": dispatched, "dispatch_report": outcome, "elapsed": elapsed, "counts": counts,
            "worker_rss_mib": worker_peak // 1024, "horse_rss_mib": horse_peak // 1024, "horses_seen": len(horses), "cpu": cpu}  # fmt: skip


def status(ok: bool) -> str:
    return "met" if ok else "NOT met"


def bench(deliveries: int, workers: int, timeout: float) -> bool:
    from engine import migrate
    from engine.db import Database
    from engine.embedded.process import free_port
    from engine.embedded.redis_server import RedisServer

    print(f"send benchmark: {deliveries:,} personalised emails ({TEMPLATE}, en/ja), {workers} workers, "
          f"SQLite, Redis, aiosmtpd sink on 127.0.0.1", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="touchline-send-bench-") as name:
        tmp = Path(name)
        (tmp / "instance").mkdir()
        redis = RedisServer(tmp / "redis").start()
        sink = Sink(free_port())
        try:
            env = environment(tmp, redis.url, sink.port)
            os.environ.update(env)  # the in-process dispatch tick reads the same settings as the workers
            db = Database(env["TOUCHLINE_DATABASE_URL"])
            migrate.upgrade(db)
            timings = populate(db, deliveries)
            print(f"  data: {deliveries:,} accounts and admins ingested in {timings['ingest']:.1f} s", flush=True)
            print(f"  evaluation cycle writing {deliveries:,} pending deliveries: {timings['cycle']:.2f} s "
                  "(not part of the send figure)", flush=True)  # fmt: skip

            # The ceiling for these very messages (same bytes, built in advance), and for small ones.
            sample = campaign_sample(db)
            raws = {}
            for label, messages in (("campaign", sample), ("synthetic", [SYNTHETIC.format(n=i).encode() for i in range(50)])):
                sent, seconds = raw_rate(sink.port, RAW_SECONDS, messages)
                counted = sink.ask("stats")
                sink.ask("reset")
                if counted["count"] != sent:
                    print(f"  FAILED: the client sent {sent} raw messages, the sink counted {counted['count']}")
                    return False
                raws[label] = (sent / seconds, sum(map(len, messages)) / len(messages) / 1024, sent, seconds)
            raw_per_s, size, sent, seconds = raws["campaign"]
            print(f"  raw rate: one smtplib connection, the campaign's first {len(sample)} messages built in advance "
                  f"({size:.1f} KiB average): {sent:,} in {seconds:.1f} s = {raw_per_s:,.0f} msgs/s", flush=True)  # fmt: skip
            small, small_size, _n, _s = raws["synthetic"]
            print(f"    (the same for a {small_size:.1f} KiB plain-text message: {small:,.0f} msgs/s; not the comparison)",
                  flush=True)  # fmt: skip

            r = send(db, deliveries, workers, env, tmp, timeout, sink)
            got = sink.ask("stats")
        finally:
            sink.stop()
            redis.stop()
    rate = deliveries / r["elapsed"]
    d = r["dispatch_report"]
    print(f"  dispatch: {d['queued']:,} queued as {d['jobs']} RQ jobs in {r['dispatch']:.2f} s "
          f"(part of the send figure)")  # fmt: skip
    print(f"  send: {deliveries:,} from first dispatch to last row sent in {r['elapsed']:.2f} s = {rate:,.0f} msgs/s")
    print(f"    sink received {got['count']:,} messages ({got['bytes'] / got['count'] / 1024 if got['count'] else 0:.1f} KiB "
          f"average), {got['unique_ids']:,} distinct Message-IDs, {got['duplicates']} duplicates, "
          f"{got['no_id']} without one")  # fmt: skip
    print(f"    rows: {', '.join(f'{k} {v:,}' for k, v in sorted(r['counts'].items()))}")
    print(f"    peak RSS: worker processes {r['worker_rss_mib']} MiB, work-horses {r['horse_rss_mib']} MiB "
          f"(sampled; {r['horses_seen']} seen)")  # fmt: skip
    cpu = r["cpu"]
    print(f"    CPU per message: workers {cpu['workers'] / deliveries * 1000:.2f} ms (work-horses included), "
          f"sink {cpu['sink'] / deliveries * 1000:.2f} ms, dispatch {cpu['dispatch'] / deliveries * 1000:.2f} ms; "
          f"{sum(cpu.values()) / r['elapsed']:.2f} cores busy on average")  # fmt: skip
    share = rate / raw_per_s
    print(f"  target {TARGET_RATE:,.0f} msgs/s ({deliveries:,} in {deliveries / TARGET_RATE:.0f} s): "
          f"{status(rate >= TARGET_RATE)}; ratio to raw {share:.2f} (target >= {TARGET_RAW_SHARE}: "
          f"{status(share >= TARGET_RAW_SHARE)})")  # fmt: skip
    print(f"  for comparison: a well-known open-source mail server's published starting point is about 10 emails/s "
          f"on two cores; this is x{rate / 10:,.0f} that")  # fmt: skip
    exact = (got["count"] == deliveries and got["unique_ids"] == deliveries and got["duplicates"] == 0
             and r["counts"].get("sent") == deliveries)  # fmt: skip
    if not exact:
        print("  FAILED: the sink did not receive exactly one message per delivery")
    return exact


PARTS = (  # (label, module, attribute): the functions the breakdown times, top-level ones first
    ("compose: rows to messages", "engine.delivery.compose", "Composer.compose"),
    ("  template rendering and CSS inlining", "engine.delivery.compose", "TemplateLibrary.render"),
    ("  context (context_for)", "engine.delivery.compose", "context_for"),
    ("MIME: message bytes (build_email)", "engine.delivery.channels.smtp", "build_email"),
    ("SMTP conversation (MAIL, RCPT, DATA)", "engine.delivery.channels.smtp", "EmailChannel._transaction"),
)


class _Timers:
    """Wall time per part of send_claimed, by wrapping the functions in PARTS (restored on exit).

    A top-level part running inside another (composing the next message while the SMTP
    server takes this one in) counts for itself only; indented parts are parts of theirs."""

    def __init__(self, db) -> None:
        self.db, self.spent = db, {label: 0.0 for label, _m, _a in PARTS}
        self.spent["write transactions: claim, mark sent (with commits)"] = 0.0
        self._undo: list = []
        self._running: list[str] = []  # top-level parts under way, innermost last

    @contextlib.contextmanager
    def _part(self, label: str) -> Iterator[None]:
        """Time ``label``; a top-level part inside another is taken off the outer one's time."""
        top = not label.startswith(" ")
        started = time.perf_counter()
        if top:
            self._running.append(label)
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.spent[label] += spent
            if top:
                self._running.pop()
                if self._running:
                    self.spent[self._running[-1]] -= spent

    def _wrap(self, owner, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            with self._part(label):
                return original(*args, **kwargs)

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, original))

    def __enter__(self) -> Self:
        import importlib

        for label, module, path in PARTS:
            owner = importlib.import_module(module)
            *outer, attr = path.split(".")
            for name in outer:
                owner = getattr(owner, name)
            self._wrap(owner, attr, label)
        label = "write transactions: claim, mark sent (with commits)"
        for name in ("session", "transaction"):  # the ORM's, and the bare connection's the send path uses
            self._time_transactions(name, label)
        return self

    def _time_transactions(self, name: str, label: str) -> None:
        opener = getattr(self.db, name)

        @contextlib.contextmanager
        def timed():
            # The email channel runs the claim's transaction inside the SMTP conversation.
            with self._part(label), opener() as tx:
                yield tx

        setattr(self.db, name, timed)

    def __exit__(self, *exc) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        del self.db.session, self.db.transaction


def profile(deliveries: int) -> None:
    """send_claimed in-process: wall time per part over a few batches, then cProfile of one batch."""
    import cProfile

    from bench import print_profile
    from engine import migrate
    from engine.db import Database
    from engine.delivery.dispatch import dispatch
    from engine.delivery.gates import standard_gates
    from engine.embedded.process import free_port
    from engine.delivery.batch import send_claimed
    from engine.models import utcnow
    from engine.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="touchline-send-profile-") as name:
        tmp = Path(name)
        (tmp / "instance").mkdir()
        sink = Sink(free_port())
        try:
            env = environment(tmp, "redis://127.0.0.1:1/0", sink.port)  # Redis is not used in-process
            os.environ.update(env)
            settings = load_settings()
            db = Database(env["TOUCHLINE_DATABASE_URL"])
            migrate.upgrade(db)
            populate(db, deliveries)
            jobs: list[tuple[str, list[int]]] = []
            dispatch(db, utcnow(), lambda job_id, ids: jobs.append((job_id, ids)), gates=standard_gates(settings))
            send_claimed(db, settings, *jobs[0])  # warm: imports, template compilation, first connection
            timed = jobs[1:-1]
            n = sum(len(ids) for _j, ids in timed)
            with _Timers(db) as timers:
                started, cpu = time.perf_counter(), time.process_time()
                for job_id, ids in timed:
                    send_claimed(db, settings, job_id, ids)
                total, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(f"send_claimed in one process, {len(timed)} batches of {len(timed[0][1])} (warm, no profiler): "
                  f"{total / n * 1000:.2f} ms a message ({n / total:,.0f} msgs/s), CPU {cpu / n * 1000:.2f} ms a message")  # fmt: skip
            top = list(timers.spent.items())
            accounted = sum(v for k, v in top if not k.startswith(" "))  # the indented parts are inside compose
            for label, spent in top:
                print(f"  {label:<56} {spent / n * 1000:6.2f} ms  {spent / total:4.0%}")
            print(f"  {'the rest (loading the rows, the loop itself)':<56} {(total - accounted) / n * 1000:6.2f} ms  "
                  f"{(total - accounted) / total:4.0%}")  # fmt: skip
            job_id, ids = jobs[-1]
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            report = send_claimed(db, settings, job_id, ids)
            profiler.disable()
            elapsed = time.perf_counter() - started
            print(f"\nprofiled send_claimed for one batch of {len(ids)}: {report}, {elapsed * 1000:.0f} ms under the profiler")
            print_profile(profiler, 35, 25)
            db.dispose()
        finally:
            sink.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600, help="give up sending after this many seconds")
    parser.add_argument("--profile", action="store_true", help="profile send_claimed for one batch instead")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)  # internal: run the SMTP sink on this port
    args = parser.parse_args(argv)
    if args.sink:
        run_sink(args.sink)
        return
    if args.profile:
        profile(min(args.deliveries, 1000))
        return
    sys.exit(0 if bench(args.deliveries, args.workers, args.timeout) else 1)


if __name__ == "__main__":
    main()
