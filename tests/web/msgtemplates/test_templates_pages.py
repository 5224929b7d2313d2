"""The templates area: list with usages and the checker's problems, preview for a real account,
test send with CSRF to the signed-in user only; editor role."""

from __future__ import annotations

import dataclasses
import email
import email.policy

import pytest
from sqlalchemy import select

from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import AuditEntry
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules
from tests.engine.delivery.test_testsend import RULE
from tests.web.accounts.test_accounts_pages import ids, words

PREVIEW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'self'"


@pytest.fixture
def data(db):
    with db.session() as s:
        apply_rules(s, [(validate_text(RULE, "stalled.yaml", expected_id="stalled").rule, RULE)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme"}, {"id": "acme-two", "name": "Acme Two"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin"},
                            {"id": "bo", "account_id": "acme-two", "email": "bo@acme.test", "name": "Bo", "role": "admin"}])  # fmt: skip
    return db


@pytest.fixture
def editor(make_app, smtp_server, login, make_user):
    app = make_app(smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")
    client = app.test_client()
    assert login(client, make_user("editor", "ed@vendor.test")).status_code == 302
    return client


def test_the_list_shows_folders_locales_usages_and_the_checker_verdict(editor, data):
    response = editor.get("/admin/templates/")
    assert response.status_code == 200
    page = ids(response)
    stalled = words(page.text["template-onboarding-stalled"])
    assert "en ja" in stalled and "stalled v1 · action 1 · email" in stalled
    assert "no applied rule" in words(page.text["template-onboarding-checklist"])
    assert "no problem" in words(page.text["problems"])
    assert "folder-onboarding" in page.text and "folder-renewals" in page.text


def test_the_list_shows_the_checkers_problems_as_file_line_message(make_app, login, make_user, data, tmp_path):
    (tmp_path / "onboarding" / "stalled").mkdir(parents=True)
    (tmp_path / "onboarding" / "stalled" / "en.html").write_text("{% block subject %}Hi{% endblock %}\n{% block html %}{% if %}{% endblock %}\n")
    client = make_app(templates_dir=tmp_path).test_client()
    login(client, make_user("editor"))
    page = ids(client.get("/admin/templates/"))
    problems = words(page.text["problems"])
    assert "onboarding/stalled/en.html:2:" in problems  # the checker's own file:line: message
    from engine.templates import TemplateLibrary
    from engine.templates.catalog import template_problems

    with data.read_session() as s:
        expected = template_problems(s, TemplateLibrary(tmp_path))
    assert [str(p) for p in expected if str(p) in problems] == [str(p) for p in expected]  # every one, not a second checker's
    assert f"{len(expected)} problems" in words(page.text["template-onboarding-stalled"])


def test_the_preview_renders_subject_text_and_a_sandboxed_html_for_the_account_and_locale(editor, data):
    response = editor.get("/admin/templates/preview/onboarding/stalled?account=acme&locale=ja")
    assert response.status_code == 200
    page = ids(response)
    assert page.text["rendered-locale"].strip() == "ja"
    assert any(ord(ch) > 0x3000 for ch in page.text["subject"])
    assert "Ann" in page.text["text-part"]
    html = response.get_data(as_text=True)
    assert 'sandbox src="/admin/templates/html/onboarding/stalled?account=acme&amp;locale=ja"' in html
    frame = editor.get("/admin/templates/html/onboarding/stalled?account=acme&locale=ja")
    assert frame.status_code == 200 and frame.headers["Content-Security-Policy"] == PREVIEW_CSP
    assert "<html" in frame.get_data(as_text=True).lower()


def test_an_unknown_account_names_the_problem_and_offers_matches(editor, data):
    response = editor.get("/admin/templates/preview/onboarding/stalled?account=acm")
    assert response.status_code == 404
    error = words(ids(response).text["preview-error"])
    assert "no account with the id 'acm'" in error and "acme" in error and "acme-two" in error


def test_a_render_error_is_shown_as_file_line_message(make_app, login, make_user, data, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "en.html").write_text(
        "{% block subject %}Hi{% endblock %}\n{% block html %}<p>{{ account.nope }}</p>{% endblock %}\n{% block text %}x{% endblock %}\n"
    )
    client = make_app(templates_dir=tmp_path).test_client()
    login(client, make_user("editor"))
    page = ids(client.get("/admin/templates/preview/broken?account=acme"))
    assert words(page.text["render-error"]).endswith("broken/en.html:2: subject: account has no 'nope' (not a field, or empty for this account)")
    assert "test-send" not in page.text


def test_test_send_posts_with_csrf_and_mails_only_the_signed_in_user(editor, data, smtp_server, csrf_token):
    page = editor.get("/admin/templates/preview/onboarding/stalled?account=acme")
    refused = editor.post("/admin/templates/test-send/onboarding/stalled", data={"account": "acme"})
    assert refused.status_code == 400 and smtp_server.handler.messages == []  # no CSRF token: refused
    response = editor.post("/admin/templates/test-send/onboarding/stalled",
                           data={"account": "acme", "locale": "", "csrf_token": csrf_token(page.get_data(as_text=True))})  # fmt: skip
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/templates/preview/onboarding/stalled?account=acme"
    (received,) = smtp_server.handler.messages
    assert received["to"] == ["ed@vendor.test"]
    assert email.message_from_bytes(received["data"], policy=email.policy.default)["Subject"].startswith("[Test] ")
    after = editor.get(response.headers["Location"])
    assert "Test message sent to ed@vendor.test" in after.get_data(as_text=True)
    with data.read_session() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "test_send")).all()
    assert (entry.actor, entry.object_id) == ("user:ed@vendor.test", "template:onboarding/stalled")


def test_a_viewer_is_refused_and_anonymous_is_sent_to_sign_in(login_as, client, data):
    viewer = login_as("viewer")
    for path in ("/admin/templates/", "/admin/templates/preview/onboarding/stalled", "/admin/templates/html/onboarding/stalled"):
        assert viewer.get(path).status_code == 403
        anonymous = client.get(path)
        assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    assert viewer.post("/admin/templates/test-send/onboarding/stalled", data={"account": "acme"}).status_code in (400, 403)


def test_an_unknown_template_is_a_404(editor, data):
    response = editor.get("/admin/templates/preview/no/such")
    assert response.status_code == 404 and "There is no template no/such" in words(ids(response).text["not-found"])


def test_the_pages_read_in_japanese(editor, data):
    listing = ids(editor.get("/admin/templates/", headers={"Accept-Language": "ja"}))
    assert "問題は見つかりませんでした" in listing.text["problems"] and listing.text["problems-h"] == "チェック"
    preview = ids(editor.get("/admin/templates/preview/onboarding/stalled?account=acme", headers={"Accept-Language": "ja"}))
    assert "テスト送信" in preview.text["test-send-h"]
