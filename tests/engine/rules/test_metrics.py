"""The shared matching pass (one grouped pass of metrics, one bit per rule) agrees with per-rule queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from rulecases import spec
from ruledata import clear, write_accounts
from test_agreement import accounts, accounts_with_people, conditions, contact_conditions, nows, subtrees

from engine.rules.ast import All, Trend, Usage, Window
from engine.rules.compiler import BITS, matching_account_ids, matching_contact_ids, matching_sets
from engine.rules.metrics import Metric, MetricSet, leaf_metrics


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), now=nows, conds=st.lists(conditions(), min_size=1, max_size=12))
def test_the_shared_pass_matches_what_each_rule_matches_alone(db, data, now, conds):
    specs = data.draw(st.lists(accounts(now), min_size=1, max_size=6))
    clear(db)
    ids = write_accounts(db, specs, now)
    every = {i: sub for i, sub in enumerate(sub for c in conds for sub in subtrees(c))}
    only = data.draw(st.none() | st.lists(st.sampled_from(ids), unique=True))
    with db.read_session() as s:
        shared = matching_sets(s, every, now, only=only)
        for key, cond in every.items():
            note(f"ids={ids} only={only} cond={cond!r}")
            alone = matching_account_ids(s, cond, now)
            assert shared[key] == (alone if only is None else alone & set(only))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), now=nows, conds=st.lists(contact_conditions(), min_size=1, max_size=8))
def test_the_shared_pass_matches_contacts_too(db, data, now, conds):
    specs = data.draw(st.lists(accounts_with_people(now), min_size=1, max_size=5))
    clear(db)
    write_accounts(db, specs, now)
    every = {i: sub for i, sub in enumerate(sub for c in conds for sub in subtrees(c))}
    with db.read_session() as s:
        shared = matching_sets(s, every, now, subject="contact")
        for key, cond in every.items():
            note(f"cond={cond!r}")
            assert shared[key] == matching_contact_ids(s, cond, now)


def test_more_rules_than_bits_in_one_column(db):
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    ids = write_accounts(db, [spec(), spec(), spec()], now)
    # Alternate always-true and always-false conditions past one 62-bit column.
    everyone, nobody = All(()), Usage("login", "count", Window(7), "lt", 0)
    conds = {k: (everyone if k % 2 else nobody) for k in range(2 * BITS + 5)}
    with db.read_session() as s:
        found = matching_sets(s, conds, now)
    assert all(found[k] == (set(ids) if k % 2 else set()) for k in conds)


def test_a_metric_shared_by_rules_is_computed_once():
    today = datetime(2026, 11, 23, tzinfo=UTC).date()
    a = Usage("login", "count", Window(30), "gte", 1)
    b = Usage("login", "count", Window(30), "lt", 5)  # the same metric, another threshold
    c = Trend("login", 15, "lt", -50)  # current 15 days and the 15 before: two more counts
    metrics = MetricSet([a, b, All((a, c))], today)
    assert len(metrics.metrics) == 3
    assert Metric("count", "login", today - timedelta(days=30), today) in metrics.metrics
    assert len({m for cond in (a, b) for m in leaf_metrics(cond, today)}) == 1
