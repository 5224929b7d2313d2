"""Set-wise SQL for a rule condition: one ``SELECT accounts.id ... WHERE <condition>``.

Usage, trend and change leaves read the daily rollups and ``account_changes``
through correlated subqueries, never raw events. Every leaf is made two-valued
(NULL becomes false) so ``not`` means what docs/rules.md says. Day boundaries
are computed here from ``now`` and bound as DATE/timestamp parameters, which
keeps the SQL the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, Float, String, and_, case, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from engine.models import Account, AccountChange, DailyContactActivity, DailyUsage
from engine.rules import sqlparts as sp
from engine.rules.ast import (
    ACCOUNT_FIELDS,
    CHANGE_FIELDS,
    All,
    Any_,
    Changed,
    Compare,
    Condition,
    FieldRef,
    Not,
    RelativeTime,
    Trend,
    Usage,
    Window,
)
from engine.rules.days import day_start, trend_windows, utc_today, window_days
from engine.rules.values import ORDER_OPS, constant_kind, check_field

accounts = Account.__table__
DU = DailyUsage.__table__
DCA = DailyContactActivity.__table__
AC = AccountChange.__table__


def matching_account_ids(session: Session, cond: Condition, now: datetime) -> set[int]:
    """Ids of the accounts for which ``cond`` holds at ``now``, in one query."""
    stmt = select(accounts.c.id).where(compile_condition(cond, now))
    return set(session.scalars(stmt))


def compile_condition(cond: Condition, now: datetime) -> ColumnElement[bool]:
    """``cond`` as a boolean SQL expression over the ``accounts`` table."""
    return _Compiler(now).visit(cond)


def _truth(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """``expr`` with NULL read as false, so NOT/AND/OR around it stay two-valued."""
    return case((expr, 1), else_=0) == 1


def _num(value: Any) -> ColumnElement[float]:
    return literal(float(value), Float())


def _number_op(expr: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    """A metric (possibly NULL = missing) compared with a number."""
    if op == "between":
        low, high = value
        return _truth(and_(expr >= _num(low), expr <= _num(high)))
    return _truth(_COMPARE[op](expr, _num(value)))


_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


class _Compiler:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today = utc_today(now)

    def visit(self, cond: Condition) -> ColumnElement[bool]:
        match cond:
            case All(items):
                return and_(*(self.visit(c) for c in items)) if items else true()
            case Any_(items):
                return or_(*(self.visit(c) for c in items)) if items else false()
            case Not(item):
                return not_(self.visit(item))
            case Compare():
                return self.compare(cond)
            case RelativeTime():
                return self.relative_time(cond)
            case Usage():
                return _number_op(self.usage_metric(cond), cond.op, cond.value)
            case Trend():
                return _number_op(self.trend_percent(cond), cond.op, cond.value)
            case Changed():
                return self.changed(cond)
        raise TypeError(f"not a rule condition: {cond!r}")

    # -- fields -------------------------------------------------------------

    def _accessors(self, ref: FieldRef) -> tuple[dict[str, ColumnElement[Any]], ColumnElement[bool]]:
        """(value by constant kind, "is present"): the typed SQL views of a field."""
        if ref.entity != "account":
            raise NotImplementedError(f"{ref}: contact fields are not supported in account rules yet")
        if ref.trait:
            col = accounts.c.traits
            kind = sp.JsonKind(col, ref.name)
            views = {
                "string": sp.JsonText(col, ref.name),
                "number": sp.JsonNumber(col, ref.name),
                "boolean": sp.JsonBool(col, ref.name),
            }
            return views, _truth(and_(kind.isnot(None), kind != "null"))
        col = accounts.c[ref.name]
        kind = ACCOUNT_FIELDS[ref.name]
        views = {"text": {"string": col}, "number": {"number": cast(col, Float())}, "time": {}}[kind]
        return views, col.isnot(None)

    def compare(self, cond: Compare) -> ColumnElement[bool]:
        check_field(cond)
        views, present = self._accessors(cond.field)
        op, value = cond.op, cond.value
        if op == "exists":
            return present if value else not_(present)
        if op == "in":
            return or_(false(), *(self._scalar(views, "eq", v) for v in value))
        if op == "not_in":
            # Present, of the type of some constant (any type for an empty list), equal to none.
            kinds = {constant_kind(v) for v in value}
            typed = or_(false(), *(_truth(views[k].isnot(None)) for k in kinds if k in views)) if kinds else present
            return and_(typed, not_(or_(false(), *(self._scalar(views, "eq", v) for v in value))))
        if op == "between":
            low, high = value
            return and_(self._scalar(views, "gte", low), self._scalar(views, "lte", high))
        return self._scalar(views, op, value)

    def _scalar(self, views: dict[str, ColumnElement[Any]], op: str, value: Any) -> ColumnElement[bool]:
        kind = constant_kind(value)
        expr = views.get(kind)
        if expr is None:
            return false()  # a value of another type never matches
        if kind == "number":
            const: ColumnElement[Any] = _num(value)
        elif kind == "boolean":
            const = literal(1 if value else 0)
        else:
            const = literal(value, String())
        if op == "contains":
            return _truth(sp.StrPos(expr, const) > 0)
        if op == "starts_with":
            return _truth(sp.StrPos(expr, const) == 1)
        if kind == "string" and op in ORDER_OPS:
            expr = sp.Ordered(expr)  # code-point order, as in Python
        return _truth(_COMPARE[op](expr, const))

    def relative_time(self, cond: RelativeTime) -> ColumnElement[bool]:
        check_field(cond)
        col = accounts.c[cond.field.name]
        now, parts = self.now, [col.isnot(None)]
        if cond.older_than is not None:
            parts.append(col <= now - timedelta(days=cond.older_than))
        if cond.newer_than is not None:
            parts.append(col > now - timedelta(days=cond.newer_than))
        if cond.within_next is not None:
            parts += [col >= now, col <= now + timedelta(days=cond.within_next)]
        if cond.after_next is not None:
            parts.append(col > now + timedelta(days=cond.after_next))
        return _truth(and_(*parts))

    # -- usage ----------------------------------------------------------------

    def _in_window(self, table, event: str, window: Window | None) -> list[ColumnElement[bool]]:
        """Rows of ``table`` for this account and event in the window (all days up to today if None)."""
        after, upto = (None, self.today) if window is None else window_days(window, self.today)
        parts = [table.c.account_id == accounts.c.id, table.c.event_name == event, table.c.day <= upto]
        if after is not None:
            parts.append(table.c.day > after)
        return parts

    def _event_count(self, event: str, window: Window | None) -> ColumnElement[Any]:
        total = func.coalesce(func.sum(DU.c.count), 0)
        return select(total).where(*self._in_window(DU, event, window)).scalar_subquery()

    def usage_metric(self, cond: Usage) -> ColumnElement[Any]:
        if cond.metric == "count":
            return self._event_count(cond.event, cond.window)
        if cond.metric == "active_days":
            rows = self._in_window(DU, cond.event, cond.window)
            return select(func.count()).where(*rows, DU.c.count > 0).scalar_subquery()
        if cond.metric == "active_contacts":
            rows = self._in_window(DCA, cond.event, cond.window)
            return select(func.count(func.distinct(DCA.c.contact_id))).where(*rows).scalar_subquery()
        if cond.metric == "days_since_last":
            rows = self._in_window(DU, cond.event, None)
            last = select(func.max(DU.c.day)).where(*rows, DU.c.count > 0).scalar_subquery()
            return sp.DaysBetween(literal(self.today, Date()), last)
        raise ValueError(f"unknown usage metric {cond.metric!r}")

    def trend_percent(self, cond: Trend) -> ColumnElement[Any]:
        current_w, previous_w = trend_windows(cond.days)
        current, previous = self._event_count(cond.event, current_w), self._event_count(cond.event, previous_w)
        # CASE, not AND: PostgreSQL may evaluate AND operands in any order and would divide by zero.
        percent = _num(100) * cast(current - previous, Float()) / cast(previous, Float())
        return case((and_(previous > 0, previous >= _num(cond.min_baseline)), percent))

    def changed(self, cond: Changed) -> ColumnElement[bool]:
        if cond.field not in CHANGE_FIELDS:
            raise ValueError(f"changed: {cond.field!r} is not tracked (only {', '.join(CHANGE_FIELDS)})")
        after, upto = window_days(cond.window, self.today)
        return exists().where(
            AC.c.account_id == accounts.c.id,
            AC.c.field == cond.field,
            AC.c.changed_at >= day_start(after + timedelta(days=1)),
            AC.c.changed_at < day_start(upto + timedelta(days=1)),
        )


__all__ = ["compile_condition", "matching_account_ids"]
