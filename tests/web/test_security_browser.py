"""Every page in Debian's Chromium under the real Content-Security-Policy: nothing is blocked,
the stylesheet applies, and inline script is refused."""

from __future__ import annotations

import pytest

from engine.compliance import unsubscribe_token
from web.context import get_settings

pytestmark = pytest.mark.browser

# Runs before each page's own code (through the DevTools protocol, so the policy does not apply to it).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""
ADMIN_BACKGROUND = "rgb(246, 248, 250)"  # body's background in static/css/touchline.css


def test_no_page_breaks_the_policy(chromium_path, chromium_args, live_server, app, make_user, password, browser_sign_in, html_paths, login):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("admin")
    with app.app_context():
        token = unsubscribe_token(get_settings(), "ann@example.com", "onboarding", contact_id=1)
    client = app.test_client()
    login(client, email)
    admin_pages = html_paths(client)  # every area's pages, as they are added
    assert {"/admin/", "/admin/deliveries/", "/admin/rules/", "/admin/accounts/", "/admin/audit/"} <= set(admin_pages)
    recipient_pages = [f"/u/{token}", f"/preferences/{token}", "/u/not-a-token"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.add_init_script(RECORD_VIOLATIONS)

            def visit(path: str) -> None:
                page.goto(f"{live_server}{path}")
                page.wait_for_load_state("load")
                assert page.evaluate("window.__violations") == [], path
                assert not [line for line in console if "Content Security Policy" in line], (path, console)

            visit("/auth/login")
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == ADMIN_BACKGROUND
            browser_sign_in(page, live_server, email, password, path=None)  # visit() opened the form
            expect(page).to_have_url(f"{live_server}/admin/")

            for path in [*admin_pages, "/no-such-page", *recipient_pages]:
                visit(path)
                if not path.startswith(("/u/", "/preferences/")):
                    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == ADMIN_BACKGROUND, path

            # The recording works: an inline script added now is refused and reported.
            visit("/admin/")
            page.evaluate(
                "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = true';"
                " document.body.append(s); }"
            )
            page.wait_for_function("window.__violations.length > 0", timeout=5000)
            assert page.evaluate("window.__ran") is None
            assert page.evaluate("window.__violations")[0].startswith("script-src-elem blocked inline")
        finally:
            browser.close()
