"""A recipient in Debian's Chromium: open the link, see a confirmation, click, unsubscribed; then come back."""

from __future__ import annotations

import pytest

from engine.compliance import suppression_for, unsubscribe_token
from web.context import get_settings

pytestmark = pytest.mark.browser


def test_confirm_click_unsubscribed_then_resubscribe(chromium_path, chromium_args, live_server, app, db):
    from playwright.sync_api import expect, sync_playwright

    with app.app_context():
        token = unsubscribe_token(get_settings(), "ann@example.com", "onboarding", contact_id=1)

    def status() -> str | None:
        with db.read_session() as session:
            return suppression_for(session, "ann@example.com", "onboarding")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page(locale="en-US")
            page.goto(f"{live_server}/u/{token}")
            expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
            expect(page.get_by_text("Stop sending Onboarding emails to ann@example.com?")).to_be_visible()
            assert status() is None  # opening the page changed nothing

            page.get_by_role("button", name="Unsubscribe").click()
            expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
            expect(page.get_by_role("status")).to_have_text(
                "ann@example.com will no longer get Onboarding emails from us."
            )
            assert status() == "unsubscribed"

            page.get_by_role("button", name="Resubscribe").click()
            expect(page.get_by_role("heading", name="Email preferences")).to_be_visible()
            expect(page.get_by_role("status")).to_have_text("You are resubscribed to Onboarding emails.")
            expect(page.locator("#category-onboarding")).to_contain_text("Subscribed")
            assert status() is None
        finally:
            browser.close()
