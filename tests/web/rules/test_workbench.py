"""The rules workbench pages: list, editor without JavaScript, live check, plan, save, gallery, duplicate."""

from __future__ import annotations

import re

import pytest

from engine.models import Account, Contact, RuleVersion, utcnow
from engine.rules.drafts import check_draft, plan_draft
from engine.rules.gallery import default_rules_dir, gallery
from engine.rules.versions import apply_rules, read_rules
from htmlids import parse as by_id

RULES = default_rules_dir()
BROKEN = "id: onboarding-stalled-day7\nname: Broken\nwhen:\n  all:\n    - account.tierr: tech\nactions:\n  - email: {template: onboarding/stalled, to: role:admin}\n"


@pytest.fixture
def applied(db):
    """The shipped rules applied, and a few tech-touch accounts the stalled-onboarding rule matches."""
    loaded = read_rules([str(RULES)])
    assert loaded.problems == []
    with db.session() as s:
        apply_rules(s, loaded.rules, "ann")
        for i in range(3):
            account = Account(external_id=f"acct-{i}", name=f"Acct {i}", tier="tech", plan="trial")
            s.add(account)
            s.flush()
            s.add(Contact(external_id=f"acct-{i}-admin", account_id=account.id, role="admin", email=f"a{i}@x.test"))
    return loaded


@pytest.fixture
def editor(login_as):
    return login_as("editor")


def token_of(page) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.get_data(as_text=True))
    assert match, "no CSRF token"
    return match.group(1)


def test_list_shows_every_applied_rule_with_its_columns(editor, applied):
    page = editor.get("/admin/rules/")
    assert page.status_code == 200
    found = by_id(page.get_data(as_text=True))
    for source in applied.rules:
        assert f"rule-{source.rule.id}" in found.text, source.rule.id
        assert source.rule.name in found.text[f"rule-{source.rule.id}"]


def test_list_without_rules_offers_the_gallery(editor, db):
    page = editor.get("/admin/rules/")
    assert page.status_code == 200
    assert 'href="/admin/rules/new"' in page.get_data(as_text=True)
    assert "rules-table" not in by_id(page.get_data(as_text=True)).attrs


def test_viewer_cannot_open_the_workbench(login_as, applied):
    viewer = login_as("viewer")
    assert viewer.get("/admin/rules/").status_code == 403
    assert viewer.get("/admin/rules/onboarding-stalled-day7/edit").status_code == 403


def test_editor_without_javascript_is_a_form_with_the_current_text(editor, applied):
    page = editor.get("/admin/rules/onboarding-stalled-day7/edit")
    assert page.status_code == 200
    found = by_id(page.get_data(as_text=True))
    form = found.attrs["rule-form"]
    assert (form["method"], form["action"]) == ("post", "/admin/rules/onboarding-stalled-day7/edit")
    assert "id: onboarding-stalled-day7" in found.text["text"]
    assert found.attrs["text"].get("name") == "text"
    assert found.attrs["comment"]["name"] == "comment"
    assert found.attrs["plan-button"]["formaction"] == "/admin/rules/plan?rule=onboarding-stalled-day7"


def test_check_answers_the_validators_problems_with_line_and_column(editor, applied, app):
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    response = editor.post("/admin/rules/check?rule=onboarding-stalled-day7", data={"text": BROKEN},
                           headers={"X-CSRFToken": token})  # fmt: skip
    assert response.status_code == 200
    with app.app_context():
        from web.rules.workspace import segments, templates

        expected = check_draft(BROKEN, rule_id="onboarding-stalled-day7", segments=segments(), templates=templates())
    assert expected.problems
    assert response.get_json()["problems"] == [
        {"line": p.line, "column": p.column, "path": p.path, "message": p.message, "suggestion": p.suggestion}
        for p in expected.problems
    ]
    assert response.get_json()["problems"][0]["line"] == 5
    assert response.get_json()["problems"][0]["suggestion"] == "account.tier"


def test_check_of_good_text_has_no_problems(editor, applied):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text()
    token = token_of(editor.get("/admin/rules/new?from=onboarding-stalled-day7"))
    response = editor.post("/admin/rules/check?rule=onboarding-stalled-day7", data={"text": text}, headers={"X-CSRFToken": token})
    assert response.get_json() == {"problems": []}


def test_the_schema_for_completion_is_the_engines(editor, login_as):
    from engine.rules.editor_schema import build

    response = editor.get("/admin/rules/schema.json")
    assert (response.status_code, response.get_json()) == (200, build())
    assert login_as("viewer").get("/admin/rules/schema.json").status_code == 403


def test_check_without_the_csrf_token_is_refused(editor, applied):
    response = editor.post("/admin/rules/check", data={"text": BROKEN})
    assert response.status_code == 400


def test_plan_numbers_are_the_engines_plan(editor, applied, db, app):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text().replace("older_than: 7d", "older_than: 0d")
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    response = editor.post("/admin/rules/plan?rule=onboarding-stalled-day7", data={"text": text, "csrf_token": token})
    assert response.status_code == 200
    found = by_id(response.get_data(as_text=True))
    with app.app_context(), db.read_session() as s:
        from web.rules.workspace import segments, templates

        drafted = plan_draft(s, text, rule_id="onboarding-stalled-day7", segments=segments(), templates=templates(), now=utcnow())
    assert drafted.plan is not None
    assert found.text["plan-entering"].strip() == f"{drafted.plan.entering:,}"
    assert found.text["plan-leaving"].strip() == f"{drafted.plan.leaving:,}"
    assert found.text["plan-staying"].strip() == f"{drafted.plan.staying:,}"
    for channel, n in drafted.plan.messages_after_holdout.items():
        assert found.text[f"plan-messages-{channel}"].strip() == f"{n:,}"
    assert found.attrs["backtest"]["data-state"] == "queued"  # the backtest runs as a job
    assert "rule-form" in found.attrs  # without JavaScript: the whole editor page, text kept
    # The page's script asks for the fragment only.
    fragment = editor.post("/admin/rules/plan?rule=onboarding-stalled-day7", data={"text": text, "csrf_token": token},
                           headers={"HX-Request": "true"})  # fmt: skip
    assert "rule-form" not in by_id(fragment.get_data(as_text=True)).attrs
    assert by_id(fragment.get_data(as_text=True)).text["plan-entering"].strip() == f"{drafted.plan.entering:,}"


def test_the_backtest_job_shows_progress_then_the_engines_backtest(editor, applied, db):
    from engine.jobs.worker import make_worker

    text = (RULES / "onboarding-stalled-day7.yaml").read_text()
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    planned = by_id(editor.post("/admin/rules/plan?rule=onboarding-stalled-day7", data={"text": text, "csrf_token": token},
                                headers={"HX-Request": "true"}).get_data(as_text=True))  # fmt: skip
    status_url = planned.attrs["backtest"]["data-status-url"]
    waiting = by_id(editor.get(status_url).get_data(as_text=True))
    assert waiting.attrs["backtest-progress"]["max"] == "30"
    assert waiting.attrs["backtest-cancel"]["action"] == status_url + "/cancel"
    assert make_worker().work(burst=True)
    done = editor.get(status_url, headers={"X-Requested-With": "fetch"})
    found = by_id(done.get_data(as_text=True))
    assert found.attrs["backtest"]["data-state"] == "done", done.get_data(as_text=True)
    assert "backtest-chart" in found.attrs and "rule-form" not in found.attrs


def test_cancel_a_backtest(editor, applied):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text()
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    planned = by_id(editor.post("/admin/rules/plan?rule=onboarding-stalled-day7", data={"text": text, "csrf_token": token},
                                headers={"HX-Request": "true"}).get_data(as_text=True))  # fmt: skip
    status_url = planned.attrs["backtest"]["data-status-url"]
    response = editor.post(status_url + "/cancel", data={"csrf_token": token})
    assert (response.status_code, response.headers["Location"]) == (302, status_url)
    assert by_id(editor.get(status_url).get_data(as_text=True)).attrs["backtest"]["data-state"] == "cancelled"
    assert editor.get("/admin/rules/backtests/no-such-job").status_code == 404


def test_plan_of_broken_text_shows_the_problems_with_422(editor, applied):
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    response = editor.post("/admin/rules/plan?rule=onboarding-stalled-day7", data={"text": BROKEN, "csrf_token": token})
    assert response.status_code == 422
    assert by_id(response.get_data(as_text=True)).attrs["problem-list"] is not None


def test_gallery_lists_the_shipped_rules_and_opens_a_copy(editor, db):
    page = editor.get("/admin/rules/new")
    html = page.get_data(as_text=True)
    for item in gallery(RULES):
        assert f'href="/admin/rules/new?from={item.rule_id}"' in html
        assert item.name in html
    copy = editor.get("/admin/rules/new?from=onboarding-stalled-day7")
    found = by_id(copy.get_data(as_text=True))
    assert "id: onboarding-stalled-day7-copy" in found.text["text"]
    assert found.attrs["rule-form"]["action"] == "/admin/rules/new"
    assert editor.get("/admin/rules/new?from=nope").status_code == 404


def test_duplicate_prefills_a_new_id(editor, applied):
    page = editor.get("/admin/rules/onboarding-stalled-day7/duplicate")
    found = by_id(page.get_data(as_text=True))
    assert "id: onboarding-stalled-day7-copy" in found.text["text"]
    assert found.attrs["rule-form"]["action"] == "/admin/rules/new"


def test_rule_page_shows_the_version_and_the_test_send_form(editor, applied):
    page = editor.get("/admin/rules/onboarding-stalled-day7")
    assert page.status_code == 200
    found = by_id(page.get_data(as_text=True))
    assert found.attrs["test-send-form"]["action"] == "/admin/rules/onboarding-stalled-day7/test-send"
    assert found.attrs["edit-link"]["href"] == "/admin/rules/onboarding-stalled-day7/edit"
    assert editor.get("/admin/rules/never-applied").status_code == 404


def test_save_with_a_comment_makes_a_version(editor, applied, db):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text().replace("older_than: 7d", "older_than: 8d")
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    response = editor.post("/admin/rules/onboarding-stalled-day7/edit",
                           data={"text": text, "comment": "a day later", "csrf_token": token})  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/rules/onboarding-stalled-day7"
    with db.read_session() as s:
        versions = s.query(RuleVersion).filter_by(rule_id="onboarding-stalled-day7").order_by(RuleVersion.version).all()
    assert [v.version for v in versions] == [1, 2]
    assert "older_than: 8d" in versions[-1].content
    follow = editor.get(response.headers["Location"])
    assert "flash" in follow.get_data(as_text=True)


def test_save_without_a_comment_is_422_and_saves_nothing(editor, applied, db):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text().replace("older_than: 7d", "older_than: 8d")
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    response = editor.post("/admin/rules/onboarding-stalled-day7/edit", data={"text": text, "comment": "", "csrf_token": token})
    assert response.status_code == 422
    assert by_id(response.get_data(as_text=True)).attrs["comment"].get("aria-invalid") == "true"
    with db.read_session() as s:
        assert s.query(RuleVersion).filter_by(rule_id="onboarding-stalled-day7").count() == 1


def test_save_of_invalid_yaml_is_422_with_the_problems_at_their_lines(editor, applied, db):
    token = token_of(editor.get("/admin/rules/onboarding-stalled-day7/edit"))
    response = editor.post("/admin/rules/onboarding-stalled-day7/edit",
                           data={"text": BROKEN, "comment": "try", "csrf_token": token})  # fmt: skip
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-line="5"' in html
    assert "account.tierr" in by_id(html).text["text"]  # the text is kept for fixing
    with db.read_session() as s:
        assert s.query(RuleVersion).filter_by(rule_id="onboarding-stalled-day7").count() == 1


def test_new_rule_from_the_gallery_is_saved_under_its_new_id(editor, applied, db):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text().replace("id: onboarding-stalled-day7", "id: stalled-copy")
    token = token_of(editor.get("/admin/rules/new?from=onboarding-stalled-day7"))
    response = editor.post("/admin/rules/new", data={"text": text, "comment": "from the gallery", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/rules/stalled-copy"
    with db.read_session() as s:
        assert s.query(RuleVersion).filter_by(rule_id="stalled-copy").count() == 1


def test_a_new_rule_cannot_take_an_existing_id(editor, applied, db):
    text = (RULES / "onboarding-stalled-day7.yaml").read_text()  # the gallery copy, its id not changed
    token = token_of(editor.get("/admin/rules/new?from=onboarding-stalled-day7"))
    response = editor.post("/admin/rules/new", data={"text": text, "comment": "oops", "csrf_token": token})
    assert response.status_code == 422
    assert 'data-line="1"' in response.get_data(as_text=True)
    with db.read_session() as s:
        assert s.query(RuleVersion).filter_by(rule_id="onboarding-stalled-day7").count() == 1


@pytest.mark.parametrize("path", [
    "/admin/rules/new", "/admin/rules/onboarding-stalled-day7/edit", "/admin/rules/check", "/admin/rules/plan",
    "/admin/rules/onboarding-stalled-day7/test-send", "/admin/rules/backtests/some-job/cancel",
])  # fmt: skip
def test_viewer_is_refused_every_post(login_as, applied, path):
    viewer = login_as("viewer")
    token = token_of(viewer.get("/admin/"))
    response = viewer.post(path, data={"text": BROKEN, "comment": "x", "account": "acct-0", "csrf_token": token},
                           headers={"X-CSRFToken": token})  # fmt: skip
    assert response.status_code == 403


@pytest.mark.parametrize("path", [
    "/admin/rules/", "/admin/rules/new", "/admin/rules/new?from=onboarding-stalled-day7",
    "/admin/rules/onboarding-stalled-day7", "/admin/rules/onboarding-stalled-day7/edit",
])  # fmt: skip
def test_every_page_renders_in_japanese(editor, applied, path):
    page = editor.get(path, headers={"Accept-Language": "ja"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "ルール" in html
    assert 'lang="ja"' in html


@pytest.fixture
def tester(make_app, smtp_server, make_user, login):
    """An editor signed in to an app whose mail goes to the test SMTP server."""
    app = make_app(smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")
    client = app.test_client()
    assert login(client, make_user("editor", "me@example.test")).status_code == 302
    return client


def test_test_send_goes_to_the_signed_in_user_only(tester, applied, smtp_server):
    page = tester.get("/admin/rules/onboarding-stalled-day7")
    response = tester.post("/admin/rules/onboarding-stalled-day7/test-send",
                           data={"account": "acct-0", "action_index": "0", "csrf_token": token_of(page)})  # fmt: skip
    assert (response.status_code, response.headers["Location"]) == (302, "/admin/rules/onboarding-stalled-day7")
    (received,) = smtp_server.handler.messages
    assert received["to"] == ["me@example.test"]  # never the customer's admin (a0@x.test)
    follow = tester.get(response.headers["Location"]).get_data(as_text=True)
    flash = re.search(r'<div class="flash info"[^>]*>([^<]*)</div>', follow)
    assert flash and "me@example.test" in flash.group(1)


def test_test_send_for_an_unknown_account_sends_nothing(tester, applied, smtp_server):
    page = tester.get("/admin/rules/onboarding-stalled-day7")
    response = tester.post("/admin/rules/onboarding-stalled-day7/test-send",
                           data={"account": "nobody", "action_index": "0", "csrf_token": token_of(page)})  # fmt: skip
    assert response.status_code == 302
    follow = tester.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash error"' in follow and "nobody" in follow
    assert smtp_server.handler.messages == []


def test_with_no_rule_applied_the_list_offers_the_gallery(editor):
    html = editor.get("/admin/rules/").get_data(as_text=True)
    assert '<p class="empty-title">No rules applied yet</p>' in html
    assert '<a class="button" href="/admin/rules/new">Browse the gallery</a>' in html
