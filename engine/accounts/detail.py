"""One account as the admin's account page and ``touchline accounts show`` read it.

Everything comes from indexed reads of one account: its row, contacts, change
history, the usage rollups (one probe per event name on their event-first key),
its deliveries of the last 90 days (the send log's (account_id, created_at)
index) and the clicks and opens of their email (the engagements' (account_id, at)
index), its contacts' suppressions, and, for every applied rule, the same
one-account explanation ``touchline explain`` prints.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.models import Account, AccountChange, Contact, DailyUsage, Delivery, DeliveryEngagement, Nudge, NudgeEvent, Suppression
from engine.rules.days import utc_today
from engine.rules.evaluate import ExplainNode, explain
from engine.rules.facts import events_of, load_contact_facts_many, load_facts_many, rules_of
from engine.rules.versions import active_rules

# Days of usage and timeline shown.
DAYS = 90
# Newest deliveries in the timeline: a noisy account must not make the page unbounded.
MAX_DELIVERIES = 300
# And the newest clicks and opens.
MAX_ENGAGEMENTS = 300
# Contacts explained one by one for a contact-level rule; the rest are counted only.
MAX_CONTACT_EXPLANATIONS = 20


class UnknownAccount(LookupError):
    """No account has the external id asked for."""


@dataclass(frozen=True)
class ContactInfo:
    external_id: str
    name: str | None
    email: str | None
    role: str
    locale: str | None
    timezone: str | None
    last_seen_at: datetime | None
    # (category, reason) of each suppression of the address; category '*' is every category.
    suppressions: tuple[tuple[str, str], ...] = ()

    @property
    def unsubscribed(self) -> bool:
        return bool(self.suppressions)


@dataclass(frozen=True)
class Change:
    field: str
    old_value: str | None
    new_value: str | None
    changed_at: datetime
    source: str


@dataclass(frozen=True)
class UsageSeries:
    """Daily counts of one event over the window, oldest day first, zeros included."""

    event: str
    days: tuple[tuple[date, int], ...]
    # Read by an applied rule's condition or goal: what this installation treats as a key feature.
    key: bool

    @property
    def total(self) -> int:
        return sum(count for _, count in self.days)


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "change", "delivery", "suppression", "click", "open", "nudge"
    text: str
    status: str | None = None
    flagged: str | None = None  # a click or open that looks like a link scanner's: why


@dataclass(frozen=True)
class TimelineDay:
    day: date
    # Events that day from the rollups, by name: raw events are not indexed by account.
    events: tuple[tuple[str, int], ...]
    items: tuple[TimelineItem, ...]


@dataclass(frozen=True)
class SubjectCheck:
    """One subject's explanation: the account, or for a contact-level rule one contact."""

    subject: str
    held: bool
    tree: ExplainNode


@dataclass(frozen=True)
class RuleCheck:
    rule_id: str
    name: str
    level: str
    version: int
    paused: bool
    paused_reason: str | None
    checks: tuple[SubjectCheck, ...]
    # Contact-level: contacts matching, contacts in all (those past MAX_CONTACT_EXPLANATIONS counted, not listed).
    matching: int = 0
    subjects: int = 0

    @property
    def matches(self) -> bool:
        return self.matching > 0


@dataclass
class AccountDetail:
    external_id: str
    name: str
    tier: str
    plan: str | None
    owner: str | None
    mrr: Decimal | None
    arr: Decimal | None
    signup_at: datetime | None
    renewal_at: datetime | None
    timezone: str | None
    locale: str | None
    created_at: datetime
    traits: dict[str, Any]
    now: datetime
    contacts: list[ContactInfo] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    usage: list[UsageSeries] = field(default_factory=list)
    timeline: list[TimelineDay] = field(default_factory=list)
    rules: list[RuleCheck] = field(default_factory=list)
    # True when the timeline shows only the newest MAX_DELIVERIES deliveries of the window.
    deliveries_capped: bool = False
    # True when it shows only the newest MAX_ENGAGEMENTS clicks and opens of the window.
    engagements_capped: bool = False


def account_detail(session: Session, external_id: str, now: datetime) -> AccountDetail:
    """Everything the account page shows, as of ``now``.

    Raises:
        UnknownAccount: no account has that external id.
    """
    account = session.scalar(select(Account).where(Account.external_id == external_id))
    if account is None:
        raise UnknownAccount(f"no account with id {external_id!r}")
    detail = AccountDetail(
        external_id=account.external_id, name=account.name, tier=account.tier, plan=account.plan,
        owner=account.owner, mrr=account.mrr, arr=account.arr, signup_at=account.signup_at,
        renewal_at=account.renewal_at, timezone=account.timezone, locale=account.locale,
        created_at=account.created_at, traits=dict(account.traits or {}), now=now,
    )  # fmt: skip
    contacts = list(
        session.scalars(select(Contact).where(Contact.account_id == account.id).order_by(Contact.external_id))
    )
    suppressions = _suppressions(session, [c.email for c in contacts if c.email])
    detail.contacts = [
        ContactInfo(
            c.external_id, c.name, c.email, c.role, c.locale, c.timezone, c.last_seen_at,
            tuple((s.category, s.reason) for s in suppressions.get((c.email or "").strip().lower(), ())),
        )  # fmt: skip
        for c in contacts
    ]
    detail.changes = [
        Change(c.field, c.old_value, c.new_value, c.changed_at, c.source)
        for c in session.scalars(
            select(AccountChange).where(AccountChange.account_id == account.id).order_by(AccountChange.changed_at.desc(), AccountChange.id.desc())
        )
    ]  # fmt: skip
    rules = active_rules(session, include_paused=True)
    key_events = set().union(*(events_of(rule.when) | _goal_events(rule.goal) for _, _, rule in rules))
    today = utc_today(now)
    first = today - timedelta(days=DAYS - 1)
    counts = _usage(session, account.id, first, today)
    detail.usage = _series(counts, key_events, first)
    detail.timeline, detail.deliveries_capped, detail.engagements_capped = _timeline(
        session, account.id, detail, counts, suppressions, first, now
    )
    detail.rules = _rule_checks(session, account.id, contacts, rules, now)
    return detail


def event_names(session: Session) -> list[str]:
    """Every event name in the rollups, by a skip scan of their event-first key (one probe per name)."""
    rows = session.execute(
        text(
            "WITH RECURSIVE names(name) AS ("
            " SELECT min(event_name) FROM daily_usage"
            " UNION ALL"
            " SELECT (SELECT min(event_name) FROM daily_usage WHERE event_name > names.name)"
            " FROM names WHERE names.name IS NOT NULL"
            ") SELECT name FROM names WHERE name IS NOT NULL"
        )
    )
    return [name for (name,) in rows]


def _usage(session: Session, account_id: int, first: date, last: date) -> dict[tuple[str, date], int]:
    names = event_names(session)
    if not names:
        return {}
    # event_name IN (...) leads the rollup's key, so each name is one index range, not a scan.
    rows = session.execute(
        select(DailyUsage.event_name, DailyUsage.day, DailyUsage.count).where(
            DailyUsage.event_name.in_(names),
            DailyUsage.account_id == account_id,
            DailyUsage.day >= first,
            DailyUsage.day <= last,
        )
    )
    return {(name, day): count for name, day, count in rows}


def _series(counts: dict[tuple[str, date], int], key_events: set[str], first: date) -> list[UsageSeries]:
    names = sorted(key_events | {name for name, _ in counts}, key=lambda n: (n not in key_events, n))
    days = [first + timedelta(days=i) for i in range(DAYS)]
    return [UsageSeries(name, tuple((d, counts.get((name, d), 0)) for d in days), name in key_events) for name in names]


def _suppressions(session: Session, addresses: list[str]) -> dict[str, list[Suppression]]:
    normal = sorted({a.strip().lower() for a in addresses})
    found: dict[str, list[Suppression]] = defaultdict(list)
    if normal:
        for row in session.scalars(
            select(Suppression).where(Suppression.address.in_(normal)).order_by(Suppression.created_at)
        ):
            found[row.address].append(row)
    return found


def _timeline(
    session: Session,
    account_id: int,
    detail: AccountDetail,
    counts: dict[tuple[str, date], int],
    suppressions: dict[str, list[Suppression]],
    first: date,
    now: datetime,
) -> tuple[list[TimelineDay], bool, bool]:
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    items: dict[date, list[TimelineItem]] = defaultdict(list)
    for change in detail.changes:
        if start <= change.changed_at <= now:
            text_ = f"{change.field}: {change.old_value or '—'} → {change.new_value or '—'} ({change.source})"
            items[change.changed_at.date()].append(TimelineItem(change.changed_at, "change", text_))
    deliveries = list(
        session.execute(
            select(Delivery.created_at, Delivery.rule_id, Delivery.channel, Delivery.recipient, Delivery.status, Delivery.reason)
            .where(
                Delivery.account_id == account_id,
                Delivery.created_at >= start,
                Delivery.created_at <= now,
                Delivery.status != "test",
            )
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(MAX_DELIVERIES + 1)
        )
    )  # fmt: skip
    capped = len(deliveries) > MAX_DELIVERIES
    for at, rule_id, channel, recipient, status, reason in deliveries[:MAX_DELIVERIES]:
        text_ = f"{rule_id}: {channel} to {recipient}" + (f" ({reason})" if reason and status != "sent" else "")
        items[at.date()].append(TimelineItem(at, "delivery", text_, status))
    E = DeliveryEngagement
    engagements = list(
        session.execute(
            select(E.at, E.kind, E.url, E.flagged, Delivery.rule_id, Delivery.recipient)
            .join(Delivery, Delivery.id == E.delivery_id)
            .where(E.account_id == account_id, E.at >= start, E.at <= now, Delivery.status != "test")
            .order_by(E.at.desc(), E.id.desc())
            .limit(MAX_ENGAGEMENTS + 1)
        )
    )  # fmt: skip
    for at, kind, url, flagged, rule_id, recipient in engagements[:MAX_ENGAGEMENTS]:
        text_ = f"{rule_id}: {recipient}" + (f" → {url}" if url else "")
        items[at.date()].append(TimelineItem(at, kind, text_, flagged=flagged))
    # What the product reported of the account's nudges: a few per nudge at most.
    nudge_events = session.execute(
        select(NudgeEvent.at, NudgeEvent.type, Delivery.rule_id, Delivery.recipient)
        .join(Nudge, Nudge.id == NudgeEvent.nudge_id)
        .join(Delivery, Delivery.id == Nudge.delivery_id)
        .where(Nudge.account_id == account_id, NudgeEvent.at >= start, NudgeEvent.at <= now)
        .order_by(NudgeEvent.at.desc(), NudgeEvent.id.desc())
        .limit(MAX_ENGAGEMENTS)
    )  # fmt: skip
    for at, event_type, rule_id, recipient in nudge_events:
        items[at.date()].append(TimelineItem(at, "nudge", f"{rule_id}: {recipient}", event_type))
    for address, rows in suppressions.items():
        for row in rows:
            if start <= row.created_at <= now:
                scope = "all categories" if row.category == "*" else f"category {row.category}"
                text_ = f"{address} {row.reason} ({scope}, {row.source})"
                items[row.created_at.date()].append(TimelineItem(row.created_at, "suppression", text_))
    by_day: dict[date, dict[str, int]] = defaultdict(dict)
    for (name, day), count in counts.items():
        by_day[day][name] = count
    days = sorted(set(items) | set(by_day), reverse=True)
    timeline = [
        TimelineDay(
            day,
            tuple(sorted(by_day.get(day, {}).items(), key=lambda kv: (-kv[1], kv[0]))),
            tuple(sorted(items.get(day, []), key=lambda item: item.at, reverse=True)),
        )
        for day in days
    ]
    return timeline, capped, len(engagements) > MAX_ENGAGEMENTS


def _rule_checks(session: Session, account_id: int, contacts: list[Contact], rules, now: datetime) -> list[RuleCheck]:
    """Every applied rule (paused ones too, marked) explained for this account, as ``touchline explain`` does."""
    if not rules:
        return []
    events = set().union(*(events_of(rule.when) for _, _, rule in rules))
    named = set().union(*(rules_of(rule.when) for _, _, rule in rules))
    # One load for every rule: extra events and rules in the facts change no rule's answer.
    account_facts = load_facts_many(session, [account_id], now, events, named)[account_id]
    contact_ids = [c.id for c in contacts]
    contact_facts = {}
    if any(rule.level == "contact" for _, _, rule in rules) and contact_ids:
        contact_facts = load_contact_facts_many(session, contact_ids[:MAX_CONTACT_EXPLANATIONS], now, events, named)
    out = []
    for state, version, rule in rules:
        common = dict(
            rule_id=rule.id, name=rule.name, level=rule.level, version=version.version,
            paused=state.paused, paused_reason=state.paused_reason,
        )  # fmt: skip
        if rule.level == "contact":
            checks = []
            for contact in contacts[:MAX_CONTACT_EXPLANATIONS]:
                tree = explain(rule.when, contact_facts[contact.id], now)
                checks.append(SubjectCheck(contact.external_id, tree.held, tree))
            out.append(RuleCheck(**common, checks=tuple(checks), matching=sum(c.held for c in checks), subjects=len(contacts)))
        else:
            tree = explain(rule.when, account_facts, now)
            out.append(RuleCheck(**common, checks=(SubjectCheck("account", tree.held, tree),), matching=int(tree.held), subjects=1))
    return out


def _goal_events(goal) -> set[str]:
    """The events a rule's goal reads: its event, or those of its condition (none to leave the segment)."""
    if goal is None:
        return set()
    if goal.condition is not None:
        return events_of(goal.condition)
    return {goal.event} if goal.event else set()
