"""Admin benchmark: every admin page at 100,000 accounts and 1,000,000 deliveries, and the CSV export.

Builds a SQLite database once (100,000 accounts with one named contact each, five
applied rules, 1,000,000 deliveries over 90 days with realistic statuses, channels and
reasons, written in bulk) and keeps it in a cache folder, so later runs start at once.
Then, through the real Flask app (test client, signed in through the real login form
as an admin), each page in PAGES is requested 2 times to warm up and 20 times timed;
the p95 is printed beside the target. Pages whose endpoint the app does not have yet
are listed as "not built". Finally the send log's CSV export of every delivery is
streamed: rows per second, and traced memory per block of rows (steady: it must not
grow with the rows read).

    python -m bench.admin_bench                      # build (first run) and measure
    python -m bench.admin_bench --accounts 10000 --deliveries 100000
    python -m bench.admin_bench --rebuild            # build the database again
    python -m bench.admin_bench --cache DIR          # where the database is kept
    python -m bench.admin_bench --only accounts      # only pages whose name contains "accounts", no export

To add a page: one line in PAGES, (name, endpoint, function of the Sample to URL
arguments). Target (docs/performance.md, "Admin"): p95 under 300 ms per page.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 300.0
TARGET_MEMORY_GROWTH = 1.25  # the largest later block's traced peak against the second's
REQUESTS, WARMUP = 20, 2
EMAIL, PASSWORD = "bench@example.test", "bench password 123"
RULES = ("onboarding-stalled-day7", "usage-falling", "owner-changed", "renewal-90d", "champion-left")
# A valid rule per id, so the pages that read rule versions (rules list, account page) do real work.
RULE_TEXT = (
    "id: {rule}\nname: {rule}\ncategory: onboarding\nwhen:\n  all:\n    - account.tier: tech\n"
    "actions:\n  - email: {{template: onboarding/stalled, to: role:admin}}\n"
)
# (status, share, reason): about what a running installation holds
STATUSES = [
    ("sent", 0.70, "sent: 250 2.0.0 OK queued as {n}"),
    ("skipped", 0.09, "skipped: limit per_account 1 per 30d reached"),
    ("held_out", 0.08, "held out: holdout 10% (control group)"),
    ("suppressed", 0.04, "suppressed: address unsubscribed from onboarding"),
    ("failed", 0.03, "failed: 550 5.1.1 mailbox unavailable"),
    ("deferred", 0.03, "deferred: outside the send window (09:00-18:00 Asia/Tokyo)"),
    ("pending", 0.02, None),
    ("unknown", 0.005, "unknown: the worker stopped mid-send; may or may not have been sent"),
    ("queued", 0.005, None),
]
CHANNELS = [("email", 0.8), ("in_app", 0.15), ("webhook", 0.05)]


@dataclasses.dataclass
class Sample:
    """Values the URL builders use: real ids from the built database."""

    account: str
    account_id: int
    rule: str
    recipient: str
    delivery_id: int
    cursor_1000: str  # the send log's 1,000th page, as the Older link carries it


# (name, endpoint, URL arguments): add a line for a new page.
PAGES: list[tuple[str, str, Callable[[Sample], dict]]] = [
    ("send log", "sendlog.index", lambda s: {}),
    ("send log, status pending", "sendlog.index", lambda s: {"status": "pending"}),
    ("send log, status unknown", "sendlog.index", lambda s: {"status": "unknown"}),
    ("send log, account", "sendlog.index", lambda s: {"account": s.account}),
    ("send log, rule", "sendlog.index", lambda s: {"rule": s.rule}),
    ("send log, rule + failed", "sendlog.index", lambda s: {"rule": s.rule, "status": "failed"}),
    ("send log, channel webhook", "sendlog.index", lambda s: {"channel": "webhook"}),
    ("send log, channel in_app", "sendlog.index", lambda s: {"channel": "in_app"}),  # with each nudge's state
    ("send log, recipient", "sendlog.index", lambda s: {"recipient": s.recipient}),
    ("send log, last 7 days", "sendlog.index", lambda s: {"since": (datetime.now(UTC) - timedelta(days=6)).date().isoformat()}),
    ("send log, reason text", "sendlog.index", lambda s: {"reason": "mailbox unavailable"}),
    ("send log, page 1,000", "sendlog.index", lambda s: {"before": s.cursor_1000}),
    ("delivery", "sendlog.delivery", lambda s: {"delivery_id": s.delivery_id}),
    ("dashboard", "admin.dashboard", lambda s: {}),
    ("accounts", "accounts.list_accounts", lambda s: {}),
    ("accounts, searched 'ac'", "accounts.list_accounts", lambda s: {"q": "ac"}),
    ("accounts, searched 'co'", "accounts.list_accounts", lambda s: {"q": "co"}),  # every name and domain
    ("accounts, searched a domain", "accounts.list_accounts", lambda s: {"q": s.recipient.split("@")[1].split(".")[0] + "."}),
    ("accounts, searched id prefix", "accounts.list_accounts", lambda s: {"q": s.account[:-1]}),
    ("accounts, tier + plan", "accounts.list_accounts", lambda s: {"tier": "tech", "plan": "trial"}),
    ("account", "accounts.show_account", lambda s: {"external_id": s.account}),
    ("rules", "rules.list_rules", lambda s: {}),
    ("segments", "rules.list_segments", lambda s: {}),
    ("segment editor", "rules.edit_segment", lambda s: {"name": "tech-touch"}),
    ("audit trail", "audit.index", lambda s: {}),
]


def _ts(at: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text, naive UTC (engine.models.base.UTCDateTime)
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def build(path: Path, accounts: int, deliveries: int) -> None:
    """The database, in bulk: plain executemany inside few transactions."""
    from engine import migrate
    from engine.db import Database

    started = time.perf_counter()
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("BEGIN")
        cur.executemany(
            "INSERT INTO accounts (id, external_id, name, tier, plan, traits, history_starts, created_at, updated_at) "
            "VALUES (?, ?, ?, 'tech', 'trial', '{}', '{}', ?, ?)",
            ((i, f"acct-{i:06d}", f"Company {i:06d} K.K." if i % 5 == 0 else f"Company {i:06d} Ltd", _ts(now), _ts(now))
             for i in range(1, accounts + 1)),
        )  # fmt: skip
        cur.executemany(
            "INSERT INTO contacts (id, external_id, account_id, email, name, role, traits, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'admin', '{}', ?, ?)",
            ((i, f"contact-{i:06d}", i, f"admin{i}@company{i}.example", f"Admin {i}", _ts(now), _ts(now))
             for i in range(1, accounts + 1)),
        )  # fmt: skip
        for n, rule in enumerate(RULES, 1):
            cur.execute("INSERT INTO rule_versions (id, rule_id, version, content, content_hash, author, created_at) "
                        "VALUES (?, ?, 1, ?, 'x', 'bench', ?)", (n, rule, RULE_TEXT.format(rule=rule), _ts(now)))  # fmt: skip
            cur.execute("INSERT INTO rule_states (rule_id, active_version_id, paused, generation, updated_at) "
                        "VALUES (?, ?, 0, 0, ?)", (rule, n, _ts(now)))  # fmt: skip
        cur.execute("COMMIT")
        statuses = [s for s, _, _ in STATUSES]
        weights = [w for _, w, _ in STATUSES]
        reasons = {s: r for s, _, r in STATUSES}
        channels = [c for c, _ in CHANNELS]
        channel_weights = [w for _, w in CHANNELS]
        span = 90 * 86400
        chunk = 50_000
        sql = ("INSERT INTO deliveries (id, dedupe_key, rule_id, rule_version_id, action_index, channel, template, "
               "account_id, contact_id, recipient, occurrence, status, reason, explanation, due_at, sent_at, category, "
               "priority, attempts, created_at, updated_at) "
               "VALUES (?, ?, ?, ?, 0, ?, 'onboarding/stalled', ?, ?, ?, ?, ?, ?, '{}', ?, ?, 'onboarding', 0, 1, ?, ?)")  # fmt: skip
        # Indexes and triggers are set aside while the rows go in, then made again in one
        # sorted pass each: ten times faster than keeping ten indexes up to date row by row.
        kept = cur.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'deliveries' "
                           "AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()  # fmt: skip
        for kind, name, _sql in kept:
            cur.execute(f'DROP {kind.upper()} "{name}"')
        for start in range(0, deliveries, chunk):
            rows = []
            # Rows are written in time order, as the outbox writes them; many share a second.
            for i in range(start, min(start + chunk, deliveries)):
                at = now - timedelta(seconds=span - (i * span) // deliveries)
                account = rng.randrange(1, accounts + 1)
                rule_n = rng.randrange(len(RULES))
                status = rng.choices(statuses, weights)[0]
                channel = rng.choices(channels, channel_weights)[0]
                recipient = f"admin{account}@company{account}.example" if channel != "webhook" else "https://hooks.example/cs"
                reason = reasons[status]
                ts = _ts(at)
                rows.append((i + 1, f"b|{i}", RULES[rule_n], rule_n + 1, channel, account,
                             account if channel != "webhook" else None, recipient, str(i), status,
                             reason.format(n=i) if reason else None, ts, ts if status == "sent" else None, ts, ts))  # fmt: skip
            cur.execute("BEGIN")
            cur.executemany(sql, rows)
            cur.execute("COMMIT")
            print(f"\r  deliveries written: {min(start + chunk, deliveries):,}", end="", flush=True)
        print()
        for _kind, name, ddl in sorted(kept, key=lambda k: k[0]):  # indexes before triggers
            cur.execute(ddl)
    finally:
        raw.close()
        db.dispose()
    print(f"  built in {time.perf_counter() - started:.0f} s: {path}")


def sign_in(client) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    response = client.post("/auth/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)})
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")


def sample(db) -> Sample:
    from sqlalchemy import text

    from engine.delivery.log import Key, PAGE_SIZE
    from web.sendlog.views import cursor

    with db.read_session() as s:
        account_id, account = s.execute(text("SELECT id, external_id FROM accounts WHERE id = 4242")).one()
        recipient = s.scalar(text("SELECT email FROM contacts WHERE account_id = :a"), {"a": account_id})
        at, delivery_id = s.execute(text("SELECT created_at, id FROM deliveries ORDER BY created_at DESC, id DESC "
                                         "LIMIT 1 OFFSET :n"), {"n": PAGE_SIZE * 999 - 1}).one()  # fmt: skip
    at = datetime.fromisoformat(at).replace(tzinfo=UTC) if isinstance(at, str) else at.replace(tzinfo=UTC)
    return Sample(account, account_id, RULES[1], recipient, delivery_id, cursor(Key(at, delivery_id)))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "touchline-admin-bench")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--memory-rows", type=int, default=200_000, help="rows of the traced export run")
    parser.add_argument("--only", metavar="TEXT", help="time only the pages whose name contains TEXT, and skip the export")
    args = parser.parse_args(argv)

    from engine import migrate
    from engine.auth import create_user
    from engine.db import Database
    from engine.settings import load_settings

    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / f"admin-{args.accounts}-{args.deliveries}.db"
    if args.rebuild or not path.exists():
        for stale in args.cache.glob(path.name + "*"):
            stale.unlink()
        print(f"building {args.accounts:,} accounts and {args.deliveries:,} deliveries (once; cached in {args.cache})")
        build(path, args.accounts, args.deliveries)
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)  # a cache from an older schema catches up
    with db.session() as s:
        from sqlalchemy import text

        s.execute(text("DELETE FROM users WHERE email = :e"), {"e": EMAIL})
    with db.session() as s:
        try:
            create_user(s, EMAIL, PASSWORD, role="admin", actor="cli:bench")
        except TypeError:  # engine.auth before actors
            create_user(s, EMAIL, PASSWORD, role="admin")

    os.environ.setdefault("TOUCHLINE_INSTANCE_DIR", str(args.cache / "instance"))
    from web import create_app

    settings = dataclasses.replace(load_settings(), database_url=db.url)
    app = create_app(settings, database=db)
    client = app.test_client()
    sign_in(client)
    smp = sample(db)

    print(f"admin benchmark: {args.accounts:,} accounts, {args.deliveries:,} deliveries, SQLite, Flask test client, "
          f"p95 of {REQUESTS} requests after {WARMUP} warm-up")  # fmt: skip
    failed = []
    with app.test_request_context():
        from flask import url_for

        urls = []
        for name, endpoint, kwargs in PAGES:
            if args.only and args.only not in name:
                continue
            if endpoint not in app.view_functions:
                urls.append((name, None))
                continue
            urls.append((name, url_for(endpoint, **kwargs(smp))))
    for name, url in urls:
        if url is None:
            print(f"  {name:<28} not built")
            continue
        times = []
        status = None
        for n in range(WARMUP + REQUESTS):
            t = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - t) * 1000
            status = response.status_code
            if n >= WARMUP:
                times.append(elapsed)
        figure = p95(times)
        ok = figure < TARGET_P95_MS and status == 200
        if not ok:
            failed.append(name)
        print(f"  {name:<28} p95 {figure:7.1f} ms  median {sorted(times)[len(times) // 2]:7.1f} ms  "
              f"target < {TARGET_P95_MS:.0f} ms: {'met' if ok else 'MISSED'}{'' if status == 200 else f' (HTTP {status})'}")  # fmt: skip

    # The export: every row, then a traced run for memory.
    if args.only:
        print("  CSV export                   not run (--only)")
    elif "sendlog.export_csv" in app.view_functions:
        t = time.perf_counter()
        response = client.get("/admin/deliveries/export.csv", buffered=False)
        rows = -1
        for chunk in response.response:
            rows += (chunk if isinstance(chunk, bytes) else chunk.encode()).count(b"\n")
        response.close()
        seconds = time.perf_counter() - t
        print(f"  CSV export: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s")
        block = args.memory_rows // 6
        tracemalloc.start()
        response = client.get("/admin/deliveries/export.csv", buffered=False)
        peaks, rows, next_mark = [], -1, block
        for chunk in response.response:
            rows += (chunk if isinstance(chunk, bytes) else chunk.encode()).count(b"\n")
            if rows >= next_mark:
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.reset_peak()
                next_mark += block
                if len(peaks) == 6:
                    break
        response.close()
        tracemalloc.stop()
        # Against the second block: the first also holds what is built once (compiled statements, imports).
        growth = max(peaks[2:]) / peaks[1] if len(peaks) > 2 and peaks[1] else 0
        ok = growth <= TARGET_MEMORY_GROWTH
        print(f"  CSV export memory: traced peak per {block:,} rows " + ", ".join(f"{p / 2**20:.1f}" for p in peaks)
              + f" MiB (largest after the first two / second x{growth:.2f}, target <= x{TARGET_MEMORY_GROWTH}: {'steady' if ok else 'GROWS'})")  # fmt: skip
        if not ok:
            failed.append("export memory")
    else:
        print("  CSV export                   not built")
    db.dispose()
    if failed:
        print(f"targets missed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
