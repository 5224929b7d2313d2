#!/usr/bin/env python3
"""HTTP ingest benchmark and crash test for ``POST /api/v1/events``.

Starts the web app under waitress in a subprocess on a free loopback port,
with a fresh SQLite database (``touchline db upgrade``), a private Redis for
the rate limiter and one API key. Then:

1. throughput: client processes post batches of 1,000 new events for a bounded
   time and the accepted events per second are printed (target: 20,000/s);
2. crash: while clients post, the server is killed with SIGKILL; every event
   whose batch got a 2xx must be in the database ("no acknowledged event lost").

    .venv/bin/python bench/api_bench.py [--seconds 20] [--clients 2] [--batch 1000]

Exits non-zero if an acknowledged event is missing. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.auth import create_api_key  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.embedded.process import die_with_parent, free_port, port_open  # noqa: E402
from engine.embedded.redis_server import RedisServer  # noqa: E402
from engine.models import Event  # noqa: E402

TARGET_EVENTS_PER_S = 20_000
ACCOUNTS = 500
CONTACTS_PER_ACCOUNT = 4
EVENT_NAMES = ["login", "report_run", "project_created", "invite_sent", "export", "dashboard_view"]


def event_ids(run: str, worker: int, seq: int, batch: int) -> list[str]:
    return [f"{run}-{worker}-{seq}-{i}" for i in range(batch)]


def make_body(run: str, worker: int, seq: int, batch: int) -> bytes:
    now = datetime.now(timezone.utc)
    events = []
    for i, eid in enumerate(event_ids(run, worker, seq, batch)):
        n = seq * batch + i
        account = (n * 7 + worker) % ACCOUNTS
        events.append(
            {
                "id": eid,
                "account_id": f"acct-{account}",
                "contact_id": f"acct-{account}-u{n % CONTACTS_PER_ACCOUNT}",
                "name": EVENT_NAMES[n % len(EVENT_NAMES)],
                "timestamp": (now - timedelta(minutes=n % 4000)).isoformat(),
                "properties": {"plan": "pro", "n": n},
            }
        )
    return json.dumps({"events": events}).encode()


def client(port: int, token: str, run: str, worker: int, batch: int, seconds: float, out: mp.Queue) -> None:
    """Post batches until time runs out or the server is gone; report what was acknowledged."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    acked: list[int] = []
    accepted = 0
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    error = None
    deadline = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < deadline:
        body = make_body(run, worker, seq, batch)
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/events", body, headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if 200 <= response.status < 300:
            acked.append(seq)
            accepted += json.loads(payload)["accepted"]
        seq += 1
    conn.close()
    out.put({"worker": worker, "acked": acked, "accepted": accepted, "latencies": latencies, "statuses": statuses, "error": error})


class Server:
    def __init__(self, env: dict[str, str], port: int, threads: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", f"--threads={threads}", "--call", "web:create_app"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(env["TOUCHLINE_INSTANCE_DIR"]) / f"waitress-{port}.log", "w"),
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the web server did not start; see {env['TOUCHLINE_INSTANCE_DIR']}/waitress-{port}.log")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def run_clients(port: int, token: str, run: str, clients: int, batch: int, seconds: float, kill: Server | None = None, kill_after: float = 0.0) -> list[dict]:
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=client, args=(port, token, run, w, batch, seconds, out)) for w in range(clients)]
    for p in procs:
        p.start()
    if kill is not None:
        time.sleep(kill_after)
        kill.kill()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the throughput phase")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--kill-after", type=float, default=4.0, help="seconds of posting before SIGKILL in the crash phase")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and logs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="touchline-bench-"))
    db_url = f"sqlite:///{work / 'bench.db'}"
    redis_server = RedisServer(work / "redis").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    env.update(
        TOUCHLINE_ENV="development",
        TOUCHLINE_INSTANCE_DIR=str(work),
        TOUCHLINE_DATABASE_URL=db_url,
        TOUCHLINE_REDIS_URL=redis_server.url,
        TOUCHLINE_API_RATE_LIMIT="1000000/minute",
    )
    touchline = Path(sys.executable).parent / "touchline"
    subprocess.run([str(touchline), "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    db = Database(db_url)
    with db.session() as session:
        _key, token = create_api_key(session, "bench")

    print(f"bench: {args.clients} clients x {args.batch} events/batch, waitress {args.threads} threads, SQLite at {work}")
    try:
        # -- phase 1: throughput ------------------------------------------------
        server = Server(env, free_port(), args.threads)
        started = time.monotonic()
        results = run_clients(server.port, token, "t", args.clients, args.batch, args.seconds)
        elapsed = time.monotonic() - started
        server.stop()
        accepted = sum(r["accepted"] for r in results)
        latencies = sorted(x for r in results for x in r["latencies"])
        statuses: dict[int, int] = {}
        for r in results:
            for status, n in r["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        rate = accepted / elapsed
        print(f"throughput: {accepted} events in {elapsed:.1f}s = {rate:,.0f} events/s (target {TARGET_EVENTS_PER_S:,}/s)")
        if latencies:
            p95 = latencies[int(len(latencies) * 0.95) - 1] if len(latencies) > 1 else latencies[0]
            print(
                f"  requests: {len(latencies)} {dict(sorted(statuses.items()))}; latency per batch "
                f"median {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
            )
        errors = [r["error"] for r in results if r["error"]]
        if errors:
            print(f"  client errors: {errors}")
        failed = {status: n for status, n in statuses.items() if status != 200}
        if failed or errors or not accepted:
            # A throughput figure from a server that was failing is meaningless.
            print(f"FAIL: the throughput phase did not run cleanly (non-200 answers: {failed or 'none'})")
            return 1

        # -- phase 2: SIGKILL while posting -------------------------------------
        server = Server(env, free_port(), args.threads)
        results = run_clients(
            server.port, token, "k", args.clients, args.batch, args.kill_after + 30, kill=server, kill_after=args.kill_after
        )
        acked = {eid for r in results for seq in r["acked"] for eid in event_ids("k", r["worker"], seq, args.batch)}
        with Database(db_url).read_session() as session:
            stored = set(session.scalars(select(Event.external_id).where(Event.external_id.like("k-%"))))
        missing = acked - stored
        batches = sum(len(r["acked"]) for r in results)
        print(
            f"crash: server SIGKILLed after {args.kill_after:.0f}s of posting; {batches} batches ({len(acked)} events) "
            f"were acknowledged, {len(stored)} events stored, {len(missing)} acknowledged events missing"
        )
        if missing:
            print(f"FAIL: acknowledged events lost, e.g. {sorted(missing)[:5]}")
            return 1
        if not acked:
            print("FAIL: no batch was acknowledged before the kill; the crash check proved nothing")
            return 1
        print("OK: no acknowledged event lost")
        return 0
    finally:
        db.dispose()
        redis_server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
