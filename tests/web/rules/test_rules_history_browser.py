"""History, diff, rollback and pause/resume in Debian's Chromium, on a desktop and a 390 px phone.
Screenshots go to $SCREENSHOT_DIR (else the test's tmp folder)."""

from __future__ import annotations


import pytest

from engine.rules.edits import save_rule_text
from engine.rules.gallery import default_rules_dir
from engine.rules.live_segments import folder_texts
from engine.rules.versions import apply_rules, read_rules

pytestmark = pytest.mark.browser
RULES = default_rules_dir()
RULE = "onboarding-stalled-day7"


@pytest.fixture
def edited(db):
    with db.session() as s:
        apply_rules(s, read_rules([str(RULES)]).rules, "ann", "4e1f0c9a7b2d" + "0" * 28, comments={RULE: f"applied from rules/{RULE}.yaml"})
        text = (RULES / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdout: 20%").replace("per_account: {max: 1, per: 30d}", "per_account: {max: 2, per: 30d}")
        outcome = save_rule_text(s, text, rule_id=RULE, actor="user:bea@example.com", comment="Hold back more; allow a second nudge", segments=folder_texts(RULES / "segments"))
    assert outcome.status == "changed"


def test_history_diff_rollback_pause_and_resume(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, edited, screenshots):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("editor")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            browser_sign_in(page, live_server, email, password)

            page.goto(f"{live_server}/admin/rules/{RULE}/versions")
            expect(page.locator("#version-2 #active-badge")).to_be_visible()
            page.screenshot(path=str(screenshots / "rules-history.png"), full_page=True)

            page.locator("#version-1 .rollback-link").click()
            expect(page).to_have_url(f"{live_server}/admin/rules/{RULE}/versions/1..2#rollback")
            expect(page.locator(".sbs-changed")).to_have_count(2)
            page.screenshot(path=str(screenshots / "rules-diff.png"), full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{live_server}/admin/rules/{RULE}/versions/1..2")
            # Stacked: no sideways scrolling on a phone.
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            phone.screenshot(path=str(screenshots / "rules-diff-390.png"), full_page=True)
            phone.close()

            page.locator("#rollback-button").click()  # no comment: refused inline
            expect(page.locator("#comment-errors")).to_be_visible()
            page.locator("#comment").fill("20% held back too many")
            page.locator("#rollback-button").click()
            expect(page).to_have_url(f"{live_server}/admin/rules/{RULE}/versions")
            expect(page.locator(".flash.info")).to_be_visible()
            expect(page.locator("#version-3 #active-badge")).to_be_visible()
            expect(page.locator("#version-3")).to_contain_text("20% held back too many")

            page.locator("#reason").fill("Copy under review")
            page.locator("#pause-button").click()
            expect(page).to_have_url(f"{live_server}/admin/rules/{RULE}")
            expect(page.locator("#paused-reason")).to_contain_text("Copy under review")
            page.screenshot(path=str(screenshots / "rules-paused.png"), full_page=True)
            page.locator("#resume-button").click()
            expect(page.locator("#pause-form")).to_be_visible()
        finally:
            browser.close()
