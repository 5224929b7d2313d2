"""Segments in the workbench: list, editor without JavaScript, live check, plan, save."""

from __future__ import annotations

from sqlalchemy import select

from engine.models import AuditEntry
from engine.rules.versions import active_versions, unbundle
from htmlids import parse as by_id
from test_workbench import RULES, applied, editor, token_of  # noqa: F401 (fixtures)

TECH_TOUCH = (RULES / "segments" / "tech-touch.yaml").read_text()
USERS = ["inactive-account-reminder", "key-feature-usage-falling", "renewal-within-60-days"]


def test_list_names_each_segment_and_the_rules_using_it(editor, applied):
    page = editor.get("/admin/rules/segments/")
    assert page.status_code == 200
    found = by_id(page.get_data(as_text=True))
    row = found.text["segment-tech-touch"]
    assert all(rule_id in row for rule_id in USERS) and "live" in row
    assert "new-admin-welcome" in found.text["segment-paying"]
    assert 'href="/admin/rules/segments/"' in editor.get("/admin/rules/").get_data(as_text=True)


def test_check_answers_with_problems_at_the_segments_lines(editor, applied):
    token = token_of(editor.get("/admin/rules/segments/tech-touch"))
    bad = TECH_TOUCH.replace("account.tier: tech", "account.teir: tech")
    answer = editor.post("/admin/rules/segments/tech-touch/check", data={"text": bad, "csrf_token": token}).get_json()
    (problem,) = answer["problems"]
    assert (problem["line"], problem["suggestion"]) == (5, "account.tier")
    good = editor.post("/admin/rules/segments/tech-touch/check", data={"text": TECH_TOUCH, "csrf_token": token}).get_json()
    assert good["problems"] == []


def test_plan_lists_every_rule_using_it(editor, applied):
    token = token_of(editor.get("/admin/rules/segments/tech-touch"))
    page = editor.post("/admin/rules/segments/tech-touch/plan", data={"text": TECH_TOUCH, "csrf_token": token}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    found = by_id(page.get_data(as_text=True))
    assert {f"plan-{r}" for r in USERS} <= set(found.attrs)


def test_save_without_a_comment_or_with_problems_stores_nothing(editor, applied, db):
    token = token_of(editor.get("/admin/rules/segments/tech-touch"))
    new = TECH_TOUCH.replace("account.tier: tech", "account.tier: {in: [tech, scale]}")
    page = editor.post("/admin/rules/segments/tech-touch", data={"text": new, "comment": "", "csrf_token": token})
    assert page.status_code == 422 and "Say what this change is for" in page.get_data(as_text=True)
    bad = TECH_TOUCH.replace("account.tier: tech", "account.teir: tech")
    page = editor.post("/admin/rules/segments/tech-touch", data={"text": bad, "comment": "typo", "csrf_token": token})
    assert page.status_code == 422
    assert "account.teir" in by_id(page.get_data(as_text=True)).text["problem-list"]
    with db.read_session() as s:
        assert {v.version for _, v in active_versions(s).values()} == {1}


def test_save_stores_new_versions_and_audits_the_segment(editor, applied, db):
    token = token_of(editor.get("/admin/rules/segments/tech-touch"))
    new = TECH_TOUCH.replace("account.tier: tech", "account.tier: {in: [tech, scale]}").replace("\n", "\r\n")
    page = editor.post("/admin/rules/segments/tech-touch", data={"text": new, "comment": "scale too", "csrf_token": token})
    assert page.status_code == 302 and page.headers["Location"].endswith("/admin/rules/segments/tech-touch")
    shown = editor.get("/admin/rules/segments/tech-touch").get_data(as_text=True)
    assert "Saved segment tech-touch: new versions of inactive-account-reminder v2" in shown
    with db.read_session() as s:
        live = active_versions(s)
        for rule_id in USERS:
            version = live[rule_id][1]
            assert (version.version, version.origin, version.comment) == (2, "admin", "segment tech-touch: scale too")
            assert unbundle(version.content)[1]["tech-touch"] == new.replace("\r\n", "\n")
        assert live["new-admin-welcome"][1].version == 1
        entry = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "segment")).one()
        assert entry.actor.startswith("user:") and entry.object_id == "tech-touch"


def test_unknown_segment_is_404_and_a_viewer_is_refused(editor, applied, login_as):
    assert editor.get("/admin/rules/segments/nope").status_code == 404
    viewer = login_as("viewer")
    assert viewer.get("/admin/rules/segments/").status_code == 403
