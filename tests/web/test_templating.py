"""Filters, cursors, CSV cells and the navigation every admin page shares."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import url_for
from flask_babel import force_locale
from werkzeug.exceptions import BadRequest

from web.auth.roles import RANK
from web.export import content_disposition, csv_cell, stream_csv
from web.nav import NAV_KEY
from web.paging import BAD_CURSOR, decode_cursor, encode_cursor
from web.templating import dt, num


def test_dt_shows_utc_with_the_exact_value_on_hover_for_naive_and_aware_times():
    naive = str(dt(datetime(2026, 12, 3, 14, 5, 9)))
    assert naive == ('<time datetime="2026-12-03T14:05:09Z" title="2026-12-03 14:05:09 UTC" data-local>'
                     "2026-12-03 14:05 UTC</time>")  # fmt: skip
    tokyo = datetime(2026, 12, 3, 23, 5, 9, tzinfo=timezone(timedelta(hours=9)))
    assert str(dt(tokyo)) == naive
    assert str(dt(None)) == "—"


def test_num_groups_thousands_in_each_language(app):
    with app.test_request_context():
        for locale in ("en", "ja"):
            with force_locale(locale):
                assert num(1234567) == "1,234,567"
                assert num(0) == "0"
        with force_locale("en"):
            assert num(1234.5) == "1,234.5"
        assert num(None) == "—"


@pytest.mark.parametrize("values", [(1,), (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 99), ("acme", None, 3)])
def test_a_cursor_reads_back_what_it_holds(values):
    kinds = tuple(datetime if isinstance(v, datetime) else str if isinstance(v, str) else int for v in values)
    assert decode_cursor(encode_cursor(*values), *kinds) == values
    assert decode_cursor(None, int) is None and decode_cursor("", int) is None


@pytest.mark.parametrize(
    "token",
    ["garbage!", encode_cursor(1, 2), encode_cursor("1"), encode_cursor(True),
     base64.urlsafe_b64encode(b"[1").decode(), base64.urlsafe_b64encode(b"\xff\xfe").decode()],
)  # fmt: skip
def test_a_damaged_cursor_is_a_400_that_says_so(token):
    with pytest.raises(BadRequest) as caught:
        decode_cursor(token, int)
    assert caught.value.description == BAD_CURSOR


@pytest.mark.parametrize(("value", "cell"), [("=1+1", "'=1+1"), ("+x", "'+x"), ("-2", "'-2"), ("@a", "'@a"),
                                             ("\tx", "'\tx"), ("plain", "plain"), (None, ""), (42, "42")])  # fmt: skip
def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(value, cell):
    assert csv_cell(value) == cell


def test_streamed_csv_names_the_file_for_every_browser_and_writes_rows_as_they_come(app):
    assert content_disposition("送信ログ.csv") == (
        "attachment; filename=\"____.csv\"; filename*=UTF-8''%E9%80%81%E4%BF%A1%E3%83%AD%E3%82%B0.csv")
    produced: list[int] = []

    def rows():
        for i in range(3):
            produced.append(i)
            yield (i, f"=cmd{i}")

    with app.test_request_context():
        response = stream_csv("x.csv", ["n", "text"], rows())
        assert produced == []  # nothing read before the body is
        body = response.get_data(as_text=True)
    assert body.splitlines() == ["n,text", "0,'=cmd0", "1,'=cmd1", "2,'=cmd2"]
    assert response.mimetype == "text/csv" and response.headers["Cache-Control"] == "no-store"


def test_the_navigation_shows_each_user_only_what_their_role_may_open(app, login_as):
    items = app.extensions[NAV_KEY]
    assert items == sorted(items, key=lambda i: i.order) and items
    with app.test_request_context():
        links = {item: f'<a href="{url_for(item.endpoint)}"' for item in items}
    for role in ("viewer", "editor", "admin"):
        html = login_as(role).get("/admin/").get_data(as_text=True)
        for item, link in links.items():
            assert (link in html) == (RANK[role] >= RANK[item.role]), (role, item.endpoint)
