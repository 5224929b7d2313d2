"""The send log page: filters round-trip through the GET form, keyset pages, capped counts, bad values."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


class Page(HTMLParser):
    """Rows' ids, the count chips, the form's values and the pager links, found by id and attribute."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[int] = []
        self.values: dict[str, str] = {}
        self.selected: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.ids: set[str] = set()
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and "data-id" in a:
            self.rows.append(int(a["data-id"]))
        if tag == "input" and a.get("name"):
            self.values[a["name"]] = a.get("value", "")
        if tag == "select":
            self._select = a.get("name")
        if tag == "option" and "selected" in a and self._select:
            self.selected[self._select] = a.get("value", "")
        if tag == "a" and a.get("rel") in ("next", "prev"):
            self.links[a["rel"]] = a["href"].replace("&amp;", "&")


def get(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return Page(response.get_data(as_text=True)), response.get_data(as_text=True)


def test_a_viewer_pages_through_every_row_and_back(db, login_as, add_deliveries):
    ids = add_deliveries([{"created_at": T0 + timedelta(seconds=i // 7)} for i in range(120)])  # ties across page edges
    client = login_as("viewer")
    seen, url, pages = [], "/admin/deliveries/", []
    while url:
        page, _ = get(client, url)
        seen += page.rows
        pages.append(page.rows)
        url = page.links.get("next")
    assert seen == sorted(ids, key=lambda i: (ids.index(i) // 7, i), reverse=True) and len(pages) == 3
    back, _ = get(client, page.links["prev"])
    assert back.rows == pages[1]


def test_filters_round_trip_through_the_form(db, login_as, add_deliveries):
    ids = add_deliveries([
        {"account": "acme", "rule": "welcome", "status": "failed", "channel": "email", "recipient": "ann@x.test",
         "reason": "550 mailbox unavailable", "created_at": T0},
        {"account": "acme", "rule": "welcome", "status": "sent", "created_at": T0},
        {"account": "initech", "rule": "welcome", "status": "failed", "created_at": T0},
    ])  # fmt: skip
    client = login_as("viewer")
    query = ("rule=welcome&status=failed&channel=email&account=acme&recipient=ann%40x.test"
             "&since=2026-11-01&until=2026-11-01&reason=mailbox")  # fmt: skip
    page, html = get(client, f"/admin/deliveries/?{query}")
    assert page.rows == [ids[0]]
    assert {k: page.selected.get(k) for k in ("rule", "status", "channel")} == {"rule": "welcome", "status": "failed", "channel": "email"}
    assert {k: page.values[k] for k in ("account", "recipient", "since", "until", "reason")} == {
        "account": "acme", "recipient": "ann@x.test", "since": "2026-11-01", "until": "2026-11-01", "reason": "mailbox"}
    export = re.search(r'id="sendlog-export"[^>]*|href="([^"]+)"[^>]*id="sendlog-export"', html)
    assert export and "account=acme" in html.split('id="sendlog-export"')[0].rsplit("<a", 1)[1]


def test_rows_show_people_and_accounts_not_internal_ids(db, login_as, add_deliveries):
    add_deliveries([{"account": "acme", "account_name": "Acme Corp", "contact": "Ann Lee", "recipient": "ann@x.test",
                     "created_at": T0}])  # fmt: skip
    _, html = get(login_as("viewer"), "/admin/deliveries/")
    row = html.split("<tbody>")[1]
    assert "Ann Lee" in row and "ann@x.test" in row and "Acme Corp" in row and ">acme<" in row
    assert 'datetime="2026-11-01T12:00:00Z"' in row  # |dt: UTC in the markup, local time by the page's script


def test_counts_by_status_are_capped(db, login_as, add_deliveries, monkeypatch):
    from engine.delivery import log

    monkeypatch.setattr(log, "COUNT_CAP", 3)
    add_deliveries([{"status": "sent"}] * 5 + [{"status": "failed"}])
    _, html = get(login_as("viewer"), "/admin/deliveries/")
    counts = html.split('id="sendlog-counts"')[1].split("</ul>")[0]
    chips = re.findall(r'<span class="n">([^<]+)</span>', counts)
    assert chips == ["4+", "1", "3+"]  # all (capped), failed (attention first), sent (capped)


def test_bad_values_are_a_400_naming_the_field_inline(db, login_as, add_deliveries):
    add_deliveries([{}])
    client = login_as("viewer")
    for query, field in (("status=lost", "status"), ("since=2026-02-30", "since"), ("channel=sms", "channel"),
                         ("account=nobody", "account"), ("rule=nope", "rule"), ("since=2026-11-05&until=2026-11-01", "until")):  # fmt: skip
        page, html = get(client, f"/admin/deliveries/?{query}", status=400)
        assert f'data-field="{field}"' in html and "sendlog-filters" in page.ids, query
        assert "sendlog-table" not in page.ids
    damaged = client.get("/admin/deliveries/?before=not-a-cursor")
    assert damaged.status_code == 400


def test_the_send_log_needs_a_signed_in_user(client):
    response = client.get("/admin/deliveries/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    response = client.get("/admin/deliveries/export.csv")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_paused_rule_and_its_reason_are_shown(db, login_as, deliveries_with_one_lost):
    from engine.rules.versions import pause_rule

    deliveries_with_one_lost(2)
    with db.session() as s:
        pause_rule(s, "nudge", "circuit breaker: more than 1,000 messages in one cycle")
    _, html = get(login_as("viewer"), "/admin/deliveries/")
    assert "circuit breaker: more than 1,000 messages" in html


def test_the_empty_log_says_where_deliveries_come_from(db, login_as):
    _, html = get(login_as("viewer"), "/admin/deliveries/")
    assert 'class="empty"' in html and "sendlog-table" not in html


def test_japanese(db, login_as, add_deliveries):
    add_deliveries([{}])
    client = login_as("viewer")
    response = client.get("/admin/deliveries/", headers={"Accept-Language": "ja"})
    assert response.status_code == 200 and "送信ログ" in response.get_data(as_text=True)
