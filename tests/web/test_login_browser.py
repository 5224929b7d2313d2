"""Sign in through the real form in Debian's Chromium and see the dashboard."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from engine.embedded.process import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI installs it, so this is a broken CI setup")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def live_server(app) -> Iterator[str]:
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(10)


def test_sign_in_through_the_form_and_see_the_dashboard(chromium_path, live_server, make_user, password):
    from playwright.sync_api import expect, sync_playwright

    email = make_user("admin")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server}/")
            expect(page).to_have_url(f"{live_server}/auth/login?next=%2Fadmin%2F")

            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{live_server}/admin/")
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            expect(page.locator("#accounts-total")).to_have_text("0")
            expect(page.get_by_text(f"{email} (admin)")).to_be_visible()

            page.get_by_role("button", name="Sign out").click()
            expect(page).to_have_url(f"{live_server}/auth/login")
            expect(page.get_by_role("status")).to_have_text("You are signed out.")
        finally:
            browser.close()
