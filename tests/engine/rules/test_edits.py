"""Saving a rule's text from the admin and rolling back: new versions through apply's own path."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import Account, AuditEntry, Contact, RuleState, RuleVersion
from engine.rules.apply import apply_sources
from engine.rules.edits import RollbackRefused, UnknownVersion, rollback_rule, save_rule_text
from engine.rules.live_segments import folder_texts
from engine.rules.plan import plan
from engine.rules.validate import KnownTemplates
from engine.rules.versions import ReasonRequired, UnknownRule, content_hash, read_rules
from engine.templates.library import TemplateLibrary

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
ANN = "user:ann@example.com"
RULE = "onboarding-stalled-day7"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path / "rules"


@pytest.fixture
def templates() -> KnownTemplates:
    return KnownTemplates("email_templates", frozenset(TemplateLibrary(ROOT / "email_templates").names()))


@pytest.fixture
def applied(db, rules_dir):
    """The shipped rules applied from files, with one account the onboarding rule would message."""
    with db.session() as s:
        account = Account(external_id="acct-x", name="X", tier="tech", signup_at=datetime(2026, 11, 10, tzinfo=timezone.utc))
        s.add(account)
        s.flush()
        s.add_all(Contact(external_id=f"c{i}", account_id=account.id, role="admin", email=f"c{i}@example.com") for i in range(2))
        apply_sources(s, read_rules([str(rules_dir)]).rules, actor="cli:ann", origin="file", author="ann", now=NOW)
    return rules_dir


def save(db, text, rule_id=RULE, comment="holdout up for the test", **kwargs):
    with db.session() as s:
        return save_rule_text(
            s, text, rule_id=rule_id, actor=ANN, comment=comment, segments=kwargs.pop("segments"), now=NOW, **kwargs
        )


def versions(db, rule_id=RULE) -> list[RuleVersion]:
    with db.read_session() as s:
        return list(s.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version)))


def audit(db, rule_id=RULE) -> list[AuditEntry]:
    with db.read_session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.object_id == rule_id).order_by(AuditEntry.id)))


def test_a_file_apply_records_origin_commit_comment_and_an_audit_row(db, applied):
    (v1,) = versions(db)
    assert (v1.origin, v1.author, v1.comment) == ("file", "ann", f"applied from {applied / (RULE + '.yaml')}")
    (entry,) = audit(db)
    assert (entry.actor, entry.action, entry.object_type, entry.before) == ("cli:ann", "create", "rule", None)
    assert entry.after["content"] == v1.content and entry.after["origin"] == "file"


def test_save_makes_an_admin_version_with_the_hash_diff_and_ceiling_apply_would_give(db, applied, templates):
    path = applied / f"{RULE}.yaml"
    text = path.read_text().replace("holdout: 10%", "holdout: 20%")
    outcome = save(db, text, segments=folder_texts(applied / "segments"), templates=templates)
    assert outcome.ok and (outcome.status, outcome.applied.version) == ("changed", 2)
    v1, v2 = versions(db)
    assert (v2.origin, v2.author, v2.comment, v2.git_commit) == ("admin", "ann@example.com", "holdout up for the test", None)
    assert v2.content == text and v2.content_hash == content_hash(text)
    assert "-holdout: 10%" in v2.diff.splitlines() and "+holdout: 20%" in v2.diff.splitlines()
    # The same text as a file is the same content: apply finds it unchanged (and so no drift).
    path.write_text(text)
    source = [r for r in read_rules([str(path)]).rules]
    assert source[0].content_hash == v2.content_hash
    with db.read_session() as s:
        expected = sum(plan(s, source, NOW, include_unchanged=True)[0].messages.values())
    assert v2.predicted_messages == expected == 4  # email and in-app to two admins: the breaker's yardstick
    with db.session() as s:
        (again,) = apply_sources(s, source, actor="cli:ann", origin="file", now=NOW)
    assert again.status == "unchanged"
    entry = audit(db)[-1]
    assert (entry.actor, entry.action, entry.summary) == (ANN, "update", "version 2 (admin): holdout up for the test")
    assert entry.before["content"] == v1.content and entry.after["content"] == text


def test_problems_come_back_and_nothing_is_stored(db, applied, templates):
    text = (applied / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdot: 10%").replace("onboarding/stalled", "onboarding/stalld")
    outcome = save(db, text, segments=folder_texts(applied / "segments"), templates=templates)
    assert not outcome.ok and outcome.applied is None
    messages = [(p.source, p.line, p.message) for p in outcome.problems]
    assert (f"rules/{RULE}.yaml", 15, "template 'onboarding/stalld' does not exist in email_templates/ (add onboarding/stalld/en.html there, or name an existing one)") in messages
    assert any("unknown key 'holdot'" in m for _, _, m in messages)
    assert len(versions(db)) == 1 and len(audit(db)) == 1


def test_the_text_must_keep_the_rules_id(db, applied):
    text = (applied / f"{RULE}.yaml").read_text().replace(f"id: {RULE}", "id: other")
    outcome = save(db, text, segments=folder_texts(applied / "segments"))
    assert [p.message for p in outcome.problems] == [f"id 'other' does not match the file name {RULE}.yaml; rename one so they agree"]


def test_the_same_text_is_unchanged(db, applied):
    outcome = save(db, (applied / f"{RULE}.yaml").read_text(), segments=folder_texts(applied / "segments"))
    assert outcome.ok and (outcome.status, outcome.applied.version) == ("unchanged", 1)
    assert len(versions(db)) == 1 and len(audit(db)) == 1
    # A browser's CRLF line ends are the same text.
    outcome = save(db, (applied / f"{RULE}.yaml").read_text().replace("\n", "\r\n"), segments=folder_texts(applied / "segments"))
    assert outcome.status == "unchanged"


def test_a_new_rule_takes_its_id_from_the_text_and_stores_its_segments(db, applied):
    text = (applied / "inactive-account-reminder.yaml").read_text().replace("id: inactive-account-reminder", "id: brand-new")
    outcome = save(db, text, rule_id=None, segments=folder_texts(applied / "segments"))
    assert outcome.ok and (outcome.rule_id, outcome.status, outcome.applied.version) == ("brand-new", "new", 1)
    (v1,) = versions(db, "brand-new")
    assert v1.origin == "admin" and "# --- segment tech-touch ---" in v1.content
    assert [(e.action, e.before) for e in audit(db, "brand-new")] == [("create", None)]


def test_a_new_rule_cannot_take_an_existing_id(db, applied):
    text = "# a copy\n" + (applied / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdout: 20%")
    outcome = save(db, text, rule_id=None, segments=folder_texts(applied / "segments"))
    (problem,) = outcome.problems
    assert (problem.source, problem.line, problem.path) == (f"rules/{RULE}.yaml", 2, "id")
    assert problem.message == f"a rule with id '{RULE}' already exists; choose another id, or edit that rule"
    assert len(versions(db)) == 1


def test_a_save_needs_a_comment_and_an_applied_rule(db, applied):
    text = (applied / f"{RULE}.yaml").read_text()
    with pytest.raises(ReasonRequired, match="a comment is required"):
        save(db, text, comment="  ", segments=folder_texts(applied / "segments"))
    with pytest.raises(UnknownRule, match="no applied rule 'nope'"):
        save(db, text.replace(RULE, "nope"), rule_id="nope", segments=folder_texts(applied / "segments"))
    assert len(versions(db)) == 1


def test_rollback_is_a_new_version_with_the_old_content(db, applied):
    original = (applied / f"{RULE}.yaml").read_text()
    save(db, original.replace("holdout: 10%", "holdout: 20%"), segments=folder_texts(applied / "segments"))
    with db.session() as s:
        done = rollback_rule(s, RULE, 1, actor=ANN, comment="20% held back too many", now=NOW)
    assert (done.version, done.status) == (3, "changed")
    v1, v2, v3 = versions(db)
    assert (v3.content, v3.content_hash, v3.origin, v3.restored_from, v3.comment) == (
        v1.content, v1.content_hash, "admin", 1, "20% held back too many"
    )
    assert "+holdout: 10%" in v3.diff.splitlines()
    with db.read_session() as s:
        assert s.get(RuleState, RULE).active_version_id == v3.id
    entry = audit(db)[-1]
    assert (entry.action, entry.actor, entry.before["version"], entry.after["restored_from"]) == ("rollback", ANN, 2, 1)
    # Rolling back to what is live already changes nothing.
    with db.session() as s:
        assert rollback_rule(s, RULE, 1, actor=ANN, comment="again", now=NOW).status == "unchanged"
    assert len(versions(db)) == 3


def test_rollback_errors(db, applied):
    with db.session() as s:
        with pytest.raises(UnknownVersion, match=rf"{RULE} has no version 7 \(versions: 1\)"):
            rollback_rule(s, RULE, 7, actor=ANN, comment="x")
        with pytest.raises(UnknownRule):
            rollback_rule(s, "nope", 1, actor=ANN, comment="x")
        with pytest.raises(ReasonRequired):
            rollback_rule(s, RULE, 1, actor=ANN, comment="")
    save(db, (applied / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdout: 20%"), segments=folder_texts(applied / "segments"))
    with db.session() as s:  # a version the checker has since become stricter about
        s.scalar(select(RuleVersion).where(RuleVersion.version == 1, RuleVersion.rule_id == RULE)).content += "surprise: 1\n"
    with db.session() as s, pytest.raises(RollbackRefused, match="no longer passes the checker") as refused:
        rollback_rule(s, RULE, 1, actor=ANN, comment="x")
    assert "unknown key 'surprise'" in str(refused.value.problems[0])
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion).where(RuleVersion.rule_id == RULE)) == 2
