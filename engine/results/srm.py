"""Sample-ratio mismatch: do the arms hold the shares of accounts the split promised?

A mismatch means assignment or counting is broken (a holdout leaking into sends, units lost
in one arm), and then no comparison of the arms can be trusted, however significant.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binomtest, chisquare

# Strict on purpose: the check runs on every result, every day, so 0.05 would cry wolf.
SRM_THRESHOLD = 0.001
# Pearson's chi-square needs about 5 expected per arm; below it, with two arms, the exact
# binomial test.
MIN_EXPECTED = 5


@dataclass(frozen=True)
class SRM:
    observed: dict[str, int]
    expected: dict[str, float]  # accounts expected per arm from the weights
    p_value: float | None  # None with no accounts at all
    statistic: float | None  # chi-square statistic (None for the exact test)
    method: str  # chi_square | exact_binomial | none
    mismatch: bool  # p < threshold


def sample_ratio_mismatch(observed: dict[str, int], expected_weights: dict[str, float], *,
                          threshold: float = SRM_THRESHOLD) -> SRM:
    """Test the arms' counts against the split's weights (any positive scale: 0.9/0.1 or 9/1)."""
    if set(observed) != set(expected_weights):
        raise ValueError(f"arms differ: observed {sorted(observed)}, weights {sorted(expected_weights)}")
    if len(observed) < 2:
        raise ValueError("a split needs at least two arms")
    if any(w <= 0 for w in expected_weights.values()):
        raise ValueError("weights must be positive")
    if any(not isinstance(n, int) or n < 0 for n in observed.values()):
        raise ValueError("observed counts must be non-negative integers")
    arms = sorted(observed)
    total, weight = sum(observed.values()), sum(expected_weights.values())
    expected = {a: total * expected_weights[a] / weight for a in arms}
    if total == 0:
        return SRM(dict(observed), expected, None, None, "none", False)
    if len(arms) == 2 and min(expected.values()) < MIN_EXPECTED:
        first = arms[0]
        p = binomtest(observed[first], total, expected_weights[first] / weight).pvalue
        return SRM(dict(observed), expected, float(p), None, "exact_binomial", p < threshold)
    result = chisquare([observed[a] for a in arms], [expected[a] for a in arms])
    p = float(result.pvalue)
    return SRM(dict(observed), expected, p, float(result.statistic), "chi_square", p < threshold)
