"""The program's result: the accounts of the global holdout against all the others.

The policy's ``global_holdout`` (engine.delivery.policy) keeps a share of all accounts out of
every marketing play (engine.rules.firing). Over a period, this compares that control group
with every other account on the program's measure, so the effect of the whole program, all
rules together, shows as one difference in retention. docs/results.md ("Global holdout")
states the method.

- **Period**: the UTC days ``[since, until)``.
- **Accounts**: those that existed at ``since``: their ``signup_at`` (the product's own date),
  else when Touchline first recorded them (``created_at``), is before ``since``'s midnight UTC.
  Accounts that came later had only part of the period to be reached and to be retained.
- **Arms**: ``holdout``: the accounts in the global holdout at the configured percent
  (``in_global_holdout`` of their external id); ``program``: all the others, whether or not
  any rule reached them (intention to treat: the plays aim at accounts at risk, so those
  reached are no fair comparison with the rest).
- **Retained**: at least one ``measure.event`` (the daily usage rollups, count > 0) on a UTC
  day of the retention window, the last ``measure.within`` days of the period
  (``[max(since, until - within), until)``).
- **Leaked**: the holdout's accounts that a marketing message reached in the period (sent,
  to a contact, of a category the global holdout does not exempt): messages sent while the
  holdout was off, or not yet at this percent. A leak makes the comparison unreliable.

One SQL statement reads each account's id and external id with whether it was retained
(found set-wise: one range of the rollups); the membership hash is drawn in Python while
the rows stream by, and the counts are tallied there. The leaks are then looked up for the
holdout's accounts only (a few index probes per thousand). 100,000 accounts take well under
a second (docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.delivery.holdout import global_holdout_flags
from engine.delivery.policy import GlobalHoldout, Policy
from engine.models import Account, DailyUsage, Delivery
from engine.results.srm import SRM, sample_ratio_mismatch
from engine.results.stats import Comparison, compare
from engine.sqlutil import chunks

A = Account.__table__
DU = DailyUsage.__table__
D = Delivery.__table__
CHUNK = 10_000  # rows fetched at a time while streaming the accounts
BATCH = 500  # account ids per IN (...), under SQLite's parameter limit

PROGRAM, HOLDOUT = "program", "holdout"


class GlobalHoldoutOff(ValueError):
    """The policy has no global holdout on: there is no control group to compare with."""


@dataclass(frozen=True)
class ProgramArm:
    accounts: int = 0  # that existed at the start of the period
    retained: int = 0  # with the measure's event in the retention window

    @property
    def rate(self) -> float | None:
        """The share retained; None without accounts."""
        return self.retained / self.accounts if self.accounts else None


@dataclass(frozen=True)
class ProgramResult:
    since: date  # the period: UTC days [since, until)
    until: date
    window_start: date  # the retention window: UTC days [window_start, until)
    percent: float  # the global holdout's share, as configured
    event: str  # the measure: retained = at least one of these in the window
    within: int  # days
    exempt_categories: frozenset[str]  # not marketing plays: never held out, no leak
    program: ProgramArm  # every account not in the global holdout (treated)
    holdout: ProgramArm  # the global holdout (control)
    comparison: Comparison  # program vs holdout on retained (engine.results.stats.compare)
    srm: SRM  # the arms' sizes against the configured percent (engine.results.srm)
    leaked: int = 0  # holdout accounts a marketing message reached in the period
    partial: bool = False  # the period ends after today (UTC): its last days are still coming in

    @property
    def trustworthy(self) -> bool:
        """No sample-ratio mismatch and no leak: otherwise no difference shown can be relied on."""
        return not self.srm.mismatch and self.leaked == 0


def program_result(session: Session, policy: Policy | GlobalHoldout, *, since: date, until: date,
                   alpha: float = 0.05, now: datetime | None = None) -> ProgramResult:  # fmt: skip
    """The global holdout against every other account over the UTC days ``[since, until)``.

    ``policy``: the policy (engine.delivery.policy.load_policy), or its ``global_holdout``;
    raises GlobalHoldoutOff when it has none or it is at 0%. ``since`` and ``until`` are dates
    (``until`` is the first day after the period); a period before the holdout was turned on
    (or last raised) shows up as leaks. ``alpha`` is the comparison's level. ``now`` (default:
    the current time) only decides ``partial``.
    """
    holdout = policy.global_holdout if isinstance(policy, Policy) else policy
    if holdout is None or not holdout.on or holdout.measure is None:
        raise GlobalHoldoutOff("the policy has no global holdout on (global_holdout.percent above 0%): "
                               "there is no control group to compare the program with")  # fmt: skip
    for name, value in (("since", since), ("until", until)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a date (a UTC day), not {value!r}")
    if since >= until:
        raise ValueError(f"the period is empty: since {since} is not before until {until}")
    if now is not None and now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: give a timezone-aware now")
    measure = holdout.measure
    window_start = max(since, until - timedelta(days=measure.within))
    start, end = _midnight(since), _midnight(until)

    retained = select(DU.c.account_id).where(
        DU.c.event_name == measure.event, DU.c.day >= window_start, DU.c.day < until, DU.c.count > 0
    )
    existed = func.coalesce(A.c.signup_at, A.c.created_at) < start
    stmt = select(A.c.id, A.c.external_id, A.c.id.in_(retained)).where(existed)
    counts = {PROGRAM: [0, 0], HOLDOUT: [0, 0]}  # accounts, retained
    held: list[int] = []
    for part in session.execute(stmt.execution_options(yield_per=CHUNK)).partitions():
        for (account_id, _key, kept), in_group in zip(part, global_holdout_flags([r[1] for r in part], holdout.percent)):
            arm = counts[HOLDOUT if in_group else PROGRAM]
            arm[0] += 1
            arm[1] += bool(kept)
            if in_group:
                held.append(account_id)
    program, control = ProgramArm(*counts[PROGRAM]), ProgramArm(*counts[HOLDOUT])
    comparison = compare(program.accounts, program.retained, control.accounts, control.retained, alpha=alpha)
    srm = sample_ratio_mismatch({PROGRAM: program.accounts, HOLDOUT: control.accounts},
                                {PROGRAM: 100 - holdout.percent, HOLDOUT: holdout.percent})  # fmt: skip
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return ProgramResult(since, until, window_start, holdout.percent, measure.event, measure.within,
                         holdout.exempt_categories, program, control, comparison, srm,
                         leaked=_leaked(session, held, holdout, start, end), partial=until > today)  # fmt: skip


def _leaked(session: Session, account_ids: list[int], holdout: GlobalHoldout, start: datetime, end: datetime) -> int:
    """How many of these accounts a marketing message went out to in ``[start, end)``: a row with
    ``sent_at`` (it went out), to a contact, of a category not exempt. Probes the deliveries'
    (account_id, rule_id, sent_at) index per account."""
    leaked = 0
    for part in chunks(account_ids, BATCH):
        leaked += session.scalar(
            select(func.count(D.c.account_id.distinct())).where(
                D.c.account_id.in_(part), D.c.sent_at >= start, D.c.sent_at < end, D.c.contact_id.is_not(None),
                D.c.category.not_in(sorted(holdout.exempt_categories)),
            )
        ) or 0  # fmt: skip
    return leaked


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)
