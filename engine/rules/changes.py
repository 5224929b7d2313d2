"""Which accounts may match differently than at a rule's last evaluation: the incremental cycle.

A rule's result for an account can only change when the account's data
changes (its row, its contacts, its events), or when time moves a boundary
past one of its values. Within one UTC day the day windows of usage, trend
and change leaves stand still, so what is left is relative time (``older_than``
and the rest move with ``now``) and leaves that read other rules' deliveries.
``incremental_reason`` says when a rule must be evaluated in full instead;
``changed_accounts`` lists the accounts an incremental evaluation re-checks.
Re-checking an account whose result did not change is harmless (the
membership diff finds nothing), so every estimate here errs on the side of
more accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.models import Account, Contact, Event
from engine.models.ruleset import RuleState
from engine.rules.ast import All, Any_, Condition, Not, Received, RelativeTime
from engine.rules.days import utc_today
from engine.rules.schema import Rule

# A full evaluation at least this often, whatever else happened: it bounds how
# long anything the change tracking below could miss stays unnoticed.
FULL_EVERY = timedelta(hours=1)
# Row timestamps are written by the application when the row changes, but the
# transaction may commit a little later; re-check that much before the last look.
UPDATED_MARGIN = timedelta(minutes=5)
# PostgreSQL hands out event ids before commit, so an event may become visible
# after a higher id was seen; re-check this many ids below the last watermark
# (the largest import batch). SQLite has one writer: ids commit in order.
EVENT_ID_LAG = 50_000


@dataclass(frozen=True)
class Since:
    """What a rule's last evaluation had seen: wall-clock time and the highest event id."""

    seen_at: datetime
    event_id: int


def incremental_reason(state: RuleState, version_id: int, rule: Rule, now: datetime, watermark: int) -> str | None:
    """None when the rule may be evaluated incrementally at ``now``, else why it must be in full.

    ``watermark`` is the highest event id now (event_watermark)."""
    if state.last_full_at is None or state.data_seen_at is None or state.event_watermark is None:
        return "never evaluated in full"
    if state.last_evaluated_at is not None and now < state.last_evaluated_at:
        return "evaluated for a later time before"
    if watermark < state.event_watermark:
        return "event ids went back (events were purged)"
    if state.full_version_id != version_id:
        return "a new version is active"
    if utc_today(state.last_full_at) != utc_today(now) or now < state.last_full_at:
        return "a new UTC day moves every day window"
    if now - state.last_full_at >= FULL_EVERY:
        return f"the last full evaluation is more than {FULL_EVERY} old"
    if _reads_deliveries(rule.when):
        return "it reads other rules' deliveries (received)"
    return None


def _reads_deliveries(cond: Condition) -> bool:
    match cond:
        case All(items) | Any_(items):
            return any(_reads_deliveries(c) for c in items)
        case Not(item):
            return _reads_deliveries(item)
        case Received():
            return True
    return False


def relative_times(cond: Condition) -> list[RelativeTime]:
    match cond:
        case All(items) | Any_(items):
            return [r for c in items for r in relative_times(c)]
        case Not(item):
            return relative_times(item)
        case RelativeTime():
            return [cond]
    return []


def changed_accounts(
    session: Session, since: Since, rules: Iterable[Rule], last: datetime, now: datetime, contacts: bool = False
) -> set[int]:
    """Accounts any of ``rules`` may judge differently at ``now`` than at ``last``.

    Accounts (and, for contact-level rules, contacts) written since
    ``since.seen_at`` (with a margin), accounts with events past
    ``since.event_id`` (with a lag on PostgreSQL), and accounts a
    relative-time leaf's moving boundary passed between ``last`` and ``now``.
    """
    after = since.seen_at - UPDATED_MARGIN
    out = set(session.scalars(select(Account.id).where(Account.updated_at > after)))
    if contacts:
        out.update(session.scalars(select(Contact.account_id).where(Contact.updated_at > after).distinct()))
    lag = EVENT_ID_LAG if session.get_bind().dialect.name == "postgresql" else 0
    out.update(session.scalars(select(Event.account_id).where(Event.id > since.event_id - lag).distinct()))
    crossings = {Account: [], Contact: []}
    for rule in rules:
        for leaf in relative_times(rule.when):
            model = Account if leaf.field.entity == "account" else Contact
            column = getattr(model, leaf.field.name)
            # Each bound compares the value with now shifted by whole days; the
            # values that boundary moved past since ``last`` may have flipped.
            for days in (leaf.older_than, leaf.newer_than):
                if days is not None:
                    crossings[model].append(column.between(last - timedelta(days=days), now - timedelta(days=days)))
            if leaf.within_next is not None:
                crossings[model].append(column.between(last, now))
            for days in (leaf.within_next, leaf.after_next):
                if days is not None:
                    crossings[model].append(column.between(last + timedelta(days=days), now + timedelta(days=days)))
    if crossings[Account]:
        out.update(session.scalars(select(Account.id).where(or_(*crossings[Account]))))
    if crossings[Contact]:
        out.update(session.scalars(select(Contact.account_id).where(or_(*crossings[Contact])).distinct()))
    return out


def event_watermark(session: Session) -> int:
    """The highest event id now (0 without events): what the next incremental evaluation starts after."""
    return session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0
