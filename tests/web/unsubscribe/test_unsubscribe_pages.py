"""The public unsubscribe and preference pages, through Flask's test client with CSRF on."""

from __future__ import annotations

from html import unescape

import pytest
from flask import Flask

from engine.compliance import suppress, suppression_for, unsubscribe_token
from engine.db import Database
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules
from web.context import get_settings

ADDRESS = "ann@example.com"


@pytest.fixture
def token_for(app: Flask):
    def make(category: str | None = "onboarding", address: str = ADDRESS, locale: str | None = None) -> str:
        with app.app_context():
            return unsubscribe_token(get_settings(), address, category, contact_id=5, locale=locale)

    return make


def status(db: Database, category: str, address: str = ADDRESS) -> str | None:
    with db.read_session() as session:
        return suppression_for(session, address, category)


def test_csrf_is_still_on_for_the_admin(client, make_user, password):
    email = make_user("admin")
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert "Form expired" in response.get_data(as_text=True)


def test_get_shows_a_confirmation_and_does_not_unsubscribe(client, db, token_for):
    response = client.get(f"/u/{token_for()}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Stop sending Onboarding emails to ann@example.com?" in html
    assert 'method="post"' in html and ">Unsubscribe</button>" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert status(db, "onboarding") is None
    client.get(f"/u/{token_for()}")  # a link scanner fetching twice changes nothing either
    assert status(db, "onboarding") is None


def test_one_click_post_unsubscribes_with_no_cookie_or_csrf_token(app, db, token_for):
    client = app.test_client(use_cookies=False)
    response = client.post(
        f"/u/{token_for()}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    assert status(db, "onboarding") == "unsubscribed"
    assert status(db, "general") is None
    # Idempotent: a provider retrying gets 200 again and nothing changes.
    again = client.post(f"/u/{token_for()}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert status(db, "onboarding") == "unsubscribed"


def test_a_multipart_one_click_post_works_too(app, db, token_for):
    client = app.test_client(use_cookies=False)
    response = client.post(
        f"/u/{token_for()}", data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    assert status(db, "onboarding") == "unsubscribed"


def test_the_confirmation_button_posts_and_records_where_it_came_from(client, db, token_for):
    from sqlalchemy import select

    from engine.models import Suppression

    assert client.post(f"/u/{token_for()}", data={"via": "page"}).status_code == 200
    with db.read_session() as session:
        row = session.scalars(select(Suppression)).one()
    assert (row.address, row.category, row.reason, row.source) == (ADDRESS, "onboarding", "unsubscribed", "unsubscribe-page")


def test_an_all_categories_token_leaves_everything(client, db, token_for):
    assert "Stop sending all emails" in client.get(f"/u/{token_for(None)}").get_data(as_text=True)
    client.post(f"/u/{token_for(None)}")
    assert status(db, "general") == status(db, "anything") == "unsubscribed"
    assert status(db, "operational") is None


def test_an_operational_token_unsubscribes_nothing(client, db, token_for):
    response = client.post(f"/u/{token_for('operational')}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "These messages are always sent" in response.get_data(as_text=True)
    assert status(db, "operational") is None and status(db, "general") is None


def test_get_after_unsubscribing_says_so(client, token_for):
    client.post(f"/u/{token_for()}")
    assert "already unsubscribed" in client.get(f"/u/{token_for()}").get_data(as_text=True)


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-4], lambda t: t.replace(".", ".x", 1), lambda t: "garbage", lambda t: t + "A"]
)
def test_a_bad_token_gets_a_400_page_naming_the_problem(client, db, token_for, mangle):
    token = mangle(token_for())
    for response in (
        client.get(f"/u/{token}"),
        client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}),
        client.get(f"/preferences/{token}"),
        client.post(f"/preferences/{token}", data={"action": "leave_all"}),
    ):
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert "This link does not work" in html and "signature does not match" in html
    assert status(db, "onboarding") is None


def test_a_token_signed_by_another_instance_is_refused(client, db):
    from engine.settings import Settings

    foreign = unsubscribe_token(Settings(secret_key="someone-elses-key"), ADDRESS, "onboarding")
    response = client.post(f"/u/{foreign}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    assert status(db, "onboarding") is None


RULE = """\
id: {id}
name: Test
category: {category}
when:
  account.plan: trial
actions:
  - email: {{template: trial/nudge, to: role:admin}}
"""


@pytest.fixture
def rules(db: Database) -> None:
    with db.session() as session:
        for rule_id, category in (("a", "onboarding"), ("b", "product-updates"), ("c", "operational")):
            text = RULE.format(id=rule_id, category=category)
            apply_rules(session, [(validate_text(text, f"{rule_id}.yaml", expected_id=rule_id).rule, text)], "test")


def test_preferences_list_the_known_categories_but_not_operational(client, rules, token_for):
    html = client.get(f"/preferences/{token_for()}").get_data(as_text=True)
    assert 'id="category-general"' in html
    assert 'id="category-onboarding"' in html
    assert 'id="category-product-updates"' in html and "Product updates" in html
    assert 'id="category-operational"' not in html
    assert "always sent" in html


def test_preferences_leave_one_then_all_then_come_back(app, db, rules, token_for):
    client = app.test_client(use_cookies=False)
    url = f"/preferences/{token_for('general')}"

    response = client.post(url, data={"action": "leave", "category": "product-updates"})
    assert response.status_code == 200
    assert "You are unsubscribed from Product updates emails." in response.get_data(as_text=True)
    assert status(db, "product-updates") == "unsubscribed" and status(db, "onboarding") is None

    client.post(url, data={"action": "leave_all"})
    assert status(db, "onboarding") == status(db, "general") == "unsubscribed"
    assert 'id="left-all"' in client.get(url).get_data(as_text=True)

    response = client.post(url, data={"action": "rejoin", "category": "onboarding"})
    assert "You are resubscribed to Onboarding emails." in response.get_data(as_text=True)
    assert status(db, "onboarding") is None and status(db, "general") == "unsubscribed"

    client.post(url, data={"action": "rejoin_all"})
    assert status(db, "onboarding") is status(db, "general") is status(db, "product-updates") is None
    assert 'id="left-all"' not in client.get(url).get_data(as_text=True)


def test_preferences_show_a_category_left_through_an_old_rule(client, db, token_for):
    with db.session() as session:
        suppress(session, ADDRESS, "unsubscribed", "retired-campaign", "one-click")
    html = client.get(f"/preferences/{token_for()}").get_data(as_text=True)
    assert 'id="category-retired-campaign"' in html and ">Resubscribe</button>" in html


def test_preferences_always_list_the_links_own_category(client, token_for):
    html = client.get(f"/preferences/{token_for('spring-webinar')}").get_data(as_text=True)
    assert 'id="category-spring-webinar"' in html and "Spring webinar" in html


def test_preferences_say_when_the_address_bounced(client, db, token_for):
    with db.session() as session:
        suppress(session, ADDRESS, "bounced", None, "smtp")
    html = client.get(f"/preferences/{token_for()}").get_data(as_text=True)
    assert "We still cannot send to this address: messages to it bounced." in html


@pytest.mark.parametrize(
    "form, problem",
    [
        ({"action": "delete-everything"}, "action 'delete-everything'"),
        ({"action": "leave", "category": "Not A Category"}, "category 'Not A Category'"),
        ({"action": "rejoin"}, "category: the form has no category to rejoin"),
        ({"action": "leave", "category": "operational"}, "operational"),
    ],
)
def test_bad_preference_forms_get_a_400_naming_the_field(client, db, token_for, form, problem):
    response = client.post(f"/preferences/{token_for()}", data=form)
    assert response.status_code == 400
    assert problem in unescape(response.get_data(as_text=True))


def test_pages_speak_japanese_by_accept_language_or_the_tokens_locale(client, token_for):
    by_header = client.get(f"/u/{token_for()}", headers={"Accept-Language": "ja,en;q=0.5"})
    html = by_header.get_data(as_text=True)
    assert '<html lang="ja">' in html and "配信を停止する" in html
    by_token = client.get(f"/u/{token_for(locale='ja-JP')}", headers={"Accept-Language": "en"})
    assert "配信を停止する" in by_token.get_data(as_text=True)
    english = client.get(f"/u/{token_for()}", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    prefs = client.get(f"/preferences/{token_for(locale='ja')}").get_data(as_text=True)
    assert "メール配信の設定" in prefs and "一般のお知らせ" in prefs
    bad = client.get("/u/garbage", headers={"Accept-Language": "ja"})
    assert bad.status_code == 400 and "このリンクは使えません" in bad.get_data(as_text=True)


def test_get_on_preferences_changes_nothing(client, db, token_for):
    client.get(f"/preferences/{token_for()}?action=leave_all")
    assert status(db, "general") is None


@pytest.mark.parametrize(
    ("locale", "category", "label"),
    [("ja", "product-tips", "製品活用のヒント"), ("en", "reengagement", "Re-engagement"),
     ("ja", "onboarding", "ご利用開始のご案内"), ("en", "weekly-digest", "Weekly digest")],
)  # fmt: skip
def test_a_category_reads_as_its_label_in_the_recipients_language(client, token_for, locale, category, label):
    from web.unsubscribe.strings import STRINGS

    html = client.get(f"/u/{token_for(category, locale=locale)}").get_data(as_text=True)
    assert STRINGS[locale]["confirm_lead"].format(category=label, address=ADDRESS) in html


def test_every_shipped_rules_category_has_a_label_in_both_languages():
    from engine.rules.gallery import default_rules_dir
    from engine.rules.versions import read_rules
    from web.unsubscribe.strings import STRINGS

    categories = {source.rule.category for source in read_rules([str(default_rules_dir())]).rules} - {"general"}
    assert categories
    for locale in ("en", "ja"):
        assert {c for c in categories if f"category:{c}" not in STRINGS[locale]} == set(), locale
