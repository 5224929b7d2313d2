"""A delivery's page and a template's preview in Debian's Chromium: the explanation, the message as
sent in its sandboxed frame (no script runs there), a test send; screenshots at 1280 and 390 px."""

from __future__ import annotations

import pytest

from tests.engine.delivery.test_record import send_all, settings_for, write_pending

pytestmark = pytest.mark.browser


@pytest.fixture
def app(make_app, smtp_server):
    """The app with email going to the test's SMTP server (the templates' test send); live_server serves it."""
    return make_app(smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")


def test_open_a_delivery_and_a_template_preview(chromium_path, chromium_args, live_server, db, smtp_server, make_user, password, browser_sign_in, screenshots):
    from playwright.sync_api import expect, sync_playwright

    pending = write_pending(db, accounts=1)
    send_all(db, settings_for(smtp_server.port))
    delivery_id = pending[("email", "ann0@acme.test")]
    email = make_user("editor", "ed@vendor.test")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="Asia/Tokyo")
            page = context.new_page()
            browser_sign_in(page, live_server, email, password, f"/admin/deliveries/{delivery_id}")
            expect(page.locator("#explanation")).to_contain_text("account.plan")
            expect(page.locator("#history tbody tr")).to_have_count(4)
            frame = page.frame_locator("iframe.message-html")
            expect(frame.locator("body")).to_contain_text("Ann 0")
            # The frame is sandboxed: its document runs no script, whatever the message held.
            assert page.locator("iframe.message-html").get_attribute("sandbox") == ""
            page.keyboard.press("Tab")  # the keyboard reaches the page: the skip link comes first
            expect(page.locator(":focus")).to_have_class("skip")
            page.locator("iframe.message-html").scroll_into_view_if_needed()
            page.screenshot(path=str(screenshots / "delivery-message.png"))
            page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
            # The whole page in one tall viewport: a full-page capture leaves the frame blank in Chromium.
            page.set_viewport_size({"width": 1280, "height": page.evaluate("document.documentElement.scrollHeight")})
            page.screenshot(path=str(screenshots / "delivery.png"))
            page.set_viewport_size({"width": 1280, "height": 900})

            phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state()).new_page()
            phone.goto(f"{live_server}/admin/deliveries/{delivery_id}")
            expect(phone.locator("#message")).to_be_visible()
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            phone.screenshot(path=str(screenshots / "delivery-phone.png"), full_page=True)

            page.goto(f"{live_server}/admin/templates/")
            expect(page.locator("#template-onboarding-stalled")).to_contain_text("stalled v1")
            page.screenshot(path=str(screenshots / "templates.png"), full_page=True)
            page.locator("#template-onboarding-stalled a", has_text="ja").click()
            expect(page.locator("#rendered-locale")).to_have_text("ja")
            expect(page.frame_locator("iframe.message-html").locator("body")).to_contain_text("Acme 0")
            page.screenshot(path=str(screenshots / "template-preview.png"), full_page=True)
            page.get_by_role("button", name="Send a test to me").click()
            expect(page.locator("[role=status], .flash").first).to_contain_text("Test message sent to ed@vendor.test")
            assert smtp_server.handler.messages[-1]["to"] == ["ed@vendor.test"]

            phone.goto(f"{live_server}/admin/templates/preview/onboarding/stalled?account=acme0")
            expect(phone.locator("#subject")).to_be_visible()
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        finally:
            browser.close()
