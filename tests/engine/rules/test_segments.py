from engine.rules import ast
from engine.rules.segments import SegmentLibrary
from engine.rules.validate import check_paths, validate_text

TIER = ast.Compare(ast.FieldRef("account", "tier"), "eq", "tech")
PAYING = ast.Compare(ast.FieldRef("account", "mrr"), "gt", 0.0)


def rule(when: str, level: str = "account") -> str:
    return (
        f"id: r\nname: R\nlevel: {level}\nwhen:\n{when}\n"
        "actions:\n  - email: {template: a, to: role:admin}\n"
    )


def library(**texts: str) -> SegmentLibrary:
    return SegmentLibrary.from_texts({name.replace("_", "-"): text for name, text in texts.items()})


def test_a_segment_expands_to_its_tree_and_may_use_others():
    segments = library(
        tech_touch="id: tech-touch\nwhen:\n  all:\n    - account.tier: tech\n    - segment: paying\n",
        paying="id: paying\ndescription: Paid plans\nwhen: {account.mrr: {gt: 0}}\n",
    )
    result = validate_text(rule("  not: {segment: tech-touch}"), "rules/r.yaml", segments=segments)
    assert result.ok, [str(p) for p in result.problems]
    assert result.rule.when == ast.Not(ast.All((TIER, PAYING)))
    assert segments.check_all() == []


def test_unknown_segment_names_get_a_suggestion():
    segments = library(paying="id: paying\nwhen: {account.mrr: {gt: 0}}\n")
    found = [str(p) for p in validate_text(rule("  segment: payng"), "rules/r.yaml", segments=segments).problems]
    assert found == [
        "rules/r.yaml:5:3: when.segment: unknown segment 'payng'; known segments: paying (did you mean 'paying'?)"
    ]


def test_cycles_are_reported_in_the_segment_file_and_at_the_rule():
    segments = library(
        a="id: a\nwhen: {segment: b}\n",
        b="id: b\nwhen:\n  any:\n    - account.tier: tech\n    - segment: a\n",
    )
    found = [str(p) for p in validate_text(rule("  segment: a"), "rules/r.yaml", segments=segments).problems]
    assert found == ["rules/r.yaml:5:3: when.segment: segment 'a' has problems of its own; fix its file first"]
    problems = [str(p) for p in segments.check_all()]
    assert "rules/segments/b.yaml:5:7: when.any[1].segment: segments refer to each other in a cycle: a -> b -> a" in problems


def test_a_segment_that_refers_to_itself():
    segments = library(me="id: me\nwhen: {segment: me}\n")
    problems = [str(p) for p in segments.check_all()]
    assert problems == ["rules/segments/me.yaml:2:8: when.segment: segments refer to each other in a cycle: me -> me"]


def test_segment_file_problems_are_all_reported():
    segments = library(
        bad="id: other\nwhn: {account.tier: tech}\nwhen: {account.tierr: tech}\n",
        broken="id: [\n",
    )
    problems = [str(p) for p in segments.check_all()]
    assert any("rules/segments/bad.yaml:1:1: id: id 'other' does not match the file name bad.yaml" in p for p in problems)
    assert any("bad.yaml:2:1: whn: unknown key 'whn'" in p and "(did you mean 'when'?)" in p for p in problems)
    assert any("bad.yaml:3:8: when.account.tierr: unknown field" in p for p in problems)
    assert any(p.startswith("rules/segments/broken.yaml:2:1:") for p in problems)
    # A rule naming a segment whose file does not even parse is told so, not "unknown".
    found = [str(p) for p in validate_text(rule("  segment: broken"), "rules/r.yaml", segments=segments).problems]
    assert found and "has problems of its own" in found[0]


def test_contact_segments_only_in_contact_rules():
    segments = library(admins="id: admins\nwhen: {contact.role: admin}\n")
    found = [str(p) for p in validate_text(rule("  segment: admins"), "rules/r.yaml", segments=segments).problems]
    assert found == ["rules/r.yaml:5:3: when.segment: segment 'admins' uses contact fields, which only level: contact rules may use"]
    ok = validate_text(rule("  segment: admins", level="contact"), "rules/r.yaml", segments=segments)
    assert ok.rule.when == ast.Compare(ast.FieldRef("contact", "role"), "eq", "admin")


def test_segments_folder_is_read_next_to_the_rules(tmp_path):
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "paying.yaml").write_text("id: paying\nwhen: {account.mrr: {gt: 0}}\n")
    (tmp_path / "r.yaml").write_text(rule("  segment: paying"))
    check = check_paths([str(tmp_path)])
    assert check.problems == [] and check.segments == 1
    assert check.rules[0].when == PAYING
