"""The audit trail page: filters, keyset pages, diffs; read-only for every role."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.audit import record
from engine.models import AuditEntry


def _seed(db):
    t = datetime(2026, 12, 2, 9, tzinfo=timezone.utc)
    with db.session() as s:
        s.add_all([
            AuditEntry(at=t, actor="user:ana@example.com", action="change_role", object_type="user", object_id="bob@example.com",
                       before={"role": "viewer"}, after={"role": "editor"}),
            AuditEntry(at=t + timedelta(hours=1), actor="cli:ops", action="save", object_type="rule", object_id="stalled",
                       before="id: stalled\nholdout: 10%\n", after="id: stalled\nholdout: 20%\n"),
            AuditEntry(at=t - timedelta(days=3), actor="api_key:ab12cd34", action="add", object_type="suppression",
                       object_id="x@example.com", after={"suppressed": {"*": "complained"}}),
        ])  # fmt: skip


def test_entries_with_diffs_newest_first(db, login_as):
    _seed(db)
    html = login_as("viewer").get("/admin/audit/").get_data(as_text=True)
    assert html.index("stalled") < html.index("bob@example.com") < html.index("x@example.com")
    assert '<span class="add">+holdout: 20%</span>' in html and '<span class="del">-holdout: 10%</span>' in html
    assert '<td class="before"><code>"viewer"</code>' in html and '<td class="after"><code>"editor"</code>' in html


def test_filters(db, login_as):
    _seed(db)
    client = login_as("viewer")

    def shown(**args):
        html = client.get("/admin/audit/", query_string=args).get_data(as_text=True)
        return [o for o in ("stalled", "bob@example.com", "x@example.com") if f">{o}</a>" in html]

    assert shown(actor="cli:ops") == ["stalled"]
    assert shown(actor="ana") == ["bob@example.com"]
    assert shown(object_type="suppression") == ["x@example.com"]
    assert shown(object_type="user", object="bob@example.com") == ["bob@example.com"]
    assert shown(since="2026-12-01") == ["stalled", "bob@example.com"]
    assert shown(until="2026-11-30") == ["x@example.com"]
    assert "No entries match these filters." in client.get("/admin/audit/?object=nothing").get_data(as_text=True)


def test_bad_filters_are_400_with_the_reason(db, login_as):
    client = login_as("viewer")
    r = client.get("/admin/audit/?since=yesterday")
    assert r.status_code == 400 and 'data-field="since"' in r.get_data(as_text=True)
    r = client.get("/admin/audit/?since=2026-12-03&until=2026-12-01")
    assert r.status_code == 400 and "end date is before the start date" in r.get_data(as_text=True)
    assert client.get("/admin/audit/?object_type=cheese").status_code == 400
    assert client.get("/admin/audit/?before=garbage").status_code == 400


def test_keyset_pages_keep_the_filters(db, login_as, monkeypatch):
    monkeypatch.setattr("web.audit.views.PAGE_SIZE", 2)
    with db.session() as s:
        for i in range(5):
            record(s, actor="cli:ops", action="save", object_type="rule", object_id=f"rule-{i}")
        record(s, actor="cli:other", action="save", object_type="rule", object_id="not-mine")
    client = login_as("viewer")
    seen, url = [], "/admin/audit/?actor=cli:ops"
    import re

    while url:
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r">(rule-\d)</a>", html)
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
        assert url is None or "actor=cli" in url
    assert seen == [f"rule-{i}" for i in (4, 3, 2, 1, 0)]


def test_the_area_has_no_route_that_changes_anything(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("audit."):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule


def test_the_page_renders_in_japanese(db, login_as):
    _seed(db)
    html = login_as("viewer").get("/admin/audit/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'lang="ja"' in html and "監査ログ" in html
