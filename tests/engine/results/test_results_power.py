"""required_per_arm(): a published example, and the power it promises checked directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erfc
from scipy.stats import binom, fisher_exact

from engine.results.power import (fleiss_corrected, fleiss_uncorrected, more_needed, required_per_arm,
                                  required_sizes)
from engine.results.stats import compare


def test_uncorrected_formula_matches_r_power_prop_test():
    # R's documented example power.prop.test(p1 = .50, p2 = .75, power = .90): n = 76.7.
    assert round(fleiss_uncorrected(0.50, 0.25, power=0.90), 1) == 76.7


def test_continuity_correction_by_hand():
    m = fleiss_uncorrected(0.10, 0.05)
    assert fleiss_corrected(0.10, 0.05) == pytest.approx(m / 4 * (1 + math.sqrt(1 + 4 / (m * 0.05))) ** 2)
    assert required_per_arm(0.10, 0.05) == 726
    assert required_per_arm(0.15, -0.05) == required_per_arm(0.10, 0.05)  # the same two rates
    assert required_per_arm(0.10, 0.05, power=0.9) > 726 > required_per_arm(0.10, 0.05, alpha=0.1)


def _z_power(n_t: int, n_c: int, p_t: float, p_c: float, runs: int, seed: int) -> float:
    """Share of simulated campaigns where the pooled z-test (compare's large-sample test) finds
    the treated arm better at 0.05."""
    rng = np.random.default_rng(seed)
    xt, xc = rng.binomial(n_t, p_t, runs), rng.binomial(n_c, p_c, runs)
    pooled = (xt + xc) / (n_t + n_c)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    d = xt / n_t - xc / n_c
    return float(np.mean((erfc(np.abs(d) / se / np.sqrt(2)) < 0.05) & (d > 0)))


def test_large_sample_power_by_simulation():
    n = required_per_arm(0.10, 0.05)
    assert compare(n, 72, n, 110).test == "z_pooled"  # the test these campaigns would get
    assert 0.80 <= _z_power(n, n, 0.15, 0.10, runs=20_000, seed=1) <= 0.86  # measured: 0.826
    # the uncorrected size is what the z-test needs: power 0.80 there
    m = math.ceil(fleiss_uncorrected(0.10, 0.05))
    assert _z_power(m, m, 0.15, 0.10, runs=20_000, seed=2) == pytest.approx(0.80, abs=0.015)  # measured: 0.798


def test_unequal_arms_power_by_simulation():
    treated, control = required_sizes(0.10, 0.05, treated_per_control=9)  # a 10% holdout
    assert treated == pytest.approx(9 * control, abs=9)
    assert 0.80 <= _z_power(treated, control, 0.15, 0.10, runs=20_000, seed=3) <= 0.86  # measured: 0.825


def _fisher_power(n: int, p_t: float, p_c: float) -> float:
    """Exact power of the two-sided Fisher test, by enumerating every outcome of both arms."""
    pt, pc = binom.pmf(np.arange(n + 1), n, p_t), binom.pmf(np.arange(n + 1), n, p_c)
    power = 0.0
    for xt in range(n + 1):
        for xc in range(n + 1):
            weight = pt[xt] * pc[xc]
            if weight > 1e-10 and fisher_exact([[xt, xc], [n - xt, n - xc]]).pvalue < 0.05:
                power += weight
    return power


def test_small_sample_power_of_the_exact_test():
    n = required_per_arm(0.20, 0.30)
    assert n == 45
    assert _fisher_power(n, 0.50, 0.20) >= 0.80  # exactly 0.815
    # without the correction the exact test falls short: why the corrected formula is used
    assert _fisher_power(math.ceil(fleiss_uncorrected(0.20, 0.30)), 0.50, 0.20) < 0.78  # exactly 0.732


def test_small_sample_power_of_compare_itself():
    n, rng = required_per_arm(0.20, 0.30), np.random.default_rng(4)
    runs = [compare(n, int(rng.binomial(n, 0.5)), n, int(rng.binomial(n, 0.2))) for _ in range(150)]
    assert {r.test for r in runs} == {"boschloo"}
    assert np.mean([r.code == "better" for r in runs]) >= 0.75  # measured: 0.867 (Fisher, exactly: 0.815)


def test_more_needed():
    c = compare(200, 25, 200, 20)
    more = more_needed(c, 0.05)
    assert more.treated == more.control == required_per_arm(0.10, 0.05) - 200 == 526
    assert more.text == "~530 more accounts per arm needed to detect +5.0 points."

    holdout = more_needed(compare(1800, 200, 200, 20), 0.05)
    assert (holdout.treated, holdout.control) == (1991, 222)
    assert holdout.text == "~2,300 more accounts needed to detect +5.0 points (~2,000 treated, ~230 control)."

    assert more_needed(compare(2000, 200, 2000, 200), 0.05).text == "Enough accounts to detect +5.0 points."
    assert more_needed(compare(50, 5, 0, 0), 0.05) is None


@pytest.mark.parametrize("args", [(0.1, 0.0), (0.9, 0.2), (-0.1, 0.1), (0.0, 0.0), (1.0, -1.0)])
def test_bad_plans(args):
    with pytest.raises(ValueError):
        required_per_arm(*args)
