"""A rule's goal: an event, leaving the segment, or a condition becoming true; what the checker
accepts, what it refuses (with the line and the path), and that the JSON Schema agrees."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from engine.rules.ast import All, Compare, FieldRef, Not, Usage, Window
from engine.rules.editor_schema import build
from engine.rules.schema import Goal
from engine.rules.segments import SegmentLibrary
from engine.rules.validate import validate_text
from engine.rules.yamlload import load

ROOT = Path(__file__).resolve().parents[3]
SEGMENTS = {
    "admins": "id: admins\nwhen:\n  contact.role: admin\n",
    "big": "id: big\nwhen:\n  account.mrr: {gte: 100}\n",
}


def rule(goal: str, level: str = "account") -> str:
    return (f"id: r\nname: R\nlevel: {level}\nwhen:\n  account.plan: trial\nactions:\n"
            f"  - email: {{template: t, to: owner}}\ngoal:\n{goal}")  # fmt: skip


def check(goal: str, level: str = "account"):
    return validate_text(rule(goal, level), "rules/r.yaml", segments=SegmentLibrary.from_texts(SEGMENTS))


def problems(goal: str, level: str = "account") -> list[tuple[int, str, str]]:
    return [(p.line, p.path, p.message) for p in check(goal, level).problems]


@pytest.mark.parametrize(
    ("goal", "want"),
    [
        ("  event: project_created\n  within: 14d\n", Goal("project_created", 14)),
        ("  leaves_segment: true\n  within: 2w\n", Goal(None, 14, leaves_segment=True)),
        ("  condition:\n    event.report_run.count: {in_last: 7d, gte: 5}\n  within: 30d\n",
         Goal(None, 30, condition=Usage("report_run", "count", Window(7), "gte", 5.0))),
        ("  condition:\n    all:\n      - segment: big\n      - not: {account.tier: low}\n  within: 120d\n",
         Goal(None, 120, condition=All((Compare(FieldRef("account", "mrr"), "gte", 100.0),
                                        Not(Compare(FieldRef("account", "tier"), "eq", "low")))))),
    ],
)  # fmt: skip
def test_each_kind_of_goal_reads(goal, want):
    result = check(goal)
    assert result.problems == [] and result.rule.goal == want
    assert result.rule.goal.kind == ("event" if want.event else "leave" if want.leaves_segment else "condition")


def test_an_event_goal_reads_as_before():
    goal = check("  event: project_created\n  within: 14d\n").rule.goal
    assert (goal.event, goal.within, goal.kind, goal.leaves_segment, goal.condition) == ("project_created", 14, "event", False, None)


def test_a_contact_level_rule_takes_an_account_condition_as_its_goal():
    goal = check("  condition: {account.plan: paid}\n  within: 14d\n", level="contact").rule.goal
    assert goal.condition == Compare(FieldRef("account", "plan"), "eq", "paid")


@pytest.mark.parametrize(
    ("goal", "want"),
    [
        ("  within: 14d\n", [(8, "goal", "a goal needs one of event, leaves_segment or condition, "
                                          "such as {event: project_created, within: 14d}")]),
        ("  event: login\n  leaves_segment: true\n  within: 14d\n",
         [(10, "goal.leaves_segment", "a goal is one of event, leaves_segment or condition, found event and "
                                      "leaves_segment; keep one (a rule has one goal)")]),
        ("  event: login\n", [(8, "goal", "missing required key 'within'")]),
        ("  leaves_segment: false\n  within: 14d\n",
         [(9, "goal.leaves_segment", "false measures nothing; write leaves_segment: true, or use event or condition")]),
        ("  leaves_segment: yes\n  within: 14d\n", [(9, "goal.leaves_segment", "expected true or false, got the text 'yes'")]),
        ("  condition: {}\n  within: 14d\n",
         [(9, "goal.condition", "empty condition; expected all, any, not, segment or a field such as account.tier")]),
        ("  condition: {account.tier: tech}\n  within: 14\n",
         [(10, "goal.within", "expected a duration in whole days or weeks such as 7d or 2w, got the number 14; "
                              "write 14d for 14 days")]),
    ],
)  # fmt: skip
def test_a_goal_is_exactly_one_kind_and_a_window(goal, want):
    assert problems(goal) == want


def test_a_misspelt_kind_is_reported_once_with_its_fix():
    found = check("  evnt: login\n  within: 14d\n").problems
    assert [(p.line, p.path, p.suggestion) for p in found] == [(9, "goal.evnt", "event")]


@pytest.mark.parametrize("level", ["account", "contact"])
def test_a_goal_condition_refuses_contact_fields_in_any_rule(level):
    account_level = ("a goal's condition is measured for the account (the unit of a goal), so it cannot use contact "
                     "fields; use account fields, usage or received")  # fmt: skip
    assert problems("  condition:\n    any:\n      - account.plan: paid\n      - contact.role: admin\n  within: 7d\n",
                    level) == [(12, "goal.condition.any[1].contact.role", account_level)]  # fmt: skip
    assert problems("  condition: {segment: admins}\n  within: 7d\n", level) == [
        (9, "goal.condition.segment", f"segment 'admins' uses contact fields; {account_level}")]


def test_the_condition_is_checked_as_a_when_is():
    found = problems("  condition: {account.tierr: tech}\n  within: 7d\n")
    assert found[0][:2] == (9, "goal.condition.account.tierr") and "unknown field 'account.tierr'" in found[0][2]
    assert check("  condition: {account.tierr: tech}\n  within: 7d\n").problems[0].suggestion == "account.tier"


def test_a_goal_is_made_of_exactly_one_kind():
    with pytest.raises(ValueError):
        Goal("login", 7, leaves_segment=True)
    with pytest.raises(ValueError):
        Goal(None, 7)


# -- the editor's JSON Schema agrees ------------------------------------------------

jsonschema = pytest.importorskip("jsonschema")


@functools.cache
def validator():
    return jsonschema.Draft202012Validator(json.loads((ROOT / "docs" / "rule.schema.json").read_text()))


def schema_errors(goal: str) -> list[str]:
    return [e.message for e in validator().iter_errors(load(rule(goal)).data)]


@pytest.mark.parametrize(
    "goal",
    [
        "  event: login\n  within: 7d\n",
        "  leaves_segment: true\n  within: 7d\n",
        "  condition: {event.report_run.count: {in_last: 7d, gte: 5}}\n  within: 30d\n",
        "  condition: {all: [{segment: big}, {not: {account.traits.beta: true}}]}\n  within: 30d\n",
    ],
)
def test_the_schema_accepts_each_kind(goal):
    assert check(goal).problems == []
    assert schema_errors(goal) == []


@pytest.mark.parametrize(
    "goal",
    [
        "  within: 7d\n",
        "  event: login\n",
        "  event: login\n  leaves_segment: true\n  within: 7d\n",
        "  leaves_segment: false\n  within: 7d\n",
        "  condition: {contact.role: admin}\n  within: 7d\n",
        "  condition: {all: [{contact.traits.x: 1}]}\n  within: 7d\n",
        "  condition: {not: {contact.email: {exists: true}}}\n  within: 7d\n",
    ],
)
def test_the_schema_refuses_what_the_checker_refuses(goal):
    assert check(goal).problems != []
    assert schema_errors(goal)


def test_the_schemas_goal_condition_is_the_when_language_without_contact_fields():
    defs = build()["$defs"]
    when, goal = defs["condition"], defs["goalCondition"]
    assert set(goal["properties"]) == {k for k in when["properties"] if not k.startswith("contact.")}
    assert len(goal["patternProperties"]) == len(when["patternProperties"])
