"""The send log in Debian's Chromium: sign in, filter by account and status, page forward, export CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.browser
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
PEOPLE = [("Aiko Tanaka", "aiko@acme.example"), ("Ben Ortiz", "ben@acme.example"), ("Chloe Martin", "chloe@acme.example")]


def test_filter_page_forward_and_export(chromium_path, chromium_args, live_server, make_user, password, browser_sign_in, add_deliveries, tmp_path, screenshots):
    from playwright.sync_api import expect, sync_playwright

    rows = []
    for i in range(130):
        name, address = PEOPLE[i % 3]
        status = ("sent", "failed", "skipped", "held_out")[i % 4] if i % 5 else "sent"
        rows.append({"account": "acme" if i % 2 else "globex", "account_name": "Acme Corp" if i % 2 else "Globex KK",
                     "rule": ("onboarding-stalled-day7", "usage-falling")[i % 2], "status": status, "contact": name,
                     "recipient": address if i % 2 else address.replace("acme", "globex"),
                     "reason": {"sent": "sent: 250 2.0.0 OK", "failed": "failed: 550 5.1.1 mailbox unavailable",
                                "skipped": "skipped: limit per_account 1 per 30d reached",
                                "held_out": "held out: holdout 10% (control group)"}[status],
                     "created_at": T0 - timedelta(minutes=7 * i)})  # fmt: skip
    ids = add_deliveries(rows)
    acme_sent = [d for d, r in zip(ids, rows) if r["account"] == "acme" and r["status"] == "sent"]
    email = make_user("viewer")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, locale="en-GB",
                                          timezone_id="Asia/Tokyo")  # fmt: skip
            page = context.new_page()
            browser_sign_in(page, live_server, email, password, "/admin/deliveries/")
            expect(page.locator("#sendlog-table")).to_be_visible()
            page.screenshot(path=str(screenshots / "sendlog.png"), full_page=False)

            page.get_by_label("Account id", exact=True).fill("acme")
            page.get_by_label("Status", exact=True).select_option("sent")
            page.get_by_role("button", name="Filter").click()
            expect(page).to_have_url(f"{live_server}/admin/deliveries/?rule=&status=sent&channel=&account=acme&recipient=&since=&until=&reason=")
            first = [int(x) for x in page.locator("#sendlog-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")]
            assert first == acme_sent[:50]  # rows were added newest first
            expect(page.locator("#sendlog-counts a[aria-current=true]")).to_contain_text("Sent")

            with page.expect_download() as download:
                page.get_by_role("link", name="Export these deliveries as CSV").click()
            saved = tmp_path / "export.csv"
            download.value.save_as(saved)
            exported = list(csv.DictReader(saved.open(encoding="utf-8")))
            assert [int(r["id"]) for r in exported] == acme_sent
            assert {(r["account"], r["status"]) for r in exported} == {("acme", "sent")}

            # Page forward over the whole log: the Older link keeps every row once.
            page.goto(f"{live_server}/admin/deliveries/")
            seen = []
            while True:
                seen += [int(x) for x in page.locator("#sendlog-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")]
                older = page.locator("a[rel=next]")
                if older.count() == 0:
                    break
                older.click()
                expect(page.get_by_role("link", name="Newer")).to_be_visible()
            assert seen == ids

            narrow = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
            phone = narrow.new_page()
            phone.goto(f"{live_server}/admin/deliveries/?status=failed")
            expect(phone.locator("#sendlog-table")).to_be_visible()
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390
            phone.screenshot(path=str(screenshots / "sendlog-narrow.png"), full_page=False)
        finally:
            browser.close()
