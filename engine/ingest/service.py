"""Ingest: upsert accounts and contacts, track events, keep rollups current.

Each function takes raw records (dicts from JSON, CSV or NDJSON), stores the
valid ones in the caller's transaction and reports every rejected one with its
index, field and reason. Events update the daily rollups in the same
transaction, so rollups and raw events can never disagree.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from engine.db import Database
from engine.ingest.fields import day_of
from engine.ingest.records import ACCOUNT, CONTACT, EVENT, IngestResult, Kind, RecordError
from engine.models import (
    TRACKED_FIELDS,
    Account,
    AccountChange,
    Contact,
    DailyContactActivity,
    DailyUsage,
    Event,
    utcnow,
)
from engine.sqlutil import chunks, insert_for

# Events more than this far in the future are a client clock or unit bug.
MAX_FUTURE = timedelta(days=1)
# last_seen_at moves only when it would move by at least this much.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# Keeps every statement under SQLite's 32,766 bound-parameter limit.
IN_CHUNK = 500


def _parse_all(kind: Kind, records: Sequence[Any], result: IngestResult) -> list[tuple[int, dict[str, Any]]]:
    parsed: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(records):
        clean, errors = kind.parse(index, raw)
        if errors:
            result.rejected.extend(errors)
        else:
            parsed.append((index, clean))
    return parsed


def _last_wins(parsed: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    """Merge repeated ids within one batch in order, so the batch acts like sequential upserts."""
    merged: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, rec in parsed:
        if rec["id"] in merged:
            first_index, first = merged[rec["id"]]
            merged[rec["id"]] = (first_index, {**first, **rec})
        else:
            merged[rec["id"]] = (index, rec)
    return list(merged.values())


def _account_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(sorted(set(external_ids)), IN_CHUNK):
        found.update(session.execute(select(Account.external_id, Account.id).where(Account.external_id.in_(part))).all())
    return found


def _ensure_accounts(session: Session, external_ids: set[str]) -> dict[str, int]:
    """Ids for these accounts, creating a stub (name = id) for any not seen yet."""
    known = _account_ids(session, external_ids)
    missing = sorted(external_ids - known.keys())
    if missing:
        _insert_stubs(session, Account, [{"external_id": x, "name": x, "tier": "tech"} for x in missing])
        known.update(_account_ids(session, missing))
    return known


def _insert_stubs(session: Session, model: type[Account] | type[Contact], rows: list[dict[str, Any]]) -> None:
    """Insert placeholder rows a later upsert fills in; one created by a concurrent batch wins."""
    now = utcnow()
    stmt = insert_for(session, model.__table__).on_conflict_do_nothing(index_elements=["external_id"])
    session.execute(stmt, [{**row, "traits": {}, "created_at": now, "updated_at": now} for row in rows])


# -- accounts -----------------------------------------------------------------


def upsert_accounts(session: Session, records: Sequence[Any], source: str = "api") -> IngestResult:
    """Create or update accounts by external id; changes to owner, tier and plan are recorded."""
    result = IngestResult()
    parsed = _last_wins(_parse_all(ACCOUNT, records, result))
    if not parsed:
        return result
    existing: dict[str, Account] = {}
    for part in chunks([rec["id"] for _, rec in parsed], IN_CHUNK):
        existing.update((a.external_id, a) for a in session.scalars(select(Account).where(Account.external_id.in_(part))))
    now = utcnow()
    for _index, rec in parsed:
        values = _account_values(rec)
        account = existing.get(rec["id"])
        if account is None:
            values.setdefault("name", rec["id"])
            values.setdefault("tier", "tech")
            account = Account(external_id=rec["id"], traits={}, **{k: v for k, v in values.items() if k != "traits"})
            account.traits = values.get("traits", {})
            session.add(account)
            existing[rec["id"]] = account
        else:
            for name in TRACKED_FIELDS:
                if name in values and getattr(account, name) != values[name]:
                    account.changes.append(
                        AccountChange(
                            field=name,
                            old_value=_as_text(getattr(account, name)),
                            new_value=_as_text(values[name]),
                            changed_at=now,
                            source=source,
                        )
                    )
            for name, value in values.items():
                if name == "traits":
                    # Traits merge: a key set to null is removed.
                    merged = {**(account.traits or {}), **value}
                    account.traits = {k: v for k, v in merged.items() if v is not None}
                else:
                    setattr(account, name, value)
        result.accepted += 1
    session.flush()
    return result


def _account_values(rec: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in rec.items() if k != "id"}
    # MRR and ARR describe one figure; derive the missing one.
    if values.get("mrr") is not None and "arr" not in values:
        values["arr"] = values["mrr"] * 12
    elif values.get("arr") is not None and "mrr" not in values:
        values["mrr"] = (values["arr"] / 12).quantize(values["arr"])
    return values


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- contacts -----------------------------------------------------------------


def upsert_contacts(session: Session, records: Sequence[Any], source: str = "api") -> IngestResult:
    """Create or update contacts by external id; an unknown account gets a stub."""
    result = IngestResult()
    parsed = _last_wins(_parse_all(CONTACT, records, result))
    if not parsed:
        return result
    account_ids = _ensure_accounts(session, {rec["account_id"] for _, rec in parsed})
    existing: dict[str, Contact] = {}
    for part in chunks([rec["id"] for _, rec in parsed], IN_CHUNK):
        existing.update((c.external_id, c) for c in session.scalars(select(Contact).where(Contact.external_id.in_(part))))
    for _index, rec in parsed:
        values = {k: v for k, v in rec.items() if k not in {"id", "account_id"}}
        values["account_id"] = account_ids[rec["account_id"]]
        contact = existing.get(rec["id"])
        if contact is None:
            values.setdefault("role", "member")
            traits = values.pop("traits", {})
            contact = Contact(external_id=rec["id"], traits=traits, **values)
            session.add(contact)
            existing[rec["id"]] = contact
        else:
            for name, value in values.items():
                if name == "traits":
                    merged = {**(contact.traits or {}), **value}
                    contact.traits = {k: v for k, v in merged.items() if v is not None}
                elif name == "last_seen_at" and contact.last_seen_at and value and value < contact.last_seen_at:
                    continue  # last seen only moves forward
                else:
                    setattr(contact, name, value)
        result.accepted += 1
    session.flush()
    return result


class _KnownContact(NamedTuple):
    id: int
    account_id: int
    last_seen_at: datetime | None


def _contact_rows(session: Session, external_ids: Iterable[str]) -> dict[str, _KnownContact]:
    found: dict[str, _KnownContact] = {}
    for part in chunks(sorted(set(external_ids)), IN_CHUNK):
        rows = session.execute(
            select(Contact.external_id, Contact.id, Contact.account_id, Contact.last_seen_at).where(
                Contact.external_id.in_(part)
            )
        )
        found.update((ext, _KnownContact(cid, aid, seen)) for ext, cid, aid, seen in rows)
    return found


def _ensure_contacts(session: Session, pairs: set[tuple[str, int]]) -> dict[str, _KnownContact]:
    """Contacts named by events, creating stubs (no email) for new ones."""
    known = _contact_rows(session, (ext for ext, _ in pairs))
    missing = {ext: acc for ext, acc in sorted(pairs) if ext not in known}
    if missing:
        _insert_stubs(
            session, Contact, [{"external_id": ext, "account_id": acc, "role": "member"} for ext, acc in missing.items()]
        )
        known.update(_contact_rows(session, missing))
    return known


# -- events -------------------------------------------------------------------


def track_events(session: Session, records: Sequence[Any], now: datetime | None = None) -> IngestResult:
    """Store new events, skip ones whose id was seen before, update daily rollups."""
    now = now or utcnow()
    result = IngestResult()
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, rec in _parse_all(EVENT, records, result):
        ts = rec.setdefault("timestamp", now)
        if ts > now + MAX_FUTURE:
            result.rejected.append(
                RecordError(index, "timestamp", f"{ts.isoformat()} is more than a day in the future", rec.get("id"))
            )
            continue
        rec.setdefault("id", uuid.uuid4().hex)
        if rec["id"] in seen:
            result.duplicates += 1
            continue
        seen.add(rec["id"])
        parsed.append((index, rec))
    if not parsed:
        return result

    account_ids = _ensure_accounts(session, {rec["account_id"] for _, rec in parsed})
    contact_pairs = {(rec["contact_id"], account_ids[rec["account_id"]]) for _, rec in parsed if rec.get("contact_id")}
    contacts = _ensure_contacts(session, contact_pairs) if contact_pairs else {}

    rows = []
    for index, rec in parsed:
        account_id = account_ids[rec["account_id"]]
        contact_id = None
        if rec.get("contact_id"):
            contact = contacts[rec["contact_id"]]
            contact_id = contact.id
            if contact.account_id != account_id:
                result.rejected.append(
                    RecordError(index, "contact_id", f"contact {rec['contact_id']!r} belongs to another account", rec["id"])
                )
                continue
        rows.append(
            {
                "external_id": rec["id"],
                "account_id": account_id,
                "contact_id": contact_id,
                "name": rec["name"],
                "occurred_at": rec["timestamp"],
                "received_at": now,
                "properties": rec.get("properties", {}),
            }
        )
    stmt = (
        insert_for(session, Event.__table__)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(Event.__table__.c.external_id)
    )
    inserted: set[str] = set()
    for part in chunks(rows, IN_CHUNK):
        inserted.update(session.execute(stmt, part).scalars())
    new_rows = [r for r in rows if r["external_id"] in inserted]
    result.accepted = len(new_rows)
    result.duplicates += len(rows) - len(new_rows)
    if new_rows:
        _roll_up(session, new_rows)
        _touch_contacts(session, new_rows, {c.id: c.last_seen_at for c in contacts.values()})
    return result


def _roll_up(session: Session, rows: list[dict[str, Any]]) -> None:
    counts: Counter[tuple[int, str, Any]] = Counter()
    active: set[tuple[int, str, Any, int]] = set()
    for r in rows:
        key = (r["account_id"], r["name"], day_of(r["occurred_at"]))
        counts[key] += 1
        if r["contact_id"] is not None:
            active.add((*key, r["contact_id"]))

    new_active: Counter[tuple[int, str, Any]] = Counter()
    if active:
        table = DailyContactActivity.__table__
        stmt = (
            insert_for(session, table)
            .on_conflict_do_nothing(index_elements=["account_id", "event_name", "day", "contact_id"])
            .returning(table.c.account_id, table.c.event_name, table.c.day)
        )
        params = [{"account_id": a, "event_name": n, "day": d, "contact_id": c} for a, n, d, c in sorted(active)]
        for part in chunks(params, IN_CHUNK):
            new_active.update(tuple(row) for row in session.execute(stmt, part))

    table = DailyUsage.__table__
    ins = insert_for(session, table)
    stmt = ins.on_conflict_do_update(
        index_elements=["account_id", "event_name", "day"],
        set_={
            "count": table.c.count + ins.excluded.count,
            "active_contacts": table.c.active_contacts + ins.excluded.active_contacts,
        },
    )
    params = [
        {"account_id": a, "event_name": n, "day": d, "count": c, "active_contacts": new_active.get((a, n, d), 0)}
        for (a, n, d), c in sorted(counts.items())
    ]
    for part in chunks(params, IN_CHUNK):
        session.execute(stmt, part)


def _touch_contacts(session: Session, rows: list[dict[str, Any]], stored: dict[int, datetime | None]) -> None:
    """Move contacts' last_seen_at forward (never back), to LAST_SEEN_RESOLUTION.

    A contact active all day would otherwise cost an UPDATE in every batch.
    """
    latest: dict[int, datetime] = {}
    for r in rows:
        cid = r["contact_id"]
        if cid is not None and (cid not in latest or r["occurred_at"] > latest[cid]):
            latest[cid] = r["occurred_at"]
    due = [
        {"cid": cid, "seen": seen}
        for cid, seen in sorted(latest.items())
        if stored.get(cid) is None or seen - stored[cid] >= LAST_SEEN_RESOLUTION
    ]
    if due:
        session.execute(_TOUCH, due)


_contacts = Contact.__table__
# One cached statement run as executemany: cheaper than a VALUES join, which
# SQLAlchemy would compile afresh for every batch.
_TOUCH = (
    update(_contacts)
    .where(_contacts.c.id == bindparam("cid"))
    .where(or_(_contacts.c.last_seen_at.is_(None), _contacts.c.last_seen_at < bindparam("seen")))
    .values(last_seen_at=bindparam("seen"))
)


# -- retention ----------------------------------------------------------------

PURGE_CHUNK = 20_000


def purge_expired_events(db: Database, retention_days: int, now: datetime | None = None, chunk: int = PURGE_CHUNK) -> int:
    """Delete raw events (and per-contact activity) older than the retention; rollups stay.

    Walks the primary key in ranges of ``chunk`` ids, one short transaction
    each, so ingest keeps flowing between chunks and no time index is needed.
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with db.read_session() as session:
        low, high = session.execute(select(func.min(Event.id), func.max(Event.id))).one()
    deleted = 0
    if low is not None:
        for start in range(low, high + 1, chunk):
            with db.session() as session:
                stmt = delete(Event).where(Event.id >= start, Event.id < start + chunk, Event.occurred_at < cutoff)
                deleted += session.execute(stmt).rowcount or 0
    with db.session() as session:
        session.execute(delete(DailyContactActivity).where(DailyContactActivity.day < day_of(cutoff)))
    return deleted


UPSERTS = {"accounts": upsert_accounts, "contacts": upsert_contacts, "events": track_events}
