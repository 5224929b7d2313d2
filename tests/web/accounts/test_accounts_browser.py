"""The accounts area and the dashboard in Debian's Chromium, on the demo generator's data: sign in,
search, open an account and read why a rule matches, open the dashboard, switch to Japanese;
at 1280 and 390 px, with no sideways scroll on a phone. Screenshots go to $SCREENSHOT_DIR (else
the test's tmp folder); docs/images/ holds the ones docs/admin.md shows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sqlalchemy import func, select

from engine.demo.seed import seed
from engine.models import Account, Contact, utcnow
from engine.rules.versions import apply_rules, pause_rule, read_rules
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def demo(db, add_deliveries):
    """24 demo accounts (contacts, 90 days of events), the repository's rules applied, one paused,
    and a day of deliveries with some failed and one unknown."""
    seed(db, accounts=24, seed=42)
    with db.session() as s:
        apply_rules(s, read_rules([str(ROOT / "rules")]).rules, author="test")
        pause_rule(s, "key-feature-usage-falling", "circuit breaker: more than 1,000 messages in one cycle")
    with db.read_session() as s:
        addresses = dict(s.execute(select(Account.external_id, func.min(Contact.email)).join(Contact).group_by(Account.external_id)).all())
    now = utcnow()
    statuses = ["sent"] * 6 + ["failed", "skipped", "held_out", "sent", "unknown", "sent"]
    add_deliveries([
        {"account": f"acct-{i % 24 + 1:05d}", "rule": ("onboarding-stalled-day7", "renewal-within-60-days")[i % 2],
         "status": statuses[i % len(statuses)], "channel": ("email", "email", "in_app", "webhook")[i % 4],
         "reason": "failed: 550 5.1.1 mailbox unavailable" if statuses[i % len(statuses)] == "failed" else None,
         "recipient": addresses[f"acct-{i % 24 + 1:05d}"], "created_at": now - timedelta(minutes=37 * i)}
        for i in range(60)
    ])  # fmt: skip
    return db


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def test_search_open_an_account_read_its_rules_and_the_dashboard(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, demo, screenshots):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("viewer")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            context = browser.new_context(viewport=WIDE, locale="en-GB", timezone_id="Asia/Tokyo")
            page = context.new_page()
            browser_sign_in(page, live_server, email, password, "/admin/accounts/")
            expect(page.locator("#accounts tbody tr")).to_have_count(24)
            page.screenshot(path=str(screenshots / "accounts-list.png"))

            page.get_by_label("Search", exact=True).fill("beacon")
            page.get_by_role("button", name="Search").click()
            # 'Beacon Summit Finance' by its name's start, 'Green Beacon Systems' inside its name.
            expect(page.locator("#accounts tbody tr")).to_have_count(3)
            expect(page.locator("#accounts")).to_contain_text("Beacon Summit Finance Inc.")
            expect(page.locator("#accounts")).to_contain_text("Green Beacon Systems Inc.")
            page.screenshot(path=str(screenshots / "accounts-search.png"))

            page.get_by_role("link", name="acct-00010").click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Beacon Summit Finance Inc.")
            stalled = page.locator("#rule-onboarding-stalled-day7")
            expect(stalled.locator(".match-badge")).to_have_text("Matches")
            expect(stalled).to_have_attribute("open", "")
            # Why: each condition, the value seen, held or not.
            expect(stalled.locator("li.held", has_text="account.tier eq 'tech'").locator(".seen").first).to_contain_text("tech")
            assert stalled.locator("li.not-held").count() + stalled.locator("li.held").count() >= 3
            expect(page.locator("#rules details.no-match").first).not_to_have_attribute("open", "")
            expect(page.locator("#contacts tbody tr").first).to_be_visible()
            page.screenshot(path=str(screenshots / "account.png"), full_page=True)

            page.get_by_role("link", name="Dashboard").click()
            expect(page.locator("#sends-today-table")).to_be_visible()
            expect(page.locator("#failed-count")).to_have_text("5")
            expect(page.locator("#paused-rules")).to_contain_text("key-feature-usage-falling")
            page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

            # Japanese through the header's menu: the choice posts and the page comes back translated.
            page.locator("#language-choice").select_option("ja")
            expect(page.locator("html")).to_have_attribute("lang", "ja")
            nav = page.get_by_role("navigation").first
            expect(nav.get_by_role("link", name="ダッシュボード")).to_be_visible()
            expect(nav.get_by_role("link", name="アカウント")).to_be_visible()
            page.screenshot(path=str(screenshots / "dashboard-ja.png"), full_page=True)
            nav.get_by_role("link", name="アカウント").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("アカウント")
            page.screenshot(path=str(screenshots / "accounts-list-ja.png"))
            page.locator("#language-choice").select_option("en")
            expect(page.locator("html")).to_have_attribute("lang", "en")

            phone = browser.new_context(viewport=NARROW, storage_state=context.storage_state()).new_page()
            for path, name in [("/admin/accounts/?q=beacon", "accounts-list-narrow.png"),
                               ("/admin/accounts/acct-00010", "account-narrow.png"), ("/admin/", "dashboard-narrow.png")]:  # fmt: skip
                phone.goto(live_server + path)
                expect(phone.locator("main h1")).to_be_visible()
                _no_sideways_scroll(phone)
                phone.screenshot(path=str(screenshots / name), full_page=True)
        finally:
            browser.close()
