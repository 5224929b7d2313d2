import functools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from yamlleaves import rule_text, yaml_leaves

from engine.rules.editor_schema import build, dumps
from engine.rules.validate import validate_text
from engine.rules.yamlload import load

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "docs" / "rule.schema.json"

jsonschema = pytest.importorskip("jsonschema")


@functools.cache  # checking the schema itself is slow; it is read once
def validator():
    schema = json.loads(SHIPPED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_current():
    # Regenerate with: python -m engine.rules.editor_schema > docs/rule.schema.json
    assert SHIPPED.read_text() == dumps()
    assert build()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# rules/policy.yaml is the fatigue policy, not a rule.
EXAMPLES = sorted(p for p in (ROOT / "rules").glob("*.yaml") if p.name != "policy.yaml")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_rule_validates_against_the_schema(path):
    errors = [e.message for e in validator().iter_errors(load(path.read_text(), str(path)).data)]
    assert errors == []


@pytest.mark.parametrize(
    "change",
    [
        {"nme": "typo"},
        {"holdout": 60},
        {"when": {"acount.tier": "tech"}},
        {"when": {"account.tier": "tech", "account.plan": "team"}},
        {"when": {"account.signup_at": {"older_than": 7}}},
        {"when": {"event.login.cnt": {"in_last": "7d", "gt": 1}}},
        {"when": {"all": [{"account.mrr": {"gte": "lots"}}]}},
        {"actions": [{"sms": {"template": "a", "to": "owner"}}]},
        {"actions": [{"email": {"template": "a", "to": "admins"}}]},
        {"trigger": "sometimes"},
        {"send_window": {"days": "weekdays"}},
        {"when": {"received": {"action": "intro"}}},
        {"when": {"received": {"rule": "Welcome"}}},
        {"when": {"received": {"rule": "welcome", "action": -1}}},
        {"when": {"received": {"rule": "welcome", "within": "14"}}},
        {"when": {"received": {"rule": "welcome", "in_last": "14d"}}},
    ],
)
def test_the_schema_rejects_what_the_validator_rejects(change):
    rule = load((ROOT / "rules" / "onboarding-stalled-day7.yaml").read_text()).data
    rule.update(change)
    assert list(validator().iter_errors(rule))


@pytest.mark.parametrize(
    "received",
    [{"rule": "welcome"}, {"rule": "welcome", "action": "onboarding/stalled", "within": "14d"}, {"rule": "w", "action": 0}],
)
def test_the_schema_accepts_received(received):
    rule = load((ROOT / "rules" / "onboarding-stalled-day7.yaml").read_text()).data
    rule["when"] = {"all": [{"received": received}, {"not": {"received": received}}]}
    assert list(validator().iter_errors(rule)) == []


@settings(max_examples=300, deadline=None, database=None)
@given(yaml_leaves())
def test_the_schema_accepts_every_operator_the_checker_accepts(when):
    # Empty in/not_in lists, traits ordered as text or numbers: the schema agrees with the checker.
    assert validate_text(rule_text(when), "rules/r.yaml").problems == []
    rule = load(rule_text(when)).data
    assert [e.message for e in validator().iter_errors(rule)] == []


@pytest.mark.parametrize(
    "when",
    [{"account.traits.beta": {"gt": True}}, {"account.traits.region": {"between": ["a", 1]}},
     {"account.tier": {"gt": "M"}}, {"account.tier": {"in": "tech"}}],
)  # fmt: skip
def test_the_schema_and_the_checker_refuse_the_same_orderings(when):
    assert validate_text(rule_text(when), "rules/r.yaml").problems != []
    assert list(validator().iter_errors(load(rule_text(when)).data))
