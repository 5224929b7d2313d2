"""Users, API keys and the audit trail in Debian's Chromium: an admin adds a user, changes a role
and creates a key, sees it all in the audit trail; a viewer sees no edit controls and is refused a
direct POST. Screenshots go to $SCREENSHOT_DIR (else the test's tmp folder)."""

from __future__ import annotations


import pytest

pytestmark = pytest.mark.browser


def test_admin_manages_users_and_keys_and_reads_the_trail(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, screenshots):
    from playwright.sync_api import expect, sync_playwright

    admin = make_user("admin", "ana@example.com")
    make_user("editor", "bob@example.com")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            browser_sign_in(page, live_server, admin, password)
            page.get_by_role("link", name="Users").click()
            expect(page.get_by_role("heading", name="Users")).to_be_visible()

            form = page.locator("#create-user")
            form.get_by_label("Email").fill("carol@example.com")
            form.get_by_label("Role").select_option("viewer")
            form.get_by_role("button", name="Add user").click()
            expect(page.get_by_role("status").filter(has_text="Created carol@example.com.")).to_be_visible()
            expect(page.locator("#new-password .secret")).to_be_visible()
            assert len(page.locator("#new-password .secret").inner_text()) >= 12
            page.screenshot(path=str(screenshots / "users.png"), full_page=True)

            row = page.locator("tr", has_text="bob@example.com")
            row.get_by_label("Role of bob@example.com").select_option("admin")
            row.get_by_role("button", name="Change").click()
            expect(page.get_by_role("status").filter(has_text="bob@example.com is now Admin.")).to_be_visible()
            expect(page.locator("#new-password")).to_have_count(0)  # shown once

            page.get_by_role("link", name="API keys").click()
            page.locator("#create-key").get_by_label("Name").fill("product backend")
            page.get_by_role("button", name="Create key").click()
            expect(page.locator("#new-token .secret")).to_contain_text("tl_")
            page.screenshot(path=str(screenshots / "api-keys.png"), full_page=True)

            page.get_by_role("link", name="Audit trail").click()
            expect(page.locator(".audit-entry")).to_have_count(5)  # the two users made by the fixture too
            page.get_by_label("Who").fill("user:ana@example.com")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator(".audit-entry")).to_have_count(3)
            expect(page.locator(".audit-entry").first).to_contain_text("user:ana@example.com")
            expect(page.locator(".audit-entry").nth(1).locator("td.after")).to_have_text('"admin"')
            page.screenshot(path=str(screenshots / "audit.png"), full_page=True)
        finally:
            browser.close()


def test_a_viewer_sees_no_edit_controls_and_a_direct_post_is_refused(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, db, screenshots):
    from playwright.sync_api import expect, sync_playwright
    from sqlalchemy import func, select

    from engine.models import AuditEntry, User

    viewer = make_user("viewer")
    make_user("admin")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 700})
            browser_sign_in(page, live_server, viewer, password)
            page.goto(f"{live_server}/admin/audit/")
            expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
            expect(page.get_by_role("link", name="Users")).to_have_count(0)
            expect(page.get_by_role("link", name="API keys")).to_have_count(0)
            # Only the filter form (GET), sign-out and language: no form on the page changes anything it shows.
            assert page.locator("main form[method=post]").count() == 0
            page.screenshot(path=str(screenshots / "audit-viewer.png"), full_page=True)

            token = page.locator("input[name=csrf_token]").first.get_attribute("value")
            response = page.request.post(f"{live_server}/admin/users/", form={
                "email": "intruder@example.com", "role": "admin", "password": "long enough pw", "csrf_token": token})
            assert response.status == 403
            assert page.request.get(f"{live_server}/admin/users/").status == 403
        finally:
            browser.close()
    with db.read_session() as s:
        assert s.scalar(select(User).where(User.email == "intruder@example.com")) is None
        assert not s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.object_id == "intruder@example.com"))
