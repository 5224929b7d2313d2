"""Export writes the live versions as files that apply reproduces byte for byte."""

import shutil
from pathlib import Path

import pytest

from engine.rules.apply import apply_sources
from engine.rules.edits import save_rule_text
from engine.rules.export import ExportConflict, export_rules
from engine.rules.live_segments import folder_texts
from engine.rules.versions import active_versions, read_rules

RULES = Path(__file__).resolve().parents[3] / "rules"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    return tmp_path / "rules"


def apply_folder(db, folder: Path, **kwargs):
    loaded = read_rules([str(folder)])
    assert loaded.problems == []
    with db.session() as s:
        return apply_sources(s, loaded.rules, actor="cli:ann", origin="file", author="ann", **kwargs)


def live(db) -> dict[str, tuple[int, str]]:
    with db.read_session() as s:
        return {rule_id: (v.version, v.content_hash) for rule_id, (_, v) in active_versions(s).items()}


def test_export_then_apply_is_byte_identical(db, rules_dir, tmp_path):
    apply_folder(db, rules_dir)
    text = (rules_dir / "inactive-account-reminder.yaml").read_text().replace("every: 7d", "every: 14d")
    with db.session() as s:  # an admin edit, so the live versions differ from the files
        outcome = save_rule_text(s, text, rule_id="inactive-account-reminder", actor="user:bea@example.com",
                                 comment="less often", segments=folder_texts(rules_dir / "segments"))  # fmt: skip
    assert outcome.status == "changed", outcome.problems
    before = live(db)

    out = tmp_path / "exported"
    result = export_rules_in(db, out)
    names = sorted(str(w.path.relative_to(out)) for w in result.files)
    assert names == sorted([*(f"{rule_id}.yaml" for rule_id in before), "segments/paying.yaml", "segments/tech-touch.yaml"])
    assert {w.status for w in result.files} == {"written"} and result.others == []
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{rule_id}.yaml" for rule_id in before), "segments"])
    assert (out / "inactive-account-reminder.yaml").read_text() == text
    assert (out / "segments" / "paying.yaml").read_bytes() == (rules_dir / "segments" / "paying.yaml").read_bytes()

    applied = apply_folder(db, out)  # the admin version is live, and the files are that version: no drift
    assert {a.status for a in applied} == {"unchanged"}
    assert live(db) == before
    again = export_rules_in(db, out)
    assert {w.status for w in again.files} == {"unchanged"}


def export_rules_in(db, folder):
    with db.read_session() as s:
        return export_rules(s, folder)


def test_export_names_files_that_are_not_live_rules(db, rules_dir, tmp_path):
    apply_folder(db, rules_dir / "onboarding-stalled-day7.yaml")
    out = tmp_path / "out"
    out.mkdir()
    (out / "retired.yaml").write_text("id: retired\n")
    result = export_rules_in(db, out)
    assert [w.path.name for w in result.files] == ["onboarding-stalled-day7.yaml"] and result.rules == 1
    assert result.others == [out / "retired.yaml"]


def test_two_rules_with_different_texts_of_one_segment_are_refused_and_nothing_is_written(db, rules_dir, tmp_path):
    apply_folder(db, rules_dir)
    segment = rules_dir / "segments" / "paying.yaml"
    segment.write_text(segment.read_text().replace("{gt: 0}", "{gt: 10}"))
    apply_folder(db, rules_dir / "renewal-within-60-days.yaml")  # only this rule takes the new segment text
    out = tmp_path / "out"
    with pytest.raises(ExportConflict, match="segment 'paying' differs between the live versions of inactive-account-reminder and renewal-within-60-days"):
        export_rules_in(db, out)
    assert not out.exists()
