"""How many accounts a comparison needs to detect a given uplift, and how many more it needs now.

Fleiss' formula for two proportions with the Fleiss-Tytun-Ury continuity correction: it
approximates the sample size of Fisher's exact test, so it is not optimistic for the exact
tests ``compare`` uses on small samples, and tends to the uncorrected formula on large ones.
Formulas: docs/results.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from engine.results.stats import Comparison, points


@dataclass(frozen=True)
class MoreNeeded:
    treated: int  # more accounts needed in the treated arm
    control: int  # and in the control arm
    uplift_abs: float  # the uplift to detect
    text: str


def required_per_arm(control_rate: float, uplift_abs: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Accounts in each of two equal arms for a two-sided test at ``alpha`` to detect
    ``control_rate`` -> ``control_rate + uplift_abs`` with probability ``power``."""
    treated, control = required_sizes(control_rate, uplift_abs, alpha=alpha, power=power)
    return max(treated, control)


def required_sizes(control_rate: float, uplift_abs: float, *, treated_per_control: float = 1.0, alpha: float = 0.05,
                   power: float = 0.8) -> tuple[int, int]:
    """(treated, control) accounts when the treated arm is ``treated_per_control`` times the
    control arm (a 10% holdout: 9.0)."""
    k = treated_per_control
    control_m = fleiss_corrected(control_rate, uplift_abs, k=k, alpha=alpha, power=power)
    return math.ceil(k * control_m - 1e-9), math.ceil(control_m - 1e-9)


def fleiss_uncorrected(control_rate: float, uplift_abs: float, *, k: float = 1.0, alpha: float = 0.05,
                       power: float = 0.8) -> float:
    """Control-arm size m' without continuity correction (treated arm k m')."""
    _check(control_rate, uplift_abs, k, alpha, power)
    pc, pt = control_rate, control_rate + uplift_abs
    pooled = (k * pt + pc) / (k + 1)
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    spread = z_a * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k)) + z_b * math.sqrt(pt * (1 - pt) / k + pc * (1 - pc))
    return spread * spread / (uplift_abs * uplift_abs)


def fleiss_corrected(control_rate: float, uplift_abs: float, *, k: float = 1.0, alpha: float = 0.05,
                     power: float = 0.8) -> float:
    """Control-arm size with the Fleiss-Tytun-Ury (1980) continuity correction."""
    m = fleiss_uncorrected(control_rate, uplift_abs, k=k, alpha=alpha, power=power)
    return m / 4 * (1 + math.sqrt(1 + 2 * (k + 1) / (k * m * abs(uplift_abs)))) ** 2


def more_needed(comparison: Comparison, uplift_abs: float, *, alpha: float | None = None,
                power: float = 0.8) -> MoreNeeded | None:
    """How many more accounts the comparison's arms need to detect ``uplift_abs`` over its
    control rate, keeping their current ratio (None without a control rate to start from)."""
    c = comparison
    if not c.control_n or not c.treated_n:
        return None
    k = c.treated_n / c.control_n
    treated, control = required_sizes(c.control_rate, uplift_abs, treated_per_control=k,
                                      alpha=c.alpha if alpha is None else alpha, power=power)
    more_t, more_c = max(0, treated - c.treated_n), max(0, control - c.control_n)
    (target,) = points(uplift_abs)
    if not (more_t or more_c):
        text = f"Enough accounts to detect {target} points."
    elif more_t == more_c:
        text = f"~{_about(more_t)} more accounts per arm needed to detect {target} points."
    else:
        text = (f"~{_about(more_t + more_c)} more accounts needed to detect {target} points "
                f"(~{_about(more_t)} treated, ~{_about(more_c)} control).")
    return MoreNeeded(treated=more_t, control=more_c, uplift_abs=uplift_abs, text=text)


def _about(n: int) -> str:
    """Two significant figures, rounded up: a plan, not a count."""
    if n < 100:
        return str(n)
    unit = 10 ** (len(str(n)) - 2)
    return f"{math.ceil(n / unit) * unit:,}"


def _check(control_rate: float, uplift_abs: float, k: float, alpha: float, power: float) -> None:
    if not 0 <= control_rate <= 1:
        raise ValueError(f"control_rate must be in [0, 1], not {control_rate!r}")
    if uplift_abs == 0 or not 0 <= control_rate + uplift_abs <= 1:
        raise ValueError(f"uplift_abs must be non-zero and keep the treated rate in [0, 1], not {uplift_abs!r}")
    if control_rate in (0, 1) and control_rate + uplift_abs in (0, 1):
        raise ValueError("both rates at 0 or 1: no variance to plan with")
    if k <= 0:
        raise ValueError(f"treated_per_control must be positive, not {k!r}")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must be in (0, 1)")
