"""Sign in through the real form in Debian's Chromium and see the dashboard."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_sign_in_through_the_form_and_see_the_dashboard(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("admin")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page()
            page.goto(f"{live_server}/")
            expect(page).to_have_url(f"{live_server}/auth/login?next=%2Fadmin%2F")

            browser_sign_in(page, live_server, email, "not the password", path=None)  # the form is open
            expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

            browser_sign_in(page, live_server, email, password, path=None)
            expect(page).to_have_url(f"{live_server}/admin/")
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            expect(page.locator("#accounts-total")).to_have_text("0")
            expect(page.locator("header .who")).to_have_text(f"{email} Admin")

            page.get_by_role("button", name="Sign out").click()
            expect(page).to_have_url(f"{live_server}/auth/login")
            expect(page.get_by_role("status")).to_have_text("You are signed out.")
        finally:
            browser.close()
