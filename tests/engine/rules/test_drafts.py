from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.models import Account, Contact
from engine.rules.drafts import check_draft, plan_draft, with_id
from engine.rules.evaluate import explain
from engine.rules.facts import load_facts
from engine.rules.live_segments import folder_texts
from engine.rules.plan import plan
from engine.rules.validate import KnownTemplates, validate_text
from engine.rules.versions import read_rules

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
RULE = """\
id: tech-nudge
name: Tech nudge
when:
  all:
    - segment: techies
    - account.plan: pro
actions:
  - email: {template: a, to: role:admin}
"""
SEGMENT = """\
id: techies
when: {account.tier: tech}
"""
TEMPLATES = KnownTemplates("email_templates", frozenset({"a"}))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "techies.yaml").write_text(SEGMENT)
    (tmp_path / "tech-nudge.yaml").write_text(RULE)
    return tmp_path


@pytest.fixture
def accounts(db):
    with db.session() as s:
        for ext, tier, plan_name in (("a1", "tech", "pro"), ("a2", "tech", "free"), ("a3", "high", "pro"), ("a4", "tech", "pro")):
            account = Account(external_id=ext, name=ext, tier=tier, plan=plan_name)
            s.add(account)
            s.flush()
            s.add(Contact(external_id=f"{ext}-c", account_id=account.id, role="admin", email=f"{ext}@x.test"))


def test_check_draft_finds_what_rules_check_finds(folder):
    bad = RULE.replace("account.plan", "account.plann").replace("template: a", "template: missing")
    found = check_draft(bad, rule_id="tech-nudge", segments=folder_texts(folder / "segments"), templates=TEMPLATES)
    (folder / "tech-nudge.yaml").write_text(bad)
    from engine.rules.validate import check_paths

    on_disk = check_paths([str(folder)], TEMPLATES).problems
    assert [(p.line, p.column, p.message, p.suggestion) for p in found.problems] == [
        (p.line, p.column, p.message, p.suggestion) for p in on_disk
    ]
    assert len(found.problems) == 2
    assert found.problems[0].source == "rules/tech-nudge.yaml"


def test_check_draft_keeps_the_rules_id(folder):
    found = check_draft(RULE.replace("id: tech-nudge", "id: renamed"), rule_id="tech-nudge",
                        segments=folder_texts(folder / "segments"), templates=None)  # fmt: skip
    assert [p.line for p in found.problems] == [1]
    assert check_draft(RULE, rule_id=None, segments=folder_texts(folder / "segments"), templates=None).ok


def test_plan_draft_is_the_engines_plan_explain_and_backtest(db, accounts, folder):
    with db.read_session() as s:
        drafted = plan_draft(s, RULE, rule_id="tech-nudge", segments=folder_texts(folder / "segments"), templates=TEMPLATES, now=NOW)
        expected = plan(s, read_rules([str(folder)]).rules, NOW, include_unchanged=True)[0]
        rule = validate_text(RULE.replace("- segment: techies", "- account.tier: tech"), "x.yaml").rule
        a1 = s.query(Account.id).filter_by(external_id="a1").scalar()
        tree = explain(rule.when, load_facts(s, a1, NOW, set()), NOW)
    assert drafted.problems == []
    assert (drafted.plan.entering, drafted.plan.leaving, drafted.plan.messages) == (expected.entering, expected.leaving, expected.messages)
    assert drafted.plan.sample == ["a1", "a4"] == expected.sample
    assert [e.subject for e in drafted.explained] == ["a1", "a4"]
    first = drafted.explained[0].tree
    assert first.held and [c.held for c in first.children] == [c.held for c in tree.children] == [True, True]
    assert len(drafted.backtest.days) == 30
    assert drafted.backtest.days[-1].matched == 2


def test_plan_draft_with_problems_plans_nothing(db, folder):
    with db.read_session() as s:
        drafted = plan_draft(s, "id: [", rule_id="tech-nudge", segments=folder_texts(folder / "segments"), templates=None, now=NOW)
    assert drafted.plan is None and drafted.backtest is None
    assert drafted.problems and drafted.problems[0].line == 1


def test_with_id_sets_the_top_level_id_only():
    text = "name: x\nid: old\nwhen: {segment: id-like}\n"
    assert with_id(text, "new-one") == "name: x\nid: new-one\nwhen: {segment: id-like}\n"
    assert with_id("name: x\n", "fresh") == "id: fresh\nname: x\n"
