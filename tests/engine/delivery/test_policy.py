"""The fatigue policy file: read strictly, every problem positioned, checked by `touchline rules check`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.delivery.policy import NO_POLICY, Fatigue, Policy, PolicyError, load_policy, validate_policy_text
from engine.rules.schema import Limit
from engine.rules.validate import check_paths

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "rules" / "policy.yaml"


def problems(text: str) -> list[str]:
    policy, found = validate_policy_text(text, "policy.yaml")
    assert (policy is None) == bool(found)
    return [str(p) for p in found]


def test_the_shipped_policy():
    policy = load_policy(SHIPPED)
    assert policy == Policy(
        Fatigue("marketing", frozenset({"operational"}), frozenset({"email", "in_app"}), Limit(1, 7), Limit(2, 30)),
        "UTC",
        str(SHIPPED),
    )


def test_defaults_fill_what_is_left_out():
    policy, found = validate_policy_text("fatigue:\n  per_contact: {max: 3, per: 2w}\n")
    assert found == []
    assert policy == Policy(Fatigue(per_contact=Limit(3, 14)), "UTC", "<string>")
    assert validate_policy_text("# nothing yet\n") == (Policy(source="<string>"), [])
    assert validate_policy_text("default_timezone: Asia/Tokyo\n")[0].default_timezone == "Asia/Tokyo"


def test_every_problem_is_reported_at_once_with_file_line_column_and_path():
    text = (
        "default_timezone: Mars/Base\n"
        "fatigue:\n"
        "  nmae: marketing\n"
        "  channels: [email, sms]\n"
        "  exempt_categories: [Operational]\n"
        "  per_account: {max: 0, per: 7d}\n"
        "  per_contact: {max: 2, per: 7}\n"
        "extra: 1\n"
    )
    assert problems(text) == [
        "policy.yaml:1:1: default_timezone: unknown time zone 'Mars/Base'; use a name such as Europe/Berlin, Asia/Tokyo or UTC",
        "policy.yaml:3:3: fatigue.nmae: unknown key 'nmae'; expected one of: name, exempt_categories, channels, "
        "per_account, per_contact (did you mean 'name'?)",
        "policy.yaml:4:21: fatigue.channels[1]: unknown channel 'sms'; expected one of: email, in_app, webhook",
        "policy.yaml:5:23: fatigue.exempt_categories[0]: 'Operational' is not a valid category; use lowercase letters, digits, '-' or '_'",
        "policy.yaml:6:17: fatigue.per_account.max: 0 is out of range; expected a whole number from 1 to 1000",
        "policy.yaml:7:25: fatigue.per_contact.per: expected a duration in whole days or weeks such as 7d or 2w, "
        "got the number 7; write 7d for 7 days",
        "policy.yaml:8:1: extra: unknown key 'extra'; expected one of: default_timezone, fatigue, in_app, global_holdout",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fatigue: {}\n", "policy.yaml:1:1: fatigue: fatigue limits nothing: give per_account and/or per_contact, such as {max: 1, per: 7d}"),
        ("fatigue:\n  per_acount: {max: 1, per: 7d}\n", "policy.yaml:2:3: fatigue.per_acount: unknown key 'per_acount'; expected one of: "
         "name, exempt_categories, channels, per_account, per_contact (did you mean 'per_account'?)"),
        ("fatigue: {channels: [], per_account: {max: 1, per: 7d}}\n", "policy.yaml:1:11: fatigue.channels: expected at least one channel: email, in_app, webhook"),
        ("fatigue: {per_account: {max: 1}}\n", "policy.yaml:1:11: fatigue.per_account: missing required key 'per'"),
        ("- fatigue\n", "policy.yaml:1:1: expected a policy such as {fatigue: {per_account: {max: 1, per: 7d}}} (a mapping), got a list"),
        ("fatigue: {name: '', per_account: {max: 1, per: 7d}}\n", "policy.yaml:1:11: fatigue.name: expected name, got the text ''"),
        ("default_timezone: 9\n", "policy.yaml:1:1: default_timezone: expected a time zone such as Europe/Berlin or UTC, got the number 9; put it in quotes"),
    ],
)  # fmt: skip
def test_single_problems(text, expected):
    assert problems(text) == [expected]


def test_the_strict_reader_refuses_aliases_tags_and_big_files(alias_bomb):
    assert problems(alias_bomb) == ["policy.yaml:1:4: anchors (&name) are not allowed; repeat the value instead"]
    assert problems("fatigue: !!python/object:os.system {}\n")[0].startswith("policy.yaml:1:10: tag ")
    assert problems("# pad\n" * 11_000) == ["policy.yaml:1:1: file is 66,000 bytes; the limit is 65,536"]
    assert problems("fatigue: {per_account: {max: 1, per: 7d}}\nfatigue: {}\n")[0].startswith(
        "policy.yaml:2:1: duplicate key 'fatigue'"
    )


def test_load_policy_raises_with_every_problem_and_a_missing_file_is_an_error_unless_allowed(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("fatigue: {per_account: {max: 0, per: 7d}}\nzone: x\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(bad)
    assert [p.line for p in caught.value.problems] == [1, 2]
    assert str(caught.value).startswith(f"{bad}:1:25: fatigue.per_account.max: 0 is out of range")
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError, match="nope.yaml:1:1: cannot read: No such file"):
        load_policy(missing)
    assert load_policy(missing, missing_ok=True) is NO_POLICY
    assert NO_POLICY.fatigue is None and NO_POLICY.default_timezone == "UTC"


def test_what_the_fatigue_budgets_count():
    fatigue = Fatigue(per_account=Limit(1, 7))
    assert fatigue.counts("onboarding", "email", 5)
    assert fatigue.counts("onboarding", "in_app", 5)  # an in-app nudge is a message too
    assert not fatigue.counts("operational", "email", 5)
    assert not fatigue.counts("onboarding", "webhook", 5)
    assert not fatigue.counts("onboarding", "email", None)  # an owner alert


# -- touchline rules check ------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(cli, ["rules", "check", *args], catch_exceptions=False)


def test_rules_check_checks_the_shipped_policy_with_the_rules(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run()
    assert result.exit_code == 0, result.output
    assert result.output.endswith(" checked, no problems (policy rules/policy.yaml too)\n")
    result = run("rules/policy.yaml")
    assert (result.exit_code, result.output) == (0, "ok: policy rules/policy.yaml checked, no problems\n")


def test_the_policy_is_never_read_as_a_rule(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    check = check_paths([str(rules)])
    assert check.problems == []
    assert "policy" not in {r.id for r in check.rules} and len(check.rules) == len(list(rules.glob("*.yaml"))) - 1


def test_rules_check_prints_the_policy_problems_and_fails(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "policy.yaml").write_text("fatigue:\n  per_account: {max: 1, per: 7}\n")
    result = run(str(rules))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{rules / 'policy.yaml'}:2:25: fatigue.per_account.per: expected a duration in whole days or weeks such as 7d or 2w, "
        "got the number 7; write 7d for 7 days",
        "1 problem in 1 file",
    ]
    # A folder without a policy is still fine: the file is optional.
    (rules / "policy.yaml").unlink()
    result = run(str(rules))
    assert result.exit_code == 0 and "policy" not in result.output


def test_the_in_app_cap_is_read_and_checked():
    policy, found = validate_policy_text("in_app:\n  shown_per_account: {max: 1, per: 1d}\n", "policy.yaml")
    assert found == [] and policy.in_app_shown_per_account == Limit(1, 1)
    assert problems("in_app:\n  shown_per_acount: {max: 1, per: 1d}\n")[0].startswith(
        "policy.yaml:2:3: in_app.shown_per_acount: unknown key 'shown_per_acount'"
    )
    assert "expected a duration" in problems("in_app:\n  shown_per_account: {max: 1, per: daily}\n")[0]
