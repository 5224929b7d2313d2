"""Replaying a rule over past days: ``touchline plan --backtest 30d RULE``.

Each day of the range is evaluated at ``now``'s time of day (the last day at
``now`` itself), with the set-wise compiler in its ``as_of`` mode: usage reads
the rollups up to that day, owner/tier/plan and ``changed`` read the change
history as it stood then. The memberships of the evaluation cycle are then
simulated in memory from day to day (entering, leaving, min_dwell, re-entry
debounce, while_matching reminders), exactly as the cycle does (engine.rules.firing),
and the accounts that fire are counted with their recipients.

The day before the range is the baseline: the accounts matching then start as
members whose entry already fired (reminders count on from the baseline), so
the first day is not one big wave of entries.

What has no history is read as it is now: other account fields (mrr, arr,
traits, dates...), the set of accounts, and contacts (so recipients). Counts
are before holdout, limits and send windows. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account
from engine.rules.compiler import compile_condition
from engine.rules.recipients import resolve
from engine.rules.schema import OnEnter, OnEvent, Rule, WhileMatching

MAX_DAYS = 366
accounts = Account.__table__


@dataclass
class BacktestDay:
    day: date
    matched: int = 0
    entered: int = 0
    left: int = 0
    fired: int = 0  # occurrences (entries and reminders) that would have written deliveries
    debounced: int = 0  # re-entries within min_dwell of the last exit: not fired
    messages: dict[str, int] = field(default_factory=dict)  # channel -> messages


@dataclass
class Backtest:
    rule_id: str
    now: datetime  # the evaluation time of the last day; every day is evaluated at its time of day
    baseline: date
    baseline_matched: int
    channels: list[str]  # of the rule's actions, in order
    days: list[BacktestDay] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.days)

    def total_messages(self) -> dict[str, int]:
        return {c: sum(d.messages.get(c, 0) for d in self.days) for c in self.channels}


@dataclass
class _Stay:
    entered_at: datetime
    last_fired_at: datetime | None  # nominal time of the last occurrence, as the cycle stores it


def backtest(
    session: Session, rule: Rule, days: int, now: datetime, on_day: Callable[[int, int], None] | None = None
) -> Backtest:
    """Replay ``rule`` over the ``days`` days ending with ``now``'s day (oldest first).

    ``on_day(done, days)`` is called after each day: progress for a job, which may raise to stop.
    """
    if rule.level != "account":
        raise ValueError(f"{rule.id}: contact-level rules cannot be backtested yet")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"backtest length {days}: expected 1 to {MAX_DAYS} days")
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: the backtest needs a timezone-aware now")
    now = now.astimezone(timezone.utc)
    channels = list(dict.fromkeys(a.channel for a in rule.actions))

    start = now - timedelta(days=days)
    baseline = _matching(session, rule, start)
    result = Backtest(rule.id, now, start.date(), len(baseline), channels)
    # Baseline members entered before the range and their entry has fired.
    stays = {i: _Stay(start, start) for i in baseline}
    last_exit: dict[int, datetime] = {}
    firing_by_day: list[list[int]] = []
    for k in range(days - 1, -1, -1):
        at = now - timedelta(days=k)
        matching = _matching(session, rule, at)
        row = BacktestDay(at.date(), matched=len(matching))
        for i in sorted(stays.keys() - matching):
            del stays[i]
            last_exit[i] = at
            row.left += 1
        for i in sorted(matching - stays.keys()):
            stays[i] = _Stay(at, None)
            row.entered += 1
        firing = _fire(rule, stays, last_exit, at, row)
        row.fired = len(firing)
        firing_by_day.append(firing)
        result.days.append(row)
        if on_day is not None:
            on_day(len(result.days), days)
    _count_messages(session, rule, result, firing_by_day)
    return result


def _matching(session: Session, rule: Rule, at: datetime) -> set[int]:
    stmt = select(accounts.c.id).where(compile_condition(rule.when, at, as_of=True))
    return set(session.scalars(stmt))


def _fire(
    rule: Rule, stays: dict[int, _Stay], last_exit: dict[int, datetime], at: datetime, row: BacktestDay
) -> list[int]:
    """The accounts with an occurrence due at ``at``; the same conditions as engine.rules.firing."""
    dwell = timedelta(days=rule.min_dwell or 0)
    trigger = rule.trigger
    firing: list[int] = []
    for account_id in sorted(stays):
        stay = stays[account_id]
        if stay.entered_at > at - dwell:
            continue  # has not stayed min_dwell yet
        if isinstance(trigger, WhileMatching):
            every = timedelta(days=trigger.every)
            if stay.last_fired_at is not None and stay.last_fired_at > at - every:
                continue
            k = (at - stay.entered_at) // every
            mark = stay.entered_at + k * every
        elif isinstance(trigger, (OnEnter, OnEvent)):
            if stay.last_fired_at is not None:
                continue
            k, mark = 0, at
        else:
            raise TypeError(f"unknown trigger {trigger!r}")
        first = stay.last_fired_at is None
        stay.last_fired_at = mark
        # A re-entry soon after leaving is the same stay flickering: its entry does not fire.
        exited = last_exit.get(account_id)
        if k == 0 and first and exited is not None and exited > stay.entered_at - dwell:
            row.debounced += 1
            continue
        firing.append(account_id)
    return firing


def _count_messages(session: Session, rule: Rule, result: Backtest, firing_by_day: list[list[int]]) -> None:
    """Messages per channel and day: one per distinct recipient address, as the cycle writes them."""
    everyone = {i for firing in firing_by_day for i in firing}
    for row in result.days:
        row.messages = {c: 0 for c in result.channels}
    for action in rule.actions:
        resolved = resolve(session, action, everyone)
        per_account = {i: len({r.address for r in found}) for i, found in resolved.recipients.items()}
        for row, firing in zip(result.days, firing_by_day, strict=True):
            row.messages[action.channel] += sum(per_account.get(i, 0) for i in firing)


def report_lines(result: Backtest) -> list[str]:
    """The backtest as a table, one line per day, then totals and what the counts leave out."""
    n = len(result.days)
    lines = [
        (
            f"backtest of {result.rule_id}: {n} day{'s' if n != 1 else ''} to {result.now:%Y-%m-%d}, "
            f"each day evaluated at {result.now:%H:%M:%S}Z"
        ),
        (
            f"baseline {result.baseline} (the day before): {result.baseline_matched} matching, "
            "taken as members already (their entry is not counted)"
        ),
    ]
    head = ["DATE", "MATCHED", "ENTERED", "LEFT", "FIRED", *(c.upper() for c in result.channels)]
    table = [head]
    for d in result.days:
        table.append([str(d.day), str(d.matched), str(d.entered), str(d.left), str(d.fired),
                      *(str(d.messages[c]) for c in result.channels)])  # fmt: skip
    totals = result.total_messages()
    table.append(["total", "", str(result.total("entered")), str(result.total("left")), str(result.total("fired")),
                  *(str(totals[c]) for c in result.channels)])  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for r in table:
        cells = [r[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(r[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells).rstrip())
    if result.total("debounced"):
        lines.append(f"debounced re-entries (min_dwell): {result.total('debounced')}")
    lines += [
        "owner, tier and plan are read as of each day from the change history; other account fields",
        "(mrr, arr, traits, dates...) and the accounts themselves are today's.",
        "Messages go to today's contacts and owners, before holdout, limits and send windows.",
        "Nothing was written.",
    ]
    return lines
