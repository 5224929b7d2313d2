"""One account's (or contact's) facts for the Python evaluator, read with a few indexed queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, AccountChange, Contact, DailyContactActivity, DailyUsage, Delivery
from engine.rules.ast import ACCOUNT_FIELDS, CONTACT_FIELDS, All, Any_, Condition, Not, Received, Trend, Usage
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
    # Sent deliveries of the rules the condition names: (rule_id, action_index, template, sent_at).
    sent: list[tuple[str, int, str, datetime]] = field(default_factory=list)
    # The rules whose deliveries ``sent`` holds: evaluating another rule's "received" is a caller's mistake.
    sent_rules: frozenset[str] = frozenset()


@dataclass
class ContactFacts:
    """The subject of a contact-level rule: one contact's fields and traits, and its account's facts
    (contacts of one account share one AccountFacts)."""

    contact_id: int
    # CONTACT_FIELDS values.
    fields: dict[str, Any]
    traits: dict[str, Any]
    account: AccountFacts


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


def contact_events_of(cond: Condition) -> set[str]:
    """Event names whose distinct active contacts the condition reads (active_contacts)."""
    match cond:
        case All(items) | Any_(items):
            return set().union(*(contact_events_of(c) for c in items))
        case Not(item):
            return contact_events_of(item)
        case Usage(event=event, metric="active_contacts"):
            return {event}
    return set()


def rules_of(cond: Condition) -> set[str]:
    """Rule ids the condition's ``received`` leaves name, so load_facts fetches only their deliveries."""
    match cond:
        case All(items) | Any_(items):
            return set().union(*(rules_of(c) for c in items))
        case Not(item):
            return rules_of(item)
        case Received(rule=rule):
            return {rule}
    return set()


def load_facts(
    session: Session, account_id: int, now: datetime, events: set[str], rules: Iterable[str] = ()
) -> AccountFacts:
    """Facts as of ``now``: rollup days after today are left out, as the SQL path ignores them."""
    facts = load_facts_many(session, [account_id], now, events, rules)
    if account_id not in facts:
        raise LookupError(f"no account with id {account_id}")
    return facts[account_id]


def load_facts_many(
    session: Session,
    account_ids: Iterable[int],
    now: datetime,
    events: set[str],
    rules: Iterable[str] = (),
    contact_events: set[str] | None = None,
) -> dict[int, AccountFacts]:
    """Facts for many accounts with a handful of queries per chunk of ids, not per account.

    ``events`` and ``rules`` are what the condition reads (events_of, rules_of);
    ``contact_events`` the events whose per-contact activity it reads
    (contact_events_of; default: all of ``events``). Core columns, not ORM
    entities: this runs for every firing of the evaluation cycle."""
    out: dict[int, AccountFacts] = {}
    today = utc_today(now)
    names = sorted(events)
    per_contact = names if contact_events is None else sorted(contact_events)
    rule_ids = sorted(set(rules))
    A, DU, DCA, AC, DL = (m.__table__ for m in (Account, DailyUsage, DailyContactActivity, AccountChange, Delivery))
    columns = [A.c[name] for name in ACCOUNT_FIELDS]
    for part in chunks(sorted(set(account_ids)), CHUNK):
        for row in session.execute(select(A.c.id, A.c.traits, *columns).where(A.c.id.in_(part))):
            values = {
                name: float(value) if isinstance(value, Decimal) else value
                for name, value in zip(ACCOUNT_FIELDS, row[2:], strict=True)
            }
            out[row[0]] = AccountFacts(row[0], values, dict(row[1] or {}), sent_rules=frozenset(rule_ids))
        if names:
            usage = select(DU.c.account_id, DU.c.event_name, DU.c.day, DU.c.count).where(
                DU.c.account_id.in_(part), DU.c.event_name.in_(names), DU.c.day <= today
            )
            for account_id, name, day, count in session.execute(usage):
                out[account_id].usage[(name, day)] = count
        if per_contact:
            active = select(DCA.c.account_id, DCA.c.event_name, DCA.c.day, DCA.c.contact_id).where(
                DCA.c.account_id.in_(part), DCA.c.event_name.in_(per_contact), DCA.c.day <= today
            )
            for account_id, name, day, contact_id in session.execute(active):
                out[account_id].contacts.setdefault((name, day), set()).add(contact_id)
        changes = select(AC.c.account_id, AC.c.field, AC.c.changed_at).where(AC.c.account_id.in_(part))
        for account_id, name, at in session.execute(changes):
            out[account_id].changes.append((name, at))
        if rule_ids:
            sent = (
                select(DL.c.account_id, DL.c.rule_id, DL.c.action_index, DL.c.template, DL.c.sent_at)
                .where(
                    DL.c.account_id.in_(part),
                    DL.c.rule_id.in_(rule_ids),
                    DL.c.status == "sent",
                    DL.c.sent_at.isnot(None),
                )
                .order_by(DL.c.id)
            )
            for account_id, rule_id, index, template, at in session.execute(sent):
                out[account_id].sent.append((rule_id, index, template, at))
    return out


def load_contact_facts(
    session: Session, contact_id: int, now: datetime, events: set[str], rules: Iterable[str] = ()
) -> ContactFacts:
    """One contact's facts as of ``now`` (see load_contact_facts_many)."""
    facts = load_contact_facts_many(session, [contact_id], now, events, rules)
    if contact_id not in facts:
        raise LookupError(f"no contact with id {contact_id}")
    return facts[contact_id]


def load_contact_facts_many(
    session: Session, contact_ids: Iterable[int], now: datetime, events: set[str], rules: Iterable[str] = ()
) -> dict[int, ContactFacts]:
    """Facts for many contacts of a contact-level rule: the contacts in chunks of ids, then
    their accounts' facts with load_facts_many (``events``, ``rules``: events_of, rules_of)."""
    rows: list[tuple[int, int, dict[str, Any], dict[str, Any]]] = []
    columns = [getattr(Contact, name) for name in CONTACT_FIELDS]
    for part in chunks(sorted(set(contact_ids)), CHUNK):
        stmt = select(Contact.id, Contact.account_id, Contact.traits, *columns).where(Contact.id.in_(part))
        for row in session.execute(stmt):
            rows.append((row.id, row.account_id, dict(zip(CONTACT_FIELDS, row[3:], strict=True)), dict(row.traits or {})))
    accounts = load_facts_many(session, {account_id for _, account_id, _, _ in rows}, now, events, rules)
    return {
        contact_id: ContactFacts(contact_id, values, traits, accounts[account_id])
        for contact_id, account_id, values, traits in rows
    }
