"""Set-wise SQL for a rule condition: one ``SELECT accounts.id ... WHERE <condition>``.

Usage, trend and change leaves read the daily rollups and ``account_changes``
through correlated subqueries, never raw events. Every leaf is made two-valued
(NULL becomes false) so ``not`` means what docs/rules.md says. Day boundaries
are computed here from ``now`` and bound as DATE/timestamp parameters, which
keeps the SQL the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import reduce
from typing import Any, Literal, TypeVar

from sqlalchemy import BigInteger, Float, String, and_, case, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from engine.models.base import DayNumber
from engine.models import Account, AccountChange, Contact, DailyContactActivity, DailyUsage, Delivery
from engine.rules import sqlparts as sp
from engine.rules.ast import (
    ACCOUNT_FIELDS,
    CHANGE_FIELDS,
    CONTACT_FIELDS,
    All,
    Any_,
    Changed,
    Compare,
    Condition,
    FieldRef,
    Not,
    Received,
    RelativeTime,
    Trend,
    Usage,
    Window,
)
from engine.rules.days import day_start, trend_windows, utc_today, window_days
from engine.rules.metrics import MetricSet, metric_for, trend_metrics
from engine.rules.values import ORDER_OPS, constant_kind, check_field
from engine.sqlutil import chunks

accounts = Account.__table__
contacts = Contact.__table__
DU = DailyUsage.__table__
DCA = DailyContactActivity.__table__
AC = AccountChange.__table__
K = TypeVar("K")
DL = Delivery.__table__


def matching_account_ids(session: Session, cond: Condition, now: datetime) -> set[int]:
    """Ids of the accounts for which ``cond`` holds at ``now``, in one query."""
    stmt = select(accounts.c.id).where(compile_condition(cond, now))
    return set(session.scalars(stmt))


def contacts_with_accounts():
    """The FROM clause of a contact-level rule: each contact with its account."""
    return contacts.join(accounts, accounts.c.id == contacts.c.account_id)


def matching_contact_ids(session: Session, cond: Condition, now: datetime) -> set[tuple[int, int]]:
    """(contact id, account id) of the contacts for which ``cond`` holds at ``now``, in one query.

    ``cond`` is a contact-level rule's condition: contact leaves read the
    contact, every other leaf its account (see engine.rules.ast).
    """
    stmt = (
        select(contacts.c.id, contacts.c.account_id)
        .select_from(contacts_with_accounts())
        .where(compile_contact_condition(cond, now))
    )
    return {(contact_id, account_id) for contact_id, account_id in session.execute(stmt)}


def compile_contact_condition(cond: Condition, now: datetime, metrics: MetricSet | None = None) -> ColumnElement[bool]:
    """``cond`` as a boolean SQL expression over ``contacts`` joined with ``accounts``.

    The FROM clause must hold both: ``contacts_with_accounts()``, or with
    ``metrics`` ``metrics.join(contacts_with_accounts(), accounts.c.id)``.
    Usage, trend, change and received leaves correlate on ``accounts.id``,
    so they read the contact's account.
    """
    return _Compiler(now, metrics, subject="contact").visit(cond)


def compile_condition(
    cond: Condition, now: datetime, metrics: MetricSet | None = None, *, as_of: bool = False
) -> ColumnElement[bool]:
    """``cond`` as a boolean SQL expression over the ``accounts`` table.

    With ``metrics`` (built from this condition, among others), usage leaves
    read its columns, and the FROM clause must be ``metrics.join(accounts)``.
    ``as_of`` (for backtests) reads account_changes as they stood at ``now``:
    owner, tier and plan take the old value of their first change after
    ``now`` (else the current value), and ``changed`` ignores later changes.
    """
    return _Compiler(now, metrics, as_of).visit(cond)


# Rules per result column of matching_sets: bit k of a BIGINT is rule k.
BITS = 62
# Account ids per incremental pass, and bound parameters per statement at most.
ONLY_CHUNK = 5000
PARAMETER_BUDGET = 30_000


def matching_sets(
    session: Session,
    conditions: Mapping[K, Condition],
    now: datetime,
    subject: Literal["account", "contact"] = "account",
    only: Sequence[int] | None = None,
) -> dict[K, set[Any]]:
    """The matches of many conditions in one pass over the subjects and the rollups.

    Usage metrics are computed once for all conditions (engine.rules.metrics);
    each condition becomes one bit of an integer per subject, so the database
    reads every account and rollup row once however many rules there are.
    Account conditions give account ids; contact-level ones (contact id,
    account id) pairs. ``only`` limits the pass to those account ids (an
    incremental cycle), in chunks.
    """
    keys = list(conditions)
    out: dict[K, set[Any]] = {k: set() for k in keys}
    if not keys:
        return out
    if only is None:
        parts: list[Any] = [None]
    else:
        # The id list is bound once per derived table and once outside: keep the
        # statement under the smallest parameter limit (SQLite's default 32,766).
        tables = MetricSet(list(conditions.values()), utc_today(now)).derived_tables
        parts = list(chunks(sorted(set(only)), max(100, min(ONLY_CHUNK, PARAMETER_BUDGET // (1 + tables)))))
    for part in parts:
        metric_set = MetricSet(list(conditions.values()), utc_today(now), account_ids=part)
        compile_ = compile_condition if subject == "account" else compile_contact_condition
        masks = []
        for start in range(0, len(keys), BITS):
            terms = [
                case((compile_(conditions[k], now, metric_set), literal(1 << bit, BigInteger())),
                     else_=literal(0, BigInteger()))
                for bit, k in enumerate(keys[start : start + BITS])
            ]  # fmt: skip
            masks.append(reduce(operator.add, terms))
        if subject == "account":
            stmt = select(accounts.c.id, *masks).select_from(metric_set.join(accounts, accounts.c.id))
        else:
            stmt = select(contacts.c.id, contacts.c.account_id, *masks).select_from(
                metric_set.join(contacts_with_accounts(), accounts.c.id)
            )
        if part is not None:
            stmt = stmt.where(accounts.c.id.in_(part))
        for row in session.execute(stmt):
            subject_id = row[0] if subject == "account" else (row[0], row[1])
            for group, mask in enumerate(row[1 if subject == "account" else 2 :]):
                while mask:
                    low = mask & -mask
                    out[keys[group * BITS + low.bit_length() - 1]].add(subject_id)
                    mask ^= low
    return out


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
    def __init__(
        self, now: datetime, metrics: MetricSet | None = None, as_of: bool = False, subject: str = "account"
    ) -> None:
        self.subject = subject  # "contact": contacts is joined, and contact leaves read it
        self.now = now
        self.today = utc_today(now)
        self.metrics = metrics
        self.as_of = as_of

    def _cheap_first(self, items: tuple[Condition, ...]) -> list[Condition]:
        """``items`` ordered by evaluation cost: the databases stop at the first
        false of an AND (true of an OR), and every leaf is two-valued, so the
        order changes the work, never the result."""
        return sorted(items, key=self._cost)

    def _cost(self, cond: Condition) -> int:
        match cond:
            case All(items) | Any_(items):
                return sum(self._cost(c) for c in items)
            case Not(item):
                return self._cost(item)
            case Compare(field=field) | RelativeTime(field=field):
                return 4 if field.trait else 1  # a trait parses JSON on SQLite
            case Usage() | Trend():
                return 2 if self.metrics is not None else 20  # a column, or a subquery per row
        return 10  # EXISTS over another table

    def visit(self, cond: Condition) -> ColumnElement[bool]:
        match cond:
            case All(items):
                return and_(*(self.visit(c) for c in self._cheap_first(items))) if items else true()
            case Any_(items):
                return or_(*(self.visit(c) for c in self._cheap_first(items))) if items else false()
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
            case Received():
                return self.received(cond)
        raise TypeError(f"not a rule condition: {cond!r}")

    # -- fields -------------------------------------------------------------

    def _accessors(self, ref: FieldRef) -> tuple[dict[str, ColumnElement[Any]], ColumnElement[bool]]:
        """(value by constant kind, "is present"): the typed SQL views of a field."""
        if ref.entity == "contact":
            self._need_contact(ref)
            table, kinds = contacts, CONTACT_FIELDS
        else:
            table, kinds = accounts, ACCOUNT_FIELDS
        if ref.trait:
            col = table.c.traits
            kind = sp.JsonKind(col, ref.name)
            views = {
                "string": sp.JsonText(col, ref.name),
                "number": sp.JsonNumber(col, ref.name),
                "boolean": sp.JsonBool(col, ref.name),
            }
            return views, _truth(and_(kind.isnot(None), kind != "null"))
        if ref.entity == "account" and self.as_of and ref.name in CHANGE_FIELDS:
            col = self._value_as_of(ref.name)
        else:
            col = table.c[ref.name]
        views = {"text": {"string": col}, "number": {"number": cast(col, Float())}, "time": {}}[kinds[ref.name]]
        return views, col.isnot(None)

    def _need_contact(self, ref: FieldRef) -> None:
        if self.subject != "contact":
            raise ValueError(f"{ref}: contact fields need a contact-level rule (compile_contact_condition)")

    def _time_column(self, ref: FieldRef) -> ColumnElement[Any]:
        if ref.entity == "contact":
            self._need_contact(ref)
            return contacts.c[ref.name]
        return accounts.c[ref.name]

    def _value_as_of(self, name: str) -> ColumnElement[Any]:
        """A tracked field's value at ``now``: the old value of its first later change, else the current one."""
        later = (AC.c.account_id == accounts.c.id, AC.c.field == name, AC.c.changed_at > self.now)
        first = select(AC.c.old_value).where(*later).order_by(AC.c.changed_at, AC.c.id).limit(1).scalar_subquery()
        # CASE, not COALESCE: the old value may itself be NULL (an owner set for the first time).
        return case((exists().where(*later), first), else_=accounts.c[name])

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
        col = self._time_column(cond.field)
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
        if self.metrics is not None:
            value = self.metrics.value(metric_for(cond.event, cond.metric, cond.window, self.today))
            return sp.DaysBetween(literal(self.today, DayNumber()), value) if cond.metric == "days_since_last" else value
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
            return sp.DaysBetween(literal(self.today, DayNumber()), last)
        raise ValueError(f"unknown usage metric {cond.metric!r}")

    def trend_percent(self, cond: Trend) -> ColumnElement[Any]:
        if self.metrics is not None:
            current, previous = (self.metrics.value(m) for m in trend_metrics(cond, self.today))
        else:
            current_w, previous_w = trend_windows(cond.days)
            current, previous = self._event_count(cond.event, current_w), self._event_count(cond.event, previous_w)
        # CASE, not AND: PostgreSQL may evaluate AND operands in any order and would divide by zero.
        percent = _num(100) * cast(current - previous, Float()) / cast(previous, Float())
        return case((and_(previous > 0, previous >= _num(cond.min_baseline)), percent))

    def changed(self, cond: Changed) -> ColumnElement[bool]:
        if cond.field not in CHANGE_FIELDS:
            raise ValueError(f"changed: {cond.field!r} is not tracked (only {', '.join(CHANGE_FIELDS)})")
        after, upto = window_days(cond.window, self.today)
        parts = [
            AC.c.account_id == accounts.c.id,
            AC.c.field == cond.field,
            AC.c.changed_at >= day_start(after + timedelta(days=1)),
            AC.c.changed_at < day_start(upto + timedelta(days=1)),
        ]
        if self.as_of:
            parts.append(AC.c.changed_at <= self.now)  # later changes had not happened yet
        return exists().where(*parts)

    def received(self, cond: Received) -> ColumnElement[bool]:
        parts = [
            DL.c.account_id == accounts.c.id,
            DL.c.rule_id == cond.rule,
            DL.c.status == "sent",
            DL.c.sent_at <= self.now,  # also leaves out NULL sent_at
        ]
        if cond.within is not None:
            parts.append(DL.c.sent_at > self.now - timedelta(days=cond.within))
        if isinstance(cond.action, str):
            parts.append(DL.c.template == cond.action)
        elif cond.action is not None:
            parts.append(DL.c.action_index == cond.action)
        return exists().where(*parts)


__all__ = [
    "compile_condition", "compile_contact_condition", "contacts_with_accounts", "matching_account_ids",
    "matching_contact_ids", "matching_sets",
]  # fmt: skip
