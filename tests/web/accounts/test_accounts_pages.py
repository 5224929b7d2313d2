"""The accounts area: list with search, filters and pages; the account page's sections; roles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import url_for

from engine.ingest import upsert_accounts, upsert_contacts
from engine.rules.versions import apply_rules, read_rules
from tests.conftest import ROOT
from htmlids import ids


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def accounts(db):
    signup = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    with db.session() as s:
        apply_rules(s, read_rules([str(ROOT / "rules")]).rules, author="test")
        upsert_accounts(s, [
            {"id": f"acct-{i:03d}", "name": f"Shop {i}", "tier": "tech", "plan": "team"} for i in range(60)
        ] + [
            {"id": "stalled", "name": "Stalled Ltd", "tier": "tech", "plan": "starter", "mrr": 1200, "signup_at": signup},
            {"id": "bigco", "name": "Big Co", "tier": "high", "plan": "enterprise", "owner": "kim@cs.example"},
        ])  # fmt: skip
        upsert_contacts(s, [{"id": "stalled-u1", "account_id": "stalled", "email": "ann@stalled.example", "role": "admin", "name": "Ann"}])
    return db


def test_list_pages_through_every_account_by_id(accounts, login_as):
    client = login_as("viewer")
    first = client.get("/admin/accounts/")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert html.count('href="/admin/accounts/acct-') == 50
    href = html.split('rel="next" id="next-page"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = client.get(href).get_data(as_text=True)
    assert 'href="/admin/accounts/acct-050"' in second and 'href="/admin/accounts/stalled"' in second
    assert 'id="next-page"' not in second


def test_search_and_filters_narrow_the_list(accounts, login_as):
    client = login_as("viewer")
    found = words(ids(client.get("/admin/accounts/?q=ann%40stalled")).text["accounts"])
    assert "stalled" in found and "acct-" not in found
    assert "bigco" in words(ids(client.get("/admin/accounts/?tier=high")).text["accounts"])
    owner = words(ids(client.get("/admin/accounts/?owner=kim%40cs.example&plan=enterprise")).text["accounts"])
    assert "bigco" in owner and "stalled" not in owner
    # The filter menus list what accounts have.
    page = ids(client.get("/admin/accounts/"))
    assert "enterprise" in page.text["plan"] and "kim@cs.example" in page.text["owner"]
    none = client.get("/admin/accounts/?q=zzz").get_data(as_text=True)
    assert "No account matches" in none


def test_bad_input_is_a_400_naming_the_problem(accounts, login_as):
    client = login_as("viewer")
    bad = client.get("/admin/accounts/?tier=gold")
    assert bad.status_code == 400
    assert "unknown tier 'gold'" in ids(bad).text["search-error"]
    damaged = client.get("/admin/accounts/?after=%%%")
    assert damaged.status_code == 400 and "cursor" in damaged.get_data(as_text=True)


def test_account_page_sections(accounts, login_as, app):
    client = login_as("viewer")
    response = client.get("/admin/accounts/stalled")
    assert response.status_code == 200
    page = ids(response)
    assert "starter" in page.text["account-fields"] and "1,200" in page.text["account-fields"]
    assert "ann@stalled.example" in page.text["contact-stalled-u1"] and "admin" in page.text["contact-stalled-u1"]
    assert "No changes recorded." in page.text["changes"]
    assert {"usage-login", "usage-project_created", "usage-report_run"} <= set(page.text)
    rule = words(page.text["rule-onboarding-stalled-day7"])
    assert rule.startswith("Matches Stalled onboarding, day 7") and "account.tier eq 'tech' saw: tech" in rule
    assert words(page.text["rule-owner-changed-high-touch"]).startswith("Does not match")
    with app.test_request_context():
        sendlog = url_for("sendlog.index", account="stalled")
    assert f'id="deliveries-link" href="{sendlog}"' in response.get_data(as_text=True)


def test_unknown_account_is_a_404_that_says_so(accounts, login_as):
    response = login_as("viewer").get("/admin/accounts/ghost")
    assert response.status_code == 404 and "There is no account with id ghost" in ids(response).text["not-found"]


def test_anonymous_is_sent_to_sign_in(accounts, client):
    for path in ("/admin/accounts/", "/admin/accounts/stalled"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_japanese(accounts, login_as):
    response = login_as("viewer").get("/admin/accounts/stalled", headers={"Accept-Language": "ja"})
    assert response.status_code == 200
