import re
from pathlib import Path

import pytest

from engine.rules import ast
from engine.rules.schema import Audience, OnEvent, WhileMatching
from engine.rules.segments import SegmentLibrary
from engine.rules.validate import check_paths, validate_text

RULES = Path(__file__).resolve().parents[3] / "rules"

HEADER = """\
id: r
name: A rule
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""


def rule_with(when: str, extra: str = "", segments: SegmentLibrary | None = None):
    text = HEADER + extra + "when:\n" + "".join(f"  {line}\n" for line in when.splitlines())
    return validate_text(text, "rules/r.yaml", segments=segments, expected_id="r")


def when_of(when: str, extra: str = "") -> ast.Condition:
    result = rule_with(when, extra)
    assert result.problems == [], [str(p) for p in result.problems]
    assert result.rule is not None
    return result.rule.when


def messages(result) -> list[str]:
    return [str(p) for p in result.problems]


def one_problem(when: str, extra: str = "", segments=None) -> str:
    found = messages(rule_with(when, extra, segments))
    assert len(found) == 1, found
    return found[0]


def test_the_design_rule_becomes_a_typed_rule():
    text = (RULES / "onboarding-stalled-day7.yaml").read_text()
    result = validate_text(text, "rules/onboarding-stalled-day7.yaml", expected_id="onboarding-stalled-day7")
    assert result.ok, messages(result)
    rule = result.rule
    assert rule.category == "onboarding" and rule.level == "account" and rule.holdout == 10.0
    assert rule.when == ast.All((
        ast.Compare(ast.FieldRef("account", "tier"), "eq", "tech"),
        ast.RelativeTime(ast.FieldRef("account", "signup_at"), older_than=7, newer_than=30),
        ast.Usage("project_created", "count", ast.Window(30, 0), "eq", 0.0),
    ))  # fmt: skip
    assert [(a.channel, a.template, str(a.to), a.expires_in) for a in rule.actions] == [
        ("email", "onboarding/stalled", "role:admin", None),
        ("in_app", "onboarding/checklist", "role:admin", 7),
    ]
    assert rule.limits.per_account.max == 1 and rule.limits.per_account.per == 30
    assert rule.goal.event == "project_created" and rule.goal.within == 14
    assert rule.send_window.days == frozenset({0, 1, 2, 3, 4})
    assert (rule.send_window.start_minute, rule.send_window.end_minute) == (540, 1080)
    assert rule.schedule == "*/15 * * * *" and rule.enabled and rule.min_dwell == 0


def test_every_shipped_example_is_valid():
    check = check_paths([str(RULES)])
    assert check.problems == []
    assert len(check.rules) >= 5 and check.segments >= 1


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("account.tier: {in: [tech, low]}", ast.Compare(ast.FieldRef("account", "tier"), "in", ("tech", "low"))),
        ("account.mrr: {gte: 100}", ast.Compare(ast.FieldRef("account", "mrr"), "gte", 100.0)),
        ("account.mrr: {between: [10, 20]}", ast.Compare(ast.FieldRef("account", "mrr"), "between", (10.0, 20.0))),
        ("account.mrr: {in: [1, 2.5]}", ast.Compare(ast.FieldRef("account", "mrr"), "in", (1.0, 2.5))),
        ("account.owner: {exists: false}", ast.Compare(ast.FieldRef("account", "owner"), "exists", False)),
        ("account.name: {starts_with: Acme}", ast.Compare(ast.FieldRef("account", "name"), "starts_with", "Acme")),
        ("account.traits.industry: saas", ast.Compare(ast.FieldRef("account", "industry", trait=True), "eq", "saas")),
        ("account.traits.seats: {gt: 5}", ast.Compare(ast.FieldRef("account", "seats", trait=True), "gt", 5.0)),
        ("account.traits.beta: true", ast.Compare(ast.FieldRef("account", "beta", trait=True), "eq", True)),
        # as docs/rules.md says: in: [] is false, not_in: [] holds for any present value
        ("account.tier: {in: []}", ast.Compare(ast.FieldRef("account", "tier"), "in", ())),
        ("account.mrr: {not_in: []}", ast.Compare(ast.FieldRef("account", "mrr"), "not_in", ())),
        ("account.traits.seats: {in: []}", ast.Compare(ast.FieldRef("account", "seats", trait=True), "in", ())),
        # traits take every operator; text orders by code point
        ("account.traits.region: {gt: M}", ast.Compare(ast.FieldRef("account", "region", trait=True), "gt", "M")),
        ("account.traits.region: {lte: 'Zürich'}", ast.Compare(ast.FieldRef("account", "region", trait=True), "lte", "Zürich")),
        ("account.traits.region: {between: [A, M]}", ast.Compare(ast.FieldRef("account", "region", trait=True), "between", ("A", "M"))),
        ("account.traits.seats: {between: [1, 5]}", ast.Compare(ast.FieldRef("account", "seats", trait=True), "between", (1.0, 5.0))),
        ("account.renewal_at: {within_next: 60d}", ast.RelativeTime(ast.FieldRef("account", "renewal_at"), within_next=60)),
        ("account.signup_at: {exists: true}", ast.Compare(ast.FieldRef("account", "signup_at"), "exists", True)),
        ("account.signup_at: {older_than: 2w}", ast.RelativeTime(ast.FieldRef("account", "signup_at"), older_than=14)),
        ("event.report_run.active_days: {between: [28d, 14d], gte: 3}", ast.Usage("report_run", "active_days", ast.Window(28, 14), "gte", 3.0)),
        ("event.login.active_contacts: {in_last: 7d, gte: 2}", ast.Usage("login", "active_contacts", ast.Window(7, 0), "gte", 2.0)),
        ("event.login.days_since_last: {gt: 14}", ast.Usage("login", "days_since_last", None, "gt", 14.0)),
        ("event.login.count: {in_last: 7d, between: [1, 5]}", ast.Usage("login", "count", ast.Window(7, 0), "between", (1.0, 5.0))),
        ("event.app.v2:opened.count: {in_last: 1d, gt: 0}", ast.Usage("app.v2:opened", "count", ast.Window(1, 0), "gt", 0.0)),
        ("event.report_run.trend: {over: 14d, change_pct: {lte: -50}, min_baseline: 10}", ast.Trend("report_run", 14, "lte", -50.0, 10.0)),
        ("event.report_run.trend: {over: 7d, change_pct: {gt: 20}}", ast.Trend("report_run", 7, "gt", 20.0, 1.0)),
        ("account.owner.changed: {in_last: 30d}", ast.Changed("owner", ast.Window(30, 0))),
        ("account.plan.changed: {between: [60d, 30d]}", ast.Changed("plan", ast.Window(60, 30))),
        ("not: {account.tier: tech}", ast.Not(ast.Compare(ast.FieldRef("account", "tier"), "eq", "tech"))),
        ("received: {rule: onboarding-stalled}", ast.Received("onboarding-stalled")),
        ("received: {rule: onboarding-stalled, action: welcome_email, within: 14d}",
         ast.Received("onboarding-stalled", "welcome_email", 14)),
        ("received: {rule: r2, action: onboarding/stalled, within: 2w}", ast.Received("r2", "onboarding/stalled", 14)),
        ("received: {rule: r2, action: 0}", ast.Received("r2", 0)),
        ("received: {rule: r2, action: 3, within: 1d}", ast.Received("r2", 3, 1)),
    ],
)
def test_condition_forms(when, expected):
    assert when_of(when) == expected


def test_nested_groups():
    tree = when_of("any:\n  - account.tier: tech\n  - all:\n    - account.plan: team\n    - not: {account.mrr: {lt: 100}}")
    tier = ast.Compare(ast.FieldRef("account", "tier"), "eq", "tech")
    plan = ast.Compare(ast.FieldRef("account", "plan"), "eq", "team")
    mrr = ast.Compare(ast.FieldRef("account", "mrr"), "lt", 100.0)
    assert tree == ast.Any_((tier, ast.All((plan, ast.Not(mrr)))))


def test_numbers_are_floats():
    tree = when_of("account.mrr: 100")
    assert tree.value == 100.0 and type(tree.value) is float


def test_every_problem_is_reported_at_once_with_positions_and_suggestions():
    text = """\
id: other-name
nme: Typo
when:
  all:
    - acount.tier: tech
    - account.tier: {inn: [tech]}
    - account.mrr: {between: [100, 10]}
    - account.signup_at: {older_than: 7}
    - event.login.cnt: {in_last: 7d, gt: 1}
actions:
  - email: {template: a/b, to: role:admin}
holdout: 60%
schedule: "61 * * * *"
"""
    result = validate_text(text, "rules/r.yaml", expected_id="r")
    assert result.rule is None
    found = messages(result)
    expected = [
        "rules/r.yaml:2:1: nme: unknown key 'nme'",
        "(did you mean 'name'?)",
        "rules/r.yaml:1:1: id: id 'other-name' does not match the file name r.yaml",
        "rules/r.yaml:5:7: when.all[0].acount.tier: unknown condition 'acount.tier'",
        "(did you mean 'account.tier'?)",
        "rules/r.yaml:6:22: when.all[1].account.tier.inn: unknown operator 'inn'",
        "(did you mean 'in'?)",
        "rules/r.yaml:7:21: when.all[2].account.mrr.between: between [100, 10] is empty",
        "rules/r.yaml:8:27: when.all[3].account.signup_at.older_than: expected a duration",
        "rules/r.yaml:9:7: when.all[4].event.login.cnt: unknown metric 'cnt'",
        "(did you mean 'event.login.count'?)",
        "rules/r.yaml:12:1: holdout: holdout 60% is out of range",
        "rules/r.yaml:13:1: schedule: '61 * * * *' is not a valid cron expression",
    ]
    for piece in expected:
        assert any(piece in line for line in found), (piece, found)
    assert len(found) == 9, found
    assert not any("missing required key 'name'" in line for line in found)  # the typo says it


@pytest.mark.parametrize(
    ("when", "piece"),
    [
        ("account.tier: [tech, low]", "a list needs an operator"),
        ("account.tier: null", "{exists: false}"),
        ("account.tier: {gt: 3}", "gt does not apply to account.tier, which is text"),
        ("account.mrr: {contains: x}", "contains does not apply to account.mrr, which is a number"),
        ("account.mrr: {gte: 1, lt: 5}", "one operator per condition"),
        ("account.mrr: {gte: lots}", "expected a number, got the text 'lots'"),
        ("account.mrr: {gte: true}", "expected a number, got true"),
        ("account.plan: 2024", "put it in quotes"),
        ("account.tier: {in: tech}", "in takes a list such as [a, b], got the text 'tech'"),
        ("account.traits.beta: {gt: true}", "expected a number or text to compare with, got true (a boolean)"),
        ("account.traits.region: {between: [a, 1]}", "between takes two numbers or two texts, not one of each"),
        ("account.traits.region: {between: [m, A]}", "between ['m', 'A'] is empty: the low bound comes first (text orders by code point)"),
        ("account.traits.region: {between: [a]}", "between takes two numbers or two texts [low, high], got a list"),
        ("account.owner: {exists: yes}", "expected true or false"),
        ("account.signup_at: {gt: 3}", "account.signup_at is a time"),
        ("account.signup_at: 2026-01-01", "account.signup_at is a time"),
        ("account.signup_at: {older_than: 1.5d}", "expected a duration in whole days or weeks"),
        ("account.signup_at: {older_than: 12h}", "expected a duration in whole days or weeks"),
        ("account.signup_at: {older_than: 30d, newer_than: 7d}", "cannot both hold"),
        ("account.signup_at: {exists: true, older_than: 3d}", "exists cannot be combined"),
        ("account.signup_at: {olderthan: 3d}", "(did you mean 'older_than'?)"),
        ("account.tierr: tech", "(did you mean 'account.tier'?)"),
        ("account.traits: x", "expected account.traits.<name>"),
        ("event.login.count: {gt: 1}", "count needs a window"),
        ("event.login.count: {in_last: 7d, gt: 1, lt: 5}", "one comparison per condition"),
        ("event.login.count: {in_last: 7d, in: [1]}", "in does not apply to usage"),
        ("event.login.count: {in_last: 7d, between: [5d, 1d], gt: 1}", "use in_last or between, not both"),
        ("event.login.count: {in_last: 0d, gt: 1}", "out of range"),
        ("event.login.count: {in_last: 7d, gt: 1, wndow: 3d}", "unknown key 'wndow'"),
        ("event.login.count: {between: [7d], gt: 1}", "between takes two durations"),
        ("event.login.days_since_last: {in_last: 30d, gt: 1}", "takes no window"),
        ("event.login: {in_last: 7d, gt: 1}", "expected event.<name>.<metric>"),
        ("event.lo gin.count: {in_last: 7d, gt: 1}", "is not an event name"),
        ("event.x.trend: {change_pct: {lte: -50}}", "missing required key 'over'"),
        ("event.x.trend: {over: 7d, change_pct: {lt: -5}, min_baseline: -1}", "cannot be negative"),
        ("event.x.trend: {over: 7d, change_pct: {lte: -50, gt: -90}}", "expected one comparison"),
        ("event.x.trend: {over: 7d, change_pct: {lt: -5}, baseline: 3}", "(did you mean 'min_baseline'?)"),
        ("account.name.changed: {in_last: 30d}", "changes are tracked for account.owner.changed"),
        ("account.owner.changed: {}", "expected a window"),
        ("account.owner.changed: true", "expected a window such as {in_last: 30d}"),
        ("all: []", "all takes a non-empty list"),
        ("any: {account.tier: tech}", "any takes a non-empty list"),
        ("not: [{account.tier: tech}]", "not takes one condition"),
        ("{}", "empty condition"),
        ("account.tier: tech\naccount.plan: team", "one condition per mapping"),
        ("alll: [{account.tier: tech}]", "(did you mean 'all'?)"),
        ("contact.role: admin", "contact fields can only be used in rules with level: contact"),
        ("segment: trial", "unknown segment 'trial'"),
        ("received: onboarding-stalled", "expected {rule: <rule id>, action: <template>, within: 14d} (a mapping)"),
        ("received: {}", "missing required key 'rule'"),
        ("received: {action: welcome}", "missing required key 'rule'"),
        ("received: {rule: Onboarding}", "'Onboarding' is not a valid rule id; use 1-100 lowercase letters"),
        ("received: {rule: 7}", "expected rule id, got the number 7"),
        ("received: {rule: r2, within: 0d}", "within: 0d is out of range"),
        ("received: {rule: r2, within: 14}", "write 14d for 14 days"),
        ("received: {rule: r2, action: -1}", "-1 is out of range; expected an action index from 0 to 999"),
        ("received: {rule: r2, action: true}", "expected the action's template name (such as onboarding/stalled) or its index"),
        ("received: {rule: r2, action: [a]}", "or its index (0 for the first), got a list"),
        ("received: {rule: r2, action: Welcome Email}", "'Welcome Email' is not a valid template name"),
        ("received: {rule: r2, in_last: 7d}", "unknown key 'in_last'; expected one of: rule, action, within"),
        ("received: {rule: r2, witin: 7d}", "(did you mean 'within'?)"),
        ("received: {rules: r2}", "(did you mean 'rule'?)"),
        ("recieved: {rule: r2}", "(did you mean 'received'?)"),
    ],
)
def test_condition_problems(when, piece):
    assert piece in one_problem(when)


def test_received_problems_are_positioned_and_all_reported():
    result = rule_with("all:\n  - received: {rule: r2, action: -1, within: 0d}\n  - received: {rul: r2}")
    assert messages(result) == [
        "rules/r.yaml:7:28: when.all[0].received.action: -1 is out of range; expected an action index from 0 to 999",
        "rules/r.yaml:7:40: when.all[0].received.within: 0d is out of range; expected 1d to 3660d",
        ("rules/r.yaml:8:18: when.all[1].received.rul: unknown key 'rul'; expected one of: rule, action, within"
         " (did you mean 'rule'?)"),
    ]


def test_received_may_name_any_rule_even_one_not_in_the_folder(tmp_path):
    # Rules are applied one file at a time too, so a rule id is not checked against other files.
    (tmp_path / "a.yaml").write_text(
        "id: a\nname: A\nwhen: {received: {rule: not-here, within: 7d}}\nactions:\n  - email: {template: x, to: owner}\n"
    )
    check = check_paths([str(tmp_path)])
    assert check.problems == [] and check.rules[0].when == ast.Received("not-here", None, 7)


def test_received_in_a_segment_and_a_contact_level_rule(tmp_path):
    (tmp_path / "welcomed.yaml").write_text("id: welcomed\nwhen: {received: {rule: welcome, action: 0}}\n")
    segments = SegmentLibrary.from_folder(tmp_path)
    tree = rule_with("all: [{segment: welcomed}, {contact.role: admin}]", "level: contact\n", segments)
    assert tree.problems == [] and tree.rule.when.items[0] == ast.Received("welcome", 0)


def test_contact_fields_in_contact_level_rules():
    tree = when_of("contact.role: admin", "level: contact\n")
    assert tree == ast.Compare(ast.FieldRef("contact", "role"), "eq", "admin")
    assert "(did you mean 'contact'?)" in one_problem("account.tier: tech", "level: contacts\n")


@pytest.mark.parametrize(
    ("extra", "piece"),
    [
        ("holdout: 51\n", "holdout 51% is out of range"),
        ("holdout: -1%\n", "expected a percentage"),
        ("holdout: lots\n", "expected a percentage"),
        ("schedule: '* * * * * *'\n", "not a valid cron expression"),
        ("schedule: 'every hour'\n", "not a valid cron expression"),
        ("trigger: on_entr\n", "(did you mean 'on_enter'?)"),
        ("trigger: while_matching\n", "while_matching needs settings"),
        ("trigger: {on_event: {events: []}}\n", "non-empty list of event names"),
        ("trigger: {while_matching: {evry: 7d}}\n", "(did you mean 'every'?)"),
        ("min_dwell: 3\n", "write 3d for 3 days"),
        ("priority: 1000\n", "out of range"),
        ("enabled: no\n", "expected true or false"),
        ("category: Not A Slug\n", "is not a valid category"),
        ("limits: {per_acount: {max: 1, per: 7d}}\n", "(did you mean 'per_account'?)"),
        ("limits: {per_account: {max: 1}}\n", "missing required key 'per'"),
        ("limits: {per_account: {max: 1.5, per: 7d}}\n", "expected a whole number"),
        ("goal: {event: x, within: soon}\n", "expected a duration"),
        ("goal: project_created\n", "expected a goal"),
        ("send_window: {days: weekdays}\n", "unknown day 'weekdays'"),
        ("send_window: {hours: '9-18'}\n", "expected hours such as"),
        ("send_window: {hours: '09:00-25:00'}\n", "hours run 00:00 to 24:00"),
        ("send_window: {timezone: Mars/Base}\n", "unknown time zone"),
        ("send_window: {day: mon}\n", "(did you mean 'days'?)"),
        ("owner: 12\n", "put it in quotes"),
    ],
)
def test_header_problems(extra, piece):
    found = one_problem("account.tier: tech", extra)
    assert piece in found


@pytest.mark.parametrize(
    ("actions", "piece"),
    [
        ("actions: []\n", "non-empty list of actions"),
        ("actions:\n  - sms: {template: a, to: contacts}\n", "unknown channel 'sms'"),
        ("actions:\n  - emial: {template: a, to: contacts}\n", "(did you mean 'email'?)"),
        ("actions:\n  - email: {template: a}\n", "missing required key 'to'"),
        ("actions:\n  - email: {template: a, to: admins}\n", "unknown recipient 'admins'"),
        ("actions:\n  - email: {template: a, to: contact}\n", "to: contact is for rules with level: contact"),
        ("actions:\n  - in_app: {template: a, to: owner}\n", "send owner alerts by email or webhook"),
        ("actions:\n  - in_app: {template: a, to: contacts, expires_in: 7}\n", "write 7d"),
        ("actions:\n  - webhook: {template: a, to: owner, url: 'ftp://x'}\n", "'ftp://x' is not a valid URL; use http:// or https://"),
        ("actions:\n  - webhook: {template: a, to: owner, format: slak}\n", "expected one of json, slack, got the text 'slak' (did you mean 'slack'?)"),
        ("actions:\n  - email: {template: Bad Name, to: owner}\n", "is not a valid template name"),
        ("actions:\n  - email: {template: a, to: owner}\n    in_app: {template: a, to: contacts}\n", "one channel per action"),
    ],
)
def test_action_problems(actions, piece):
    text = "id: r\nname: R\nwhen: {account.tier: tech}\n" + actions
    found = messages(validate_text(text, "rules/r.yaml", expected_id="r"))
    assert len(found) == 1 and piece in found[0], found


def test_triggers_and_audiences():
    text = """\
id: r
name: R
level: contact
when: {contact.role: admin}
trigger: {on_event: {events: [login, report_run]}}
actions:
  - email: {template: a, to: contact}
  - webhook: {template: alerts/x, to: owner, url: "https://hooks.example.com/x", format: slack}
"""
    rule = validate_text(text, "rules/r.yaml", expected_id="r").rule
    assert rule.actions[1].format == "slack" and rule.actions[0].format is None
    assert rule.trigger == OnEvent(("login", "report_run"))
    assert rule.actions[0].to == Audience("contact")
    assert rule.actions[1].url == "https://hooks.example.com/x"
    text = text.replace("{on_event: {events: [login, report_run]}}", "{while_matching: {every: 2w}}")
    assert validate_text(text, "rules/r.yaml").rule.trigger == WhileMatching(14)


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "a rule file must be a mapping"),
        ("id: [unclosed\n", "rules/r.yaml:2:1:"),
        ("a: &x 1\nb: *x\n", "rules/r.yaml:1:4: anchors (&name) are not allowed"),
        ("id: a\nid: b\n", "duplicate key 'id'"),
    ],
)
def test_unusable_files(text, piece):
    found = messages(validate_text(text, "rules/r.yaml", expected_id="r"))
    assert found and piece in found[0], found


@pytest.mark.parametrize("bad", ["Upper", "has space", "-leading", "x" * 101])
def test_the_rule_id_must_be_a_slug(bad):
    text = f"id: '{bad}'\nname: R\nwhen: {{account.tier: tech}}\nactions:\n  - email: {{template: a, to: owner}}\n"
    found = messages(validate_text(text, "rules/r.yaml"))
    assert len(found) == 1 and "is not a valid rule id" in found[0], found


def test_without_a_file_name_any_valid_id_is_accepted():
    text = "id: anything\nname: R\nwhen: {account.tier: tech}\nactions:\n  - email: {template: a, to: owner}\n"
    assert validate_text(text).rule.id == "anything"


# Keys and values a rule uses, so random documents get past the first checks.
_KEYS = ["id", "name", "when", "actions", "all", "any", "not", "segment", "account.tier", "account.mrr",
         "account.signup_at", "event.login.count", "event.x.trend", "account.owner.changed", "in_last",
         "between", "eq", "gt", "in", "exists", "over", "change_pct", "email", "template", "to", "trigger",
         "while_matching", "every", "limits", "per_account", "max", "per", "holdout", "send_window", "days", "received", "rule", "action", "within"]  # fmt: skip


def _documents():
    from hypothesis import strategies as st

    leaves = st.one_of(
        st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True),
        st.sampled_from(["7d", "0d", "2w", "tech", "role:admin", "mon-fri", "09:00-18:00", "50%", "x"]),
        st.text(max_size=5),
    )  # fmt: skip
    keys = st.one_of(st.sampled_from(_KEYS), st.text(max_size=4))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=20,
    )


def test_any_document_gives_a_rule_or_positioned_problems_never_an_exception():
    import yaml
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_documents())
    def check(data):
        text = yaml.safe_dump(data, allow_unicode=True)
        result = validate_text(text, "rules/r.yaml", expected_id="r")
        assert (result.rule is None) == bool(result.problems)
        for problem in result.problems:
            assert problem.line >= 1 and problem.column >= 1 and problem.message

    check()


def _doc_blocks() -> list[str]:
    text = (RULES.parent / "docs" / "rules.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_every_example_in_the_docs_is_valid():
    import yaml

    segments = SegmentLibrary.from_folder(RULES / "segments")
    base = {"id": "r", "name": "R", "level": "contact", "when": {"account.tier": "tech"},
            "actions": [{"email": {"template": "a", "to": "owner"}}]}  # fmt: skip
    checked = 0
    for block in _doc_blocks():
        data = yaml.safe_load(block)
        if isinstance(data, list):  # a list of example leaves
            candidates = [{**base, "when": item} for item in data]
        elif "name" in data or "when" not in data:  # a whole rule, or some of its keys
            candidates = [{**base, **data}]
        elif "id" in data:  # a segment file
            candidates = [{**base, "when": data["when"]}]
        else:
            candidates = [{**base, **data}]
        for candidate in candidates:
            result = validate_text(yaml.safe_dump(candidate, sort_keys=False), "docs/rules.md", segments=segments)
            assert result.ok, (block, [str(p) for p in result.problems])
            checked += 1
    assert checked > 30


def test_actions_name_templates_that_exist_when_the_templates_are_known():
    from engine.rules.validate import KnownTemplates

    known = KnownTemplates("email_templates", frozenset({"onboarding/stalled", "alerts/owner-changed"}))
    text = HEADER.replace("onboarding/stalled", "onboarding/stalld") + "when: {account.tier: tech}\n"
    result = validate_text(text, "rules/r.yaml", expected_id="r", templates=known)
    assert messages(result) == [
        "rules/r.yaml:4:13: actions[0].email.template: template 'onboarding/stalld' does not exist in email_templates/ "
        "(add onboarding/stalld/en.html there, or name an existing one) (did you mean 'onboarding/stalled'?)"
    ]
    assert result.rule is None
    # Without the list (the admin's live check, a stored version) the name is not looked up.
    assert validate_text(text, "rules/r.yaml", expected_id="r").ok


def test_every_shipped_rule_names_a_shipped_template():
    from engine.rules.validate import KnownTemplates
    from engine.templates import TemplateLibrary

    names = frozenset(TemplateLibrary(RULES.parent / "email_templates").names())
    check = check_paths([str(RULES)], KnownTemplates("email_templates", names))
    assert check.problems == [] and len(check.rules) >= 5
