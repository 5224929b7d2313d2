"""The figures the admin's dashboard shows, each one bounded query.

Counts of recent sends read a time range of the ``(created_at, id)`` index, never
the whole table; counts of failed and ``unknown`` messages walk the
``(status, created_at, id)`` index and stop at ``COUNT_CAP`` (shown as "10,000+"),
so the dashboard costs the same at a thousand deliveries or a million.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from engine.delivery.log import COUNT_CAP
from engine.models import TIERS, Account, Delivery, RuleState
from engine.models.delivery import TEST

# Statuses a person should look at: the send failed for good, or nobody knows whether it went.
ATTENTION = ("failed", "unknown")
# The circuit breaker's pause reason starts so (engine.rules.firing).
BREAKER_PREFIX = "circuit breaker:"
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SendCounts:
    """Deliveries written in [since, until), by (channel, status); test sends left out."""

    since: datetime
    counts: dict[tuple[str, str], int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def channels(self) -> list[str]:
        return sorted({channel for channel, _ in self.counts})

    @property
    def statuses(self) -> list[str]:
        return sorted({status for _, status in self.counts})

    def by_status(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for (_, status), n in self.counts.items():
            total[status] += n
        return total


@dataclass(frozen=True)
class AttentionRow:
    id: int
    created_at: datetime
    rule_id: str
    channel: str
    recipient: str
    status: str
    reason: str | None
    account: str


@dataclass(frozen=True)
class PausedRule:
    rule_id: str
    reason: str | None
    since: datetime

    @property
    def tripped(self) -> bool:
        """Paused by the circuit breaker rather than by a person."""
        return (self.reason or "").startswith(BREAKER_PREFIX)


@dataclass(frozen=True)
class DashboardStats:
    now: datetime
    today: SendCounts
    week: SendCounts
    # Per attention status, the count capped at COUNT_CAP + 1 (more than the cap shows as "cap+").
    attention: dict[str, int]
    newest_attention: list[AttentionRow]
    paused: list[PausedRule]
    accounts_by_tier: dict[str, int]

    @property
    def accounts(self) -> int:
        return sum(self.accounts_by_tier.values())


def send_counts_query(since: datetime, until: datetime) -> Select:
    """One range of the created_at index, grouped (the query alone, for EXPLAIN in bench/accounts_bench.py)."""
    return (
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.created_at >= since, Delivery.created_at < until, Delivery.status != TEST)
        .group_by(Delivery.channel, Delivery.status)
    )


def send_counts(session: Session, since: datetime, until: datetime) -> SendCounts:
    rows = session.execute(send_counts_query(since, until))
    return SendCounts(since, {(channel, status): n for channel, status, n in rows})


def attention_count_query(status: str, cap: int) -> Select:
    """Deliveries with ``status``, counted up to cap + 1 on its (status, created_at, id) index."""
    inner = select(Delivery.id).where(Delivery.status == status).limit(cap + 1).subquery()
    return select(func.count()).select_from(inner)


def attention_counts(session: Session, cap: int = COUNT_CAP) -> dict[str, int]:
    """Failed and unknown deliveries, each counted up to cap + 1."""
    return {status: session.scalar(attention_count_query(status, cap)) or 0 for status in ATTENTION}


def newest_attention_query(status: str, limit: int) -> Select:
    """The top of the (status, created_at, id) index, with the account's own id."""
    return (
        select(
            Delivery.id, Delivery.created_at, Delivery.rule_id, Delivery.channel, Delivery.recipient,
            Delivery.status, Delivery.reason, Account.external_id,
        )
        .join(Account, Account.id == Delivery.account_id)
        .where(Delivery.status == status)
        .order_by(Delivery.created_at.desc(), Delivery.id.desc())
        .limit(limit)
    )  # fmt: skip


def newest_attention(session: Session, limit: int = 5) -> list[AttentionRow]:
    """The newest failed or unknown deliveries, merged from each status's own index."""
    rows: list[AttentionRow] = []
    for status in ATTENTION:
        rows += [AttentionRow(*row) for row in session.execute(newest_attention_query(status, limit))]
    rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return rows[:limit]


def paused_rules(session: Session) -> list[PausedRule]:
    rows = session.execute(
        select(RuleState.rule_id, RuleState.paused_reason, RuleState.updated_at)
        .where(RuleState.paused.is_(True))
        .order_by(RuleState.updated_at.desc())
    )
    return [PausedRule(*row) for row in rows]


def dashboard_stats(session: Session, now: datetime) -> DashboardStats:
    """Everything the dashboard shows from the database, as of ``now`` (today is the UTC day)."""
    midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    by_tier = dict.fromkeys(TIERS, 0)
    by_tier.update(session.execute(select(Account.tier, func.count()).group_by(Account.tier)).all())
    return DashboardStats(
        now=now,
        today=send_counts(session, midnight, now + timedelta(seconds=1)),
        week=send_counts(session, now - WEEK, now + timedelta(seconds=1)),
        attention=attention_counts(session),
        newest_attention=newest_attention(session),
        paused=paused_rules(session),
        accounts_by_tier=by_tier,
    )
