"""A verdict that may be read every day: an always-valid confidence sequence on the difference
of the two arms' conversion rates, and the always-valid p-value that goes with it.

Looking at a fixed-horizon test every day and stopping at the first p < 0.05 makes false
winners far more often than 5%; this sequence covers the true difference at every day at
once with probability 1 - alpha, however often it is read. Formulas: docs/results.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol, Sequence

from engine.results.stats import BETTER, MIN_UNITS, NO_EVIDENCE, NOT_ENOUGH, WORSE, points

# The total number of accounts (both arms) at which the sequence is narrowest; fixed before
# the campaign, never chosen from its data. Around the size of a typical B2B campaign; the
# interval is valid at every size, only less tight away from this one.
TUNING_N = 1000


class DailyCounts(NamedTuple):
    """Cumulative counts at the end of one day."""

    treated_n: int
    treated_x: int
    control_n: int
    control_x: int


class _Counts(Protocol):  # DailyCounts, or any row with the same four fields
    treated_n: int
    treated_x: int
    control_n: int
    control_x: int


class DayInterval(NamedTuple):
    """One day of the sequence: the day's rates and the always-valid interval as known that day
    (the running intersection; None before the day has enough data)."""

    treated_rate: float | None
    control_rate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class SequentialResult:
    days: int  # days given
    alpha: float
    tuning_n: int
    enough: bool
    code: str  # better | worse | no_evidence | not_enough_data
    verdict: str
    treated_rate: float | None = None  # on the last day
    control_rate: float | None = None
    uplift_abs: float | None = None  # treated rate - control rate, on the last day
    low: float | None = None  # always-valid interval: the intersection of every day's
    high: float | None = None
    p_value: float | None = None  # always-valid: the smallest over the days
    decided_on_day: int | None = None  # 1-based index of the first day the interval excluded 0
    # The days disagree: their intervals do not all intersect, or the last day's estimate lies
    # outside the intersection. The guarantee assumes a constant effect; this one moved (novelty).
    drift: bool = False
    method: str = "asymptotic confidence sequence (normal mixture) on the difference of proportions"
    series: tuple[DayInterval, ...] = ()  # one per day given, oldest first: what a chart draws


def sequential_verdict(daily: Sequence[_Counts], *, alpha: float = 0.05, tuning_n: int = TUNING_N) -> SequentialResult:
    """The always-valid verdict after the given days (oldest first, cumulative counts)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha!r}")
    if tuning_n < 1:
        raise ValueError(f"tuning_n must be positive, not {tuning_n!r}")
    _check_days(daily)
    rho2 = mixture_rho2(alpha, tuning_n)
    low, high, p_value = -math.inf, math.inf, 1.0
    decided: tuple[int, str] | None = None
    drift = used = False
    series: list[DayInterval] = []
    for day, c in enumerate(daily, start=1):
        rates = (c.treated_x / c.treated_n if c.treated_n else None, c.control_x / c.control_n if c.control_n else None)
        if not _enough(c):
            series.append(DayInterval(*rates, *((max(low, -1.0), min(high, 1.0)) if used else (None, None))))
            continue
        used = True
        diff = c.treated_x / c.treated_n - c.control_x / c.control_n
        half, p_day = boundary(c.treated_n, c.treated_x, c.control_n, c.control_x, diff=diff, alpha=alpha, rho2=rho2)
        p_value = min(p_value, p_day)
        if max(low, diff - half) > min(high, diff + half):
            drift = True  # keep the last non-empty intersection
        else:
            low, high = max(low, diff - half), min(high, diff + half)
        if decided is None and (low > 0 or high < 0):
            decided = (day, BETTER if low > 0 else WORSE)
        series.append(DayInterval(*rates, max(low, -1.0), min(high, 1.0)))

    base = dict(days=len(daily), alpha=alpha, tuning_n=tuning_n, series=tuple(series))
    last = daily[-1] if daily else None
    if not used:
        why = "no days yet" if last is None else (
            f"at least {MIN_UNITS} accounts in each arm and one conversion are needed "
            f"(treated {last.treated_x}/{last.treated_n}, control {last.control_x}/{last.control_n})")
        return SequentialResult(**base, enough=False, code=NOT_ENOUGH, verdict=f"Not enough data yet: {why}.")

    rate_t, rate_c = last.treated_x / last.treated_n, last.control_x / last.control_n
    low, high = max(low, -1.0), min(high, 1.0)
    drift = drift or not low <= rate_t - rate_c <= high
    d, lo_text, hi_text = points(rate_t - rate_c, low, high)
    level = f"{(1 - alpha) * 100:g}%"
    p_text = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
    detail = f"{d} points (always-valid {level} interval {lo_text} to {hi_text}, {p_text})"
    if decided:
        day, code = decided
        words = "more" if code == BETTER else "less"
        verdict = f"Treated accounts convert {words} than control: {detail}; decided on day {day}."
    else:
        code, verdict = NO_EVIDENCE, f"No evidence of a difference yet: {detail}."
    if drift:
        verdict += " Careful: the difference has moved over the days, and this verdict assumes it does not."
    return SequentialResult(**base, enough=True, code=code, verdict=verdict, treated_rate=rate_t,
                            control_rate=rate_c, uplift_abs=rate_t - rate_c, low=low, high=high,
                            p_value=p_value, decided_on_day=decided[0] if decided else None, drift=drift)


def mixture_rho2(alpha: float, tuning_n: int) -> float:
    """The mixing variance that makes the boundary narrowest at ``tuning_n`` observations
    (Waudby-Smith et al. 2024)."""
    k = -2 * math.log(alpha)
    return (k + math.log(k + 1)) / tuning_n


def boundary(treated_n: int, treated_x: int, control_n: int, control_x: int, *, diff: float, alpha: float,
             rho2: float) -> tuple[float, float]:
    """(half-width of the day's always-valid interval, the day's always-valid p-value)."""
    n = treated_n + control_n
    # Variance of one observation of the difference, N * Var(diff), from rates shrunk by one
    # conversion and one non-conversion per arm (Agresti & Caffo 2000): an arm with no
    # conversion yet would otherwise have variance 0 and a falsely narrow interval.
    pt = (treated_x + 1) / (treated_n + 2)
    pc = (control_x + 1) / (control_n + 2)
    unpooled = pt * (1 - pt) / treated_n + pc * (1 - pc) / control_n
    pooled_rate = (treated_x + control_x + 1) / (n + 2)
    pooled = pooled_rate * (1 - pooled_rate) * (1 / treated_n + 1 / control_n)
    sigma2 = n * max(unpooled, pooled)
    grow = n * rho2 + 1
    half = math.sqrt(sigma2 * 2 * grow / (n * n * rho2) * math.log(math.sqrt(grow) / alpha))
    # 1 / (Robbins' normal-mixture martingale): the day's p-value; 0 leaves the interval
    # exactly when it is below alpha.
    p = math.sqrt(grow) * math.exp(-(diff * diff) * n * n * rho2 / (2 * sigma2 * grow))
    return half, min(1.0, p)


def _enough(c: _Counts) -> bool:
    return (min(c.treated_n, c.control_n) >= MIN_UNITS and c.treated_x + c.control_x > 0
            and not (c.treated_x == c.treated_n and c.control_x == c.control_n))


def _check_days(daily: Sequence[_Counts]) -> None:
    previous = None
    for day, c in enumerate(daily, start=1):
        for n, x in ((c.treated_n, c.treated_x), (c.control_n, c.control_x)):
            if n < 0 or not 0 <= x <= n:
                raise ValueError(f"day {day}: need 0 <= converted <= units, got {x} of {n}")
        if previous and any(now < before for now, before in zip(_fields(c), _fields(previous))):
            raise ValueError(f"day {day}: counts must be cumulative (never below the day before)")
        previous = c


def _fields(c: _Counts) -> tuple[int, int, int, int]:
    return c.treated_n, c.treated_x, c.control_n, c.control_x
