"""What the delivery record costs the send path: CPU per message of the send job's write
transaction (claim + mark sent), without the record, with the status-history triggers, and
with the triggers and the message stored (the campaign's own MIME messages, compressed).

    python -m bench.record_bench          # bench/run record

In-process on SQLite, no SMTP: the transactions a send job runs for each email, one after
another, timed with the process's CPU clock (SQLite runs in it). Three rounds, each variant
on a fresh copy of the same database.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.send_bench import campaign_sample, environment, populate

MESSAGES = 2000


def _variant(source: Path, tmp: Path, name: str, triggers: bool, store: bool, raw: list[bytes]) -> float:
    from sqlalchemy import select, text

    from engine.db import Database
    from engine.delivery import outbox
    from engine.delivery.record import store_message
    from engine.models import Delivery, utcnow

    path = tmp / f"{name}.db"
    shutil.copy(source, path)
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        if not triggers:
            conn.execute(text("DROP TRIGGER delivery_events_on_insert"))
            conn.execute(text("DROP TRIGGER delivery_events_on_update"))
    with db.read_session() as session:
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    now = utcnow()
    with db.session() as session:
        outbox.mark_queued(session, ids, "bench", now, ("pending",))
    cpu = time.process_time()
    for i, delivery_id in enumerate(ids):
        with db.transaction() as tx:
            outbox.claim(tx, [delivery_id], "bench", now)
            outbox.mark_sent(tx, delivery_id, now, f"<m{delivery_id}@x>", "250 2.0.0 accepted", job_id="bench")
            if store:
                store_message(tx, delivery_id, 1, "email", raw[i % len(raw)], now)
    spent = (time.process_time() - cpu) / len(ids) * 1000
    db.dispose()
    return spent


def main() -> int:
    from engine import migrate
    from engine.db import Database

    with tempfile.TemporaryDirectory(prefix="touchline-record-bench-") as name:
        tmp = Path(name)
        (tmp / "instance").mkdir()
        os.environ.update(environment(tmp, "redis://127.0.0.1:1/0", 1))
        db = Database(os.environ["TOUCHLINE_DATABASE_URL"])
        migrate.upgrade(db)
        populate(db, MESSAGES)
        raw = campaign_sample(db)
        db.dispose()
        source = Path(os.environ["TOUCHLINE_DATABASE_URL"].removeprefix("sqlite:///"))
        size = statistics.mean(len(m) for m in raw) / 1024
        print(f"record benchmark: {MESSAGES:,} emails' write transactions (claim + mark sent), SQLite, in-process; "
              f"messages {size:.1f} KiB on average")  # fmt: skip
        variants = (("without the record", False, False), ("with the status-history triggers", True, False),
                    ("with the triggers and the message stored", True, True))  # fmt: skip
        spent: dict[str, list[float]] = {label: [] for label, _t, _s in variants}
        for round_ in range(3):
            for label, triggers, store in variants:
                spent[label].append(_variant(source, tmp, f"r{round_}-{triggers}-{store}", triggers, store, raw))
        for label, values in spent.items():
            print(f"  {label:<44} CPU {statistics.median(values):.3f} ms a message (rounds: "
                  + ", ".join(f"{v:.3f}" for v in values) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
