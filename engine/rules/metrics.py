"""Usage metrics shared by many rules, computed in one grouped pass per rollup table.

Every usage or trend leaf of the rules in a cycle names a metric: an event,
an aggregate and a day range. ``MetricSet`` collects the distinct ones, and
builds one ``GROUP BY account_id`` query per event over ``daily_usage`` (and
over ``daily_contact_activity`` for distinct contacts) with a conditional
aggregate column per metric; the rollups' event-major key makes each one
ordered range scan. The compiler then reads a leaf as a column of those
derived tables instead of a correlated subquery, so fifty rules that all ask
about ``login`` in the last 30 days read each rollup row once, not fifty times.

The values are exactly those of the per-leaf subqueries (engine.rules.compiler
without a MetricSet), so the two paths agree; tests hold them to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.sql.expression import ColumnElement, Subquery

from engine.models import DailyContactActivity, DailyUsage
from engine.rules.ast import All, Any_, Condition, Not, Trend, Usage, Window
from engine.rules.days import trend_windows, window_days

DU = DailyUsage.__table__
DCA = DailyContactActivity.__table__

Aggregate = Literal["count", "active_days", "last_day", "contacts"]


@dataclass(frozen=True)
class Metric:
    """One aggregate of one event over the days ``after < day <= upto`` (no lower bound if after is None)."""

    aggregate: Aggregate
    event: str
    after: date | None
    upto: date

    @property
    def source(self) -> str:
        return "contacts" if self.aggregate == "contacts" else "usage"


_AGGREGATE_OF = {"count": "count", "active_days": "active_days", "days_since_last": "last_day",
                 "active_contacts": "contacts"}  # fmt: skip


def metric_for(event: str, metric: str, window: Window | None, today: date) -> Metric:
    """The Metric a usage leaf reads; ``days_since_last`` ignores the window (all days up to today)."""
    aggregate: Aggregate = _AGGREGATE_OF[metric]  # type: ignore[assignment]
    if window is None or aggregate == "last_day":
        return Metric(aggregate, event, None, today)
    after, upto = window_days(window, today)
    return Metric(aggregate, event, after, upto)


def trend_metrics(cond: Trend, today: date) -> tuple[Metric, Metric]:
    """(current, previous) event counts of a trend leaf."""
    current, previous = trend_windows(cond.days)
    return metric_for(cond.event, "count", current, today), metric_for(cond.event, "count", previous, today)


def leaf_metrics(cond: Condition, today: date) -> list[Metric]:
    """Every metric a condition tree reads."""
    match cond:
        case All(items) | Any_(items):
            return [m for c in items for m in leaf_metrics(c, today)]
        case Not(item):
            return leaf_metrics(item, today)
        case Usage():
            return [metric_for(cond.event, cond.metric, cond.window, today)]
        case Trend():
            return list(trend_metrics(cond, today))
    return []


class MetricSet:
    """The distinct metrics of some conditions, as columns of per-account derived tables.

    ``value(metric)`` is the SQL value the compiler uses for a leaf: counts are 0
    for an account without rows (LEFT JOIN gives NULL), a last day stays NULL.
    ``join(from_)`` LEFT JOINs the derived tables onto a FROM clause holding
    ``accounts``.
    """

    def __init__(self, conditions: list[Condition], today: date, account_ids: Sequence[int] | None = None) -> None:
        self.today = today
        self.account_ids = account_ids  # only these accounts' rows (an incremental pass)
        seen: dict[Metric, None] = {}
        for cond in conditions:
            for metric in leaf_metrics(cond, today):
                seen.setdefault(metric, None)
        self.metrics = list(seen)
        self._tables: list[Subquery] = []
        self._columns: dict[Metric, ColumnElement[Any]] = {}
        # One derived table per (rollup table, event): the key is event-major,
        # so each is one ordered range scan, and a row only meets the
        # aggregates of its own event.
        for source, table in (("usage", DU), ("contacts", DCA)):
            for event in sorted({m.event for m in self.metrics if m.source == source}):
                mine = [m for m in self.metrics if m.source == source and m.event == event]
                sub = self._grouped(table, event, mine, f"{source}_{len(self._tables)}")
                self._tables.append(sub)
                for i, m in enumerate(mine):
                    self._columns[m] = sub.c[f"m{i}"]

    def __bool__(self) -> bool:
        return bool(self.metrics)

    @property
    def derived_tables(self) -> int:
        return len(self._tables)

    def _grouped(self, table, event: str, metrics: list[Metric], name: str) -> Subquery:
        # Rows outside every metric's range are filtered before grouping.
        lowest = None if any(m.after is None for m in metrics) else min(m.after for m in metrics)  # type: ignore[type-var]
        where = [table.c.event_name == event, table.c.day <= self.today]
        if lowest is not None:
            where.append(table.c.day > lowest)
        if self.account_ids is not None:
            where.append(table.c.account_id.in_(self.account_ids))
        columns = [table.c.account_id] + [self._aggregate(table, m).label(f"m{i}") for i, m in enumerate(metrics)]
        return select(*columns).where(*where).group_by(table.c.account_id).subquery(name)

    def _aggregate(self, table, m: Metric) -> ColumnElement[Any]:
        # The WHERE already bounds days by today: only narrower bounds cost a comparison.
        inside = [table.c.day <= m.upto] if m.upto < self.today else []
        if m.after is not None:
            inside.append(table.c.day > m.after)
        if m.aggregate in ("active_days", "last_day"):
            inside.append(table.c.count > 0)
        value = table.c[{"count": "count", "last_day": "day", "contacts": "contact_id"}[m.aggregate]] \
            if m.aggregate != "active_days" else literal(1)
        if inside:
            value = case((and_(*inside), value))
        if m.aggregate == "last_day":
            return func.max(value)
        if m.aggregate == "contacts":
            return func.count(func.distinct(value))
        return func.sum(value)

    def value(self, metric: Metric) -> ColumnElement[Any]:
        column = self._columns[metric]
        return column if metric.aggregate == "last_day" else func.coalesce(column, 0)

    def join(self, from_, account_id: ColumnElement[int]):
        for sub in self._tables:
            from_ = from_.outerjoin(sub, sub.c.account_id == account_id)
        return from_


__all__ = ["Metric", "MetricSet", "leaf_metrics", "metric_for", "trend_metrics"]
