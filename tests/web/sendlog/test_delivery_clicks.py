"""A delivery's page lists its clicks and opens: people's apart from those flagged as link scanners'."""

from __future__ import annotations

from htmlids import ids
from tests.web.accounts.test_accounts_pages import words
from tests.web.tracking.test_click_route import BROWSER, path_of, send_guides, sent_a_minute_ago


def test_the_delivery_page_shows_a_click_by_a_person_and_a_flagged_one_apart(client, login_as, db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, accounts=1)
    sent_a_minute_ago(db)
    link = path_of(out.links("acme0")[0])
    assert client.get(link, headers={"User-Agent": BROWSER}).status_code == 302
    assert client.head(link, headers={"User-Agent": BROWSER}).status_code == 302
    viewer = login_as("viewer")
    response = viewer.get(f"/admin/deliveries/{out.ids['acme0']}")
    assert response.status_code == 200
    page = ids(response)
    assert words(page.text["engagement-h"]) == "Clicks and opens"
    assert words(page.text["clicks"]) == "1 click by a person"
    assert words(page.text["flagged-clicks"]) == "1 click flagged as a link scanner's"
    assert "opens" not in page.text  # no open pixel in this category
    rows = {k: v for k, v in page.attrs.items() if k.startswith("engagement-") and k[len("engagement-"):].isdigit()}
    assert sorted(a["class"] for a in rows.values()) == ["engagement-flagged", "engagement-human"]
    human = next(words(page.text[k]) for k, a in rows.items() if a["class"] == "engagement-human")
    flagged = next(words(page.text[k]) for k, a in rows.items() if a["class"] == "engagement-flagged")
    guide = "https://docs.example.com/start?utm=mail&id=acme0"
    assert guide in human and "a person" in human and "GET 127.0.0.1" in human and "Chrome/131.0" in human
    assert guide in flagged and "flagged HEAD request" in flagged and "HEAD" in flagged
    # In Japanese too.
    page = ids(viewer.get(f"/admin/deliveries/{out.ids['acme0']}", headers={"Accept-Language": "ja"}))
    assert words(page.text["engagement-h"]) == "クリックと開封"
    assert words(page.text["clicks"]) == "1 件のクリック（人による）"


def test_opens_are_counted_where_the_category_has_the_pixel(client, login_as, db, smtp_server, tmp_path):
    import re

    out = send_guides(db, smtp_server, tmp_path, accounts=1, track_opens=("product-tips",))
    sent_a_minute_ago(db)
    html, _text, _m = out.parts("acme0")
    pixel = re.search(r'src="([^"]*/t/o/[^"]+)"', html).group(1)
    client.get(path_of(pixel), headers={"User-Agent": BROWSER})
    client.get(path_of(pixel), headers={"User-Agent": "Mozilla/5.0 (compatible; Mimecast)"})
    viewer = login_as("viewer")
    page = ids(viewer.get(f"/admin/deliveries/{out.ids['acme0']}"))
    assert words(page.text["opens"]) == "1 open (and 1 flagged)"
    assert words(page.text["clicks"]) == "0 clicks by people"
    # Shown in the admin, the message keeps its pixel but does not load it: reading it there is no open.
    shown = viewer.get(f"/admin/deliveries/{out.ids['acme0']}/message.html").get_data(as_text=True)
    assert "/t/o/" not in shown and '<img src="data:image/gif;base64,' in shown
    assert shown.replace(re.search(r'<img src="(data:[^"]+)"', shown).group(1), pixel) == html


def test_a_delivery_nobody_clicked_says_so(login_as, db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, accounts=1)
    page = ids(login_as("viewer").get(f"/admin/deliveries/{out.ids['acme0']}"))
    assert "No clicks or opens recorded" in words(page.text["engagement"])
    assert "engagement-counts" not in page.text
