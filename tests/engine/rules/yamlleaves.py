"""Field conditions as an operator writes them in YAML, one per operator docs/rules.md allows.

Text fields take eq ne in not_in exists contains starts_with; number fields eq ne
in not_in gt gte lt lte between exists; traits all of them, ordering text by code
point. Lists may be empty. test_agreement.py runs what the checker makes of these
through SQL and Python; test_editor_schema.py checks the JSON Schema accepts them.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from engine.rules.ast import ACCOUNT_FIELDS

TEXT_OPS = ("eq", "ne", "in", "not_in", "exists", "contains", "starts_with")
NUMBER_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists")
TRAIT_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "contains", "starts_with")
TEXT_FIELDS = [n for n, k in ACCOUNT_FIELDS.items() if k == "text"]
NUMBER_FIELDS = [n for n, k in ACCOUNT_FIELDS.items() if k == "number"]
TRAIT_KEYS = ("industry", "seats", "beta", "score")

# Non-blank texts (the checker refuses blank text for text fields), in and out of ASCII order.
words = st.sampled_from(("pro", "Pro", "pr", "ro", "émile", "Zürich", "a b", "M", "z"))
numbers = st.one_of(st.integers(-3, 12), st.sampled_from([0.5, 2.5, -1.25, 10.75]))
scalars = st.one_of(words, st.just(""), numbers, st.booleans())


def _pair(values):
    return st.tuples(values, values).map(lambda pair: sorted(pair))


@st.composite
def yaml_leaves(draw) -> dict[str, Any]:
    """One condition mapping, such as ``{"account.traits.region": {"gt": "M"}}``."""
    kind = draw(st.sampled_from(["text", "number", "trait"]))
    if kind == "text":
        key, op = f"account.{draw(st.sampled_from(TEXT_FIELDS))}", draw(st.sampled_from(TEXT_OPS))
        values = words
    elif kind == "number":
        key, op = f"account.{draw(st.sampled_from(NUMBER_FIELDS))}", draw(st.sampled_from(NUMBER_OPS))
        values = numbers
    else:
        key, op = f"account.traits.{draw(st.sampled_from(TRAIT_KEYS))}", draw(st.sampled_from(TRAIT_OPS))
        values = scalars
    if op == "exists":
        operand: Any = draw(st.booleans())
    elif op in ("in", "not_in"):
        operand = draw(st.lists(values, max_size=3))
    elif op in ("contains", "starts_with"):
        operand = draw(words)
    elif op == "between":
        operand = draw(_pair(numbers) if kind != "trait" else st.one_of(_pair(numbers), _pair(words)))
    elif op in ("gt", "gte", "lt", "lte"):
        operand = draw(numbers if kind != "trait" else st.one_of(numbers, words))
    else:
        operand = draw(values)
    if op == "eq" and not isinstance(operand, (bool, dict)) and draw(st.booleans()):
        return {key: operand}  # the shorthand for eq
    return {key: {op: operand}}


def rule_text(when: Any) -> str:
    """A rule file around ``when``; JSON is YAML, and keeps every text a text."""
    return (
        "id: r\nname: R\n"
        f"when: {json.dumps(when)}\n"
        "actions:\n  - email: {template: onboarding/stalled, to: role:admin}\n"
    )
