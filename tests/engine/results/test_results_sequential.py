"""sequential_verdict(): the boundary's formula, and by simulation that daily looks stay at 5%
false winners while the naive daily test does not."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from scipy.special import erfc

from engine.results.sequential import DailyCounts, boundary, mixture_rho2, sequential_verdict
from engine.results.stats import MIN_UNITS, pooled_z_p_value

DAYS, RUNS = 30, 2000


def test_boundary_is_the_normal_mixture_formula():
    # Waudby-Smith et al. (2024), two-sided normal-mixture boundary, written out by hand for
    # 500/60 vs 500/50, alpha 0.05, narrowest at 1,000 accounts.
    k = -2 * math.log(0.05)
    rho2 = (k + math.log(k + 1)) / 1000
    assert mixture_rho2(0.05, 1000) == pytest.approx(rho2)
    pt, pc = 61 / 502, 51 / 502  # one conversion and one non-conversion added per arm
    pooled = 111 / 1002
    var = max(pt * (1 - pt) / 500 + pc * (1 - pc) / 500, pooled * (1 - pooled) * (2 / 500))
    n = 1000
    want = math.sqrt(var * 2 * (n * rho2 + 1) / (n * rho2) * math.log(math.sqrt(n * rho2 + 1) / 0.05))
    half, p = boundary(500, 60, 500, 50, diff=0.07, alpha=0.05, rho2=rho2)
    assert half == pytest.approx(want, rel=1e-12)
    # 1.5 times the fixed-horizon half-width at the tuning size: the price of looking every day
    assert half / (1.959964 * math.sqrt(var)) == pytest.approx(1.549, abs=1e-3)
    assert p == pytest.approx(math.sqrt(n * rho2 + 1) * math.exp(-(0.07**2) * n * rho2 / (2 * var * (n * rho2 + 1))))
    assert p < 0.05 and half < 0.07
    assert boundary(500, 60, 500, 50, diff=0.02, alpha=0.05, rho2=rho2)[1] == 1.0  # capped


def test_zero_leaves_the_interval_exactly_when_the_p_value_is_below_alpha():
    rng = np.random.default_rng(3)
    rho2 = mixture_rho2(0.05, 1000)
    for _ in range(500):
        nt, nc = (int(v) for v in rng.integers(20, 3000, size=2))
        xt, xc = int(rng.binomial(nt, 0.12)), int(rng.binomial(nc, 0.1))
        diff = xt / nt - xc / nc
        half, p = boundary(nt, xt, nc, xc, diff=diff, alpha=0.05, rho2=rho2)
        assert (abs(diff) > half) == (p < 0.05)


def test_always_wider_than_the_fixed_horizon_interval():
    rho2 = mixture_rho2(0.05, 1000)
    for n in (20, 100, 1000, 10_000, 100_000):
        half, _ = boundary(n, n // 10, n, n // 10, diff=0.0, alpha=0.05, rho2=rho2)
        pt = pc = (n // 10 + 1) / (n + 2)
        assert half > 1.959964 * math.sqrt(pt * (1 - pt) / n + pc * (1 - pc) / n)


def test_not_enough_data():
    assert sequential_verdict([]).code == "not_enough_data"
    early = sequential_verdict([DailyCounts(10, 1, 9, 0), DailyCounts(19, 2, 25, 1)])
    assert early.code == "not_enough_data" and not early.enough and early.p_value is None
    assert sequential_verdict([DailyCounts(30, 0, 30, 0)]).code == "not_enough_data"


def test_days_before_enough_data_are_skipped():
    got = sequential_verdict([DailyCounts(5, 5, 5, 0), DailyCounts(200, 30, 200, 28)])
    assert got.enough and got.code == "no_evidence" and got.days == 2
    assert got.uplift_abs == pytest.approx(0.01)
    assert got.low < 0 < got.high


def _day_intervals(days):
    rho2 = mixture_rho2(0.05, 1000)
    out = []
    for d in days:
        diff = d.treated_x / d.treated_n - d.control_x / d.control_n
        half, _ = boundary(*d, diff=diff, alpha=0.05, rho2=rho2)
        out.append((diff - half, diff + half))
    return out


def test_a_decision_stands_and_the_interval_is_the_running_intersection():
    days = [DailyCounts(400, 100, 400, 60), DailyCounts(800, 170, 800, 120), DailyCounts(1600, 300, 1600, 240)]
    got = sequential_verdict(days)
    intervals = _day_intervals(days)
    assert intervals[0][0] > 0 and intervals[-1][0] < 0  # day 1 decides; the last day alone would not
    assert got.code == "better" and got.decided_on_day == 1
    assert got.low == pytest.approx(max(i[0] for i in intervals))
    assert got.high == pytest.approx(min(i[1] for i in intervals))
    assert got.p_value < 0.05 and not got.drift
    assert "decided on day 1" in got.verdict


def test_a_moving_difference_is_flagged():
    # +20 points on day 1, +1 point by day 3: the days' intervals no longer meet.
    days = [DailyCounts(400, 120, 400, 40), DailyCounts(800, 170, 800, 110), DailyCounts(1600, 250, 1600, 230)]
    got = sequential_verdict(days)
    assert got.drift and got.code == "better"
    assert "moved over the days" in got.verdict


def test_accepts_any_row_with_the_four_counts():
    class Row(NamedTuple):  # the shape engine.results.outcomes reads per day
        treated_n: int
        treated_x: int
        control_n: int
        control_x: int

    assert sequential_verdict([Row(100, 10, 100, 12)]) == sequential_verdict([DailyCounts(100, 10, 100, 12)])


def test_counts_must_be_cumulative_and_sane():
    with pytest.raises(ValueError, match="cumulative"):
        sequential_verdict([DailyCounts(100, 10, 100, 10), DailyCounts(90, 10, 110, 10)])
    with pytest.raises(ValueError):
        sequential_verdict([DailyCounts(100, 101, 100, 10)])
    with pytest.raises(ValueError):
        sequential_verdict([DailyCounts(100, 10, 100, 10)], alpha=0)


# -- simulations ------------------------------------------------------------------------------


def _campaigns(seed: int, treated_rate: float, control_rate: float, treated_new=(20, 60), control_new=(20, 60)):
    """RUNS campaigns of DAYS days: new accounts per arm per day uniform in the given range;
    cumulative (treated_n, treated_x, control_n, control_x), each RUNS x DAYS."""
    rng = np.random.default_rng(seed)
    nt = rng.integers(treated_new[0], treated_new[1] + 1, size=(RUNS, DAYS))
    nc = rng.integers(control_new[0], control_new[1] + 1, size=(RUNS, DAYS))
    xt, xc = rng.binomial(nt, treated_rate), rng.binomial(nc, control_rate)
    return [np.cumsum(a, axis=1) for a in (nt, xt, nc, xc)]


def _sequential_codes(nt, xt, nc, xc) -> np.ndarray:
    return np.array([
        sequential_verdict([DailyCounts(*map(int, day)) for day in zip(nt[r], xt[r], nc[r], xc[r])]).code
        for r in range(nt.shape[0])
    ])


def _naive_daily_winner(nt, xt, nc, xc, alpha=0.05) -> np.ndarray:
    """Stop at the first day the fixed-horizon z-test gives p < alpha (same data gate)."""
    pooled = (xt + xc) / (nt + nc)
    se = np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = erfc(np.abs(xt / nt - xc / nc) / se / np.sqrt(2))
    usable = (np.minimum(nt, nc) >= MIN_UNITS) & (xt + xc > 0) & (se > 0)
    return ((p < alpha) & usable).any(axis=1)


def test_aa_daily_looks_sequential_stays_under_5_percent_and_naive_does_not():
    nt, xt, nc, xc = _campaigns(seed=20240601, treated_rate=0.10, control_rate=0.10)
    for r, d in [(0, 0), (5, 12), (1999, 29)]:  # the vectorised test is the module's z-test
        want = pooled_z_p_value(int(nt[r, d]), int(xt[r, d]), int(nc[r, d]), int(xc[r, d]))
        pooled = (xt[r, d] + xc[r, d]) / (nt[r, d] + nc[r, d])
        se = math.sqrt(pooled * (1 - pooled) * (1 / nt[r, d] + 1 / nc[r, d]))
        assert erfc(abs(xt[r, d] / nt[r, d] - xc[r, d] / nc[r, d]) / se / math.sqrt(2)) == pytest.approx(want)

    sequential = np.isin(_sequential_codes(nt, xt, nc, xc), ["better", "worse"]).mean()
    naive = _naive_daily_winner(nt, xt, nc, xc).mean()
    assert sequential <= 0.05  # measured: 0.0140
    assert naive > 0.05  # measured: 0.2805 (one look at day 30: 0.0565)
    assert naive > 10 * sequential


@pytest.mark.parametrize(("rate", "seed"), [(0.02, 5), (0.40, 6)])
def test_aa_at_rare_and_common_conversion(rate, seed):
    nt, xt, nc, xc = _campaigns(seed=seed, treated_rate=rate, control_rate=rate)
    # measured: 0.0110 and 0.0190; naive 0.2570 and 0.2760
    assert np.isin(_sequential_codes(nt, xt, nc, xc), ["better", "worse"]).mean() <= 0.05
    assert _naive_daily_winner(nt, xt, nc, xc).mean() > 0.05


def test_aa_with_a_small_holdout_stays_under_5_percent():
    # 90% treated, 10% holdout: the holdout has 2-6 new accounts a day and few conversions, where
    # an interval from its own variance alone would be too narrow.
    nt, xt, nc, xc = _campaigns(seed=7, treated_rate=0.10, control_rate=0.10, treated_new=(18, 54),
                                control_new=(2, 6))
    # measured: 0.0005; with each arm's own variance only (no pooled floor): 0.043
    assert np.isin(_sequential_codes(nt, xt, nc, xc), ["better", "worse"]).mean() <= 0.05


def test_real_uplift_is_detected_in_most_runs_and_the_interval_keeps_the_truth():
    nt, xt, nc, xc = _campaigns(seed=99, treated_rate=0.16, control_rate=0.10)
    results = [
        sequential_verdict([DailyCounts(*map(int, day)) for day in zip(nt[r], xt[r], nc[r], xc[r])])
        for r in range(RUNS)
    ]
    codes = np.array([r.code for r in results])
    assert (codes == "better").mean() >= 0.80  # measured: 0.929, median decision on day 12
    assert (codes == "worse").sum() == 0
    missed_truth = np.mean([not (r.low <= 0.06 <= r.high) for r in results])
    assert missed_truth <= 0.05  # measured: 0.015 (the intersection of all days: coverage at every day at once)
