"""A delivery's page: history, explanation, checks, the message exactly as sent (sandboxed), 404, roles."""

from __future__ import annotations

import pytest

from engine.delivery.detail import delivery_detail
from tests.engine.delivery.test_record import send_all, settings_for, write_pending
from tests.web.accounts.test_accounts_pages import ids, words

MESSAGE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'self'"


@pytest.fixture
def sent(db, smtp_server) -> int:
    """One onboarding email sent through the real pipeline to a real SMTP server: its delivery id."""
    pending = write_pending(db, accounts=1)
    send_all(db, settings_for(smtp_server.port))
    return pending[("email", "ann0@acme.test")]


def test_a_viewer_reads_history_explanation_checks_and_the_message_as_sent(login_as, db, sent):
    client = login_as("viewer")
    response = client.get(f"/admin/deliveries/{sent}")
    assert response.status_code == 200
    page = ids(response)
    assert words(page.text["recipient"]) == "Ann 0 ann0@acme.test"
    assert words(page.text["account"]) == "Acme 0 acme0"
    history = words(page.text["history"])
    assert [s for s in ("Pending", "Queued", "Sending", "Sent") if s in history] == ["Pending", "Queued", "Sending", "Sent"]
    explanation = words(page.text["explanation"])
    assert "account.plan" in explanation and "saw: trial" in explanation
    assert words(page.text["verdict-suppression"]).startswith("Suppression passed")
    with db.read_session() as s:
        detail = delivery_detail(s, sent)
    headers = page.text["message-headers"]
    assert f"Message-ID{detail.delivery.message_id}" in headers and "Subject" + detail.message.subject in headers
    assert words(detail.message.text) in words(page.text["text-part"])
    assert page.text["provider-response"].strip().startswith("250 ")
    html = response.get_data(as_text=True)
    assert f'<iframe class="message-html" sandbox src="/admin/deliveries/{sent}/message.html"' in html


def test_the_html_part_is_served_as_stored_under_a_sandboxing_policy(login_as, db, sent):
    client = login_as("viewer")
    response = client.get(f"/admin/deliveries/{sent}/message.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == MESSAGE_CSP
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    with db.read_session() as s:
        assert response.get_data(as_text=True) == delivery_detail(s, sent).message.html


def test_download_as_sent_is_the_bytes_the_mail_server_received(login_as, sent, smtp_server):
    response = login_as("viewer").get(f"/admin/deliveries/{sent}/message.eml")
    assert response.status_code == 200 and response.mimetype == "message/rfc822"
    received = next(m["data"] for m in smtp_server.handler.messages if m["to"] == ["ann0@acme.test"])
    assert response.get_data() == received


def test_an_unknown_delivery_is_a_404_that_says_so(login_as):
    client = login_as("viewer")
    response = client.get("/admin/deliveries/999999")
    assert response.status_code == 404
    assert "There is no delivery 999999" in words(ids(response).text["not-found"])
    assert client.get("/admin/deliveries/999999/message.html").status_code == 404
    assert client.get("/admin/deliveries/999999/message.eml").status_code == 404


def test_a_delivery_with_no_message_yet_says_so(login_as, db):
    pending = write_pending(db, accounts=1)
    response = login_as("viewer").get(f"/admin/deliveries/{pending[('email', 'ann0@acme.test')]}")
    assert response.status_code == 200
    page = ids(response)
    assert "No message was handed over" in words(page.text["message"])
    assert words(page.text["verdict-limit"]).startswith("Limits not reached")


def test_anonymous_is_sent_to_sign_in(client, sent):
    for path in (f"/admin/deliveries/{sent}", f"/admin/deliveries/{sent}/message.html", f"/admin/deliveries/{sent}/message.eml"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_the_page_reads_in_japanese(login_as, sent):
    response = login_as("viewer").get(f"/admin/deliveries/{sent}", headers={"Accept-Language": "ja"})
    assert response.status_code == 200
    page = ids(response)
    assert "送信したとおりのメッセージ" in page.text["message-h"] and "ステータスの履歴" in page.text["history-h"]
