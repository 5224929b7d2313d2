"""A tracked link followed in Debian's Chromium: it lands on the original page, and the delivery's page
shows the click (screenshots at 1280 and 390 px)."""

from __future__ import annotations

import pytest

from tests.web.tracking.test_click_route import BROWSER, send_guides, sent_a_minute_ago

pytestmark = pytest.mark.browser
# The guide links to the app's own sign-in page: the browser lands somewhere this test serves.
TEMPLATE = """{% extends "_layouts/base.html" %}
{% block subject %}A guide for {{ account.name }}{% endblock %}
{% block html %}<p><a class="button" href="{{ links.app }}/auth/login?from=guide">Sign in to start</a></p>{% endblock %}
{% block text %}Sign in to start: {{ links.app }}/auth/login?from=guide{% endblock %}
"""


def test_a_click_in_a_browser_lands_on_the_link_and_shows_on_the_delivery_page(
    chromium_path, chromium_args, live_server, db, smtp_server, tmp_path, make_user, password, browser_sign_in, screenshots
):
    from playwright.sync_api import expect, sync_playwright

    out = send_guides(db, smtp_server, tmp_path, accounts=1, template=TEMPLATE, public_url=live_server)
    sent_a_minute_ago(db)
    link = out.links("acme0")[0]
    assert link.startswith(f"{live_server}/t/c/")
    email = make_user("viewer", "vi@vendor.test")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            # A headless browser says so in its user agent, which is flagged as a scanner's: a person's browser.
            recipient = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=BROWSER)
            page = recipient.new_page()
            page.goto(link)
            assert page.url == f"{live_server}/auth/login?from=guide"
            expect(page.locator("h1")).to_have_text("Sign in")
            # A changed link: a plain page, no redirect.
            page.goto(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
            assert page.url.startswith(f"{live_server}/t/c/")
            expect(page.locator("h1")).to_have_text("This link does not work")
            page.screenshot(path=str(screenshots / "tracking-bad-link.png"), full_page=True)

            admin = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
            page = admin.new_page()
            browser_sign_in(page, live_server, email, password, f"/admin/deliveries/{out.ids['acme0']}")
            expect(page.locator("#clicks")).to_have_text("1 click by a person")
            expect(page.locator("#engagement-rows tbody tr")).to_have_count(1)
            expect(page.locator("#engagement-rows")).to_contain_text(f"{live_server}/auth/login?from=guide")
            page.locator("#engagement").scroll_into_view_if_needed()
            page.locator("#engagement").screenshot(path=str(screenshots / "delivery-clicks.png"))

            phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=admin.storage_state()).new_page()
            phone.goto(f"{live_server}/admin/deliveries/{out.ids['acme0']}")
            expect(phone.locator("#engagement")).to_be_visible()
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            phone.locator("#engagement").screenshot(path=str(screenshots / "delivery-clicks-phone.png"))
        finally:
            browser.close()
