"""The results area in Debian's Chromium, on plays run for three weeks through the real path: the
list (a play that hurts flagged), a rule's page with its chart, reached and used with the keyboard
alone, in Japanese, and at 390 px without sideways scroll. Screenshots go to $SCREENSHOT_DIR (else
the test's tmp folder); docs/images/ holds the ones docs/admin.md shows."""

from __future__ import annotations

import pytest

from tests.web.results.conftest import Play

pytestmark = pytest.mark.browser
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def plays(spread_campaigns):
    return spread_campaigns([
        Play("onboarding-checklist", "Onboarding checklist nudge", "trial", 40, treated_rate=0.34, control_rate=0.2),
        Play("upgrade-prompt", "Upgrade prompt, day 14", "starter", 24, treated_rate=0.07, control_rate=0.2),
        Play("feature-tour", "Reports feature tour", "growth", 12, treated_rate=0.22, control_rate=0.2),
        Play("renewal-reminder", "Renewal reminder, 60 days out", "pilot", 1, treated_rate=0.3, control_rate=0.2),
        Play("welcome-tips", "Welcome tips", "free", 2, treated_rate=0, control_rate=0, goal=None),
    ])  # fmt: skip


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def _tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element ``selector`` has the focus: reachable without a mouse."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_read_the_results_with_the_keyboard_in_english_and_japanese_and_on_a_phone(
    chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, plays, screenshots
):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("viewer")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            context = browser.new_context(viewport=WIDE, locale="en-GB", timezone_id="Asia/Tokyo")
            page = context.new_page()
            browser_sign_in(page, live_server, email, password, "/admin/results/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Results")
            expect(page.locator("#results tbody tr")).to_have_count(4)
            expect(page.locator("#verdict-onboarding-checklist")).to_have_text("Better")
            expect(page.locator("#verdict-upgrade-prompt")).to_have_text("Worse")
            expect(page.locator("#rule-upgrade-prompt .flag-harm")).to_be_visible()
            expect(page.locator("#verdict-renewal-reminder")).to_have_text("Not enough data")
            expect(page.locator("#unmeasured")).to_contain_text("Welcome tips")
            page.screenshot(path=str(screenshots / "results-list.png"), full_page=True)

            # The rule's page from the list, with the keyboard only.
            _tab_to(page, "#rule-onboarding-checklist a")
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Onboarding checklist nudge")
            expect(page.locator("#headline")).to_contain_text("Treated accounts convert more than control")
            expect(page.locator("#verdict-code")).to_have_text("Better")
            # The chart: both panels drawn, the band of the interval and the zero line in it.
            expect(page.locator("svg.lines")).to_have_count(2)
            band = page.locator("polygon.band").bounding_box()
            assert band and band["width"] > 400 and band["height"] > 5
            assert page.locator("polyline.series.treated").bounding_box()["width"] > 400
            expect(page.locator("line.grid.zero")).to_have_count(1)
            expect(page.locator("#fixed")).to_contain_text("Fixed-horizon (read once, at the end)")
            page.screenshot(path=str(screenshots / "results-rule.png"), full_page=True)

            # Plan for +3 points, with the keyboard: the form is a plain GET.
            _tab_to(page, "#detect")
            page.keyboard.type("3")
            page.keyboard.press("Enter")
            expect(page).to_have_url(f"{live_server}/admin/results/onboarding-checklist?detect=3")
            expect(page.locator("#detect")).to_have_value("3")
            # A bad value: said at the field, the page still there.
            page.locator("#detect").fill("lots")
            page.keyboard.press("Enter")
            expect(page.locator("#detect-errors")).to_contain_text("above 0 and below 100")
            expect(page.locator("#detect")).to_have_attribute("aria-invalid", "true")

            page.goto(f"{live_server}/admin/results/upgrade-prompt")
            expect(page.locator("#harm")).to_contain_text("convert less than control")
            page.screenshot(path=str(screenshots / "results-harm.png"), full_page=True)
            page.get_by_role("link", name="Dashboard").click()
            expect(page.locator("#hurts-upgrade-prompt")).to_contain_text("converts less than its control group")
            page.screenshot(path=str(screenshots / "dashboard-harm.png"))

            # Japanese through the header's menu.
            page.goto(f"{live_server}/admin/results/onboarding-checklist")
            page.locator("#language-choice").select_option("ja")
            expect(page.locator("html")).to_have_attribute("lang", "ja")
            expect(page.locator("#headline")).to_contain_text("施策群のコンバージョンが対照群より高くなっています")
            expect(page.locator("#fixed")).to_contain_text("固定期間（最後に一度だけ読む）")
            page.screenshot(path=str(screenshots / "results-rule-ja.png"), full_page=True)
            page.get_by_role("navigation").first.get_by_role("link", name="結果").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("結果")
            expect(page.locator("#verdict-upgrade-prompt")).to_have_text("悪化")
            page.screenshot(path=str(screenshots / "results-list-ja.png"), full_page=True)
            page.locator("#language-choice").select_option("en")
            expect(page.locator("html")).to_have_attribute("lang", "en")

            phone = browser.new_context(viewport=NARROW, storage_state=context.storage_state()).new_page()
            for path, name in [("/admin/results/", "results-list-narrow.png"),
                               ("/admin/results/onboarding-checklist", "results-rule-narrow.png"),
                               ("/admin/results/upgrade-prompt", "results-harm-narrow.png")]:  # fmt: skip
                phone.goto(live_server + path)
                expect(phone.locator("main h1")).to_be_visible()
                _no_sideways_scroll(phone)
                phone.screenshot(path=str(screenshots / name), full_page=True)
            expect(phone.locator("svg.lines")).to_have_count(2)
        finally:
            browser.close()
