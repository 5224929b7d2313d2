"""Fixed-horizon comparison of two arms' conversion: rates, uplift with intervals, p-value, verdict.

Read once, at the end of a campaign (for a verdict that may be read every day, see
``engine.results.sequential``). Methods and references: docs/results.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq
from scipy.stats import boschloo_exact, fisher_exact, norm

# Below these, no verdict: an interval from a handful of accounts says nothing useful.
MIN_UNITS = 20
# Below these (units in an arm, or any of the four cells), an exact test: the normal
# approximation of the z-test is poor with few units or few (non-)conversions.
EXACT_BELOW_UNITS = 500
EXACT_BELOW_CELL = 10
# Boschloo's cost grows with (n_t + 1)(n_c + 1): 0.27 s at 200 x 200, 3 s at 500 x 500,
# 21 s at 1000 x 1000 (scipy 1.17, measured); above this, Fisher's exact test (milliseconds).
BOSCHLOO_MAX_TABLES = 201 * 201

BETTER, WORSE, NO_EVIDENCE, NOT_ENOUGH = "better", "worse", "no_evidence", "not_enough_data"


@dataclass(frozen=True)
class Comparison:
    treated_n: int
    treated_x: int
    control_n: int
    control_x: int
    alpha: float
    enough: bool
    code: str  # better | worse | no_evidence | not_enough_data
    verdict: str  # the same, in plain words
    method: str
    treated_rate: float | None = None
    control_rate: float | None = None
    uplift_abs: float | None = None  # treated rate - control rate
    uplift_abs_low: float | None = None
    uplift_abs_high: float | None = None
    uplift_rel: float | None = None  # treated rate / control rate - 1; None when control rate is 0
    uplift_rel_low: float | None = None
    uplift_rel_high: float | None = None
    p_value: float | None = None
    test: str | None = None  # boschloo | fisher | z_pooled


def compare(treated_n: int, treated_x: int, control_n: int, control_x: int, *, alpha: float = 0.05) -> Comparison:
    """Compare the treated arm's conversion with the control arm's (two-sided, level 1 - alpha)."""
    _check_arm(treated_n, treated_x, "treated")
    _check_arm(control_n, control_x, "control")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha!r}")
    base = dict(treated_n=treated_n, treated_x=treated_x, control_n=control_n, control_x=control_x, alpha=alpha)
    rate_t = treated_x / treated_n if treated_n else None
    rate_c = control_x / control_n if control_n else None
    reason = _not_enough(treated_n, treated_x, control_n, control_x)
    if reason:
        diff = rate_t - rate_c if rate_t is not None and rate_c is not None else None
        return Comparison(**base, enough=False, code=NOT_ENOUGH, verdict=f"Not enough data yet: {reason}.",
                          method="none", treated_rate=rate_t, control_rate=rate_c, uplift_abs=diff)

    cells = (treated_x, treated_n - treated_x, control_x, control_n - control_x)
    if min(treated_n, control_n) < EXACT_BELOW_UNITS or min(cells) < EXACT_BELOW_CELL:
        table = [[treated_x, control_x], [treated_n - treated_x, control_n - control_x]]  # a column per arm
        if (treated_n + 1) * (control_n + 1) <= BOSCHLOO_MAX_TABLES:
            test, p = "boschloo", float(boschloo_exact(table, alternative="two-sided").pvalue)
            test_name = "Boschloo exact unconditional test"
        else:
            test, p = "fisher", float(fisher_exact(table, alternative="two-sided").pvalue)
            test_name = "Fisher exact test"
    else:
        test, p = "z_pooled", pooled_z_p_value(treated_n, treated_x, control_n, control_x)
        test_name = "two-proportion z-test (pooled variance)"
    p = min(max(p, 0.0), 1.0) if not math.isnan(p) else 1.0

    diff = rate_t - rate_c
    low, high = newcombe_interval(treated_x, treated_n, control_x, control_n, alpha=alpha)
    rel = rel_low = rel_high = None
    if control_x > 0:
        r_low, r_high = koopman_ratio_interval(treated_x, treated_n, control_x, control_n, alpha=alpha)
        rel, rel_low, rel_high = rate_t / rate_c - 1, r_low - 1, r_high - 1

    # "better"/"worse" needs the test and the interval to agree, so a verdict is never shown
    # next to an interval that holds 0 (they are different procedures and can differ at the margin).
    code = NO_EVIDENCE
    if p < alpha and low > 0:
        code = BETTER
    elif p < alpha and high < 0:
        code = WORSE
    level = _percent(1 - alpha)
    d, lo_text, hi_text = points(diff, low, high)
    detail = f"{d} points ({level} CI {lo_text} to {hi_text}), {_p_text(p)}"
    verdict = {
        BETTER: f"Treated accounts converted more than control: {detail}.",
        WORSE: f"Treated accounts converted less than control: {detail}.",
        NO_EVIDENCE: f"No evidence of a difference: {detail}.",
    }[code]
    method = f"{test_name}; Newcombe hybrid score interval for the difference"
    if rel is not None:
        method += "; Koopman score interval for the ratio"
    return Comparison(**base, enough=True, code=code, verdict=verdict, method=method, treated_rate=rate_t,
                      control_rate=rate_c, uplift_abs=diff, uplift_abs_low=low, uplift_abs_high=high,
                      uplift_rel=rel, uplift_rel_low=rel_low, uplift_rel_high=rel_high, p_value=p, test=test)


def wilson_interval(x: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson (1927) score interval for one proportion."""
    z = norm.ppf(1 - alpha / 2)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Clamped: at x = 0 or x = n the exact limit is 0 or 1, which rounding can miss by 1e-17.
    return (0.0 if x == 0 else max(0.0, centre - half)), (1.0 if x == n else min(1.0, centre + half))


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Newcombe (1998) method 10, the hybrid score interval for p1 - p2, from the two Wilson intervals."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, alpha=alpha)
    l2, u2 = wilson_interval(x2, n2, alpha=alpha)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def koopman_ratio_interval(x1: int, n1: int, x2: int, n2: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Koopman (1984) asymptotic score interval for p1 / p2 (needs x2 > 0): the ratios phi whose
    score statistic, with p1 and p2 estimated under p1 = phi p2, stays within the normal quantile."""
    if x2 <= 0:
        raise ValueError("the ratio has no finite upper limit when the second arm has no conversions")
    z = norm.ppf(1 - alpha / 2)
    estimate = (x1 / n1) / (x2 / n2)

    def excess(log_phi: float, target: float) -> float:
        return _ratio_score(math.exp(log_phi), x1, n1, x2, n2) - target

    lower = 0.0 if x1 == 0 else math.exp(_root(excess, math.log(estimate), z))
    # With x1 = 0 the estimate is 0 (log -inf): start the upper search where p1 would be ~1/n1.
    upper = math.exp(_root(excess, math.log(estimate if x1 else 1 / n1 / (x2 / n2)), -z))
    return lower, upper


def pooled_z_p_value(n1: int, x1: int, n2: int, x2: int) -> float:
    """Two-sided p-value of the two-proportion z-test with the pooled variance (= Pearson's
    chi-square without continuity correction)."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return math.erfc(abs(x1 / n1 - x2 / n2) / se / math.sqrt(2))


def _ratio_score(phi: float, x1: int, n1: int, x2: int, n2: int) -> float:
    # Constrained maximum likelihood under p1 = phi * p2 (Farrington & Manning 1990, closed
    # form), then the score statistic without Miettinen-Nurminen's N / (N - 1) factor.
    a = phi * (n1 + n2)
    b = -(phi * n1 + x1 + n2 + phi * x2)
    c = x1 + x2
    p2 = (-b - math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    p1 = phi * p2
    num = x1 / n1 - phi * x2 / n2
    var = p1 * (1 - p1) / n1 + phi * phi * p2 * (1 - p2) / n2
    if var <= 0:
        return math.copysign(math.inf, num) if num else 0.0
    return num / math.sqrt(var)


def _root(f, start: float, target: float) -> float:
    """The log-ratio where the score statistic, decreasing in it, crosses ``target``: a bracket
    found from ``start`` by doubling steps, then Brent's method."""
    direction = 1.0 if f(start, target) > 0 else -1.0
    step, near = 1.0, start
    far = start + direction * step
    while (f(far, target) > 0) == (direction > 0):
        near, step = far, step * 2
        far = start + direction * step
        if step > 1e3:
            raise ArithmeticError("score interval limit not bracketed")
    lo, hi = sorted((near, far))
    return brentq(f, lo, hi, args=(target,), xtol=1e-12, rtol=1e-12)


def _check_arm(n: int, x: int, arm: str) -> None:
    if not (isinstance(n, int) and isinstance(x, int)) or isinstance(n, bool) or isinstance(x, bool):
        raise TypeError(f"{arm}: counts must be integers, not {n!r} and {x!r}")
    if n < 0 or not 0 <= x <= n:
        raise ValueError(f"{arm}: need 0 <= converted <= units, got {x} of {n}")


def _not_enough(treated_n: int, treated_x: int, control_n: int, control_x: int) -> str | None:
    if min(treated_n, control_n) < MIN_UNITS:
        return f"at least {MIN_UNITS} accounts in each arm are needed (treated {treated_n}, control {control_n})"
    if treated_x + control_x == 0:
        return "no account has converted in either arm"
    if treated_x == treated_n and control_x == control_n:
        return "every account has converted in both arms"
    return None


def points(*differences: float) -> tuple[str, ...]:
    """Differences of rates as signed percentage points, with one decimal, or two when one
    decimal would show a limit that is not 0 as 0."""
    values = [d * 100 for d in differences]
    decimals = 2 if any(v and abs(v) < 0.05 for v in values) else 1
    return tuple(f"{round(v, decimals) + 0.0:+.{decimals}f}" for v in values)  # + 0.0: no "-0.0"


def _percent(level: float) -> str:
    return f"{level * 100:g}%"


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
