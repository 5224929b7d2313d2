"""A segment edited in Debian's Chromium on the demo data: break it, see the error at its line,
fix it, plan it (every rule using it), save it, and find the new versions. Screenshots go to
$SCREENSHOT_DIR (else the test's tmp folder)."""

from __future__ import annotations

import pytest

from test_workbench_browser import demo  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser
USERS = ["inactive-account-reminder", "key-feature-usage-falling", "renewal-within-60-days"]


def test_break_fix_plan_and_save_a_segment(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, demo, screenshots):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("editor")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_sign_in(page, live_server, email, password)

            page.goto(f"{live_server}/admin/rules/")
            page.locator("#segments-link").click()
            expect(page.locator("#segment-tech-touch")).to_contain_text("renewal-within-60-days")
            page.screenshot(path=str(screenshots / "segments-list.png"), full_page=True)

            page.locator("#segment-tech-touch a").first.click()
            editor = page.locator("#rule-editor .cm-content")
            expect(editor).to_be_visible()
            text = page.locator("textarea[name=text]").input_value()
            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(text.replace("account.tier: tech", "account.teir: tech"))
            marked = page.locator(".cm-line:has(.cm-lintRange-error)")
            expect(marked).to_have_count(1, timeout=3000)
            expect(marked).to_contain_text("account.teir")
            expect(page.locator('#problem-list li[data-line="5"]')).to_contain_text("account.tier")
            page.screenshot(path=str(screenshots / "segment-editor-error.png"), full_page=True)

            editor.click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(text.replace("account.tier: tech", "account.tier: {in: [tech, scale]}"))
            expect(page.locator(".cm-lintRange-error")).to_have_count(0, timeout=3000)
            expect(page.locator("#problem-list")).to_have_count(0, timeout=3000)

            page.locator("#plan-button").click()
            for rule_id in USERS:
                expect(page.locator(f"#plan-{rule_id}")).to_be_visible(timeout=15000)
            page.screenshot(path=str(screenshots / "segment-plan.png"), full_page=True)

            page.locator("#comment").fill("The scale tier is served by automation too")
            page.locator("#save-button").click()
            expect(page.locator(".flash")).to_contain_text("new versions of inactive-account-reminder v2")
            page.goto(f"{live_server}/admin/rules/renewal-within-60-days/versions")
            expect(page.locator("main")).to_contain_text("segment tech-touch: The scale tier is served by automation too")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{live_server}/admin/rules/segments/")
            page.screenshot(path=str(screenshots / "segments-list-390.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        finally:
            browser.close()
