"""The global holdout: its draw (deterministic, by external id, independent of every rule's) and
its key in the policy file (read strictly, every problem positioned)."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from engine.delivery.holdout import (
    global_holdout_bucket,
    global_holdout_flags,
    global_holdout_reason,
    in_global_holdout,
    in_holdout,
)
from engine.delivery.policy import (
    GlobalHoldout,
    PolicyError,
    ProgramMeasure,
    current_policy,
    load_policy,
    validate_policy_text,
)
from engine.rules.validate import validate_text

IDS = [f"acct-{i}" for i in range(100_000)]
MEASURE = "measure: {event: login, within: 30d}"


def holdout_of(text: str) -> GlobalHoldout | None:
    policy, found = validate_policy_text(text, "policy.yaml")
    assert found == [], found
    return policy.global_holdout


def problems(text: str) -> list[str]:
    policy, found = validate_policy_text(text, "policy.yaml")
    assert policy is None and found
    return [str(p) for p in found]


# -- the draw ------------------------------------------------------------------------


def test_the_group_is_pinned():
    # Changing the scheme would move accounts between the arms of a running comparison.
    assert [i for i in IDS[:400] if in_global_holdout(i, 5)] == [
        "acct-26", "acct-44", "acct-50", "acct-72", "acct-83", "acct-94", "acct-122", "acct-129", "acct-152",
        "acct-193", "acct-201", "acct-204", "acct-298", "acct-317", "acct-323", "acct-340", "acct-374",
    ]  # fmt: skip
    expected = int.from_bytes(hashlib.sha256(b"global holdout\x00acct-1").digest()[:8], "big") * 100 / 2**64
    assert global_holdout_bucket("acct-1") == expected


@pytest.mark.parametrize("percent", [1, 5, 20])
def test_the_share_is_the_percentage(percent):
    held = sum(in_global_holdout(i, percent) for i in IDS)
    # Binomial sd on 100k draws is at most 127 accounts at 20%: 0.5 points is about 4 sd.
    assert abs(held / len(IDS) * 100 - percent) < 0.5


def test_the_bulk_draw_is_the_same_draw_in_any_order():
    shuffled = IDS[:30_000]
    random.Random(7).shuffle(shuffled)
    flags = global_holdout_flags(shuffled, 5)
    assert flags == [in_global_holdout(i, 5) for i in shuffled]
    assert {i for i, f in zip(shuffled, flags) if f} == {i for i in IDS[:30_000] if in_global_holdout(i, 5)}
    assert global_holdout_flags([], 5) == []
    with pytest.raises(ValueError):
        global_holdout_flags(["a"], 101)


def test_another_process_draws_the_same_group():
    code = ("from engine.delivery.holdout import in_global_holdout as g; "
            "print(','.join(i for i in (f'a{n}' for n in range(3000)) if g(i, 5)))")  # fmt: skip
    here = ",".join(i for i in (f"a{n}" for n in range(3000)) if in_global_holdout(i, 5))
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == here


def test_raising_the_percentage_only_adds_accounts_and_zero_holds_none():
    at2 = {i for i in IDS[:20_000] if in_global_holdout(i, 2)}
    at5 = {i for i in IDS[:20_000] if in_global_holdout(i, 5)}
    assert at2 < at5
    assert not any(in_global_holdout(i, 0) for i in IDS[:20_000])


def test_it_is_independent_of_every_rules_draw():
    held = {i for i in IDS[:40_000] if in_global_holdout(i, 20)}
    for rule in ("onboarding-stalled-day7", "renewal-within-60-days", "global-holdout", "global_holdout"):
        ruled = {i for i in IDS[:40_000] if in_holdout(rule, i, 20)}
        # Independent 20% draws overlap on about 4% of the accounts, not on 20%.
        assert abs(len(held & ruled) / 40_000 - 0.04) < 0.006, rule


def test_it_takes_the_external_id():
    with pytest.raises(TypeError):
        in_global_holdout(42, 5)  # type: ignore[arg-type]
    assert global_holdout_reason(5) == "global holdout: in the program's 5% control group"
    assert global_holdout_reason(2.5) == "global holdout: in the program's 2.5% control group"


# -- the policy key ------------------------------------------------------------------


def test_a_full_global_holdout():
    found = holdout_of(f"global_holdout:\n  percent: 5%\n  exempt_categories: [csm-alerts]\n  {MEASURE}\n")
    # operational is always exempt, listed or not
    assert found == GlobalHoldout(5.0, ProgramMeasure("login", 30), frozenset({"operational", "csm-alerts"}))
    assert found.on and found.reason == "global holdout: in the program's 5% control group"


def test_by_default_it_exempts_what_the_fatigue_budgets_exempt():
    fatigue = "fatigue:\n  exempt_categories: [renewals]\n  per_account: {max: 1, per: 7d}\n"
    assert holdout_of(f"{fatigue}global_holdout: {{percent: 2.5, {MEASURE}}}\n").exempt_categories == {"renewals", "operational"}
    assert holdout_of(f"global_holdout: {{percent: 2.5, {MEASURE}}}\n").exempt_categories == {"operational"}


def test_absent_or_zero_is_off():
    assert holdout_of("fatigue: {per_account: {max: 1, per: 7d}}\n") is None
    off = holdout_of("global_holdout: {percent: 0%}\n")  # off needs no measure
    assert off == GlobalHoldout(0.0) and not off.on


def test_which_messages_it_holds():
    found = holdout_of(f"global_holdout: {{percent: 5, exempt_categories: [csm-alerts], {MEASURE}}}\n")
    assert found.holds("reengagement", contact_id=7)
    assert not found.holds("reengagement", contact_id=None)  # an alert to the account's owner
    assert not found.holds("csm-alerts", contact_id=7)
    assert not found.holds("operational", contact_id=7)
    assert not GlobalHoldout(0.0).holds("reengagement", 7)


def rule(category: str, actions: str):
    text = f"id: r\nname: R\ncategory: {category}\nwhen:\n  account.plan: trial\nactions:\n{actions}"
    result = validate_text(text, "r.yaml", expected_id="r")
    assert result.rule is not None, result.problems
    return result.rule


def test_which_rules_are_marketing_plays():
    found = GlobalHoldout(5.0, ProgramMeasure("login", 30), frozenset({"operational", "csm-alerts"}))
    to_admins = "  - email: {template: a, to: role:admin}\n"
    to_owner = "  - email: {template: a, to: owner}\n  - webhook: {template: a, to: owner}\n"
    assert found.covers(rule("reengagement", to_admins))
    assert found.covers(rule("reengagement", to_admins + to_owner))
    assert not found.covers(rule("reengagement", to_owner))  # owner alerts only
    assert not found.covers(rule("csm-alerts", to_admins))
    assert not found.covers(rule("operational", to_admins))
    assert not GlobalHoldout(0.0).covers(rule("reengagement", to_admins))


def test_every_problem_is_reported_with_file_line_column_and_path():
    text = (
        "global_holdout:\n"
        "  percent: 25%\n"
        "  exempt_categories: [Operational]\n"
        "  measure: {event: 'log in', within: 30, scope: all}\n"
        "  salt: x\n"
    )
    assert problems(text) == [
        "policy.yaml:2:3: global_holdout.percent: 25% is out of range: 0% (off) to 20% (the rest of the accounts "
        "must get the program)",
        "policy.yaml:3:23: global_holdout.exempt_categories[0]: 'Operational' is not a valid category; "
        "use lowercase letters, digits, '-' or '_'",
        "policy.yaml:4:13: global_holdout.measure.event: 'log in' is not a valid event name; "
        "1-100 letters, digits, '_', '.', ':' or '-'",
        "policy.yaml:4:30: global_holdout.measure.within: expected a duration in whole days or weeks such as 7d or 2w, "
        "got the number 30; write 30d for 30 days",
        "policy.yaml:4:42: global_holdout.measure.scope: unknown key 'scope'; expected one of: event, within",
        "policy.yaml:5:3: global_holdout.salt: unknown key 'salt'; expected one of: percent, exempt_categories, measure",
    ]


def test_what_a_global_holdout_needs():
    assert problems("global_holdout: 5%\n") == [
        "policy.yaml:1:1: global_holdout: expected a global holdout such as {percent: 5%, measure: "
        "{event: login, within: 30d}} (a mapping), got the text '5%'"
    ]
    assert problems("global_holdout:\n  percent: 5%\n") == [
        "policy.yaml:1:1: global_holdout: missing required key 'measure': what the program is measured on, such as "
        "{event: login, within: 30d} (retained: a login in the last 30 days of the period)"
    ]
    assert problems(f"global_holdout: {{{MEASURE}}}\n") == ["policy.yaml:1:1: global_holdout: missing required key 'percent'"]
    assert problems(f"global_holdout: {{percnt: 5, {MEASURE}}}\n") == [  # one problem, with its fix
        "policy.yaml:1:18: global_holdout.percnt: unknown key 'percnt'; expected one of: percent, exempt_categories, "
        "measure (did you mean 'percent'?)"
    ]
    assert problems(f"global_holdout: {{percent: yes, {MEASURE}}}\n") == [
        "policy.yaml:1:18: global_holdout.percent: expected a percentage such as 5%, got the text 'yes'"
    ]
    assert problems(f"global_holdout: {{percent: -1, {MEASURE}}}\n")[0].endswith("-1% is out of range: 0% (off) to "
                                                                               "20% (the rest of the accounts must get the program)")  # fmt: skip
    assert problems("global_holdout: {percent: 5%, measure: {event: login}}\n") == [
        "policy.yaml:1:31: global_holdout.measure: missing required key 'within'"
    ]


def test_the_settings_policy_file_is_read_again_when_it_changes(tmp_path: Path, monkeypatch):
    path = tmp_path / "policy.yaml"
    path.write_text(f"global_holdout: {{percent: 5%, {MEASURE}}}\n")
    monkeypatch.setenv("TOUCHLINE_POLICY_FILE", str(path))
    assert current_policy().global_holdout.percent == 5
    assert current_policy() is current_policy()  # cached while the file is unchanged
    path.write_text(f"global_holdout: {{percent: 10%, {MEASURE}}}\n")
    assert current_policy().global_holdout.percent == 10
    path.write_text("global_holdout: {percent: 50%}\n")
    with pytest.raises(PolicyError, match="global_holdout.percent: 50% is out of range"):
        current_policy()
    path.unlink()
    with pytest.raises(PolicyError, match="cannot read"):
        current_policy()
    assert load_policy(path, missing_ok=True).global_holdout is None


def test_the_shipped_policy_has_it_off_and_its_commented_example_reads():
    shipped = Path(__file__).resolve().parents[3] / "rules" / "policy.yaml"
    assert load_policy(shipped).global_holdout is None
    lines, on = [], False
    for line in shipped.read_text().splitlines():
        on = on or line.startswith("# global_holdout:")
        lines.append(line[2:] if on else line)
    example = holdout_of("\n".join(lines) + "\n")
    assert example == GlobalHoldout(5.0, ProgramMeasure("login", 30), frozenset({"operational", "csm-alerts"}))
