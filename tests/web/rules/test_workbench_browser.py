"""The rules workbench in Debian's Chromium on the demo data: break a rule, see the error at its
line, fix it, plan it, save it. Screenshots go to $SCREENSHOT_DIR (else the test's tmp folder)."""

from __future__ import annotations


import pytest

from engine.demo import seed
from engine.jobs.worker import make_worker
from engine.rules.gallery import default_rules_dir
from engine.rules.versions import apply_rules, read_rules

pytestmark = pytest.mark.browser
RULE = "onboarding-stalled-day7"


@pytest.fixture
def demo(db):
    seed(db, accounts=300)
    with db.session() as s:
        apply_rules(s, read_rules([str(default_rules_dir())]).rules, "demo")


def test_break_fix_plan_and_save_a_rule(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, demo, screenshots, db):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("editor")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_sign_in(page, live_server, email, password)

            page.goto(f"{live_server}/admin/rules/")
            expect(page.locator(f"#rule-{RULE}")).to_be_visible()
            page.screenshot(path=str(screenshots / "rules-list.png"), full_page=True)

            page.locator(f"#rule-{RULE} a").first.click()
            expect(page).to_have_url(f"{live_server}/admin/rules/{RULE}")
            page.screenshot(path=str(screenshots / "rules-show.png"), full_page=True)
            page.locator("#edit-link").click()

            editor = page.locator("#rule-editor .cm-content")
            expect(editor).to_be_visible()
            expect(page.locator("textarea[name=text]")).to_be_hidden()
            text = page.locator("textarea[name=text]").input_value()
            # Break it: a misspelt field on line 10.
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(text.replace("account.tier: tech", "account.tierr: tech"))
            marked = page.locator(".cm-line:has(.cm-lintRange-error)")
            expect(marked).to_have_count(1, timeout=3000)  # 500 ms after typing stops, plus the check
            expect(marked).to_contain_text("account.tierr")
            expect(page.locator(".cm-gutter-lint .cm-lint-marker-error")).to_have_count(1)
            expect(page.locator('#problem-list li[data-line="10"]')).to_contain_text("account.tier")
            page.screenshot(path=str(screenshots / "rules-editor-error.png"), full_page=True)

            # Fix it: the marker goes away.
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(text.replace("older_than: 7d", "older_than: 6d"))
            expect(page.locator(".cm-lintRange-error")).to_have_count(0, timeout=3000)
            expect(page.locator("#problem-list")).to_have_count(0)

            # Completion from the JSON Schema: a top-level key at the start of a line.
            page.keyboard.press("Control+End")
            page.keyboard.type("max_mess")
            expect(page.locator(".cm-tooltip-autocomplete")).to_contain_text("max_messages_per_cycle")
            page.keyboard.press("Escape")
            for _ in range(len("max_mess")):
                page.keyboard.press("Backspace")

            page.locator("#plan-button").click()
            expect(page.locator("#plan-entering")).to_be_visible(timeout=15000)
            expect(page.locator("#backtest-progress")).to_be_visible()  # the backtest is a job: progress, Cancel
            expect(page.locator("#backtest-cancel button")).to_be_visible()
            assert make_worker().work(burst=True)  # the worker runs it; the page polls and shows the chart
            expect(page.locator("#backtest-chart svg")).to_be_visible(timeout=5000)
            page.screenshot(path=str(screenshots / "rules-plan.png"), full_page=True)

            page.locator("#comment").fill("Nudge a day earlier")
            page.locator("#save-button").click()
            expect(page).to_have_url(f"{live_server}/admin/rules/{RULE}")
            expect(page.get_by_role("status").first).to_contain_text("2")

            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{live_server}/admin/rules/")
            page.screenshot(path=str(screenshots / "rules-list-390.png"), full_page=True)
        finally:
            browser.close()
    from engine.rules.drafts import current_text

    with db.read_session() as s:
        assert "older_than: 6d" in current_text(s, RULE)
