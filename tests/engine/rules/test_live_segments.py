"""Segments edited in the admin: stored as new versions of the live rules that use them."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import AuditEntry, RuleVersion
from engine.rules.apply import apply_sources
from engine.rules.drift import AdminEditsDrift
from engine.rules.edits import save_rule_text
from engine.rules.export import export_rules
from engine.rules.live_segments import (
    UnknownSegment, check_segment, library_texts, live_segments, plan_segment, save_segment_text,
)  # fmt: skip
from engine.rules.versions import ReasonRequired, active_versions, read_rules, unbundle

RULES = Path(__file__).resolve().parents[3] / "rules"
ANN = "user:ann@example.com"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TECH_TOUCH_RULES = ["inactive-account-reminder", "key-feature-usage-falling", "renewal-within-60-days"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    return tmp_path / "rules"


@pytest.fixture
def applied(db, folder: Path) -> Path:
    with db.session() as s:
        apply_sources(s, read_rules([str(folder)]).rules, actor="cli:ann", origin="file", author="ann")
    return folder


def segment_text(folder: Path, name: str) -> str:
    return (folder / "segments" / f"{name}.yaml").read_text()


def carried(db, rule_id: str, name: str) -> str | None:
    with db.read_session() as s:
        return unbundle(active_versions(s)[rule_id][1].content)[1].get(name)


def test_live_segments_name_the_rules_that_carry_them(db, applied):
    (applied / "segments" / "unused.yaml").write_text("id: unused\ndescription: Nobody uses me.\nwhen:\n  account.tier: tech\n")
    with db.read_session() as s:
        found = live_segments(s, applied / "segments")
    assert found["tech-touch"].rules == TECH_TOUCH_RULES
    assert found["paying"].rules == sorted([*TECH_TOUCH_RULES, "new-admin-welcome"])  # through tech-touch too
    assert found["paying"].description == "Accounts on a paid plan (not trials, not cancelled)."
    assert (found["unused"].live, found["unused"].description) == (False, "Nobody uses me.")
    assert not any(s.conflict for s in found.values())


def test_saving_a_segment_stores_a_new_version_of_each_rule_using_it(db, applied):
    new = segment_text(applied, "tech-touch").replace("account.tier: tech", "account.tier: {in: [tech, scale]}")
    with db.session() as s:
        saved = save_segment_text(s, "tech-touch", new, actor=ANN, comment="scale tier is tech-touch too", folder=applied / "segments")
    assert saved.problems == []
    assert sorted(a.rule_id for a in saved.changed) == TECH_TOUCH_RULES
    assert all(a.version == 2 for a in saved.changed)
    for rule_id in TECH_TOUCH_RULES:
        assert carried(db, rule_id, "tech-touch") == new
    assert carried(db, "new-admin-welcome", "tech-touch") is None  # it uses paying only
    with db.read_session() as s:
        version = active_versions(s)["renewal-within-60-days"][1]
        assert (version.origin, version.author, version.comment) == ("admin", "ann@example.com", "segment tech-touch: scale tier is tech-touch too")
        assert "+    - account.tier: {in: [tech, scale]}" in version.diff
        entry = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "segment")).one()
        assert (entry.actor, entry.action, entry.object_id) == (ANN, "update", "tech-touch")
        assert entry.before == {"text": segment_text(applied, "tech-touch")}
        assert entry.after == {"text": new, "rules": TECH_TOUCH_RULES}
        assert library_texts(s, applied / "segments")["tech-touch"] == new  # the live text wins over the file


def test_a_nested_segment_reaches_rules_through_the_segment_using_it(db, applied):
    new = segment_text(applied, "paying").replace("{gt: 0}", "{gt: 10}")
    with db.session() as s:
        saved = save_segment_text(s, "paying", new, actor=ANN, comment="ignore tiny plans", folder=applied / "segments")
    assert sorted(a.rule_id for a in saved.changed) == sorted([*TECH_TOUCH_RULES, "new-admin-welcome"])
    assert carried(db, "renewal-within-60-days", "paying") == new


def test_an_unchanged_segment_stores_nothing(db, applied):
    with db.session() as s:
        saved = save_segment_text(s, "paying", segment_text(applied, "paying"), actor=ANN, comment="no-op", folder=applied / "segments")
    assert saved.changed == [] and {a.status for a in saved.applied} == {"unchanged"}
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.object_type == "segment")) == 0


def test_problems_in_the_segment_are_at_its_lines_and_store_nothing(db, applied):
    bad = segment_text(applied, "tech-touch").replace("account.tier: tech", "account.teir: tech")
    with db.session() as s:
        saved = save_segment_text(s, "tech-touch", bad, actor=ANN, comment="typo", folder=applied / "segments")
    (problem,) = saved.problems
    assert (problem.source, problem.line) == ("rules/segments/tech-touch.yaml", 5)
    assert problem.suggestion == "account.tier"
    assert carried(db, "renewal-within-60-days", "tech-touch") == segment_text(applied, "tech-touch")


def test_the_id_must_stay(db, applied):
    with db.read_session() as s:
        draft = check_segment(s, "paying", segment_text(applied, "paying").replace("id: paying", "id: payers"), applied / "segments")
    assert "does not match the file name paying.yaml" in draft.problems[0].message


def test_a_rule_the_segment_would_break_is_named(db, applied):
    # Contact fields in a segment are fine for contact-level rules, not for account-level ones.
    bad = segment_text(applied, "tech-touch") + "    - contact.role: admin\n"
    with db.read_session() as s:
        draft = check_segment(s, "tech-touch", bad, applied / "segments")
    assert {p.source for p in draft.problems} == {"rules/segments/tech-touch.yaml"}
    named = " ".join(p.message for p in draft.problems)
    for rule_id in TECH_TOUCH_RULES:
        assert f"rule {rule_id} uses this segment and would not pass the checker (rules/{rule_id}.yaml line" in named


def test_plan_shows_each_dependent_rule_and_writes_nothing(db, applied):
    new = segment_text(applied, "tech-touch").replace("account.tier: tech", "account.tier: {in: [tech, scale]}")
    with db.read_session() as s:
        before = s.scalar(select(func.count()).select_from(RuleVersion))
        draft, plans = plan_segment(s, "tech-touch", new, applied / "segments", NOW)
    assert draft.ok and sorted(p.rule_id for p in plans) == TECH_TOUCH_RULES
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion)) == before


def test_no_live_rule_no_save_and_unknown_names(db, applied):
    (applied / "segments" / "unused.yaml").write_text("id: unused\nwhen:\n  account.tier: tech\n")
    with db.session() as s:
        saved = save_segment_text(s, "unused", "id: unused\nwhen:\n  account.tier: scale\n", actor=ANN, comment="c", folder=applied / "segments")
        assert "no live rule uses segment unused" in saved.problems[0].message
        with pytest.raises(UnknownSegment):
            check_segment(s, "nope", "id: nope\nwhen:\n  account.tier: x\n", applied / "segments")
        with pytest.raises(ReasonRequired):
            save_segment_text(s, "paying", segment_text(applied, "paying"), actor=ANN, comment=" ", folder=applied / "segments")


def test_after_an_admin_segment_edit_files_drift_and_export_writes_it(db, applied, tmp_path):
    new = segment_text(applied, "tech-touch").replace("account.tier: tech", "account.tier: {in: [tech, scale]}")
    with db.session() as s:
        save_segment_text(s, "tech-touch", new, actor=ANN, comment="scale too", folder=applied / "segments")
    with pytest.raises(AdminEditsDrift) as raised, db.session() as s:
        apply_sources(s, read_rules([str(applied)]).rules, actor="cli:ann", origin="file", author="ann")
    assert sorted(d.rule_id for d in raised.value.drifts) == TECH_TOUCH_RULES
    with db.read_session() as s:
        export_rules(s, tmp_path / "out")
    assert (tmp_path / "out" / "segments" / "tech-touch.yaml").read_text() == new


def test_a_new_rule_saved_in_the_admin_takes_the_live_segment(db, applied):
    new = segment_text(applied, "tech-touch").replace("account.tier: tech", "account.tier: {in: [tech, scale]}")
    with db.session() as s:
        save_segment_text(s, "tech-touch", new, actor=ANN, comment="scale too", folder=applied / "segments")
    text = (applied / "renewal-within-60-days.yaml").read_text().replace("id: renewal-within-60-days", "id: renewal-copy")
    with db.session() as s:
        outcome = save_rule_text(s, text, rule_id=None, actor=ANN, comment="a copy", segments=library_texts(s, applied / "segments"))
    assert outcome.ok, outcome.problems
    assert carried(db, "renewal-copy", "tech-touch") == new
