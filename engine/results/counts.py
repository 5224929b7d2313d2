"""What the outcomes pass recorded, read back as units of analysis: per arm, the accounts whose
window ended and how many converted (engine.results.outcomes writes the outcomes;
docs/results.md says how they are read).

**The unit is the account**, the unit of assignment: the holdout and the A/B variant are
drawn per account, so an account's firings are never independent of each other. An account
is counted once per rule, by its *first* outcome among the versions read (the earliest
exposure): the firings after it are the same account again, already exposed.

**A unit counts once its window has ended** (by the last pass), converted or not. Counting
conversions as they happen while the rest is still open would overstate the rate, and most
in the arm that converts sooner.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.models import OUTCOME_ARMS, Delivery, GoalOutcome, OutcomePass
from engine.results.outcomes import aware
from engine.rules.sqlparts import DayOf

O = GoalOutcome.__table__
P = OutcomePass.__table__
D = Delivery.__table__
CONTROL = "control"


class ArmCounts(NamedTuple):
    units: int  # accounts whose first outcome's window had ended by the last pass
    converted: int  # of those, the ones that reached the goal within their window


class DayCounts(NamedTuple):
    """Cumulative counts at the end of one UTC day (see ``daily_counts``)."""

    treated_n: int
    treated_x: int
    control_n: int
    control_x: int


class UnitDay(NamedTuple):
    """Units that settled on one UTC day in one arm: ``control``, a variant's name, or None
    (the treated arm of a rule without variants)."""

    arm: str | None
    day: date
    units: int
    converted: int


class Units(NamedTuple):
    until: datetime | None  # the last pass: what it knew is complete up to then
    settled: list[UnitDay]
    open: dict[str | None, int]  # per arm: accounts exposed whose window has not ended yet


def measured_until(session: Session) -> datetime | None:
    """When the last outcomes pass started: what it knew is complete up to then."""
    return aware(session.scalar(select(func.max(P.c.started_at))))


def units(session: Session, rule_id: str, *, version_ids: Iterable[int] | None = None,
          since: datetime | None = None) -> Units:  # fmt: skip
    """The rule's units by arm and day of settling, and those still open.

    ``version_ids``: only outcomes measured with these versions' goals; ``since``: only
    accounts whose first such outcome was exposed at or after it."""
    until = measured_until(session)
    if until is None:
        return Units(None, [], {})
    versions = None if version_ids is None else list(version_ids)
    o = _first_outcomes(rule_id, versions, since)
    arm = case((o.c.arm == CONTROL, CONTROL), else_=D.c.variant).label("arm")
    settled = (o.c.window_ends_at <= until).label("settled")
    # One statement: the open ones are grouped under a day too, and added up below.
    day = DayOf(o.c.window_ends_at).label("day")
    rows = session.execute(
        select(arm, settled, day, func.count(), func.count(o.c.converted_at))
        .select_from(o.join(D, D.c.id == o.c.delivery_id)).group_by(arm, settled, day)
    ).all()  # fmt: skip
    done, still = [], {}
    for a, is_settled, on, n, x in rows:
        if is_settled:
            done.append(UnitDay(a, on, n, x))
        else:
            still[a] = still.get(a, 0) + n
    return Units(until, done, still)


def arm_counts(session: Session, rule_id: str, *, version_ids=None, since: datetime | None = None,
               variant: str | None = None) -> dict[str, ArmCounts]:  # fmt: skip
    """Per arm (``treated``, ``control``): the rule's settled units and how many converted.
    ``variant``: the treated arm is that variant's accounts only."""
    totals = {a: ArmCounts(0, 0) for a in OUTCOME_ARMS}
    for u in units(session, rule_id, version_ids=version_ids, since=since).settled:
        side = _side(u.arm, variant)
        if side:
            n, x = totals[side]
            totals[side] = ArmCounts(n + u.units, x + u.converted)
    return totals


def daily_counts(session: Session, rule_id: str, days: int, *, version_ids=None,
                 variant: str | None = None) -> list[DayCounts]:  # fmt: skip
    """Cumulative counts at the end of each of the last ``days`` UTC days, oldest first; the
    last is the day of the last pass (counted up to that pass).

    A unit enters on the day its window ended, with its conversion, if any: a day's figures
    are what was known complete that day, and never change with the units still open."""
    found = units(session, rule_id, version_ids=version_ids)
    return cumulative(found.settled, found.until, days, variant=variant)


def cumulative(settled: list[UnitDay], until: datetime | None, days: int, *,
               variant: str | None = None) -> list[DayCounts]:  # fmt: skip
    """``days`` cumulative days ending on the day of ``until``, from settled units (see
    ``daily_counts``); units settled before the first day are its starting point."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if until is None:
        return [DayCounts(0, 0, 0, 0)] * days
    last = until.date()
    first = last - timedelta(days=days - 1)
    per_day: dict[tuple[date, str], tuple[int, int]] = {}
    for u in settled:
        side = _side(u.arm, variant)
        if not side:
            continue
        key = (max(as_date(u.day), first), side)
        n, x = per_day.get(key, (0, 0))
        per_day[key] = (n + u.units, x + u.converted)
    out: list[DayCounts] = []
    totals = {a: (0, 0) for a in OUTCOME_ARMS}
    for k in range(days):
        on = first + timedelta(days=k)
        for a in OUTCOME_ARMS:
            n, x = per_day.get((on, a), (0, 0))
            totals[a] = (totals[a][0] + n, totals[a][1] + x)
        out.append(DayCounts(*totals["treated"], *totals["control"]))
    return out


def _side(arm: str | None, variant: str | None) -> str | None:
    """``treated`` / ``control`` for a unit's arm, or None when a variant filter leaves it out."""
    if arm == CONTROL:
        return "control"
    return "treated" if variant is None or arm == variant else None


def _first_outcomes(rule_id: str, versions: list[int] | None, since: datetime | None):
    """The rule's outcomes that are their account's first among the versions (and since), as a
    subquery with O's columns: numbered per account by exposure, then id, and the first kept
    (one sort of the rule's outcomes, where a lookup per outcome took twice as long)."""
    where = [O.c.rule_id == rule_id]
    if versions is not None:
        where.append(O.c.rule_version_id.in_(versions))
    if since is not None:
        where.append(O.c.exposed_at >= since)
    rank = func.row_number().over(partition_by=O.c.account_id, order_by=(O.c.exposed_at, O.c.id)).label("rank")
    numbered = select(O.c.account_id, O.c.arm, O.c.delivery_id, O.c.window_ends_at, O.c.converted_at, rank)
    numbered = numbered.where(*where).subquery("numbered")
    return select(numbered).where(numbered.c.rank == 1).subquery("first")


def as_date(value: date | str) -> date:
    # SQLite returns the day as text.
    return date.fromisoformat(value) if isinstance(value, str) else value
