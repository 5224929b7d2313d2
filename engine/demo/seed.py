"""Writing the demo dataset through the ingest service, in batches.

Going through ``engine.ingest`` (not bulk SQL) means rollups, contact
last-seen times and the account change history come out exactly as they
would from production traffic.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update

from engine.db import Database
from engine.demo.generate import CampaignPlan, DemoPlan, build_plan
from engine.ingest import IngestResult, account_ids, track_events, upsert_accounts, upsert_contacts
from engine.models import Account, AccountChange, Contact

SOURCE = "demo"
RECORD_BATCH = 1000
EVENT_BATCH = 5000


class DemoRefused(Exception):
    """The database already holds accounts and ``force`` was not given."""

    def __init__(self, accounts: int) -> None:
        super().__init__(
            f"the database already has {accounts} accounts; demo data would be mixed into them. "
            "Use an empty database, or pass --force to seed anyway (existing rows with the same ids are "
            "updated, events already there are skipped)"
        )
        self.accounts = accounts


def seed(
    db: Database,
    accounts: int = 2000,
    seed: int = 42,
    days: int = 90,
    now: datetime | date | None = None,
    *,
    force: bool = False,
    on_progress: Callable[[str, int], None] | None = None,
    campaign: CampaignPlan | None = None,
) -> dict[str, Any]:
    """Seed a demo dataset; returns a summary. Deterministic given ``seed`` and the reference day.

    ``now`` is the reference: its UTC day's midnight is "now" for the dataset
    (default: today's UTC midnight). Raises DemoRefused if accounts exist and
    ``force`` is false. ``campaign``: also seed that planted campaign's cohort
    (engine.demo.campaign records its deliveries once the rule is applied).
    """
    started = time.perf_counter()
    with db.read_session() as session:
        existing = session.scalar(select(func.count()).select_from(Account)) or 0
    if existing and not force:
        raise DemoRefused(existing)
    plan = build_plan(accounts, seed, days, now, campaign=campaign)
    progress = on_progress or (lambda _stage, _n: None)
    progress("start", len(plan.accounts))

    cohort = [m.account for m in plan.cohort]
    first = [a.record for a in plan.accounts] + [a.record for a in cohort]
    if existing:
        # Re-seeding: accounts that already carry their new owner keep it, so
        # no spurious change back to the old owner is recorded.
        changed = {a.external_id for a in plan.accounts if a.new_owner}
        with db.read_session() as session:
            present = set(account_ids(session, changed))
        first = [{k: v for k, v in r.items() if k != "owner"} if r["id"] in present else r for r in first]
    for batch in _batches(first, RECORD_BATCH):
        with db.session() as session:
            _check(upsert_accounts(session, batch, source=SOURCE), "accounts")
    progress("accounts", len(first))
    _change_owners(db, plan)

    contacts = [c for a in plan.accounts + cohort for c in a.contacts]
    for batch in _batches(contacts, RECORD_BATCH):
        with db.session() as session:
            _check(upsert_contacts(session, batch, source=SOURCE), "contacts")
    progress("contacts", len(contacts))
    _date_contacts(db, plan, seed)

    stored = 0
    for batch in _batches(plan.events(), EVENT_BATCH):
        with db.session() as session:
            result = track_events(session, batch, now=plan.reference)
        _check(result, "events")
        stored += result.accepted
        progress("events", stored)

    summary: dict[str, Any] = {
        "accounts": len(plan.accounts),
        "contacts": len(contacts),
        "events": stored,
        "tiers": plan.tier_counts(),
        "archetypes": plan.archetype_counts(),
        "seed": seed,
        "days": days,
        "reference": plan.reference.isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if campaign is not None:
        summary["cohort"] = cohort_counts(plan)
    return summary


def cohort_counts(plan: DemoPlan) -> dict[str, int]:
    """The planted campaign's accounts and conversions per arm."""
    counts = dict.fromkeys(("treated", "treated_converted", "control", "control_converted"), 0)
    for member in plan.cohort:
        counts[member.arm] += 1
        counts[f"{member.arm}_converted"] += member.converted_at is not None
    return counts


def _change_owners(db: Database, plan: DemoPlan) -> None:
    """Hand the owner-changed accounts to their new owner, dated inside the dataset's timeline."""
    moves = [a for a in plan.accounts if a.new_owner]
    if not moves:
        return
    with db.session() as session:
        for batch in _batches([{"id": a.external_id, "owner": a.new_owner} for a in moves], RECORD_BATCH):
            _check(upsert_accounts(session, batch, source=SOURCE), "owner changes")
        # The ingest service stamps a change with the wall clock; the demo's
        # history has to sit relative to its own reference time instead.
        ids = dict(
            session.execute(
                select(Account.external_id, Account.id).where(Account.external_id.in_([a.external_id for a in moves]))
            ).all()
        )
        table = AccountChange.__table__
        session.execute(
            update(table)
            .where(table.c.account_id == bindparam("aid"))
            .where(table.c.field == "owner")
            .where(table.c.source == SOURCE)
            .where(table.c.new_value == bindparam("owner"))
            .values(changed_at=bindparam("at")),
            [{"aid": ids[a.external_id], "owner": a.new_owner, "at": a.owner_changed_at} for a in moves],
        )


# One contact in this many joined in the two days before the reference time
# (a new admin for the new-admin-welcome rule); the others joined with their account.
NEW_CONTACT_EVERY = 40


def _date_contacts(db: Database, plan: DemoPlan, seed: int) -> None:
    """Date contacts inside the dataset's timeline (ingest stamps the wall clock):
    most joined a few days after their account signed up, a few just before the reference.
    The planted campaign's contacts all joined within three days of their signup, before
    the campaign reached them."""
    joined: dict[str, datetime] = {}
    for account in plan.accounts:
        for contact in account.contacts:
            draw = int(hashlib.sha256(f"{seed}:{contact['id']}".encode()).hexdigest()[:8], 16)
            if draw % NEW_CONTACT_EVERY == 0:
                joined[contact["id"]] = plan.reference - timedelta(hours=1 + draw % 47)
            else:
                joined[contact["id"]] = account.signup_at + timedelta(hours=draw % (7 * 24))
    for member in plan.cohort:
        for contact in member.account.contacts:
            draw = int(hashlib.sha256(f"{seed}:{contact['id']}".encode()).hexdigest()[:8], 16)
            joined[contact["id"]] = member.account.signup_at + timedelta(hours=draw % (3 * 24))
    table = Contact.__table__
    stmt = update(table).where(table.c.external_id == bindparam("ext")).values(created_at=bindparam("at"))
    with db.session() as session:
        for batch in _batches([{"ext": ext, "at": at} for ext, at in joined.items()], RECORD_BATCH):
            session.execute(stmt, list(batch))


def _batches(items: Iterable[Any], size: int) -> Iterator[Sequence[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check(result: IngestResult, what: str) -> None:
    # Generated data that the ingest service rejects is a bug in the generator.
    if result.rejected:
        raise RuntimeError(f"demo {what} rejected by ingest: {result.rejected[:3]}")
