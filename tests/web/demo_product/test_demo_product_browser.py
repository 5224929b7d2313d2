"""The demo product in Debian's Chromium: a signed-in admin views it as a demo contact, sees their
nudges, and what they do with them is recorded as that contact's, through the real nudge API."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from werkzeug.serving import make_server

from engine.embedded.process import free_port
from engine.models import Delivery, Nudge, User, utcnow

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_site(make_app, tmp_path, inapp_nudges):
    """The app with the demo product, served at its public URL (the app's allowed origin)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_app(demo_product=True, public_url=url, instance_dir=tmp_path, policy_file=None)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def browser(chromium_path, chromium_args):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            yield launched
        finally:
            launched.close()


def nudge_row(db, nudge_id: int) -> Nudge:
    with db.read_session() as s:
        row = s.get(Nudge, nudge_id)
        s.expunge(row)
        return row


def wait_for(check, timeout: float = 6.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    return check()


def watch(page) -> list[str]:
    """Uncaught errors and console errors or warnings of a page (Touchline has no favicon: not an error here)."""
    problems: list[str] = []
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning") else None)
    return problems


def test_viewed_as_a_contact_their_nudges_show_and_what_they_do_is_recorded(
    browser, demo_site, inapp_nudges, make_user, password, browser_sign_in, db, screenshots
):
    w = inapp_nudges
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    problems = watch(page)
    browser_sign_in(page, demo_site, make_user("viewer"), password, path="/demo/product")
    assert page.url == f"{demo_site}/demo/product?contact=ann"  # the contact with the most nudges waiting
    banner, card = page.locator("touchline-nudges .b"), page.locator("touchline-nudges li.c")
    banner.wait_for()
    card.wait_for()
    page.wait_for_timeout(400)  # past the entrance
    page.screenshot(path=str(screenshots / "demo-product.png"))
    assert wait_for(lambda: nudge_row(db, w.nudge[("ann", "banner")]).seen_at and nudge_row(db, w.nudge[("ann", "card")]).seen_at)

    card.get_by_role("button", name="Later").click()
    card.wait_for(state="detached")
    until = wait_for(lambda: nudge_row(db, w.nudge[("ann", "card")]).snoozed_until)
    assert abs(until - (utcnow() + timedelta(days=1))) < timedelta(minutes=2)
    banner.get_by_role("button", name="Dismiss").click()
    banner.wait_for(state="detached")
    assert wait_for(lambda: nudge_row(db, w.nudge[("ann", "banner")]).dismissed_at)

    page.reload()
    page.wait_for_timeout(2000)  # the snippet has asked the API by now
    assert page.locator("touchline-nudges .b, touchline-nudges .c").count() == 0, "dismissed and snoozed stay gone"

    # Viewed as Bea: her banner's call to action is recorded, then followed.
    cta_url = f"{w.settings.public_url}/setup"
    page.route(cta_url, lambda route: route.fulfill(body="<!doctype html><title>Setup</title><h1>Setup</h1>", content_type="text/html"))
    page.locator("#contact-choice").select_option("bea")
    page.wait_for_url(f"{demo_site}/demo/product?contact=bea")
    cta = page.locator("touchline-nudges .b").get_by_role("link", name="Open the setup checklist")
    cta.click()
    page.wait_for_url(cta_url)
    assert nudge_row(db, w.nudge[("bea", "banner")]).clicked_at is not None
    assert problems == []


def test_in_japanese_at_390px(browser, demo_site, inapp_nudges, make_user, password, browser_sign_in, db, screenshots):
    email = make_user("viewer")
    with db.session() as s:  # the admin reads Japanese (the menu's choice); Carl's nudges are Japanese
        s.scalar(select(User).where(User.email == email)).locale = "ja"
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    problems = watch(page)
    browser_sign_in(page, demo_site, email, password, path="/demo/product?contact=carl")
    page.locator("touchline-nudges .b").wait_for()
    page.locator("touchline-nudges li.c").wait_for()
    assert page.locator("h1").inner_text() == "概要"
    assert page.get_by_role("button", name="あとで").count() == 2 and page.get_by_role("button", name="閉じる").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.wait_for_timeout(400)
    page.screenshot(path=str(screenshots / "demo-product-390-ja.png"))
    page.screenshot(path=str(screenshots / "demo-product-390-ja-full.png"), full_page=True)
    assert problems == []
    context.close()


def test_a_modal_nudge_on_the_demo_product(browser, demo_site, inapp_nudges, make_user, password, browser_sign_in, db, screenshots):
    w = inapp_nudges
    with db.session() as s:  # a modal for Ann, beside her banner and card, as a rule with kind: modal writes it
        banner = s.get(Nudge, w.nudge[("ann", "banner")])
        source = s.get(Delivery, banner.delivery_id)
        delivery = s.scalar(insert(Delivery).values(
            dedupe_key="demo-modal", rule_id=source.rule_id, rule_version_id=source.rule_version_id, action_index=9,
            channel="in_app", template="onboarding/admin-tour", account_id=source.account_id, contact_id=source.contact_id,
            recipient=source.recipient, occurrence="1", status="sent").returning(Delivery.id))  # fmt: skip
        modal = Nudge(delivery_id=delivery, account_id=banner.account_id, contact_id=banner.contact_id, kind="modal", priority=90,
                      title="Reports now refresh every hour", locale="en", cta_label="See what changed", cta_url="https://example.com/changelog",
                      body_html="<p>Connected sources now refresh <strong>every hour</strong>, so the whole team sees the same figures.</p>")  # fmt: skip
        s.add(modal)
        s.flush()
        modal_id = modal.id
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    problems = watch(page)
    browser_sign_in(page, demo_site, make_user("viewer"), password, path="/demo/product")
    dialog = page.get_by_role("dialog", name="Reports now refresh every hour")
    dialog.wait_for()
    page.wait_for_timeout(400)
    page.screenshot(path=str(screenshots / "demo-product-modal.png"))
    # maxPerView 2: the modal (90) and the banner (70); the card (20) waits for another page view.
    assert page.locator("touchline-nudges .b").count() == 1 and page.locator("touchline-nudges li.c").count() == 0
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert wait_for(lambda: nudge_row(db, modal_id).dismissed_at)
    assert problems == []
