"""Every shipped email shows a visible unsubscribe link, unless it is operational,
and every customer email names its sender (the brand), never Touchline.

The delivery pipeline (``Composer._compose``) puts ``links.unsubscribe`` and
``links.preferences`` in the context only for email whose category is not
``operational``; the footer of ``_layouts/base.html`` prints them when they
are there and a service-message line when they are not. Internal alerts
(``_layouts/alert.html``) show a link to stop them when they have one.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import nodes

from engine.rules.validate import check_paths
from engine.settings import Brand
from engine.templates import TemplateLibrary
from engine.templates.context import Record, Usage, brand_record

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = TemplateLibrary(ROOT / "email_templates")
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
LOCALES = ("en", "ja")

# Distinctive, and with an '&' so that the html part must escape it in the href.
UNSUBSCRIBE = "https://unsub.example.test/u/tok-5f3a9c?c=onboarding&v=1"
PREFERENCES = "https://prefs.example.test/preferences/tok-5f3a9c?v=1&x=2"
APP = "https://app.example.test/"
MARKETING_LINKS = {"app": APP, "unsubscribe": UNSUBSCRIBE, "preferences": PREFERENCES}
OPERATIONAL_LINKS = {"app": APP}  # what Composer gives email in category "operational"

# The sender's brand, with an '&' the html part must escape.
BRAND = Brand(name="Kumo Analytics", company="Kumo K.K. & Partners", postal_address="1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002",
              support_email="help@kumo.test", logo_url="https://cdn.kumo.test/logo.png?v=2&s=1", missing=())  # fmt: skip
# Production before the brand is set: only operational email is sent, with the name alone.
NAME_ONLY = Brand(name="Kumo Analytics", company=None, postal_address=None, support_email=None)
SENDER_LINES = {
    "en": ("Sent by Kumo K.K. & Partners", "1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002", "Questions: help@kumo.test"),
    "ja": ("送信者: Kumo K.K. & Partners", "住所: 1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002", "お問い合わせ: help@kumo.test"),
}
# What Japan's Act on Specified Electronic Mail asks next to the opt-out link: that the recipient may refuse more.
OPT_OUT_NOTICE = {"en": "Unsubscribe", "ja": "今後このようなメールの受信を希望されない場合は"}

SERVICE_LINE = {
    "en": "This is a service message about your use of Kumo Analytics at",
    "ja": "のご利用に関するサービスからのお知らせです。",
}
UNSUBSCRIBE_WORDS = {"en": ("Unsubscribe", "Email preferences"), "ja": ("配信停止", "配信設定")}


def _layout(name: str, locale: str) -> str | None:
    """The layout ``name/locale.html`` extends (None if it extends nothing static)."""
    path = LIBRARY.root / name / f"{locale}.html"
    tree = LIBRARY.env.parse(path.read_text(encoding="utf-8"), f"{name}/{locale}.html", str(path))
    for node in tree.find_all(nodes.Extends):
        if isinstance(node.template, nodes.Const) and isinstance(node.template.value, str):
            return node.template.value
    return None


def _layouts(name: str) -> set[str | None]:
    return {_layout(name, locale) for locale in LOCALES}


ALL_NAMES = LIBRARY.names()
# Every message under email_templates that is sent by email: all but the in-app nudges.
EMAIL_NAMES = [n for n in ALL_NAMES if "_layouts/in_app.html" not in _layouts(n)]
ALERT_NAMES = [n for n in EMAIL_NAMES if _layouts(n) == {"_layouts/alert.html"}]
CUSTOMER_NAMES = [n for n in EMAIL_NAMES if n not in ALERT_NAMES]
BASE_NAMES = [n for n in CUSTOMER_NAMES if _layouts(n) == {"_layouts/base.html"}]


def _context(links: dict[str, str], *, alert: bool = False, account_name: str = "Acme & Co <Ltd>", brand: Brand = BRAND) -> dict:
    account = Record(
        "account",
        name=account_name,
        external_id="acme",
        plan="pro",
        tier="high",
        mrr=Decimal("1200.50"),
        arr=Decimal("14406.00"),
        signup_at=datetime(2025, 1, 10, tzinfo=UTC),
        renewal_at=datetime(2026, 4, 15, tzinfo=UTC),
        owner="csm@touchline.test",
        timezone="Asia/Tokyo",
        locale="en",
        traits={"industry": "retail"},
    )
    contact = None
    if not alert:
        contact = Record("contact", external_id="ann", name="Ann", email="ann@acme.test", role="admin", locale="en", traits={})
    today = NOW.date()
    usage = Usage(today, {"report_run": {today: 4, date(2026, 2, 1): 9}, "login": {today: 2}, "project_created": {today: 1}})
    return {
        "account": account,
        "contact": contact,
        "owner": Record("owner", email="csm@touchline.test"),
        "usage": usage,
        "rule": None,
        "links": dict(links),
        "brand": brand_record(brand),
        "now": NOW,
        "timezone": "Asia/Tokyo",
    }


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for key, value in attrs if key == "href" and value is not None]


def _hrefs(html: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(html)
    parser.close()
    return parser.hrefs


def test_the_email_templates_are_found():
    # The selection above must cover every template a rule sends by email, and no in-app nudge.
    rules = check_paths([str(ROOT / "rules")]).rules
    by_email = {a.template for r in rules for a in r.actions if a.channel == "email"}
    in_app = {a.template for r in rules for a in r.actions if a.channel == "in_app"}
    assert by_email and by_email <= set(EMAIL_NAMES)
    assert in_app and not in_app & set(EMAIL_NAMES)
    assert ALERT_NAMES and CUSTOMER_NAMES
    # Each message uses one layout in every locale, so the exemption below is per template.
    for name in EMAIL_NAMES:
        assert len(_layouts(name)) == 1 and None not in _layouts(name), (name, _layouts(name))


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", CUSTOMER_NAMES)
def test_every_customer_email_shows_its_unsubscribe_link(name, locale):
    r = LIBRARY.render(name, [locale], _context(MARKETING_LINKS))
    assert r.locale == locale
    hrefs = _hrefs(r.html)
    assert UNSUBSCRIBE in hrefs, (name, locale, hrefs)
    assert PREFERENCES in hrefs, (name, locale, hrefs)
    assert UNSUBSCRIBE in r.text and PREFERENCES in r.text, (name, locale)
    # The html part escapes the URL in its attribute; the text part prints it as is.
    assert UNSUBSCRIBE.replace("&", "&amp;") in r.html and UNSUBSCRIBE not in r.html
    # The wording of the marketing footer, and no service-message line.
    for word in UNSUBSCRIBE_WORDS[locale]:
        assert word in r.html and word in r.text, (name, locale, word)
    assert SERVICE_LINE[locale] not in r.html + r.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", ALERT_NAMES)
def test_an_alert_in_a_non_operational_category_shows_a_link_to_stop_it(name, locale):
    r = LIBRARY.render(name, [locale], _context(MARKETING_LINKS, alert=True))
    assert UNSUBSCRIBE in _hrefs(r.html) and UNSUBSCRIBE in r.text, (name, locale)
    stop = "この通知を停止" if locale == "ja" else "Stop these alerts"
    assert stop in r.html and stop in r.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alerts_render_without_unsubscribe_links(name, locale):
    # An operational alert has no links: it must render without them.
    r = LIBRARY.render(name, [locale], _context(OPERATIONAL_LINKS, alert=True))
    assert r.locale == locale and r.subject and r.html and r.text
    assert APP in _hrefs(r.html) and APP in r.text
    for word in UNSUBSCRIBE_WORDS[locale]:
        assert word not in r.html + r.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", BASE_NAMES)
def test_operational_email_on_the_base_layout_renders_without_links(name, locale):
    r = LIBRARY.render(name, [locale], _context(OPERATIONAL_LINKS))
    assert r.locale == locale and r.subject and r.html and r.text
    assert SERVICE_LINE[locale] in r.html and SERVICE_LINE[locale] in r.text, (name, locale)
    for word in UNSUBSCRIBE_WORDS[locale]:
        assert word not in r.html and word not in r.text, (name, locale, word)
    assert "/u/" not in r.text and "preferences" not in r.text.lower()


@pytest.mark.parametrize("locale", LOCALES)
def test_the_service_line_is_escaped_in_html_only(locale):
    name = BASE_NAMES[0]
    r = LIBRARY.render(name, [locale], _context(OPERATIONAL_LINKS, account_name="Tom & Jerry <b>"))
    footer = r.html[r.html.rindex('class="footer"') :]
    assert "Tom &amp; Jerry &lt;b&gt;" in footer and "<b>" not in footer
    assert "Tom & Jerry <b>" in r.text.split("\n--\n", 1)[1]


@pytest.mark.parametrize("locale", LOCALES)
def test_a_preferences_link_alone_is_not_required(locale):
    # Composer always sets both; a context with only an unsubscribe link still shows it.
    r = LIBRARY.render(BASE_NAMES[0], [locale], _context({"app": APP, "unsubscribe": UNSUBSCRIBE}))
    assert UNSUBSCRIBE in _hrefs(r.html) and UNSUBSCRIBE in r.text
    assert UNSUBSCRIBE_WORDS[locale][1] not in r.html + r.text


def _footer(html: str) -> str:
    return html[html.rindex('class="footer"') :]


@pytest.mark.parametrize("links", [MARKETING_LINKS, OPERATIONAL_LINKS], ids=["marketing", "operational"])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", CUSTOMER_NAMES)
def test_every_customer_email_names_its_sender_not_touchline(name, locale, links):
    r = LIBRARY.render(name, [locale], _context(links))
    text_footer = r.text.split("\n--\n", 1)[1]
    html_footer = _footer(r.html)
    shown = html.unescape(re.sub(r"<[^>]*>", "", html_footer))  # what a reader sees
    for line in SENDER_LINES[locale]:
        assert line in text_footer and line in shown, (name, locale, line)
    assert "Kumo K.K. &amp; Partners" in html_footer  # escaped in the html part only
    assert "mailto:help@kumo.test" in _hrefs(r.html)
    assert "Kumo Analytics" in text_footer and "Kumo Analytics" in shown
    if links is MARKETING_LINKS:
        assert OPT_OUT_NOTICE[locale] in text_footer and OPT_OUT_NOTICE[locale] in shown
    assert "touchline" not in (r.subject + r.html + r.text).lower(), (name, locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_logo_heads_the_html_part_when_there_is_one(locale):
    r = LIBRARY.render(BASE_NAMES[0], [locale], _context(MARKETING_LINKS))
    assert '<img src="https://cdn.kumo.test/logo.png?v=2&amp;s=1" alt="Kumo Analytics"' in r.html
    assert r.html.index("<img") < r.html.index('class="card"')
    plain = _context(MARKETING_LINKS, brand=Brand(**{**BRAND.__dict__, "logo_url": None}))
    assert "<img" not in LIBRARY.render(BASE_NAMES[0], [locale], plain).html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", BASE_NAMES)
def test_operational_email_renders_with_the_brand_name_alone(name, locale):
    # What production sends before TOUCHLINE_BRAND_COMPANY and the rest are set (marketing waits).
    r = LIBRARY.render(name, [locale], _context(OPERATIONAL_LINKS, brand=NAME_ONLY))
    assert SERVICE_LINE[locale] in r.html and SERVICE_LINE[locale] in r.text
    assert "sender" not in _footer(r.html) and SENDER_LINES[locale][0] not in r.text
