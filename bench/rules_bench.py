"""Rule evaluation benchmark: the set-wise cycle against a bare scan and against per-account Python.

Generates accounts, contacts, 90 days of daily usage rollups and some account
changes straight into a fresh SQLite database (bulk inserts in SQLAlchemy's
storage formats), applies 50 generated rules, then measures in a child process
(so its peak RSS is the measurement's own): a bare aggregate scan of the rollup
window, a first full evaluation cycle, naive per-account evaluation on a
sample, and a second cycle after 1% of accounts got new usage. See
docs/performance.md for what each figure means and the latest results.

    python -m bench.rules_bench                       # 100,000 accounts
    python -m bench.rules_bench --accounts 1000000    # the full-size target
    python -m bench.rules_bench --profile             # cProfile of the first cycle
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EPOCH_DAY = date(1970, 1, 1)
SEGMENTS = ROOT / "rules" / "segments"
EVENTS = ("login", "report_run", "dashboard_viewed", "project_created", "invite_sent")
SHARES = (0.40, 0.25, 0.22, 0.07, 0.06)  # of an account's ~50 events in 90 days
DAYS = 90
PLANS = ("trial", "free", "starter", "team", "business", "cancelled")
PLAN_WEIGHTS = (10, 10, 30, 30, 15, 5)
INDUSTRIES = ("saas", "retail", "finance", "health", "media", "education")
ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC")
CHUNK = 20_000  # rows per executemany

# Targets (docs/performance.md).
TARGET_SCAN_RATIO = 3.0
TARGET_NAIVE_SPEEDUP = 100.0
TARGET_1M_SECONDS = 10.0
TARGET_1M_RSS_MIB = 2048


# -- data -------------------------------------------------------------------------


def ts(value: datetime) -> str:
    """SQLAlchemy's SQLite DateTime format (naive UTC)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(path: Path, accounts: int, now: datetime, seed: int = 7) -> dict[str, int]:
    """Bulk-insert the synthetic data into the migrated database at ``path``; row counts by table."""
    rng = random.Random(seed)
    today = now.date()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB while loading
    # Secondary indexes are dropped during the load and rebuilt from their own DDL.
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('accounts', 'contacts', 'daily_usage', 'daily_contact_activity', 'account_changes')"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    counts = {"accounts": 0, "contacts": 0, "daily_usage": 0, "daily_contact_activity": 0, "account_changes": 0}
    stamp = ts(now - timedelta(days=1))  # rows written a while ago: the incremental cycle sees them as unchanged

    def flush(sql: str, rows: list, table: str) -> None:
        if rows:
            conn.executemany(sql, rows)
            counts[table] += len(rows)
            rows.clear()

    acc_sql = ("INSERT INTO accounts (id, external_id, name, plan, mrr, arr, tier, signup_at, renewal_at, owner, "
               "timezone, locale, traits, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")  # fmt: skip
    con_sql = ("INSERT INTO contacts (id, external_id, account_id, email, name, role, locale, timezone, traits, "
               "last_seen_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")  # fmt: skip
    du_sql = "INSERT INTO daily_usage (account_id, event_name, day, count, active_contacts) VALUES (?,?,?,?,?)"
    dca_sql = "INSERT INTO daily_contact_activity (account_id, event_name, day, contact_id) VALUES (?,?,?,?)"
    ch_sql = ("INSERT INTO account_changes (account_id, field, old_value, new_value, changed_at, source) "
              "VALUES (?,?,?,?,?,?)")  # fmt: skip
    # Days as DayNumber stores them on SQLite: days since 1970-01-01.
    day_text = [(today - timedelta(days=d) - EPOCH_DAY).days for d in range(DAYS)]
    acc_rows: list = []
    con_rows: list = []
    du_rows: list = []
    dca_rows: list = []
    ch_rows: list = []
    conn.execute("BEGIN")
    for i in range(1, accounts + 1):
        plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
        mrr = 0.0 if plan in ("trial", "free", "cancelled") else float(rng.choice((49, 99, 199, 499, 999, 2499)))
        tier = "high" if mrr >= 2499 else rng.choices(("tech", "low", "high"), (75, 20, 5))[0]
        signup = now - timedelta(days=rng.randrange(1, 900), seconds=rng.randrange(86400))
        renewal = now + timedelta(days=rng.randrange(1, 365), seconds=rng.randrange(86400)) if mrr else None
        traits: dict = {"industry": rng.choice(INDUSTRIES), "seats": rng.randrange(1, 200)}
        if rng.random() < 0.05:
            traits["churn_reason"] = "price"
        owner = f"csm{rng.randrange(40)}@example.com" if rng.random() < 0.8 else None
        acc_rows.append((i, f"acct-{i:07d}", f"Account {i}", plan, mrr, mrr * 12, tier, ts(signup),
                         ts(renewal) if renewal else None, owner, rng.choice(ZONES), "en",
                         json.dumps(traits, separators=(",", ":")), stamp, stamp))  # fmt: skip
        admin, member = 2 * i - 1, 2 * i
        for cid, suffix, role in ((admin, "admin", "admin"), (member, "user", "member")):
            con_rows.append((cid, f"acct-{i:07d}-{suffix}", i, f"{suffix}{i}@example.com", None, role, None, None,
                             "{}", None, stamp, stamp))  # fmt: skip
        # Activity: 10% dormant, 20% declining (usage in the older part of the window), the rest spread out.
        kind = rng.random()
        total = 0 if kind < 0.10 else int(rng.gauss(55, 20)) if kind >= 0.30 else int(rng.gauss(50, 15))
        span = range(DAYS) if kind >= 0.30 else range(14, DAYS)
        for event, share in zip(EVENTS, SHARES, strict=True):
            n = max(0, round(total * share * rng.uniform(0.5, 1.5)))
            if n == 0:
                continue
            k = max(1, min(len(span), n // 3 + rng.randrange(2)))
            days = sorted(rng.sample(span, k))
            base, extra = divmod(n, k)
            for j, d in enumerate(days):
                count = base + (1 if j < extra else 0)
                if count == 0:
                    continue
                if event == "login":
                    both = count > 1 and rng.random() < 0.4
                    du_rows.append((i, event, day_text[d], count, 2 if both else 1))
                    dca_rows.append((i, event, day_text[d], admin))
                    if both:
                        dca_rows.append((i, event, day_text[d], member))
                else:
                    du_rows.append((i, event, day_text[d], count, 1))
        if rng.random() < 0.06:
            field = rng.choice(("owner", "tier", "plan"))
            at = now - timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(86400))
            ch_rows.append((i, field, "old", "new", ts(at), "api"))
        if len(du_rows) >= CHUNK:
            flush(acc_sql, acc_rows, "accounts")
            flush(con_sql, con_rows, "contacts")
            flush(du_sql, du_rows, "daily_usage")
            flush(dca_sql, dca_rows, "daily_contact_activity")
            flush(ch_sql, ch_rows, "account_changes")
    flush(acc_sql, acc_rows, "accounts")
    flush(con_sql, con_rows, "contacts")
    flush(du_sql, du_rows, "daily_usage")
    flush(dca_sql, dca_rows, "daily_contact_activity")
    flush(ch_sql, ch_rows, "account_changes")
    conn.execute("COMMIT")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return counts


# -- rules ------------------------------------------------------------------------

ACTIONS = {
    "admin": "  - email: {template: bench/nudge, to: role:admin}\n",
    "both": "  - email: {template: bench/nudge, to: role:admin}\n"
    "  - in_app: {template: bench/tip, to: contacts, expires_in: 7d}\n",
    "owner": "  - email: {template: bench/alert, to: owner}\n",
}
TRIGGERS = ("on_enter", "{while_matching: {every: 7d}}", "on_enter", "{on_event: {events: [login]}}")

# Each template: (kind, when-block, audience); {p[...]} are varied per rule.
TEMPLATES = [
    ("stalled", """  all:
    - account.tier: tech
    - account.signup_at: {{older_than: {a}d, newer_than: {b}d}}
    - event.{e}.count: {{in_last: {w}d, eq: 0}}""", "both"),
    ("inactive", """  all:
    - segment: tech-touch
    - event.login.days_since_last: {{gt: {d}}}
    - not:
        account.traits.churn_reason: {{exists: true}}""", "both"),
    ("trend", """  all:
    - segment: tech-touch
    - event.{e}.trend: {{over: {a}d, change_pct: {{lte: -{b}}}, min_baseline: 3}}
    - event.{e}.active_days: {{between: [{w2}d, {a}d], gte: 2}}""", "admin"),
    ("changed", """  all:
    - account.tier: {{in: [high, low]}}
    - account.{f}.changed: {{in_last: {w}d}}
    - account.owner: {{exists: true}}""", "owner"),
    ("renewal", """  all:
    - segment: tech-touch
    - account.renewal_at: {{within_next: {w}d, after_next: {a}d}}
    - event.login.active_contacts: {{in_last: 30d, gte: {c}}}""", "admin"),
    ("usage", """  all:
    - segment: paying
    - account.mrr: {{gte: {m}}}
    - event.{e}.count: {{in_last: {w}d, gte: {h}}}""", "admin"),
    ("traits", """  all:
    - account.traits.industry: {{in: [{i1}, {i2}]}}
    - account.traits.seats: {{gte: {s}}}
    - any:
        - event.{e}.active_days: {{in_last: {w}d, gte: {h}}}
        - account.plan: business""", "both"),
]


def rule_texts(n: int, seed: int = 11) -> list[tuple[str, str, str]]:
    """``n`` rules as (id, kind, YAML text), cycling through the templates with varied values."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        kind, when, audience = TEMPLATES[k % len(TEMPLATES)]
        a = rng.choice((7, 10, 14))
        values = {
            "a": a, "b": rng.choice((30, 45, 60, 90)), "w": rng.choice((7, 14, 30, 60)), "w2": 2 * a + rng.choice((0, 7)),
            "e": rng.choice(EVENTS), "f": rng.choice(("owner", "tier", "plan")), "c": rng.choice((1, 2, 3, 5)),
            "m": rng.choice((99, 199, 499)), "d": rng.choice((21, 30, 45)), "h": rng.choice((8, 12, 20)),
            "s": rng.choice((10, 50, 100)),
            "i1": rng.choice(INDUSTRIES), "i2": rng.choice(INDUSTRIES),
        }  # fmt: skip
        if kind == "stalled":
            values["b"] = values["a"] + rng.choice((14, 23, 30))
        if kind == "renewal":
            values["w"], values["a"] = rng.choice((60, 90)), rng.choice((0, 14, 30))
        rule_id = f"bench-{kind}-{k:02d}"
        text = (
            f"id: {rule_id}\nname: Bench {kind} {k}\ncategory: bench\npriority: {rng.randrange(0, 100)}\n"
            f"when:\n{when.format(**values)}\ntrigger: {TRIGGERS[k % len(TRIGGERS)]}\n"
            f"actions:\n{ACTIONS[audience]}"
        )
        out.append((rule_id, kind, text))
    return out


def apply_generated_rules(db, count: int) -> dict[str, str]:
    """Validate and apply ``count`` generated rules; kind by rule id."""
    from engine.rules.segments import SegmentLibrary
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules, bundle, used_segments

    library = SegmentLibrary.from_folder(SEGMENTS)
    pairs, kinds = [], {}
    for rule_id, kind, text in rule_texts(count):
        result = validate_text(text, f"{rule_id}.yaml", segments=library, expected_id=rule_id)
        if not result.ok:
            problems = "\n".join(map(str, result.problems))
            raise SystemExit(f"generated rule {rule_id} does not validate:\n{problems}\n{text}")
        pairs.append((result.rule, bundle(text, used_segments(text, SEGMENTS))))
        kinds[rule_id] = kind
    with db.session() as session:
        apply_rules(session, pairs, author="bench")
    return kinds


# -- measurement (child process) --------------------------------------------------


def peak_rss_mib() -> int:
    """This process's peak resident memory in MiB.

    VmHWM rather than getrusage's ru_maxrss: Linux carries ru_maxrss over from
    the parent across fork and exec, so the child would report the generator's
    peak instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Linux reports KiB


def add_recent_usage(path: Path, accounts: int, now: datetime, fraction: float = 0.01) -> int:
    """An event today for ``fraction`` of the accounts, with its rollup, as ingest would write them."""
    rng = random.Random(99)
    chosen = rng.sample(range(1, accounts + 1), max(1, int(accounts * fraction)))
    day = (now.date() - EPOCH_DAY).days
    events = [(a, rng.choice(EVENTS), rng.randrange(1, 6)) for a in chosen]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO events (external_id, account_id, contact_id, name, occurred_at, received_at, properties) "
        "VALUES (?,?,?,?,?,?,'{}')",
        [(f"bench-{a}-{name}", a, 2 * a - 1, name, ts(now), ts(now)) for a, name, _n in events],
    )
    conn.executemany(
        "INSERT INTO daily_usage (account_id, event_name, day, count, active_contacts) VALUES (?,?,?,?,1) "
        "ON CONFLICT (account_id, event_name, day) DO UPDATE SET count = count + excluded.count",
        [(a, name, day, n) for a, name, n in events],
    )
    conn.execute("COMMIT")
    conn.close()
    return len(chosen)


def measure(path: Path, accounts: int, now: datetime, sample: int, kinds: dict[str, str]) -> None:
    """Every timed phase, in this (fresh) process; each figure is printed as a JSON line as soon as it is known,
    so that a run stopped by --timeout still reports how far it got."""
    from sqlalchemy import bindparam, text

    from engine.db import Database
    from engine.models.base import DayNumber
    from engine.rules.compiler import matching_sets
    from engine.rules.cycle import run_cycle
    from engine.rules.evaluate import evaluate
    from engine.rules.facts import events_of, load_facts
    from engine.rules.versions import active_rules

    def emit(**figures) -> None:
        print(json.dumps(figures), flush=True)

    emit(rss_start=peak_rss_mib())
    db = Database(f"sqlite:///{path}")
    with db.read_session() as session:
        rules = active_rules(session)

    # (1) The bare aggregate over the same rollup window: the floor for any set-wise evaluation.
    since = now.date() - timedelta(days=DAYS - 1)
    scan = text("SELECT account_id, sum(count) FROM daily_usage WHERE day >= :d GROUP BY account_id")
    with db.read_session() as session:
        started = time.perf_counter()
        n = sum(1 for _ in session.execute(scan.bindparams(bindparam("d", type_=DayNumber())), {"d": since}))
        emit(scan=time.perf_counter() - started, scan_rows=n, rules=len(rules))

    # (2) The shared matching pass alone (no writes, no explanations), as the cycle runs it.
    with db.read_session() as session:
        started = time.perf_counter()
        found = matching_sets(session, {r.id: r.when for _s, _v, r in rules}, now)
        matched: dict[str, int] = {}
        for rule_id, ids in found.items():
            matched[kinds.get(rule_id, "?")] = matched.get(kinds.get(rule_id, "?"), 0) + len(ids)
        emit(match_only=time.perf_counter() - started, matched_by_kind=matched, rss_match=peak_rss_mib())

    # (3) Naive: load one account's facts and evaluate every rule in Python, for a sample.
    events = set().union(*(events_of(r.when) for _s, _v, r in rules))
    ids = random.Random(5).sample(range(1, accounts + 1), min(sample, accounts))
    with db.read_session() as session:
        started = time.perf_counter()
        hits = 0
        for account_id in ids:
            facts = load_facts(session, account_id, now, events)
            hits += sum(evaluate(r.when, facts, now) for _s, _v, r in rules)
        emit(naive_sample=time.perf_counter() - started, naive_n=len(ids), naive_matches=hits)

    # (4) First cycle: every match is new, so every one opens a membership and writes deliveries.
    started = time.perf_counter()
    report = run_cycle(db, rules, now, only_due=False, full=True)
    emit(cycle1=time.perf_counter() - started, rss_cycle1=peak_rss_mib(), cycle1_summary=report.summary(),
         matched=sum(o.matched for o in report.rules))  # fmt: skip

    # (5) A full cycle in the steady state: every rule over every account, the membership diff, no new entries.
    started = time.perf_counter()
    report_full = run_cycle(db, rules, now, only_due=False, full=True)
    emit(cycle_full=time.perf_counter() - started, rss_full=peak_rss_mib(), full_summary=report_full.summary())

    # (6) Incremental: 1% of accounts got an event today; only what changed is re-checked.
    touched = add_recent_usage(path, accounts, now)
    started = time.perf_counter()
    report2 = run_cycle(db, rules, now, only_due=False)
    checked = max((o.checked or 0) for o in report2.rules)
    emit(touched=touched, cycle2=time.perf_counter() - started, cycle2_summary=report2.summary(), checked=checked,
         rss_end=peak_rss_mib())  # fmt: skip
    db.dispose()


# -- driver -----------------------------------------------------------------------


def prepare(directory: Path, accounts: int, rules: int, now: datetime) -> tuple[Path, dict[str, str], dict, float]:
    from engine import migrate
    from engine.db import Database

    path = directory / "rules-bench.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    started = time.perf_counter()
    counts = generate(path, accounts, now)
    gen = time.perf_counter() - started
    db = Database(f"sqlite:///{path}")
    kinds = apply_generated_rules(db, rules)
    db.dispose()
    return path, kinds, counts, gen


def status(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(accounts: int, counts: dict, gen: float, size_mib: float, r: dict, stopped: str | None) -> bool:
    """Print the table from whatever figures the child reported; True unless something failed."""
    print(f"rules benchmark: {accounts:,} accounts, {r.get('rules', '?')} rules, SQLite")
    print(f"  generated in {gen:.1f} s ({size_mib:.0f} MiB): " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"  process RSS before measuring: {r.get('rss_start', '?')} MiB")
    scan = r.get("scan")
    per_naive = r["naive_sample"] / r["naive_n"] if "naive_sample" in r else None
    rows: list[tuple[str, str, str]] = []

    def against_scan(seconds: float) -> str:
        ratio = seconds / scan
        return f"x{ratio:.1f} the scan (target <= x{TARGET_SCAN_RATIO:g}: {status(ratio <= TARGET_SCAN_RATIO)})"

    def against_naive(seconds: float) -> tuple[str, str, str]:
        speedup = per_naive / (seconds / accounts)
        return ("  vs naive, per account", f"x{speedup:,.1f}",
                f"faster (target >= x{TARGET_NAIVE_SPEEDUP:g}: {status(speedup >= TARGET_NAIVE_SPEEDUP)})")  # fmt: skip

    if scan is not None:
        rows.append(("bare rollup scan (90 days, GROUP BY account)", f"{scan:8.2f} s", f"{r['scan_rows']:,} accounts"))
    if "match_only" in r:
        rows.append(("shared matching pass alone, all rules (no writes)", f"{r['match_only']:8.2f} s",
                     f"x{r['match_only'] / scan:.1f} the scan; peak RSS {r['rss_match']} MiB"))  # fmt: skip
    if per_naive is not None:
        rows.append((f"naive per account ({r['naive_n']} sampled, all rules)", f"{per_naive * 1e6:8.1f} us",
                     f"extrapolated to every account: {per_naive * accounts:,.0f} s"))  # fmt: skip
    if "cycle1" in r:
        rows.append(("first cycle: every match is new (writes all)", f"{r['cycle1']:8.2f} s", against_scan(r["cycle1"])))
        rows.append(("  peak RSS up to the end of the first cycle", f"{r['rss_cycle1']:6d} MiB", ""))
        if per_naive is not None:
            rows.append(against_naive(r["cycle1"]))
    if "cycle_full" in r:
        rows.append(("full cycle, steady state (all rules, all accounts)", f"{r['cycle_full']:8.2f} s",
                     against_scan(r["cycle_full"])))  # fmt: skip
        rows.append(("  peak RSS up to the end of the full cycle", f"{r['rss_full']:6d} MiB", ""))
        if per_naive is not None:
            rows.append(against_naive(r["cycle_full"]))
    if "cycle2" in r:
        share = r["cycle2"] / r["cycle_full"] if r.get("cycle_full") else None
        rows.append((f"incremental cycle after {r['touched']:,} accounts got events", f"{r['cycle2']:8.2f} s",
                     f"{r['checked']:,} accounts re-checked" + (f"; {share:.0%} of a full cycle" if share else "")))  # fmt: skip
    for label, value, note in rows:
        print(f"  {label:<52} {value:>12}  {note}")
    if "matched_by_kind" in r:
        print("  accounts matched by rule kind (sum over its rules): "
              + ", ".join(f"{k} {n:,}" for k, n in sorted(r["matched_by_kind"].items(), key=lambda kv: -kv[1])))
    ok = bool(r.get("scan_rows"))
    if "cycle1" in r:
        s1 = r["cycle1_summary"]
        print(f"  first cycle: {s1['evaluated']} evaluated, {s1['error']} errors, matched {r['matched']:,}, "
              f"entered {s1['entered']:,}, fired {s1['fired']:,}, "
              f"deliveries {s1['deliveries']:,} pending + {s1['skipped_deliveries']:,} skipped")  # fmt: skip
        ok = ok and s1["error"] == 0 and s1["evaluated"] == r["rules"]
    if "cycle_full" in r:
        sf = r["full_summary"]
        print(f"  full cycle: {sf['evaluated']} evaluated, entered {sf['entered']:,}, exited {sf['exited']:,}, "
              f"deliveries {sf['deliveries']:,}")  # fmt: skip
        ok = ok and sf["error"] == 0
        if accounts >= 1_000_000:
            print(f"  1M target (full cycle): <= {TARGET_1M_SECONDS:g} s: {status(r['cycle_full'] <= TARGET_1M_SECONDS)}; "
                  f"peak RSS < {TARGET_1M_RSS_MIB} MiB: {status(r['rss_full'] < TARGET_1M_RSS_MIB)}")  # fmt: skip
    if "cycle2" in r:
        s2 = r["cycle2_summary"]
        print(f"  incremental cycle: {s2['incremental']} of {s2['evaluated']} rules incremental, "
              f"entered {s2['entered']:,}, exited {s2['exited']:,}, deliveries {s2['deliveries']:,}")  # fmt: skip
        ok = ok and s2["error"] == 0
    if stopped:
        print(f"  stopped: {stopped}")
    elif not ok:
        errors = [r.get(k, {}).get("errors") for k in ("cycle1_summary", "full_summary", "cycle2_summary")]
        print(f"  FAILED: {next((e for e in errors if e), 'see above')}")
    return ok


def bench(accounts: int, rules: int, sample: int, timeout: float | None) -> bool:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="touchline-rules-bench-") as tmp:
        path, kinds, counts, gen = prepare(Path(tmp), accounts, rules, now)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        print(f"  data ready ({gen:.0f} s); measuring in a child process", flush=True)
        job = json.dumps({"path": str(path), "accounts": accounts, "now": now.isoformat(), "sample": sample, "kinds": kinds})
        command = [sys.executable, "-m", "bench.rules_bench", "--measure", job]
        stopped = None
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout)
            out, code = done.stdout, done.returncode
            if code != 0:
                print(done.stderr[-3000:], file=sys.stderr)
        except subprocess.TimeoutExpired as exc:
            out, code = exc.stdout or "", 0
            out = out.decode() if isinstance(out, bytes) else out
            stopped = f"measurement stopped after --timeout {timeout:g} s; the figures above are those it reached"
        figures: dict = {}
        for line in out.splitlines():
            if line.startswith("{"):
                figures.update(json.loads(line))
        ok = report(accounts, counts, gen, size, figures, stopped)
        return ok and code == 0


def profile(accounts: int, rules: int) -> None:
    """The first cycle in-process under cProfile."""
    import cProfile

    from bench import print_profile
    from engine.db import Database
    from engine.rules.cycle import run_cycle
    from engine.rules.versions import active_rules

    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="touchline-rules-profile-") as tmp:
        path, _kinds, _counts, _gen = prepare(Path(tmp), accounts, rules, now)
        db = Database(f"sqlite:///{path}")
        with db.read_session() as session:
            loaded = active_rules(session)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        run_cycle(db, loaded, now, only_due=False)
        profiler.disable()
        print(f"profiled first cycle over {accounts:,} accounts, {len(loaded)} rules: {time.perf_counter() - started:.1f} s")
        print_profile(profiler, 30, 15)
        db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--sample", type=int, default=500, help="accounts evaluated one by one for the naive figure")
    parser.add_argument("--timeout", type=float, help="stop measuring after this many seconds and report how far it got")
    parser.add_argument("--profile", action="store_true", help="profile the first cycle instead")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the child process's job
    args = parser.parse_args(argv)
    if args.measure:
        job = json.loads(args.measure)
        measure(Path(job["path"]), job["accounts"], datetime.fromisoformat(job["now"]), job["sample"], job["kinds"])
        return
    if args.profile:
        profile(args.accounts, args.rules)
        return
    sys.exit(0 if bench(args.accounts, args.rules, args.sample, args.timeout) else 1)


if __name__ == "__main__":
    main()
