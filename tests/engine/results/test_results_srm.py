"""sample_ratio_mismatch(): chi-square against the split's weights, exact for small two-arm splits."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest, chi2

from engine.results.srm import sample_ratio_mismatch


def test_a_holdout_that_kept_its_share():
    got = sample_ratio_mismatch({"treated": 900, "control": 100}, {"treated": 0.9, "control": 0.1})
    assert got.method == "chi_square" and got.p_value == pytest.approx(1.0) and not got.mismatch
    assert got.expected == {"control": 100.0, "treated": 900.0}


def test_a_holdout_that_grew():
    got = sample_ratio_mismatch({"treated": 850, "control": 150}, {"treated": 9, "control": 1})
    statistic = (850 - 900) ** 2 / 900 + (150 - 100) ** 2 / 100  # 27.78, by hand
    assert got.statistic == pytest.approx(statistic)
    assert got.p_value == pytest.approx(chi2.sf(statistic, 1))
    assert got.mismatch


def test_threshold_is_strict():
    # p ~ 0.01: suspicious at 0.05, not flagged at 0.001
    got = sample_ratio_mismatch({"a": 5130, "b": 4870}, {"a": 1, "b": 1})
    assert 0.001 < got.p_value < 0.05 and not got.mismatch


def test_three_variants():
    got = sample_ratio_mismatch({"a": 1000, "b": 1000, "c": 1200}, {"a": 1, "b": 1, "c": 1})
    want = sum((o - 3200 / 3) ** 2 / (3200 / 3) for o in (1000, 1000, 1200))
    assert got.statistic == pytest.approx(want) and got.p_value == pytest.approx(chi2.sf(want, 2))
    assert got.mismatch


def test_small_two_arm_split_is_exact():
    got = sample_ratio_mismatch({"treated": 22, "control": 8}, {"treated": 0.9, "control": 0.1})  # 3 expected
    assert got.method == "exact_binomial" and got.statistic is None
    assert got.p_value == pytest.approx(binomtest(8, 30, 0.1).pvalue)


def test_no_accounts_yet():
    got = sample_ratio_mismatch({"treated": 0, "control": 0}, {"treated": 0.5, "control": 0.5})
    assert got.p_value is None and not got.mismatch and got.method == "none"


@pytest.mark.parametrize(("observed", "weights"), [
    ({"a": 10, "b": 10}, {"a": 1, "c": 1}),
    ({"a": 10}, {"a": 1}),
    ({"a": 10, "b": 10}, {"a": 1, "b": 0}),
    ({"a": -1, "b": 10}, {"a": 1, "b": 1}),
])
def test_bad_input(observed, weights):
    with pytest.raises(ValueError):
        sample_ratio_mismatch(observed, weights)
