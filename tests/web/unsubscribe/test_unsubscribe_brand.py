"""The unsubscribe and preference pages show the sender's brand, never Touchline, with no inline style or script."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask

from engine.compliance import unsubscribe_token
from engine.settings import Brand
from web.context import get_settings
from htmlids import parse

KUMO = Brand(name="Kumo Analytics", company="Kumo K.K. & Partners", postal_address="1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002",
             support_email="help@kumo.test", missing=())  # fmt: skip
SENT_BY = {"en": "Sent by Kumo K.K. & Partners", "ja": "送信者: Kumo K.K. & Partners"}


@pytest.fixture
def kumo_app(make_app) -> Flask:
    return make_app(brand=KUMO)


def pages(app: Flask, locale: str):
    """Every page a recipient can reach: confirm, done, preferences, the bad-link page and an error."""
    with app.app_context():
        token = unsubscribe_token(get_settings(), "ann@example.com", "onboarding", contact_id=5, locale=locale)
    client = app.test_client()
    return {
        "confirm": client.get(f"/u/{token}"),
        "done": client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}),
        "preferences": client.get(f"/preferences/{token}"),
        "bad link": client.get("/u/garbage", headers={"Accept-Language": locale}),
        "error": client.put(f"/preferences/{token}", headers={"Accept-Language": locale}),
    }


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_an_error_under_a_recipients_url_is_the_senders_page_in_their_language(kumo_app, locale):
    response = pages(kumo_app, locale)["error"]
    assert response.status_code == 405
    title = {"en": "Something went wrong", "ja": "問題が発生しました"}[locale]
    assert parse(response.get_data(as_text=True)).text["brand"].strip() == "Kumo Analytics"
    assert f"<h1>{title}</h1>" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_every_page_shows_the_senders_brand_not_touchline(kumo_app, locale):
    for page, response in pages(kumo_app, locale).items():
        html = response.get_data(as_text=True)
        found = parse(html)
        assert re.search(r"<title>[^<]* · Kumo Analytics</title>", html), page
        assert found.text["brand"].strip() == "Kumo Analytics", page
        sender = " ".join(found.text["sender"].split())
        assert SENT_BY[locale] in sender and "1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002" in sender, (page, sender)
        assert ("a", {"href": "mailto:help@kumo.test"}) in found.tags, page
        assert "Kumo K.K. &amp; Partners" in html  # escaped
        assert "touchline" not in unescape(html).lower(), page


def test_the_logo_replaces_the_name_in_the_header(make_app):
    app = make_app(brand=Brand(**{**KUMO.__dict__, "logo_url": "https://cdn.kumo.test/logo.png?v=2&s=1"}))
    found = parse(pages(app, "en")["confirm"].get_data(as_text=True))
    assert ("img", {"src": "https://cdn.kumo.test/logo.png?v=2&s=1", "alt": "Kumo Analytics"}) in found.tags
    assert found.text["brand"].strip() == ""


def test_production_before_the_brand_is_set_names_the_sender_from_its_address_and_shows_no_empty_footer(make_app):
    app = make_app(brand=Brand(name="Kumo Analytics", company=None, postal_address=None, support_email=None))
    html = pages(app, "en")["preferences"].get_data(as_text=True)
    found = parse(html)
    assert found.text["brand"].strip() == "Kumo Analytics" and "sender" not in found.text


def test_the_pages_carry_no_inline_style_or_script_and_their_stylesheet_is_served(kumo_app):
    client = kumo_app.test_client()
    for page, response in pages(kumo_app, "en").items():
        found = parse(response.get_data(as_text=True))
        assert not [tag for tag, _ in found.tags if tag in ("style", "script")], page
        assert not [tag for tag, attributes in found.tags if "style" in attributes or any(a.startswith("on") for a in attributes)], page
        sheets = [a["href"] for tag, a in found.tags if tag == "link" and a.get("rel") == "stylesheet"]
        assert sheets == ["/static/css/unsubscribe.css"], page
    css = client.get("/static/css/unsubscribe.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and b".panel" in css.data
