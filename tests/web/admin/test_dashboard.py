"""The dashboard: sends by channel and status, what needs attention, paused rules, queues, caught mail."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

from engine.embedded.mailcatcher import mail_dir, open_maildir
from engine.embedded.process import free_port
from engine.ingest import upsert_accounts
from engine.models import Account, Delivery, RuleState, RuleVersion, utcnow
from web.context import SETTINGS_KEY


def figure(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert match, f"no #{element_id} on the page"
    return match.group(1)


def _deliveries(db, rows):
    now = utcnow()
    with db.session() as s:
        upsert_accounts(s, [{"id": "acme"}])
        account = s.query(Account).one()
        version = RuleVersion(rule_id="nudge", version=1, content="", content_hash="x", author="t")
        s.add(version)
        s.flush()
        s.add(RuleState(rule_id="nudge", active_version_id=version.id, paused=True,
                        paused_reason="circuit breaker: more than 1,000 messages in one cycle"))  # fmt: skip
        for i, (age, channel, status) in enumerate(rows):
            s.add(Delivery(
                dedupe_key=f"k{i}", rule_id="nudge", rule_version_id=version.id, action_index=0, channel=channel,
                template="t", account_id=account.id, recipient=f"u{i}@acme.example", occurrence="1", status=status,
                reason="550 mailbox unavailable" if status == "failed" else None, created_at=now - age,
            ))  # fmt: skip


def test_figures_match_the_deliveries(db, login_as):
    _deliveries(db, [
        (timedelta(minutes=1), "email", "sent"), (timedelta(minutes=2), "email", "sent"),
        (timedelta(minutes=3), "email", "failed"), (timedelta(days=3), "in_app", "sent"),
        (timedelta(days=4), "webhook", "unknown"), (timedelta(days=9), "email", "sent"),
    ])  # fmt: skip
    html = login_as("viewer").get("/admin/").get_data(as_text=True)
    assert figure(html, "sends-week") == "5"
    assert figure(html, "sends-week-table-email-sent") == "2"
    assert figure(html, "sends-week-table-in_app-sent") == "1"
    assert figure(html, "sends-week-table-webhook-unknown") == "1"
    assert (figure(html, "failed-count"), figure(html, "unknown-count"), figure(html, "accounts-total")) == ("1", "1", "1")
    assert "550 mailbox unavailable" in html and 'href="/admin/accounts/acme"' in html
    assert re.search(r'id="paused-rules">\s*<li><code>nudge</code> <span class="badge status-failed">circuit breaker', html)


def test_queue_status_and_redis_down(db, login_as, make_app, make_user, login):
    html = login_as("viewer").get("/admin/").get_data(as_text=True)
    assert (figure(html, "workers-alive"), figure(html, "jobs-queued"), figure(html, "jobs-failed")) == ("0", "0", "0")
    down = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = down.test_client()
    assert login(client, make_user("viewer", "second@example.test")).status_code == 302
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "Queue status unavailable: Redis does not answer (ConnectionError)." in response.get_data(as_text=True)


def test_caught_mail_list_and_viewer(db, login_as, app):
    folder = mail_dir(app.extensions[SETTINGS_KEY].instance_dir)
    box = open_maildir(folder)
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "Welcome aboard", "t@x.example", "ann@acme.example"
    msg.set_content("Plain words")
    msg.add_alternative("<p>Hello <script>alert(1)</script></p>", subtype="html")
    key = box.add(msg.as_bytes())
    client = login_as("viewer")
    html = client.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/mail/{key}">Welcome aboard</a>' in html
    page = client.get(f"/admin/mail/{key}").get_data(as_text=True)
    assert '<pre id="mail-text" class="mail-text">Plain words' in page
    # The HTML goes into a sandboxed frame as an escaped attribute, never into the admin page itself.
    assert 'sandbox="" srcdoc="&lt;p&gt;Hello &lt;script&gt;' in page and "<script>alert" not in page
    assert client.get("/admin/mail/..%2Fsecret_key").status_code == 404
    assert client.get("/admin/mail/nope").status_code == 404
    box.remove(key)


def test_anonymous_is_sent_to_sign_in(client):
    for path in ("/admin/", "/admin/mail/x"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
