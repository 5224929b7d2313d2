"""The history list, side-by-side diff, rollback, and pause/resume pages, through real sign-in and CSRF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import AuditEntry, RuleState, RuleVersion
from engine.rules.edits import save_rule_text
from engine.rules.gallery import default_rules_dir
from engine.rules.live_segments import folder_texts
from engine.rules.versions import apply_rules, read_rules
from htmlids import ids

RULES = default_rules_dir()
RULE = "onboarding-stalled-day7"


def token_of(response) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "no CSRF token"
    return match.group(1)


@pytest.fixture
def two_versions(db):
    """The shipped rules applied from files, then one admin edit of the onboarding rule (version 2)."""
    with db.session() as s:
        apply_rules(s, read_rules([str(RULES)]).rules, "ann", "a" * 40, comments={RULE: "applied from rules/x.yaml"})
        text = (RULES / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdout: 20%")
        outcome = save_rule_text(s, text, rule_id=RULE, actor="user:bea@example.com", comment="more holdout", segments=folder_texts(RULES / "segments"))
    assert outcome.status == "changed"


@pytest.fixture
def editor(login_as):
    return login_as("editor")


def rows(db, rule_id=RULE):
    with db.read_session() as s:
        return list(s.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version)))


def audit_rows(db, action):
    with db.read_session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_history_lists_versions_newest_first_with_origin_author_and_comment(editor, two_versions):
    page = editor.get(f"/admin/rules/{RULE}/versions")
    assert page.status_code == 200
    found = ids(page)
    v2, v1 = found.attrs["version-2"], found.attrs["version-1"]
    assert (v2["data-origin"], v1["data-origin"]) == ("admin", "file")
    assert "active" in v2["class"] and "active" not in v1["class"]
    assert "bea@example.com" in found.text["version-2"] and "more holdout" in found.text["version-2"]
    assert "aaaaaaaaaaaa" in found.text["version-1"] and "ann" in found.text["version-1"]
    html = page.get_data(as_text=True)
    assert html.index('id="version-2"') < html.index('id="version-1"')
    assert f'href="/admin/rules/{RULE}/versions/1..2#rollback"' in html  # compare the old one with live, roll back
    assert "pause-form" in found.attrs  # the state form sits on the page too
    assert editor.get("/admin/rules/nope/versions").status_code == 404


def test_diff_shows_both_versions_side_by_side(editor, two_versions):
    page = editor.get(f"/admin/rules/{RULE}/versions/1..2")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    changed = re.findall(r'<div class="sbs-row sbs-changed" role="row" data-kind="changed">(.*?)</div>', html, re.S)
    assert len(changed) == 1 and "holdout: 10%" in changed[0] and "holdout: 20%" in changed[0]
    assert html.count('data-kind="equal"') == len((RULES / f"{RULE}.yaml").read_text().splitlines()) - 1
    assert "rollback-form" in ids(page).attrs
    # The query form lands on the same page; the live version compared with an older one offers no rollback.
    query = editor.get(f"/admin/rules/{RULE}/versions/diff?old=2&new=1")
    assert query.status_code == 302 and query.headers["Location"].endswith(f"/admin/rules/{RULE}/versions/2..1")
    assert "rollback-form" not in ids(editor.get(f"/admin/rules/{RULE}/versions/2..1")).attrs
    assert editor.get(f"/admin/rules/{RULE}/versions/diff?old=x&new=1").status_code == 400
    missing = editor.get(f"/admin/rules/{RULE}/versions/1..9")
    assert missing.status_code == 404


def test_rollback_post_makes_a_new_version_with_the_old_content(editor, two_versions, db):
    page = editor.get(f"/admin/rules/{RULE}/versions/1..2")
    response = editor.post(f"/admin/rules/{RULE}/versions/1/rollback", data={"csrf_token": token_of(page), "comment": "too many held out"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/rules/{RULE}/versions"
    history = editor.get(response.headers["Location"])
    flash = re.search(r'<div class="flash info" role="status">(.*?)</div>', history.get_data(as_text=True))
    assert flash and "3" in flash.group(1) and "1" in flash.group(1)
    found = ids(history)
    assert "active" in found.attrs["version-3"]["class"] and "too many held out" in found.text["version-3"]
    v1, _, v3 = rows(db)
    assert (v3.content, v3.origin, v3.restored_from, v3.author) == (v1.content, "admin", 1, "editor@example.test")
    (entry,) = audit_rows(db, "rollback")
    assert (entry.actor, entry.object_type, entry.object_id) == ("user:editor@example.test", "rule", RULE)
    assert (entry.before["version"], entry.after["version"]) == (2, 3)


def test_rollback_needs_a_comment_and_the_csrf_token(editor, two_versions, db):
    page = editor.get(f"/admin/rules/{RULE}/versions/1..2")
    response = editor.post(f"/admin/rules/{RULE}/versions/1/rollback", data={"csrf_token": token_of(page), "comment": " "})
    assert response.status_code == 422
    assert "comment-errors" in ids(response).attrs
    assert editor.post(f"/admin/rules/{RULE}/versions/1/rollback", data={"comment": "no token"}).status_code == 400
    assert len(rows(db)) == 2 and audit_rows(db, "rollback") == []


def test_pause_and_resume_from_the_rule_page(editor, two_versions, db):
    assert "pause-form" in ids(editor.get(f"/admin/rules/{RULE}")).attrs  # the rule page includes the form
    page = editor.get(f"/admin/rules/{RULE}/state")
    assert page.status_code == 200
    token = token_of(page)
    refused = editor.post(f"/admin/rules/{RULE}/pause", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 422 and "reason-errors" in ids(refused).attrs
    response = editor.post(f"/admin/rules/{RULE}/pause", data={"csrf_token": token, "reason": "copy review"})
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/rules/{RULE}"
    with db.read_session() as s:
        state = s.get(RuleState, RULE)
        assert (state.paused, state.paused_reason) == (True, "copy review")
    (entry,) = audit_rows(db, "pause")
    assert (entry.actor, entry.before, entry.after) == (
        "user:editor@example.test", {"paused": False, "reason": None}, {"paused": True, "reason": "copy review"}
    )
    shown = editor.get(f"/admin/rules/{RULE}/state")
    assert "copy review" in ids(shown).text["paused-reason"] and "resume-form" in ids(shown).attrs
    response = editor.post(f"/admin/rules/{RULE}/resume", data={"csrf_token": token_of(shown)})
    assert response.status_code == 302
    with db.read_session() as s:
        assert s.get(RuleState, RULE).paused is False
    assert [e.actor for e in audit_rows(db, "resume")] == ["user:editor@example.test"]
    assert editor.post("/admin/rules/nope/pause", data={"csrf_token": token, "reason": "x"}).status_code == 404


def test_a_viewer_is_refused(login_as, two_versions, db, csrf_token):
    viewer = login_as("viewer")
    for path in (f"/admin/rules/{RULE}/versions", f"/admin/rules/{RULE}/versions/1..2", f"/admin/rules/{RULE}/state"):
        assert viewer.get(path).status_code == 403, path
    token = csrf_token(viewer.get("/admin/").get_data(as_text=True))  # a valid token: the role check refuses
    for path in (f"/admin/rules/{RULE}/versions/1/rollback", f"/admin/rules/{RULE}/pause", f"/admin/rules/{RULE}/resume"):
        response = viewer.post(path, data={"csrf_token": token, "comment": "x", "reason": "x"})
        assert response.status_code == 403, path
    assert len(rows(db)) == 2 and audit_rows(db, "pause") == [] and audit_rows(db, "rollback") == []


def test_every_page_renders_in_japanese(editor, two_versions):
    for path in (f"/admin/rules/{RULE}/versions", f"/admin/rules/{RULE}/versions/1..2", f"/admin/rules/{RULE}/state"):
        page = editor.get(path, headers={"Accept-Language": "ja"})
        assert page.status_code == 200, path
