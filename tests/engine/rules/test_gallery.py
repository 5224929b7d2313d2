from pathlib import Path

from engine.rules.gallery import default_rules_dir, gallery, gallery_rule


def test_the_shipped_rules_are_the_gallery():
    found = gallery(default_rules_dir())
    shipped = sorted(p.stem for p in Path("rules").glob("*.yaml") if p.name != "policy.yaml")
    assert [g.rule_id for g in found] == shipped
    for g in found:
        assert g.name and g.description, g.rule_id
        assert f"id: {g.rule_id}" in g.text


def test_a_broken_file_is_left_out(tmp_path: Path):
    (tmp_path / "good.yaml").write_text("id: good\nname: Good\nwhen: {account.tier: tech}\nactions:\n  - email: {template: a, to: owner}\n")
    (tmp_path / "bad.yaml").write_text("id: bad\n")
    (tmp_path / "policy.yaml").write_text("fatigue: {}\n")
    assert [g.rule_id for g in gallery(tmp_path)] == ["good"]
    assert gallery_rule(tmp_path, "good").name == "Good"
    assert gallery_rule(tmp_path, "bad") is None
