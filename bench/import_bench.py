"""File import benchmark: throughput, peak memory, idempotent re-import.

Generates an NDJSON and a CSV events file in a temporary folder, then runs the
real ``touchline import`` command on each against a fresh SQLite database, one
child process per import so that each peak RSS (from ``os.wait4``) belongs to
that import alone. See bench/README.md for what each figure means.

    python -m bench.import_bench                  # 500k events over 5,000 accounts
    python -m bench.import_bench --events 100000 --small 20000
    python -m bench.import_bench --profile 100000 # where the time goes (cProfile)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("login", "report_run", "dashboard_viewed", "project_created", "invite_sent", "integration_connected")
WEIGHTS = (40, 25, 25, 5, 3, 2)
SUMMARY_RE = re.compile(r"(\d+) rows read, (\d+) stored, (\d+) duplicates, (\d+) rejected")
ELAPSED_RE = re.compile(r"elapsed ([\d.]+) s, ([\d,]+) rows/s")


def generate(directory: Path, events: int, accounts: int, seed: int = 1) -> tuple[Path, Path]:
    """Write the same events as NDJSON and as CSV, streaming (neither is held in memory)."""
    rng = random.Random(seed)
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    span = 90 * 86400
    ndjson_path, csv_path = directory / f"events-{events}.ndjson", directory / f"events-{events}.csv"
    with ndjson_path.open("w", encoding="utf-8") as nd, csv_path.open("w", encoding="utf-8", newline="") as cf:
        writer = csv.writer(cf)
        writer.writerow(["id", "account_id", "contact_id", "name", "timestamp", "properties.source"])
        names = rng.choices(NAMES, WEIGHTS, k=events)
        for i in range(events):
            account = rng.randrange(accounts)
            record = {
                "id": f"bench-{i:08d}",
                "account_id": f"acct-{account:05d}",
                "contact_id": f"acct-{account:05d}-u{rng.randrange(4)}",
                "name": names[i],
                "timestamp": (end - timedelta(seconds=rng.randrange(span))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "properties": {"source": "web"} if i % 3 == 0 else {},
            }
            nd.write(json.dumps(record, separators=(",", ":")) + "\n")
            source = record["properties"].get("source", "")
            writer.writerow([record["id"], record["account_id"], record["contact_id"], record["name"], record["timestamp"], source])
    return ndjson_path, csv_path


def touchline(args: list[str], db_url: str) -> tuple[str, float, int]:
    """Run one touchline command in a child process: (stdout, wall seconds, peak RSS in MiB)."""
    env = {**os.environ, "TOUCHLINE_DATABASE_URL": db_url}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, stdout=out, stderr=err)
        # wait4 reports this child's own peak RSS (RUSAGE_CHILDREN would be the max over all children).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"touchline {' '.join(args)} failed ({proc.returncode}):\n{err.read()[-2000:]}")
        return out.read(), wall, usage.ru_maxrss // 1024  # Linux reports KiB


def fresh_db(directory: Path, name: str) -> str:
    url = f"sqlite:///{directory / name}"
    touchline(["db", "upgrade"], url)
    return url


def import_run(path: Path, db_url: str, batch_size: int) -> dict:
    out, wall, rss = touchline(["import", "events", str(path), "--quiet", "--batch-size", str(batch_size)], db_url)
    read, stored, duplicates, rejected = map(int, SUMMARY_RE.search(out).groups())
    elapsed, rate = ELAPSED_RE.search(out).groups()
    return {
        "read": read, "stored": stored, "duplicates": duplicates, "rejected": rejected,
        "elapsed": float(elapsed), "rate": int(rate.replace(",", "")), "wall": wall, "rss": rss,
    }  # fmt: skip


def line(label: str, run: dict) -> str:
    return (
        f"  {label:<28} {run['read']:>9,} rows  {run['elapsed']:7.1f} s  {run['rate']:>9,} events/s  "
        f"stored {run['stored']:>9,}  dup {run['duplicates']:>9,}  peak RSS {run['rss']:>5} MiB"
    )


def bench(events: int, accounts: int, small: int, batch_size: int, keep: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        big_nd, big_csv = generate(directory, events, accounts)
        small_nd, _ = generate(directory, small, accounts)
        print(f"import benchmark: {events:,} events over {accounts:,} accounts, batch size {batch_size}, SQLite")
        print(f"  files generated in {time.perf_counter() - started:.1f} s: "
              f"{big_nd.stat().st_size / 2**20:.0f} MiB NDJSON, {big_csv.stat().st_size / 2**20:.0f} MiB CSV")  # fmt: skip

        _, _, baseline = touchline(["db", "current"], fresh_db(directory, "baseline.db"))
        print(f"  baseline RSS of a touchline command that imports nothing: {baseline} MiB")

        db = fresh_db(directory, "ndjson.db")
        first = import_run(big_nd, db, batch_size)
        print(line("NDJSON, fresh database", first))
        again = import_run(big_nd, db, batch_size)
        print(line("NDJSON again (idempotent)", again))

        csv_run = import_run(big_csv, fresh_db(directory, "csv.db"), batch_size)
        print(line("CSV, fresh database", csv_run))

        small_run = import_run(small_nd, fresh_db(directory, "small.db"), batch_size)
        print(line(f"NDJSON {small:,}, fresh database", small_run))

        ratio = first["rss"] / small_run["rss"] if small_run["rss"] else 0
        flat = "flat" if ratio < 1.25 else "NOT flat"
        print(f"  memory: peak RSS {small_run['rss']} MiB at {small:,} events vs {first['rss']} MiB at {events:,} "
              f"(x{ratio:.2f}): {flat}")  # fmt: skip
        ok = again["stored"] == 0 and first["stored"] == events and csv_run["stored"] == events
        print(f"  re-import added {again['stored']} events ({'ok' if ok else 'UNEXPECTED'})")
        if keep:
            kept = Path(tempfile.mkdtemp(prefix="touchline-bench-files-"))
            for p in (big_nd, big_csv):
                p.rename(kept / p.name)
            print(f"  files kept in {kept}")
        if not ok:
            raise SystemExit(1)


def profile(events: int, accounts: int, batch_size: int) -> None:
    """Import in-process under cProfile and print where the time goes."""
    import cProfile

    from bench import print_profile
    from engine import migrate
    from engine.db import Database
    from engine.importer import import_file

    with tempfile.TemporaryDirectory(prefix="touchline-profile-") as tmp:
        directory = Path(tmp)
        nd, _ = generate(directory, events, accounts)
        db = Database(f"sqlite:///{directory / 'profile.db'}")
        migrate.upgrade(db)
        profiler = cProfile.Profile()
        profiler.enable()
        summary = import_file(db, "events", nd, batch_size=batch_size)
        profiler.disable()
        print(f"profiled import of {summary.rows_read:,} events: {summary.elapsed:.1f} s, {summary.rows_per_second:,.0f} events/s")
        print_profile(profiler, 25, 20)
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--small", type=int, default=100_000, help="size of the file for the memory-flatness check")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--profile", type=int, metavar="EVENTS", help="profile an in-process import of EVENTS events instead")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile, args.accounts, args.batch_size)
    else:
        bench(args.events, args.accounts, args.small, args.batch_size, args.keep)


if __name__ == "__main__":
    main()
