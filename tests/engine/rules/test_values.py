"""Which constants a field can be compared with: the check both rule paths make, and its messages."""

from __future__ import annotations

import pytest

from engine.rules import values
from engine.rules.ast import Compare, FieldRef, RelativeTime
from engine.rules.values import check_field, constant_kind, json_kind

MRR = FieldRef("account", "mrr")  # number
TIER = FieldRef("account", "tier")  # text
SIGNUP = FieldRef("account", "signup_at")  # time
SEEN = FieldRef("contact", "last_seen_at")  # time
ROLE = FieldRef("contact", "role")  # text
SEATS = FieldRef("account", "seats", trait=True)
TOPIC = FieldRef("contact", "topic", trait=True)


@pytest.fixture(autouse=True)
def _forget_checked_conditions():
    # check_field remembers conditions it found good; each test asks afresh.
    values._check_once.cache_clear()
    yield
    values._check_once.cache_clear()


def test_constant_kinds_and_bool_is_not_a_number():
    assert [constant_kind(v) for v in (True, False, 0, 1.5, "", "x")] == [
        "boolean", "boolean", "number", "number", "string", "string",
    ]  # fmt: skip
    for odd in (None, [1], {"a": 1}):
        with pytest.raises(ValueError) as refused:
            constant_kind(odd)
        assert str(refused.value) == f"unsupported rule constant {odd!r}"


def test_json_kinds_of_stored_trait_values():
    assert json_kind(None) is None
    assert [json_kind(v) for v in (True, 3, 2.5, "x", [1, 2], [], {"a": 1}, {})] == [
        "boolean", "number", "number", "string", "array", "array", "object", "object",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "cond",
    [
        Compare(MRR, "gt", 100),
        Compare(MRR, "between", (100, 500.5)),
        Compare(MRR, "in", (1, 2)),
        Compare(TIER, "eq", "tech"),
        Compare(TIER, "not_in", ("high", "low")),
        Compare(TIER, "in", ["tech", "low"]),  # a list: not hashable, checked every time
        Compare(TIER, "contains", "ec"),
        Compare(ROLE, "starts_with", "ad"),
        Compare(TIER, "between", ("a", "m")),
        Compare(SIGNUP, "exists", True),
        Compare(SEATS, "exists", False),
        Compare(SEATS, "eq", True),
        Compare(SEATS, "ne", False),
        Compare(SEATS, "in", ("a", 1, True)),
        Compare(SEATS, "between", (1, 9)),
        Compare(TOPIC, "between", ("a", "m")),
        Compare(TOPIC, "starts_with", "bill"),
        RelativeTime(SIGNUP, older_than=7),
        RelativeTime(SEEN, newer_than=30),
    ],
    ids=repr,
)
def test_combinations_both_paths_evaluate_pass(cond):
    check_field(cond)
    check_field(cond)  # again, as the evaluator does for every account


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        (Compare(FieldRef("company", "name"), "eq", "x"), "company.name: unknown entity 'company'"),  # type: ignore[arg-type]
        (Compare(FieldRef("account", "colour"), "eq", "red"), "account.colour: unknown account field"),
        (Compare(FieldRef("contact", "mrr"), "gt", 1), "contact.mrr: unknown contact field"),
        (RelativeTime(MRR, older_than=7), "account.mrr: relative dates need a date-time field"),
        (RelativeTime(FieldRef("account", "renewed", trait=True), older_than=7),
         "account.traits.renewed: relative dates need a date-time field"),
        (Compare(MRR, "eq", "100"), "account.mrr eq: cannot compare with '100'"),
        (Compare(MRR, "eq", True), "account.mrr eq: cannot compare with True"),
        (Compare(TIER, "in", ("tech", 1)), "account.tier in: cannot compare with ('tech', 1)"),
        (Compare(TIER, "in", ["tech", 1]), r"account.tier in: cannot compare with ['tech', 1]"),
        (Compare(SIGNUP, "eq", "2026-01-01"), "account.signup_at eq: cannot compare with '2026-01-01'"),
        (Compare(MRR, "contains", 5), "account.mrr contains: needs a text constant"),
        (Compare(SEATS, "contains", 5), "account.traits.seats contains: needs a text constant"),
        (Compare(TOPIC, "starts_with", True), "contact.traits.topic starts_with: needs a text constant"),
        (Compare(SEATS, "gt", True), "account.traits.seats gt: true/false have no order"),
        (Compare(SEATS, "between", (False, True)), "account.traits.seats between: true/false have no order"),
        (Compare(SEATS, "between", (1, "9")), "account.traits.seats between: both bounds must be of one type"),
        (Compare(SEATS, "between", ("1", 9)), "account.traits.seats between: both bounds must be of one type"),
    ],  # fmt: skip
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_combinations_neither_path_can_evaluate_are_refused_saying_why(cond, message):
    with pytest.raises(ValueError) as refused:
        check_field(cond)
    assert str(refused.value) == message


def test_a_refused_condition_is_refused_every_time():
    cond = Compare(TIER, "gt", 5)
    for _ in range(2):
        with pytest.raises(ValueError, match="cannot compare"):
            check_field(cond)


def test_other_type_errors_are_not_mistaken_for_an_unhashable_condition():
    with pytest.raises(TypeError, match="not iterable"):
        check_field(Compare(MRR, "between", 5))
