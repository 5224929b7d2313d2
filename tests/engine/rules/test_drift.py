"""Drift: files applied over a live version edited in the admin are refused unless asked."""

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import RuleVersion
from engine.rules.apply import apply_sources
from engine.rules.drift import AdminEditsDrift, find_drift
from engine.rules.edits import save_rule_text
from engine.rules.live_segments import folder_texts
from engine.rules.versions import read_rules

RULES = Path(__file__).resolve().parents[3] / "rules"
RULE = "onboarding-stalled-day7"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    return tmp_path / "rules"


def apply_folder(db, folder: Path, **kwargs):
    with db.session() as s:
        return apply_sources(s, read_rules([str(folder)]).rules, actor="cli:ann", origin="file", author="ann", **kwargs)


def admin_edit(db, rules_dir, old="holdout: 10%", new="holdout: 20%"):
    text = (rules_dir / f"{RULE}.yaml").read_text().replace(old, new)
    with db.session() as s:
        outcome = save_rule_text(s, text, rule_id=RULE, actor="user:bea@example.com", comment="more holdout", segments=folder_texts(rules_dir / "segments"))
    assert outcome.status == "changed", outcome.problems


def count(db) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(RuleVersion))


def test_files_from_before_an_admin_edit_drift(db, rules_dir):
    apply_folder(db, rules_dir)
    assert find_drift_in(db, rules_dir) == []  # file versions live: no drift
    admin_edit(db, rules_dir)
    (drift,) = find_drift_in(db, rules_dir)
    assert (drift.rule_id, drift.live_version, drift.live_author, drift.live_comment) == (RULE, 2, "bea@example.com", "more holdout")
    lines = drift.diff.splitlines()
    assert lines[:2] == [f"--- {RULE} version 2 (live, edited in the admin)", f"+++ {rules_dir / (RULE + '.yaml')}"]
    assert "-holdout: 20%" in lines and "+holdout: 10%" in lines
    assert drift.describe().startswith(f"{RULE}: the live version 2 was edited in the admin by bea@example.com at ")

    n = count(db)
    with pytest.raises(AdminEditsDrift, match=rf"not applied: {RULE} was edited in the admin .*--overwrite-admin-edits"):
        apply_folder(db, rules_dir)
    assert count(db) == n  # nothing stored, not even the other rules

    applied = {a.rule_id: a for a in apply_folder(db, rules_dir, overwrite_admin_edits=True)}
    assert (applied[RULE].version, applied[RULE].status) == (3, "changed")
    assert find_drift_in(db, rules_dir) == []  # the files are live again


def test_files_equal_to_the_admin_version_do_not_drift(db, rules_dir):
    apply_folder(db, rules_dir)
    admin_edit(db, rules_dir)
    path = rules_dir / f"{RULE}.yaml"
    path.write_text(path.read_text().replace("holdout: 10%", "holdout: 20%"))  # the edit, committed to the files
    assert find_drift_in(db, rules_dir) == []
    assert {a.status for a in apply_folder(db, rules_dir)} == {"unchanged"}


def test_files_changed_on_both_sides_drift_too(db, rules_dir):
    apply_folder(db, rules_dir)
    admin_edit(db, rules_dir)
    path = rules_dir / f"{RULE}.yaml"
    path.write_text(path.read_text().replace("holdout: 10%", "holdout: 5%"))
    (drift,) = find_drift_in(db, rules_dir)
    assert "-holdout: 20%" in drift.diff.splitlines() and "+holdout: 5%" in drift.diff.splitlines()


def find_drift_in(db, folder):
    with db.read_session() as s:
        return find_drift(s, read_rules([str(folder)]).rules)
