"""One account's facts for the Python evaluator, read with a few indexed queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, AccountChange, DailyContactActivity, DailyUsage
from engine.rules.ast import ACCOUNT_FIELDS, All, Any_, Condition, Not, Trend, Usage
from engine.rules.days import utc_today


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
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(f"no account with id {account_id}")
    values = {}
    for name in ACCOUNT_FIELDS:
        value = getattr(account, name)
        values[name] = float(value) if isinstance(value, Decimal) else value
    facts = AccountFacts(account_id, values, dict(account.traits or {}))
    today = utc_today(now)
    if events:
        rows = session.execute(
            select(DailyUsage.event_name, DailyUsage.day, DailyUsage.count).where(
                DailyUsage.account_id == account_id, DailyUsage.event_name.in_(sorted(events)), DailyUsage.day <= today
            )
        )
        facts.usage = {(name, day): count for name, day, count in rows}
        rows = session.execute(
            select(DailyContactActivity.event_name, DailyContactActivity.day, DailyContactActivity.contact_id).where(
                DailyContactActivity.account_id == account_id,
                DailyContactActivity.event_name.in_(sorted(events)),
                DailyContactActivity.day <= today,
            )
        )
        for name, day, contact_id in rows:
            facts.contacts.setdefault((name, day), set()).add(contact_id)
    changes = select(AccountChange.field, AccountChange.changed_at).where(AccountChange.account_id == account_id)
    facts.changes = [(name, at) for name, at in session.execute(changes)]
    return facts
