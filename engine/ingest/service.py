"""Ingest: upsert accounts and contacts, track events, keep rollups current.

Each function takes raw records (dicts from JSON, CSV or NDJSON), stores the
valid ones in the caller's transaction and reports every rejected one with its
index, field and reason. Events update the daily rollups in the same
transaction, so rollups and raw events can never disagree.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from engine.db import Database
from engine.ingest.fields import day_of
from engine.ingest.history import History
from engine.ingest.records import ACCOUNT, CONTACT, EVENT, IngestResult, Kind, RecordError
from engine.models import (
    TRACKED_FIELDS,
    Account,
    Contact,
    DailyContactActivity,
    DailyUsage,
    Event,
    utcnow,
)
from engine.settings import event_retention_days
from engine.sqlutil import chunks, insert_for

# Events more than this far in the future are a client clock or unit bug.
MAX_FUTURE = timedelta(days=1)
# A change's effective time may be ahead of ours by a client clock's drift, no more:
# a change dated in the future would count as recent for weeks.
MAX_CHANGE_SKEW = timedelta(minutes=5)
# Numeric(14, 2): a derived ARR (MRR x 12) must still fit.
MAX_MONEY = Decimal("1e12")
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


def _last_wins(
    parsed: list[tuple[int, dict[str, Any]]], key: Callable[[dict[str, Any]], Hashable] = itemgetter("id")
) -> list[tuple[int, dict[str, Any]]]:
    """Merge repeated ids (by ``key``) within one batch in order, so the batch acts like sequential upserts."""
    merged: dict[Hashable, tuple[int, dict[str, Any]]] = {}
    for index, rec in parsed:
        k = key(rec)
        if k in merged:
            first_index, first = merged[k]
            combined = {**first, **rec}
            if "traits" in first and "traits" in rec:
                # Nulls are kept here: they remove the key when the merge is applied.
                combined["traits"] = {**first["traits"], **rec["traits"]}
            merged[k] = (first_index, combined)
        else:
            merged[k] = (index, rec)
    return list(merged.values())


def _merge_traits(current: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """Traits merge key by key; a key set to null is removed."""
    merged = {**(current or {}), **update}
    return {k: v for k, v in merged.items() if v is not None}


def _locked(session: Session, model: type[Account] | type[Contact], external_ids: Iterable[str]) -> dict[str, Any]:
    """Rows by external id, locked until commit (PostgreSQL), in one order so batches cannot deadlock."""
    rows: dict[str, Any] = {}
    for part in chunks(sorted(set(external_ids)), IN_CHUNK):
        stmt = (
            select(model)
            .where(model.external_id.in_(part))
            .order_by(model.external_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        rows.update((row.external_id, row) for row in session.scalars(stmt))
    return rows


def account_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """Internal ids of the accounts stored under these external ids (unknown ones are absent)."""
    found: dict[str, int] = {}
    for part in chunks(sorted(set(external_ids)), IN_CHUNK):
        found.update(session.execute(select(Account.external_id, Account.id).where(Account.external_id.in_(part))).all())
    return found


def _ensure_accounts(session: Session, external_ids: set[str]) -> dict[str, int]:
    """Ids for these accounts, creating a stub (name = id) for any not seen yet."""
    known = account_ids(session, external_ids)
    missing = sorted(external_ids - known.keys())
    if missing:
        _insert_stubs(session, Account, [{"external_id": x, "name": x, "tier": "tech"} for x in missing])
        known.update(account_ids(session, missing))
    return known


def _insert_stubs(session: Session, model: type[Account] | type[Contact], rows: list[dict[str, Any]]) -> set[str]:
    """Insert placeholder rows for ids not stored yet; return the ids this call created.

    ON CONFLICT DO NOTHING makes concurrent batches that name the same new id
    agree on one row instead of failing on the unique constraint.
    """
    now = utcnow()
    table = model.__table__
    stmt = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(table.c.external_id)
    )
    created: set[str] = set()
    params = [{**row, "traits": {}, "created_at": now, "updated_at": now} for row in sorted(rows, key=_by_id)]
    for part in chunks(params, IN_CHUNK):
        created.update(session.execute(stmt, part).scalars())
    return created


def _by_id(row: dict[str, Any]) -> str:
    return row["external_id"]


# -- accounts -----------------------------------------------------------------


def upsert_accounts(session: Session, records: Sequence[Any], source: str = "api") -> IngestResult:
    """Create or update accounts by external id; changes to owner, tier and plan are recorded.

    A record's ``changed_at`` is when its values took effect (default: now);
    the history puts them at that time (engine.ingest.history). The first
    record to describe an account (a new one, or a stub made by an event or
    contact) gives its initial state, which is not a change.
    """
    result = IngestResult()
    now = utcnow()
    timed: list[tuple[int, dict[str, Any]]] = []
    for index, rec in _parse_all(ACCOUNT, records, result):
        at = rec.setdefault("changed_at", None)
        if at is not None and at > now + MAX_CHANGE_SKEW:
            result.rejected.append(
                RecordError(
                    index,
                    "changed_at",
                    f"{at.isoformat()} is in the future: a change can be dated at most "
                    f"{MAX_CHANGE_SKEW.seconds // 60} minutes ahead of the server's clock",
                    rec["id"],
                )
            )
            continue
        timed.append((index, rec))
    planned: list[tuple[dict[str, Any], dict[str, Any]]] = []
    # Records of one account merge only when they take effect at the same time.
    for index, rec in _last_wins(timed, key=itemgetter("id", "changed_at")):
        values = _account_values(rec)
        if values is None:
            field = "mrr" if "mrr" in rec else "arr"
            result.rejected.append(RecordError(index, field, "the ARR derived from it (MRR x 12) is too large", rec["id"]))
        else:
            planned.append((rec, values))
    if not planned:
        return result
    _insert_stubs(session, Account, [{"external_id": r["id"], "name": r["id"], "tier": "tech"} for r, _ in planned])
    accounts = _locked(session, Account, (rec["id"] for rec, _ in planned))
    history = History(session, source, now, (accounts[r["id"]].id for r, _ in planned if r["changed_at"] is not None))
    for rec, values in planned:
        account = accounts[rec["id"]]
        dated = rec["changed_at"] is not None
        # A clock a little ahead (within MAX_CHANGE_SKEW) is taken as now.
        at = min(rec["changed_at"], now) if dated else now
        if account.described_at is None:
            account.described_at = at
        else:
            history.apply(account, values, at, dated)
            values = {k: v for k, v in values.items() if k not in TRACKED_FIELDS}
        for name, value in values.items():
            setattr(account, name, _merge_traits(account.traits, value) if name == "traits" else value)
        result.accepted += 1
    session.flush()
    return result


def _account_values(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The columns to set; None when a derived amount would not fit its column."""
    values = {k: v for k, v in rec.items() if k not in ("id", "changed_at")}
    # MRR and ARR describe one figure; derive the missing one.
    if values.get("mrr") is not None and "arr" not in values:
        values["arr"] = values["mrr"] * 12
    elif values.get("arr") is not None and "mrr" not in values:
        values["mrr"] = (values["arr"] / 12).quantize(values["arr"])
    if any(values.get(k) is not None and values[k] >= MAX_MONEY for k in ("mrr", "arr")):
        return None
    return values


# -- contacts -----------------------------------------------------------------


def upsert_contacts(session: Session, records: Sequence[Any], source: str = "api") -> IngestResult:
    """Create or update contacts by external id; an unknown account gets a stub."""
    result = IngestResult()
    parsed = _last_wins(_parse_all(CONTACT, records, result))
    if not parsed:
        return result
    account_ids = _ensure_accounts(session, {rec["account_id"] for _, rec in parsed})
    _insert_stubs(
        session,
        Contact,
        [{"external_id": r["id"], "account_id": account_ids[r["account_id"]], "role": "member"} for _, r in parsed],
    )
    contacts = _locked(session, Contact, (rec["id"] for _, rec in parsed))
    for _index, rec in parsed:
        contact = contacts[rec["id"]]
        values = {k: v for k, v in rec.items() if k not in {"id", "account_id"}}
        values["account_id"] = account_ids[rec["account_id"]]
        for name, value in values.items():
            if name == "traits":
                contact.traits = _merge_traits(contact.traits, value)
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


def track_events(
    session: Session, records: Sequence[Any], now: datetime | None = None, retention_days: int | None = None
) -> IngestResult:
    """Store new events, skip ones whose id was seen before, update daily rollups.

    Events older than the raw-event retention are refused: once purged, their
    id could no longer be recognised, and a re-send would be counted twice.
    """
    now = now or utcnow()
    oldest = now - timedelta(days=retention_days or event_retention_days())
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
        if ts < oldest:
            result.rejected.append(
                RecordError(
                    index,
                    "timestamp",
                    f"{ts.isoformat()} is older than the raw-event retention "
                    f"({(now - oldest).days} days, TOUCHLINE_EVENT_RETENTION_DAYS)",
                    rec.get("id"),
                )
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
    for r in new_rows:
        result.new_events.setdefault(r["account_id"], set()).add(r["name"])
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
