"""Holdout groups: deterministic, stable across processes, the right size, nested as the percentage grows."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from engine.delivery.holdout import holdout_bucket, in_holdout

RULE = "onboarding-stalled-day7"
IDS = [f"acct-{i}" for i in range(100_000)]


def test_the_groups_are_pinned():
    # Changing the hash scheme would move accounts between groups and spoil
    # every running comparison: these values must never change.
    assert [i for i in IDS[:100] if in_holdout(RULE, i, 10)] == ["acct-51", "acct-52", "acct-67"]
    assert holdout_bucket(RULE, "acct-0") == pytest.approx(44.8475, abs=1e-4)
    expected = int.from_bytes(hashlib.sha256(f"{RULE}\x00acct-1".encode()).digest()[:8], "big") * 100 / 2**64
    assert holdout_bucket(RULE, "acct-1") == expected


def test_another_process_draws_the_same_group():
    # Hash randomisation (PYTHONHASHSEED) must not leak in: workers are separate processes.
    code = "from engine.delivery.holdout import in_holdout as h; print(sum(h('r', f'a{i}', 30) for i in range(2000)))"
    here = sum(in_holdout("r", f"a{i}", 30) for i in range(2000))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345"}).stdout  # fmt: skip
    assert int(out) == here


@pytest.mark.parametrize("percent", [1, 10, 25, 50])
def test_the_group_size_is_the_percentage(percent):
    held = sum(in_holdout(RULE, i, percent) for i in IDS)
    # Binomial: sd is at most 158 on 100k draws; 0.6 points is over 3.7 sd at 50%.
    assert abs(held / len(IDS) * 100 - percent) < 0.6


def test_edges_none_at_zero_everyone_at_one_hundred():
    assert not any(in_holdout(RULE, i, 0) for i in IDS[:20_000])
    assert all(in_holdout(RULE, i, 100) for i in IDS[:20_000])
    assert all(0 <= holdout_bucket(RULE, i) < 100 for i in IDS[:20_000])


def test_raising_the_percentage_only_adds_accounts():
    at10 = {i for i in IDS[:20_000] if in_holdout(RULE, i, 10)}
    at20 = {i for i in IDS[:20_000] if in_holdout(RULE, i, 20)}
    assert at10 < at20


def test_each_rule_draws_its_own_group():
    a = {i for i in IDS[:20_000] if in_holdout("rule-a", i, 50)}
    b = {i for i in IDS[:20_000] if in_holdout("rule-b", i, 50)}
    # Independent halves overlap on about a quarter, not on all of them.
    assert abs(len(a & b) / 20_000 - 0.25) < 0.02


def test_a_fractional_percentage_is_honoured():
    held = sum(in_holdout(RULE, i, 12.5) for i in IDS)
    assert abs(held / len(IDS) * 100 - 12.5) < 0.5
    assert all(in_holdout(RULE, i, 12.5) == (holdout_bucket(RULE, i) < 12.5) for i in IDS[:5_000])


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan")])
def test_a_percentage_out_of_range_is_refused(percent):
    with pytest.raises(ValueError, match="from 0 to 100"):
        in_holdout(RULE, "acct-1", percent)


@pytest.mark.parametrize("key", [42, "", None])
def test_the_key_is_the_external_id_as_text(key):
    with pytest.raises(TypeError, match="external id"):
        in_holdout(RULE, key, 10)  # type: ignore[arg-type]
