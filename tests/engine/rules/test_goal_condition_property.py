"""A goal's condition joins the agreement property: the outcomes pass (engine.results.outcomes),
which compiles it to SQL over the accounts with open outcomes, converts exactly the outcomes a
one-account Python evaluation (engine.rules.evaluate) says it should, at each pass.

Random accounts as test_agreement.py draws them (NULL fields, absent and JSON-null traits,
usage, changes, sends), random conditions of every leaf kind written as YAML and read by the
checker (so what is measured is what a rule file says), a treated or held-out occurrence or
two per account exposed around the first pass, passes minutes to days apart (some exactly at a
window's end) with accounts' fields and traits redrawn between them.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from ruledata import clear, write_accounts
from sqlalchemy import insert, select, update
from test_agreement import accounts, leaves, nows
from yamlleaves import yaml_leaves

from engine.models import Account, Delivery, GoalOutcome, RuleVersion
from engine.results.goals import goal_of
from engine.results.outcomes import measure
from engine.rules.ast import Changed, Compare, Received, RelativeTime, Trend, Usage, Window
from engine.rules.evaluate import evaluate
from engine.rules.facts import events_of, load_facts, rules_of
from engine.rules.validate import validate_text

RULE = "goal-rule"


def goal_rule(condition: Any, within: int) -> str:
    # JSON is YAML, and keeps every text a text.
    import json

    return (f"id: {RULE}\nname: G\nwhen:\n  account.plan: trial\nactions:\n  - email: {{template: t, to: owner}}\n"
            f"goal: {{condition: {json.dumps(condition)}, within: {within}d}}\n")  # fmt: skip


def _window(window: Window) -> dict[str, Any]:
    if window.end == 0:
        return {"in_last": f"{window.start}d"}
    return {"between": [f"{window.start}d", f"{window.end}d"]}


def _pair(value: Any) -> Any:
    return sorted(value) if isinstance(value, tuple) else value


def as_yaml(leaf) -> dict[str, Any] | None:
    """A leaf of test_agreement's strategies as an operator would write it; None if it has no
    spelling (the checker decides the rest)."""
    match leaf:
        case Compare(field=ref, op=op, value=value):
            operand = list(value) if op in ("in", "not_in") else _pair(value)
            return {str(ref): {op: operand}}
        case RelativeTime():
            bounds = {k: getattr(leaf, k) for k in ("older_than", "newer_than", "within_next", "after_next")}
            bounds = {k: v for k, v in bounds.items() if v is not None}
            if {"older_than", "newer_than"} & bounds.keys() and {"within_next", "after_next"} & bounds.keys():
                bounds = {k: v for k, v in bounds.items() if k in ("older_than", "newer_than")}
            if bounds.get("older_than", -1) >= bounds.get("newer_than", 10**6):
                del bounds["newer_than"]
            if bounds.get("after_next", -1) >= bounds.get("within_next", 10**6):
                del bounds["within_next"]
            return {str(leaf.field): {k: f"{v}d" for k, v in bounds.items()}} if bounds else None
        case Usage(event=event, metric=metric, window=window, op=op, value=value):
            body: dict[str, Any] = {}
            if metric != "days_since_last":
                # A window is required; in a between comparison, as in_last (one between per mapping).
                window = window or Window(12)
                body = _window(Window(window.start) if op == "between" else window)
            return {f"event.{event}.{metric}": {**body, op: _pair(value)}}
        case Trend(event=event, days=days, op=op, value=value, min_baseline=baseline):
            return {f"event.{event}.trend": {"over": f"{days}d", "change_pct": {op: _pair(value)}, "min_baseline": baseline}}
        case Changed(field=name, window=window):
            return {f"account.{name}.changed": _window(window)}
        case Received(rule=rule, action=action, within=within):
            body = {"rule": rule}
            if action is not None:
                body["action"] = action
            if within is not None:
                body["within"] = f"{within}d"
            return {"received": body}
    raise TypeError(leaf)


def _checked(when: dict[str, Any] | None) -> bool:
    return when is not None and validate_text(goal_rule(when, 1), f"rules/{RULE}.yaml", expected_id=RULE).ok


yaml_leaf = st.one_of(leaves.map(as_yaml), yaml_leaves()).filter(_checked)


def yaml_trees(depth: int = 2):
    if depth == 0:
        return yaml_leaf
    inner = yaml_trees(depth - 1)
    return st.one_of(
        yaml_leaf,
        st.lists(inner, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(inner, min_size=1, max_size=3).map(lambda items: {"any": items}),
        inner.map(lambda item: {"not": item}),
    )


minutes = st.integers(0, 3 * 24 * 60).map(lambda m: timedelta(minutes=m))
gaps = st.sampled_from([timedelta(minutes=5), timedelta(hours=7), timedelta(days=1), timedelta(days=1, hours=13)])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])  # fmt: skip
@given(data=st.data(), start=nows, when=yaml_trees(), within=st.integers(1, 3))
def test_condition_goals_convert_where_python_says_the_condition_holds(db, data, start, when, within):
    clear(db)
    specs = data.draw(st.lists(accounts(start), min_size=1, max_size=5), label="accounts")
    ids = write_accounts(db, specs, start)
    content = goal_rule(when, within)
    cond = goal_of(content, RULE, 1).condition
    note(f"condition={cond!r}")
    with db.session() as s:
        version = s.scalar(insert(RuleVersion).values(rule_id=RULE, version=1, content=content, content_hash="g",
                                                      author="t").returning(RuleVersion.id))  # fmt: skip
    # (occurrence, account id) -> [arm, exposed, window end, converted_at]
    want: dict[tuple[str, int], list] = {}
    serial = 0

    def fire(now, earliest, least: int = 0):
        nonlocal serial
        with db.session() as s:
            for account_id in ids:
                for _ in range(data.draw(st.integers(least, 2), label="occurrences")):
                    serial += 1
                    arm = data.draw(st.sampled_from(["treated", "control"]), label="arm")
                    at = now - data.draw(st.integers(0, int((now - earliest).total_seconds())), label="age") * timedelta(seconds=1)
                    s.execute(insert(Delivery).values(
                        dedupe_key=f"g|{serial}", rule_id=RULE, rule_version_id=version, action_index=0, channel="email",
                        template="t", account_id=account_id, recipient="o@x.test", occurrence=f"enter:{serial}",
                        status="sent" if arm == "treated" else "held_out", sent_at=at if arm == "treated" else None,
                        created_at=at, due_at=at,
                    ))  # fmt: skip
                    want[(f"enter:{serial}", account_id)] = [arm, at, at + timedelta(days=within), None]

    now = start
    fire(now, now - timedelta(days=2), least=1)
    for step in range(data.draw(st.integers(1, 5), label="passes")):
        if step:
            ends = sorted(w[2] for w in want.values() if w[2] > now)
            if ends and data.draw(st.booleans(), label="at a window's end"):
                now = data.draw(st.sampled_from(ends), label="end")
            else:
                now += data.draw(gaps, label="gap")
            for account_id in ids:
                if data.draw(st.booleans(), label="redraw the account"):
                    spec = data.draw(accounts(start), label="fields")
                    fields = {k: Decimal(str(v)) if k == "mrr" and isinstance(v, float) else v for k, v in spec.fields.items()}
                    with db.session() as s:
                        s.execute(update(Account).where(Account.id == account_id).values(**fields, traits=spec.traits))
            if data.draw(st.booleans(), label="new firings"):
                fire(now, now - timedelta(minutes=30))  # caught by the next pass's look-back
        # What the pass must find, by the Python evaluator, before it runs.
        with db.read_session() as s:
            for (_occurrence, account_id), w in want.items():
                if w[3] is None and w[1] <= now < w[2]:
                    facts = load_facts(s, account_id, now, events_of(cond), rules_of(cond))
                    if evaluate(cond, facts, now):
                        w[3] = now
        measure(db, now)
        assert stored(db) == expected(want, now), f"pass {step} at {now}"
    again = measure(db, now, full=True)
    assert (again.added, again.converted, again.closed) == (0, 0, 0)
    assert stored(db) == expected(want, now)


def expected(want, now) -> dict[tuple[str, int], tuple]:
    return {key: (arm, exposed, ends, converted, "converted" if converted else "closed" if ends <= now else "open")
            for key, (arm, exposed, ends, converted) in want.items()}  # fmt: skip


def stored(db) -> dict[tuple[str, int], tuple]:
    with db.read_session() as s:
        return {(o.occurrence, o.account_id): (o.arm, o.exposed_at, o.window_ends_at, o.converted_at, o.state)
                for o in s.scalars(select(GoalOutcome).where(GoalOutcome.rule_id == RULE))}  # fmt: skip


def test_the_goal_conditions_reach_every_leaf_kind():
    """Guard the generator: every leaf kind comes up, as the checker reads it."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.filter_too_much])  # fmt: skip
    @given(yaml_leaf)
    def collect(when):
        seen.add(type(goal_of(goal_rule(when, 1), RULE, 1).condition).__name__)

    collect()
    assert seen == {"Compare", "RelativeTime", "Usage", "Trend", "Changed", "Received"}
