"""compare(): intervals against published tables, p-values against scipy's own tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import boschloo_exact, chi2, chi2_contingency, fisher_exact

from engine.results.stats import compare, koopman_ratio_interval, newcombe_interval, wilson_interval

# Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (hybrid score, no continuity
# correction), 95%: examples (a)-(h), as reproduced by the pairwiseCI package's documentation;
# the last row is Fagerland, Lydersen & Laake (2017), ch. 4, 7/34 vs 1/34 (Perondi et al. 2004).
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
    ((7, 34, 1, 34), (0.0189, 0.3404)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_newcombe_interval_matches_the_published_table(counts, published):
    low, high = newcombe_interval(*counts)
    assert (round(low, 4), round(high, 4)) == published


def test_wilson_limits_at_zero_and_all():
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 20)[1] == pytest.approx(1.959964**2 / (20 + 1.959964**2), abs=1e-6)


def test_koopman_ratio_interval_matches_fagerland_lydersen_laake():
    # Fagerland, Lydersen & Laake (2017), ch. 4, Perondi et al. (2004): 7/34 vs 1/34,
    # Koopman asymptotic score interval 1.2209 to 42.5757.
    low, high = koopman_ratio_interval(7, 34, 1, 34)
    assert (round(low, 4), round(high, 4)) == (1.2209, 42.5757)


def _pearson_at(phi: float, x1: int, n1: int, x2: int, n2: int) -> float:
    """Koopman's own statistic, computed independently of the module: Pearson's chi-square with
    p1 = phi p2 fitted by maximising the likelihood numerically."""
    def nll(p2: float) -> float:
        p1 = phi * p2
        return -(x1 * math.log(p1) + (n1 - x1) * math.log1p(-p1) + x2 * math.log(p2) + (n2 - x2) * math.log1p(-p2))

    top = min(1.0, 1.0 / phi)
    p2 = minimize_scalar(nll, bounds=(1e-12, top * (1 - 1e-12)), method="bounded",
                         options={"xatol": 1e-14}).x
    p1 = phi * p2
    return (x1 - n1 * p1) ** 2 / (n1 * p1 * (1 - p1)) + (x2 - n2 * p2) ** 2 / (n2 * p2 * (1 - p2))


@pytest.mark.parametrize("counts", [(7, 34, 1, 34), (12, 40, 20, 45), (0, 30, 5, 30), (30, 30, 5, 30),
                                    (3, 200, 9, 180), (25, 25, 20, 24)])
def test_koopman_limits_are_where_the_pearson_statistic_reaches_the_quantile(counts):
    low, high = koopman_ratio_interval(*counts)
    q = chi2.ppf(0.95, 1)
    for limit in (low, high):
        if limit > 0:
            assert _pearson_at(limit, *counts) == pytest.approx(q, rel=1e-5)
    estimate = (counts[0] / counts[1]) / (counts[2] / counts[3])
    inside = (max(low, estimate * 0.999) + estimate) / 2 if estimate > 0 else high / 2
    assert _pearson_at(inside, *counts) < q
    if counts[0] == 0:
        assert low == 0.0


def test_boschloo_p_value_is_scipys_on_small_tables_with_one_column_per_arm():
    for nt, xt, nc, xc in [(20, 0, 25, 3), (30, 30, 30, 25), (40, 12, 35, 4), (120, 15, 110, 14)]:
        got = compare(nt, xt, nc, xc)
        want = boschloo_exact([[xt, xc], [nt - xt, nc - xc]], alternative="two-sided").pvalue
        assert got.test == "boschloo"
        assert got.p_value == pytest.approx(want, rel=1e-9)


def test_boschloo_agrees_with_scipys_documented_example():
    # scipy's boschloo_exact documentation: [[74, 31], [43, 32]], one-sided p = 0.0355; two-sided
    # is twice the smaller one-sided p-value in scipy's convention.
    got = compare(117, 74, 63, 31)
    assert got.test == "boschloo"
    assert got.p_value == pytest.approx(2 * 0.03556, abs=2e-4)


def test_fisher_when_boschloo_would_be_too_slow():
    for nt, xt, nc, xc in [(3000, 3, 3000, 12), (499, 100, 600, 100), (500, 100, 500, 9)]:
        got = compare(nt, xt, nc, xc)
        assert got.test == "fisher"
        assert got.p_value == pytest.approx(fisher_exact([[xt, xc], [nt - xt, nc - xc]]).pvalue, rel=1e-9)


def test_z_test_is_pearsons_chi_square_without_correction_on_large_tables():
    rng = np.random.default_rng(7)
    tables = [(5000, 600, 5000, 520), (800, 100, 700, 60), (500, 10, 500, 20), (2000, 1990, 1500, 1480)]
    for _ in range(20):
        nt, nc = (int(v) for v in rng.integers(500, 5000, size=2))
        xt, xc = int(rng.binomial(nt, 0.2)), int(rng.binomial(nc, 0.22))
        tables.append((nt, xt, nc, xc))
    for nt, xt, nc, xc in tables:
        got = compare(nt, xt, nc, xc)
        want = chi2_contingency([[xt, xc], [nt - xt, nc - xc]], correction=False).pvalue
        assert got.test == "z_pooled"
        assert got.p_value == pytest.approx(want, rel=1e-9, abs=1e-300)


def test_large_sample_newcombe_is_close_to_wald():
    got = compare(5000, 600, 5000, 520)
    se = math.sqrt(0.12 * 0.88 / 5000 + 0.104 * 0.896 / 5000)
    assert got.uplift_abs_low == pytest.approx(0.016 - 1.959964 * se, abs=2e-4)
    assert got.uplift_abs_high == pytest.approx(0.016 + 1.959964 * se, abs=2e-4)
    assert got.code == "better"
    assert got.verdict == "Treated accounts converted more than control: +1.6 points (95% CI +0.4 to +2.8), p = 0.011."


def test_method_thresholds():
    assert compare(500, 100, 500, 10).test == "z_pooled"
    assert compare(500, 100, 500, 9).test == "fisher"  # 9 conversions: exact
    assert compare(500, 491, 500, 400).test == "fisher"  # 9 non-conversions: exact
    assert compare(150, 20, 150, 10).test == "boschloo"
    assert "Boschloo" in compare(150, 20, 150, 10).method and "Newcombe" in compare(150, 20, 150, 10).method


@pytest.mark.parametrize("counts", [(19, 5, 100, 10), (100, 10, 0, 0), (20, 0, 20, 0), (30, 30, 40, 40)])
def test_not_enough_data(counts):
    got = compare(*counts)
    assert not got.enough and got.code == "not_enough_data"
    assert got.p_value is None and got.uplift_abs_low is None and got.uplift_rel is None
    assert got.verdict.startswith("Not enough data yet")


def test_zero_cells():
    nothing_treated = compare(30, 0, 30, 8)
    assert nothing_treated.code == "worse"
    assert nothing_treated.uplift_rel == -1.0 and nothing_treated.uplift_rel_low == -1.0
    assert -1.0 < nothing_treated.uplift_rel_high < 0

    all_treated = compare(25, 25, 30, 0)
    assert all_treated.code == "better" and all_treated.uplift_abs == 1.0
    assert all_treated.uplift_abs_high == 1.0
    assert all_treated.uplift_rel is None  # control rate 0: no ratio

    one_side_empty = compare(56, 5, 29, 0)  # Newcombe's example (d)
    assert (round(one_side_empty.uplift_abs_low, 4), round(one_side_empty.uplift_abs_high, 4)) == (-0.0381, 0.1926)
    assert one_side_empty.code == "no_evidence"


def test_relative_uplift_is_the_koopman_ratio_minus_one():
    got = compare(40, 12, 45, 20)
    low, high = koopman_ratio_interval(12, 40, 20, 45)
    assert got.uplift_rel == pytest.approx((12 / 40) / (20 / 45) - 1)
    assert (got.uplift_rel_low, got.uplift_rel_high) == pytest.approx((low - 1, high - 1))


def test_a_verdict_never_sits_next_to_an_interval_holding_zero():
    rng = np.random.default_rng(11)
    for _ in range(40):
        nt, nc = (int(v) for v in rng.integers(20, 70, size=2))
        got = compare(nt, int(rng.binomial(nt, 0.3)), nc, int(rng.binomial(nc, 0.15)))
        if got.code == "better":
            assert got.p_value < 0.05 and got.uplift_abs_low > 0
        elif got.code == "worse":
            assert got.p_value < 0.05 and got.uplift_abs_high < 0
        else:
            assert got.code == "no_evidence"
            assert got.p_value >= 0.05 or got.uplift_abs_low <= 0 <= got.uplift_abs_high


def test_alpha_sets_the_level():
    wide, narrow = compare(200, 40, 200, 25), compare(200, 40, 200, 25, alpha=0.1)
    assert narrow.uplift_abs_high - narrow.uplift_abs_low < wide.uplift_abs_high - wide.uplift_abs_low
    assert "90% CI" in narrow.verdict


def test_small_differences_keep_their_sign_in_words():
    assert "(95% CI -0.61 to -0.04)" in compare(3000, 3, 3000, 12).verdict


@pytest.mark.parametrize(("args", "error"), [((20, 21, 20, 1), ValueError), ((20, -1, 20, 1), ValueError),
                                             ((20.0, 1, 20, 1), TypeError), ((20, True, 20, 1), TypeError)])
def test_bad_counts(args, error):
    with pytest.raises(error):
        compare(*args)
    with pytest.raises(ValueError):
        compare(20, 1, 20, 2, alpha=1.0)
