"""An account's timeline shows the clicks and opens of its email, flagged ones marked."""

from __future__ import annotations

from htmlids import ids
from tests.web.accounts.test_accounts_pages import words
from tests.web.tracking.test_click_route import BROWSER, path_of, send_guides, sent_a_minute_ago


def test_a_click_lands_on_the_accounts_timeline(client, login_as, db, smtp_server, tmp_path):
    from datetime import UTC, datetime

    out = send_guides(db, smtp_server, tmp_path, accounts=1)
    sent_a_minute_ago(db)
    link = path_of(out.links("acme0")[1])
    client.get(link, headers={"User-Agent": BROWSER})
    client.get(link, headers={"User-Agent": "python-requests/2.32"})
    response = login_as("viewer").get("/admin/accounts/acme0")
    assert response.status_code == 200
    page = ids(response)
    today = words(page.text[f"day-{datetime.now(UTC).date().isoformat()}"])
    videos = "guide: ann0@acme.test → https://docs.example.com/videos/acme0"
    assert f"click {videos}" in today
    assert f"click {videos} flagged scanner user agent (python-requests)" in today
    assert today.count("click guide:") == 2

