"""The demo product page: only with TOUCHLINE_DEMO_PRODUCT, only for signed-in users, its key made
once and kept, its tokens accepted by the nudge API for the chosen contact only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.inapp.keys import list_keys, revoke_key
from engine.inapp.tokens import verify_token
from engine.models import AuditEntry
from htmlids import parse as by_id
from web.demo_product.key import KEY_FILE

PUBLIC = "http://localhost"  # the test client's own address


@pytest.fixture
def demo_app(make_app, tmp_path):
    # Its own instance folder: the key file starts absent in every test.
    return make_app(demo_product=True, public_url=PUBLIC, instance_dir=tmp_path, policy_file=None)


def test_off_by_default_no_route_and_no_link(app, admin_user):
    assert not [r for r in app.url_map.iter_rules() if r.endpoint.startswith("demo_product.")]
    assert "/demo/product" not in admin_user.get("/admin/").get_data(as_text=True)


def test_every_route_needs_a_signed_in_user(demo_app, make_user, login):
    rules = [r for r in demo_app.url_map.iter_rules() if r.endpoint.startswith("demo_product.")]
    assert {r.rule for r in rules} == {"/demo/product", "/demo/product/token", "/demo/product/<path:feature>"}
    anonymous = demo_app.test_client()
    for rule in rules:
        assert getattr(demo_app.view_functions[rule.endpoint], "required_role", None) == "viewer"
        answer = anonymous.get(rule.rule.replace("<path:feature>", "setup") + "?contact=ann")
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/login")


def test_the_dashboard_links_to_it(demo_app, make_user, login):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    assert by_id(client.get("/admin/").get_data(as_text=True)).attrs["demo-product-link"]["href"] == "/demo/product"


def test_the_page_views_the_contact_with_most_nudges_and_lists_the_others(demo_app, inapp_nudges, make_user, login, db):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    first = client.get("/demo/product")
    assert first.status_code == 302 and first.headers["Location"] == "/demo/product?contact=ann"  # the most nudges
    page = client.get("/demo/product?contact=ann")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    page_ids = by_id(html)
    config = page_ids.attrs["touchline-config"]
    key = json.loads((Path(demo_app.extensions["touchline.settings"].instance_dir) / KEY_FILE).read_text())
    assert config["data-app"] == inapp_nudges.app_id == key["app_id"]
    assert config["data-endpoint"] == PUBLIC
    assert config["data-token-url"] == "/demo/product/token?contact=ann"
    assert [attrs["value"] for tag, attrs in page_ids.tags if tag == "option"] == ["ann", "bea", "carl"]
    assert "Content-Security-Policy" in page.headers and "unsafe-inline" not in page.headers["Content-Security-Policy"]
    # Viewing as Carl: his token, his page.
    html = client.get("/demo/product?contact=carl").get_data(as_text=True)
    assert by_id(html).attrs["touchline-config"]["data-token-url"] == "/demo/product/token?contact=carl"
    assert client.get("/demo/product?contact=nobody").status_code == 404


def test_the_token_names_the_chosen_contact_and_the_key_is_made_once(demo_app, inapp_nudges, make_user, login, db):
    client = demo_app.test_client()
    email = make_user("viewer")
    login(client, email)
    answer = client.get("/demo/product/token?contact=carl")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.headers["Cache-Control"] == "no-store"
    with db.read_session() as s:
        who = verify_token(s, inapp_nudges.app_id, answer.get_data(as_text=True))
        app, keys = list_keys(s)
    assert (who.contact, who.account) == ("carl", "globex")
    assert PUBLIC in app.origins and "https://app.example.com" in app.origins  # the product's origin kept
    path = Path(demo_app.extensions["touchline.settings"].instance_dir) / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kid = json.loads(path.read_text())["kid"]
    assert kid in {k.kid for k in keys} and len(keys) == 2  # the product's and the demo's
    client.get("/demo/product/token?contact=ann")
    client.get("/demo/product")
    with db.read_session() as s:
        assert len(list_keys(s)[1]) == 2  # reused, not made again
        made = s.scalars(select(AuditEntry).where(AuditEntry.object_id == kid)).all()
    assert [a.actor for a in made] == [email]
    assert client.get("/demo/product/token?contact=nobody").status_code == 404


def test_a_revoked_demo_key_is_replaced(demo_app, inapp_nudges, make_user, login, db):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    client.get("/demo/product")
    path = Path(demo_app.extensions["touchline.settings"].instance_dir) / KEY_FILE
    old = json.loads(path.read_text())["kid"]
    with db.session() as s:
        revoke_key(s, old, actor="test")
    token = client.get("/demo/product/token?contact=ann").get_data(as_text=True)
    new = json.loads(path.read_text())["kid"]
    assert new != old
    with db.read_session() as s:
        assert verify_token(s, inapp_nudges.app_id, token).contact == "ann"


def test_with_no_nudges_yet_the_page_says_so(demo_app, make_user, login):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    ids = by_id(client.get("/demo/product").get_data(as_text=True)).attrs
    assert "no-nudges" in ids and "touchline-config" not in ids


def test_opened_at_another_address_it_points_to_the_public_url(make_app, tmp_path, inapp_nudges, make_user, login):
    app = make_app(demo_product=True, public_url="http://127.0.0.1:8000", instance_dir=tmp_path, policy_file=None)
    client = app.test_client()
    login(client, make_user("viewer"))
    ids = by_id(client.get("/demo/product", base_url="http://localhost:8000", follow_redirects=True).get_data(as_text=True)).attrs
    assert "touchline-config" not in ids  # the API would refuse this origin: the snippet is not started
    assert ids["origin-link"]["href"] == "http://127.0.0.1:8000/demo/product?contact=ann"


def test_in_japanese(demo_app, inapp_nudges, make_user, login):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    html = client.get("/demo/product", headers={"Accept-Language": "ja"}, follow_redirects=True).get_data(as_text=True)
    assert '<html lang="ja">' in html and "<h1>概要</h1>" in html


def test_the_few_contacts_offered_cover_the_languages_there_are(inapp_nudges, db):
    from engine.models import utcnow
    from web.demo_product.people import people_with_nudges

    with db.read_session() as s:
        assert [p.contact for p in people_with_nudges(s, utcnow())] == ["ann", "bea", "carl"]
        # Two places: Ann (the most, first) and Carl (Japanese), before Bea (like Ann).
        assert [p.contact for p in people_with_nudges(s, utcnow(), limit=2)] == ["ann", "carl"]


def test_a_call_to_action_into_the_demo_product_says_where_it_led(demo_app, inapp_nudges, make_user, login):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    answer = client.get("/demo/product/setup")
    assert answer.status_code == 302 and answer.headers["Location"] == "/demo/product?opened=setup"
    page = client.get("/demo/product?contact=ann&opened=setup")
    assert "“setup”" in by_id(page.get_data(as_text=True)).text["opened-notice"]


def test_links_app_is_the_product_url_when_set(inapp_nudges, db):
    import dataclasses

    from sqlalchemy import select as sa_select

    from engine.delivery.compose import Composer
    from engine.models import Delivery, utcnow

    settings = dataclasses.replace(inapp_nudges.settings, product_url="https://app.example.com")
    with db.read_session() as s:
        row = s.scalars(sa_select(Delivery).where(Delivery.rule_id == "setup-banner")).first()
        composed = Composer(s, settings, utcnow()).compose(row)
    assert composed.message.cta_url == "https://app.example.com/setup"
