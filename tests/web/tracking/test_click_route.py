"""Tracked links and the open pixel, end to end: real email sent by the send job to a real SMTP
server (aiosmtpd on loopback), its links followed through the app.

A click redirects only to a URL of the delivery's message as it went out; every other target,
however it is dressed up and even under a valid signature, gets a plain page and no redirect."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from engine.delivery import engagement
from engine.delivery.record import stored_messages
from engine.delivery.tracking import click_token, open_token, read_click_token
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery, DeliveryEngagement
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings
from tests.engine.delivery.test_record import send_all

ROOT = Path(__file__).resolve().parents[3]
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
GUIDE = "https://docs.example.com/start?utm=mail&id={account}"
TEMPLATE = """{% extends "_layouts/base.html" %}
{% block subject %}A guide for {{ account.name }}{% endblock %}
{% block html %}
<p>Hi {{ contact.name }},</p>
<p><a class="button" href="https://docs.example.com/start?utm=mail&amp;id={{ account.external_id }}">Read the guide</a></p>
<p>Or <a href="https://docs.example.com/videos/{{ account.external_id }}">watch the videos</a>.
Questions? <a href="mailto:help@example.com">Write to us</a>.</p>
{% endblock %}
{% block text %}
Hi {{ contact.name }},

Read the guide: https://docs.example.com/start?utm=mail&id={{ account.external_id }}
Or watch the videos: https://docs.example.com/videos/{{ account.external_id }}.
{% endblock %}
"""
RULE = """\
id: guide
name: A guide
category: {category}
when:
  account.plan: trial
actions:
  - email: {{template: tips/guide, to: role:admin}}
"""


@dataclasses.dataclass
class Sent:
    settings: object
    ids: dict[str, int]  # account external id -> its email delivery
    received: dict[str, bytes]  # account external id -> the bytes the SMTP server received

    def parts(self, account: str) -> tuple[str, str, email.message.EmailMessage]:
        message = email.message_from_bytes(self.received[account], policy=email.policy.default)
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        return html, text, message

    def links(self, account: str) -> list[str]:
        """The tracking links of an account's email, in the order of its HTML part."""
        html, _text, _m = self.parts(account)
        return re.findall(r'href="([^"]*/t/c/[^"]+)"', html)


def send_guides(db, smtp_server, tmp_path: Path, category: str = "product-tips", accounts: int = 2, template: str = TEMPLATE,
                **overrides) -> Sent:  # fmt: skip
    """Trial accounts with an admin each, and a rule sending them the guide: evaluated, dispatched
    and sent by the send job to ``smtp_server`` (the conftest's aiosmtpd sink)."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "email_templates", templates)
    (templates / "tips" / "guide").mkdir(parents=True)
    (templates / "tips" / "guide" / "en.html").write_text(template)
    settings = dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_server.port}", templates_dir=templates,
                                   **overrides)  # fmt: skip
    text = RULE.format(category=category)
    rule = validate_text(text, "guide.yaml", expected_id="guide").rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": f"acme{i}", "name": f"Acme {i}", "plan": "trial"} for i in range(accounts)])
        upsert_contacts(s, [{"id": f"ann{i}", "account_id": f"acme{i}", "email": f"ann{i}@acme.test", "name": f"Ann {i}",
                             "role": "admin"} for i in range(accounts)])  # fmt: skip
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, datetime.now(UTC), only_due=False)
    send_all(db, settings)
    with db.read_session() as s:
        rows = s.execute(select(Delivery.id, Delivery.recipient, Delivery.status)).all()
    assert {status for _i, _r, status in rows} == {"sent"}, rows
    ids = {recipient.split("@")[0].replace("ann", "acme"): i for i, recipient, _s in rows}
    received = {m["to"][0].split("@")[0].replace("ann", "acme"): m["data"] for m in smtp_server.handler.messages}
    return Sent(settings, ids, received)


@pytest.fixture
def sent(db, smtp_server, tmp_path) -> Sent:
    """Two guides sent, one to each of acme0 and acme1, a minute ago (no click is too soon)."""
    out = send_guides(db, smtp_server, tmp_path)
    sent_a_minute_ago(db)
    return out


def sent_a_minute_ago(db) -> None:
    with db.session() as s:
        s.execute(update(Delivery).values(sent_at=datetime.now(UTC) - timedelta(minutes=1)))


def path_of(url: str) -> str:
    return urlsplit(url).path


def engagements(db) -> list[DeliveryEngagement]:
    with db.read_session() as s:
        return list(s.scalars(select(DeliveryEngagement).order_by(DeliveryEngagement.id)))


def test_a_real_email_has_its_links_rewritten_and_a_click_records_it_and_redirects_to_the_link(client, db, sent):
    html, text, message = sent.parts("acme0")
    # Both parts' links go through the click route; mailto and the unsubscribe links do not.
    assert "https://docs.example.com" not in html and "https://docs.example.com" not in text
    assert 'href="mailto:help@example.com"' in html
    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert f'href="{unsubscribe}"' in html and unsubscribe in text and "/t/c/" not in message["List-Unsubscribe"]
    links = sent.links("acme0")
    assert len(links) == 2 and all(link.startswith(f"{sent.settings.public_url}/t/c/") for link in links)
    assert {link.rstrip(".") for link in re.findall(r"http\S*/t/c/[\w.-]+", text)} == set(links)
    # The message recorded as sent is what went out, tracking links and all.
    with db.read_session() as s:
        (stored,) = stored_messages(s, sent.ids["acme0"])
    assert stored.content == sent.received["acme0"]

    response = client.get(path_of(links[0]), headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    assert response.headers["Location"] == GUIDE.format(account="acme0")
    assert "no-store" in response.headers["Cache-Control"]
    (row,) = engagements(db)
    assert (row.delivery_id, row.kind, row.url, row.method, row.flagged) == (
        sent.ids["acme0"], "click", GUIDE.format(account="acme0"), "GET", None)
    assert row.user_agent == BROWSER and row.address == "127.0.0.1"
    with db.read_session() as s:
        assert row.account_id == s.get(Delivery, sent.ids["acme0"]).account_id


def test_the_text_parts_link_is_the_same_token_and_a_trailing_full_stop_is_forgiven(client, db, sent):
    _html, text, _m = sent.parts("acme0")
    videos = re.search(r"watch the videos: (\S+)", text).group(1)
    assert videos.endswith(".")  # the sentence's full stop, after the link
    response = client.get(path_of(videos), headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == "https://docs.example.com/videos/acme0"


def _signed(sent: Sent, delivery: str, target: str) -> str:
    """A click token for ``target`` under the installation's own key: what a leaked key or a bug
    could make. The route must still refuse what the message did not hold."""
    return f"/t/c/{click_token(sent.settings.secret_key, sent.ids[delivery], target)}"


TRICKY_TARGETS = [
    "https://evil.example/",
    "http://evil.example/start?utm=mail&id=acme0",
    "//evil.example",
    "//evil.example/start?utm=mail&id=acme0",
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)//https://docs.example.com/start",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "https:\\\\evil.example",
    "/\\evil.example",
    "https://docs.example.com\\@evil.example/",
    "https://docs.example.com@evil.example/start?utm=mail&id=acme0",
    "https://docs.example.com.evil.example/start?utm=mail&id=acme0",
    "https%3A%2F%2Fevil.example",
    "https://docs.example.com%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "https://docs.example.com/start?utm=mail&amp;id=acme0",  # the HTML's escaped form is not the link
    "HTTPS://DOCS.EXAMPLE.COM/start?utm=mail&id=acme0",
    "https://docs.example.com/start?utm=mail&id=acme0 ",
    "https://docs.example.com/start?utm=mail&id=acme0\r\nSet-Cookie: session=x",
    "https://docs.example.com/start?utm=mail&id=acme1",  # a link of the other delivery's message
    "/admin/",
    "",
]


@pytest.mark.parametrize("target", TRICKY_TARGETS)
def test_a_signed_token_for_a_url_not_in_the_message_is_not_followed(client, db, sent, target):
    response = client.get(_signed(sent, "acme0", target), headers={"User-Agent": BROWSER})
    assert response.status_code == 404 and "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "This link does not work" in page and "Traceback" not in page
    assert engagements(db) == []


def test_a_link_of_another_deliverys_message_leads_only_to_that_delivery(client, db, sent):
    other = sent.links("acme1")[0]
    token = path_of(other).rsplit("/", 1)[1]
    # Under its own delivery it is followed, and recorded there.
    response = client.get(path_of(other), headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == GUIDE.format(account="acme1")
    assert [r.delivery_id for r in engagements(db)] == [sent.ids["acme1"]]
    # Signed again to name acme0's delivery, it leads nowhere.
    link = read_click_token(sent.settings.secret_key, token)
    response = client.get(_signed(sent, "acme0", link.url), headers={"User-Agent": BROWSER})
    assert response.status_code == 404 and "Location" not in response.headers
    assert len(engagements(db)) == 1


def test_a_tampered_or_foreign_token_gets_a_plain_page_in_the_browsers_language(client, db, sent):
    path = path_of(sent.links("acme0")[0])
    body, signature = path.rsplit(".", 1)
    flipped = body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    foreign = "/t/c/" + click_token("another installation's secret key", sent.ids["acme0"], GUIDE.format(account="acme0"))
    cut = path[: len(path) // 2]
    for bad in (flipped, foreign, cut, "/t/c/not-a-token", "/t/c/" + "A" * 3000):
        response = client.get(bad, headers={"User-Agent": BROWSER})
        assert response.status_code == 400 and "Location" not in response.headers, bad
        page = response.get_data(as_text=True)
        assert '<html lang="en">' in page and "This link does not work" in page and 'id="problem"' in page
    response = client.get(flipped, headers={"Accept-Language": "ja,en;q=0.5"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and '<html lang="ja">' in page and "このリンクは使えません" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert engagements(db) == []


def test_a_token_for_a_delivery_that_does_not_exist_leads_nowhere(client, db, sent):
    token = click_token(sent.settings.secret_key, 999_999, GUIDE.format(account="acme0"))
    response = client.get(f"/t/c/{token}", headers={"User-Agent": BROWSER})
    assert response.status_code == 404 and "Location" not in response.headers
    assert engagements(db) == []


def test_other_methods_and_paths_under_t_get_the_recipients_error_page(client, sent):
    path = path_of(sent.links("acme0")[0])
    response = client.post(path)
    assert response.status_code == 405 and "Location" not in response.headers
    assert "Something went wrong" in response.get_data(as_text=True)  # the sender's page, not the admin's
    assert client.get("/t/c/").status_code == 404


def test_head_requests_scanner_agents_and_clicks_right_after_sending_are_recorded_but_flagged(client, db, sent):
    link = path_of(sent.links("acme0")[0])
    head = client.head(link, headers={"User-Agent": BROWSER})
    scanner = client.get(link, headers={"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"})
    no_agent = client.get(link, headers={"User-Agent": ""})
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.id == sent.ids["acme0"]).values(sent_at=datetime.now(UTC) - timedelta(seconds=2)))
    soon = client.get(link, headers={"User-Agent": BROWSER})
    for response in (head, scanner, no_agent, soon):  # a scanner is sent on too: it must see where the link goes
        assert response.status_code == 302 and response.headers["Location"] == GUIDE.format(account="acme0")
    rows = engagements(db)
    assert [r.method for r in rows] == ["HEAD", "GET", "GET", "GET"]
    flags = [r.flagged for r in rows]
    assert flags[0].startswith("HEAD request")
    assert flags[1] == "scanner user agent (Barracuda)"
    assert flags[2] == "no user agent"
    assert re.fullmatch(r"\d s after it was sent \(under 10 s\)", flags[3]), flags[3]
    with db.read_session() as s:
        counted = engagement.engagements_of(s, sent.ids["acme0"])
    assert (counted.clicks, counted.flagged_clicks) == (0, 4)


def test_a_link_followed_inside_a_frame_is_flagged(client, db, sent):
    # The admin's view of the message (a sandboxed frame) is not the recipient reading it.
    response = client.get(path_of(sent.links("acme0")[0]), headers={"User-Agent": BROWSER, "Sec-Fetch-Dest": "iframe"})
    assert response.status_code == 302
    (row,) = engagements(db)
    assert row.flagged.startswith("followed inside a frame")


def test_a_click_that_cannot_be_recorded_still_goes_where_it_leads(client, db, sent, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(engagement, "record", down)
    response = client.get(path_of(sent.links("acme0")[0]), headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == GUIDE.format(account="acme0")


def test_a_click_that_cannot_be_checked_is_not_followed_and_says_so(client, db, sent, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("could not connect to server"))

    monkeypatch.setattr(engagement, "click_target", down)
    response = client.get(path_of(sent.links("acme0")[0]), headers={"User-Agent": BROWSER})
    assert response.status_code == 503 and "Location" not in response.headers
    assert response.headers["Retry-After"] == "60"
    page = response.get_data(as_text=True)
    assert "This link cannot be followed right now" in page and "Traceback" not in page


def test_click_tracking_switched_off_leaves_the_links_as_written(db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, accounts=1, track_clicks=False)
    html, text, _m = out.parts("acme0")
    assert 'href="https://docs.example.com/start?utm=mail&amp;id=acme0"' in html and "/t/c/" not in html
    assert GUIDE.format(account="acme0") in text and "/t/c/" not in text
    assert "/t/o/" not in html  # and no category has the open pixel by default


def test_operational_email_is_never_tracked_and_never_gets_the_pixel(db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, category="operational", accounts=1,
                      track_opens=("product-tips", "onboarding"))  # fmt: skip
    html, text, message = out.parts("acme0")
    assert "/t/c/" not in html and "/t/c/" not in text and "/t/o/" not in html and "<img" not in html
    assert 'href="https://docs.example.com/start?utm=mail&amp;id=acme0"' in html
    assert message["List-Unsubscribe"] is None


def test_the_open_pixel_of_a_category_that_has_it_records_an_open_and_is_never_cached(app, db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, accounts=1, track_opens=("product-tips",))
    sent_a_minute_ago(db)
    html, _text, _m = out.parts("acme0")
    (src,) = re.findall(r'<img src="([^"]*/t/o/[^"]+\.gif)" width="1" height="1" alt=""', html)
    response = app.test_client().get(path_of(src), headers={"User-Agent": BROWSER})
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.get_data()[:6] == b"GIF89a" and len(response.get_data()) < 100
    assert "no-store" in response.headers["Cache-Control"] and response.headers["Pragma"] == "no-cache"
    (row,) = engagements(db)
    assert (row.kind, row.url, row.flagged, row.delivery_id) == ("open", None, None, out.ids["acme0"])
    # A token that is not ours gets no image and no row.
    bad = app.test_client().get("/t/o/" + open_token("another key", out.ids["acme0"]) + ".gif")
    assert bad.status_code == 400 and len(engagements(db)) == 1


def test_an_open_that_cannot_be_recorded_still_gets_its_image(client, db, sent, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("could not connect to server"))

    monkeypatch.setattr(engagement, "pixel_target", down)
    response = client.get(f"/t/o/{open_token(sent.settings.secret_key, sent.ids['acme0'])}.gif")
    assert response.status_code == 200 and response.mimetype == "image/gif"


def test_a_rules_test_send_is_tracked_and_its_click_lands_on_the_test_delivery(client, db, sent):
    from engine.delivery.testsend import send_test

    result = send_test(db, sent.settings, rule_id="guide", account_id="acme0", to_address="ed@vendor.test", actor="ed@vendor.test")
    assert result.sent and result.delivery_id not in sent.ids.values()
    with db.read_session() as s:
        (stored,) = stored_messages(s, result.delivery_id)
    html = email.message_from_bytes(stored.content, policy=email.policy.default).get_body(("html",)).get_content()
    links = [path_of(link) for link in re.findall(r'href="([^"]*/t/c/[^"]+)"', html)]
    assert len(links) == 2
    response = client.get(links[0], headers={"User-Agent": BROWSER})
    assert response.status_code == 302 and response.headers["Location"] == GUIDE.format(account="acme0")
    assert [r.delivery_id for r in engagements(db)] == [result.delivery_id]
