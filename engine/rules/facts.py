"""One account's facts for the Python evaluator, read with a few indexed queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, AccountChange, DailyContactActivity, DailyUsage
from engine.rules.ast import ACCOUNT_FIELDS, All, Any_, Condition, Not, Trend, Usage
from engine.rules.days import utc_today
from engine.sqlutil import chunks

# Account ids per IN (...): well under SQLite's bound-parameter limit.
CHUNK = 500


@dataclass
class AccountFacts:
    account_id: int
    # ACCOUNT_FIELDS values; money as float (the rule language compares doubles).
    fields: dict[str, Any]
    traits: dict[str, Any]
    usage: dict[tuple[str, date], int] = field(default_factory=dict)
    contacts: dict[tuple[str, date], set[int]] = field(default_factory=dict)
    changes: list[tuple[str, datetime]] = field(default_factory=list)


def events_of(cond: Condition) -> set[str]:
    """Event names the condition reads, so load_facts fetches only those."""
    match cond:
        case All(items) | Any_(items):
            return set().union(*(events_of(c) for c in items))
        case Not(item):
            return events_of(item)
        case Usage(event=event) | Trend(event=event):
            return {event}
    return set()


def load_facts(session: Session, account_id: int, now: datetime, events: set[str]) -> AccountFacts:
    """Facts as of ``now``: rollup days after today are left out, as the SQL path ignores them."""
    facts = load_facts_many(session, [account_id], now, events)
    if account_id not in facts:
        raise LookupError(f"no account with id {account_id}")
    return facts[account_id]


def load_facts_many(session: Session, account_ids: Iterable[int], now: datetime, events: set[str]) -> dict[int, AccountFacts]:
    """Facts for many accounts with a handful of queries per chunk of ids, not per account."""
    out: dict[int, AccountFacts] = {}
    today = utc_today(now)
    names = sorted(events)
    columns = [getattr(Account, name) for name in ACCOUNT_FIELDS]
    for part in chunks(sorted(set(account_ids)), CHUNK):
        for row in session.execute(select(Account.id, Account.traits, *columns).where(Account.id.in_(part))):
            values = {
                name: float(value) if isinstance(value, Decimal) else value
                for name, value in zip(ACCOUNT_FIELDS, row[2:], strict=True)
            }
            out[row.id] = AccountFacts(row.id, values, dict(row.traits or {}))
        if names:
            usage = select(DailyUsage.account_id, DailyUsage.event_name, DailyUsage.day, DailyUsage.count).where(
                DailyUsage.account_id.in_(part), DailyUsage.event_name.in_(names), DailyUsage.day <= today
            )
            for account_id, name, day, count in session.execute(usage):
                out[account_id].usage[(name, day)] = count
            active = select(
                DailyContactActivity.account_id,
                DailyContactActivity.event_name,
                DailyContactActivity.day,
                DailyContactActivity.contact_id,
            ).where(
                DailyContactActivity.account_id.in_(part),
                DailyContactActivity.event_name.in_(names),
                DailyContactActivity.day <= today,
            )
            for account_id, name, day, contact_id in session.execute(active):
                out[account_id].contacts.setdefault((name, day), set()).add(contact_id)
        changes = select(AccountChange.account_id, AccountChange.field, AccountChange.changed_at).where(
            AccountChange.account_id.in_(part)
        )
        for account_id, name, at in session.execute(changes):
            out[account_id].changes.append((name, at))
    return out
