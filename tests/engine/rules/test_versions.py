import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import RuleState, RuleVersion
from engine.rules.versions import (
    ContentError,
    UnknownRule,
    active_rules,
    apply_rules,
    bundle,
    content_hash,
    current_git_commit,
    pause_rule,
    read_rules,
    resume_rule,
    unbundle,
)

RULES = Path(__file__).resolve().parents[3] / "rules"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    return tmp_path / "rules"


def apply(db, folder: Path, author: str = "ann", commit: str | None = None):
    loaded = read_rules([str(folder)])
    assert loaded.problems == []
    with db.session() as s:
        return apply_rules(s, loaded.rules, author, commit)


def test_the_shipped_rules_read_with_their_segments(rules_dir):
    loaded = read_rules([str(rules_dir)])
    assert loaded.problems == []
    by_id = {source.rule.id: source for source in loaded.rules}
    assert len(by_id) == 6
    # inactive-account-reminder uses tech-touch, which uses paying: both are stored.
    rule_text, segments = unbundle(by_id["inactive-account-reminder"].content)
    assert rule_text == (rules_dir / "inactive-account-reminder.yaml").read_text()
    assert segments == {name: (rules_dir / "segments" / f"{name}.yaml").read_text() for name in ("paying", "tech-touch")}
    # A rule without segments is stored as its file, byte for byte.
    assert by_id["onboarding-stalled-day7"].content == (rules_dir / "onboarding-stalled-day7.yaml").read_text()


def test_apply_twice_versions_once(db, rules_dir):
    first = apply(db, rules_dir, commit="a" * 40)
    assert [(a.rule_id, a.version, a.status) for a in first] == [
        (rule_id, 1, "new")
        for rule_id in (
            "inactive-account-reminder", "key-feature-usage-falling", "new-admin-welcome",
            "onboarding-stalled-day7", "owner-changed-high-touch", "renewal-within-60-days",
        )
    ]  # fmt: skip
    second = apply(db, rules_dir, author="bob")
    assert {a.status for a in second} == {"unchanged"}
    assert [a.version_id for a in second] == [a.version_id for a in first]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion)) == 6
        version = s.scalar(select(RuleVersion).where(RuleVersion.rule_id == "onboarding-stalled-day7"))
        assert (version.author, version.git_commit, version.diff) == ("ann", "a" * 40, None)
        assert version.content_hash == content_hash(version.content)
        assert s.scalar(select(func.count()).select_from(RuleState)) == 6


def test_an_edit_makes_version_2_with_a_diff(db, rules_dir):
    apply(db, rules_dir)
    path = rules_dir / "onboarding-stalled-day7.yaml"
    path.write_text(path.read_text().replace("holdout: 10%", "holdout: 20%"))
    applied = {a.rule_id: a for a in apply(db, rules_dir, author="bob")}
    assert (applied["onboarding-stalled-day7"].version, applied["onboarding-stalled-day7"].status) == (2, "changed")
    assert sum(a.status == "unchanged" for a in applied.values()) == 5
    with db.read_session() as s:
        state = s.get(RuleState, "onboarding-stalled-day7")
        active = s.get(RuleVersion, state.active_version_id)
        assert (active.version, active.author) == (2, "bob")
        lines = active.diff.splitlines()
        assert lines[:2] == ["--- onboarding-stalled-day7 version 1", "+++ onboarding-stalled-day7 version 2"]
        assert "-holdout: 10%" in lines and "+holdout: 20%" in lines
    ((_, version, rule),) = [r for r in _active(db) if r[2].id == "onboarding-stalled-day7"]
    assert (version.version, rule.holdout) == (2, 20.0)


def test_a_segment_edit_versions_the_rules_that_use_it(db, rules_dir):
    apply(db, rules_dir)
    segment = rules_dir / "segments" / "paying.yaml"
    segment.write_text(segment.read_text().replace("{gt: 0}", "{gt: 10}"))
    changed = sorted(a.rule_id for a in apply(db, rules_dir) if a.status == "changed")
    # paying is used directly by new-admin-welcome and renewal, and through tech-touch by the others.
    uses = sorted(p.stem for p in rules_dir.glob("*.yaml") if "segment:" in p.read_text())
    assert changed == uses and "onboarding-stalled-day7" not in changed
    with db.read_session() as s:
        state = s.get(RuleState, "renewal-within-60-days")
        diff = s.get(RuleVersion, state.active_version_id).diff
    assert "-    - account.mrr: {gt: 0}" in diff and "+    - account.mrr: {gt: 10}" in diff


def _active(db, **kwargs):
    with db.read_session() as s:
        return active_rules(s, **kwargs)


def test_active_rules_revalidates_and_skips_paused(db, rules_dir):
    apply(db, rules_dir)
    rules = _active(db)
    assert [r.id for _, _, r in rules] == sorted(p.stem for p in rules_dir.glob("*.yaml") if p.name != "policy.yaml")
    # The stored segments are used, not the files on disk.
    shutil.rmtree(rules_dir / "segments")
    assert len(_active(db)) == 6

    with db.session() as s:
        state = pause_rule(s, "renewal-within-60-days", "legal review")
        assert (state.paused, state.paused_reason) == (True, "legal review")
    assert "renewal-within-60-days" not in [r.id for _, _, r in _active(db)]
    paused = [st for st, _, r in _active(db, include_paused=True) if r.id == "renewal-within-60-days"]
    assert paused[0].paused
    with db.session() as s:
        state = resume_rule(s, "renewal-within-60-days")
        assert (state.paused, state.paused_reason) == (False, None)
    assert len(_active(db)) == 6


def test_a_stored_version_that_no_longer_validates_is_skipped_and_logged(db, rules_dir, caplog):
    apply(db, rules_dir)
    with db.session() as s:
        state = s.get(RuleState, "onboarding-stalled-day7")
        s.get(RuleVersion, state.active_version_id).content += "surprise: 1\n"
    assert "onboarding-stalled-day7" not in [r.id for _, _, r in _active(db)]
    assert "onboarding-stalled-day7 version 1 no longer validates" in caplog.text
    assert "unknown key 'surprise'" in caplog.text


def test_pause_and_resume_unknown_rules(db, rules_dir):
    with db.session() as s, pytest.raises(UnknownRule, match="no rules are applied yet"):
        pause_rule(s, "nope", "testing")
    apply(db, rules_dir)
    with db.session() as s, pytest.raises(UnknownRule, match=r"no applied rule 'nope' \(applied rules: inactive-account"):
        resume_rule(s, "nope")


def test_marker_lines_in_files_are_refused(rules_dir):
    with pytest.raises(ContentError):
        bundle("id: x\n# --- segment paying ---\n", {})
    path = rules_dir / "onboarding-stalled-day7.yaml"
    path.write_text(path.read_text() + "# --- segment paying ---\n")
    loaded = read_rules([str(rules_dir)])
    assert [p.source for p in loaded.problems] == [str(path)]
    assert "cannot store this rule" in loaded.problems[0].message
    assert len(loaded.rules) == 5


def test_bundle_round_trips():
    content = bundle("id: r\nwhen: x", {"b": "id: b\n", "a": "id: a"})
    assert content == "id: r\nwhen: x\n# --- segment a ---\nid: a\n# --- segment b ---\nid: b\n"
    assert unbundle(content) == ("id: r\nwhen: x\n", {"a": "id: a\n", "b": "id: b\n"})


def test_current_git_commit(tmp_path):
    assert current_git_commit(tmp_path / "missing") is None
    folder = tmp_path / "repo"
    folder.mkdir()
    assert current_git_commit(folder) is None  # not a repository
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    assert current_git_commit(folder) is None  # no commit yet
    (folder / "r.yaml").write_text("id: r\n")
    subprocess.run([*git, "add", "r.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "r"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert current_git_commit(folder) == head
    assert current_git_commit(folder / "r.yaml") == head


def test_pause_needs_a_reason_and_pause_and_resume_are_audited(db, rules_dir):
    from engine.models import AuditEntry
    from engine.rules.versions import ReasonRequired

    apply(db, rules_dir)
    with db.session() as s, pytest.raises(ReasonRequired, match="a reason is required"):
        pause_rule(s, "renewal-within-60-days", "   ", actor="user:ann@example.com")
    with db.session() as s:
        pause_rule(s, "renewal-within-60-days", "legal review", actor="user:ann@example.com")
        pause_rule(s, "renewal-within-60-days", "legal review", actor="user:ann@example.com")  # no change, no row
        resume_rule(s, "renewal-within-60-days", actor="cli:bob")
        resume_rule(s, "renewal-within-60-days", actor="cli:bob")
    with db.read_session() as s:
        rows = [
            (e.actor, e.action, e.before, e.after, e.summary)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action.in_(("pause", "resume"))).order_by(AuditEntry.id))
        ]
    assert rows == [
        ("user:ann@example.com", "pause", {"paused": False, "reason": None}, {"paused": True, "reason": "legal review"}, "paused: legal review"),
        ("cli:bob", "resume", {"paused": True, "reason": "legal review"}, {"paused": False, "reason": None}, "resumed"),
    ]
