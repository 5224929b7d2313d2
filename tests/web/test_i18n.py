"""The admin in English and Japanese: catalogs complete and compiled, the language chosen and remembered."""

from __future__ import annotations

import io
import re

import pytest
from babel.messages.mofile import write_mo
from sqlalchemy import select

from engine.models import User
from web.i18n import catalogs, extract, po_path, read_po

CATALOGS = [c for c in catalogs() if len(extract(c))]


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda c: c.name)
def test_every_string_of_an_area_has_japanese_and_its_compiled_catalog_is_current(catalog):
    assert po_path(catalog).exists(), f"no Japanese catalog for {catalog.name}: run python -m web.i18n {catalog.name}"
    po = read_po(catalog)
    found = {m.id if isinstance(m.id, str) else m.id[0] for m in extract(catalog) if m.id}
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in po if m.id}
    assert not found - known, f"strings not in {po_path(catalog)}: run python -m web.i18n {catalog.name}"
    untranslated = [m.id for m in po if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert untranslated == [], f"strings without Japanese in {po_path(catalog)}"
    compiled = io.BytesIO()
    write_mo(compiled, po)
    assert po_path(catalog).with_suffix(".mo").read_bytes() == compiled.getvalue(), "the .mo is older than its .po"


def test_the_sign_in_page_follows_the_browsers_language(client):
    html = client.get("/auth/login", headers={"Accept-Language": "ja,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ja">' in html and "<h1>サインイン</h1>" in html
    html = client.get("/auth/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "<h1>Sign in</h1>" in html


def test_a_user_picks_japanese_and_it_is_remembered_across_sign_ins(app, db, make_user, login, csrf_token):
    email = make_user("viewer")
    client = app.test_client()
    login(client, email)
    page = client.get("/admin/").get_data(as_text=True)
    assert '<html lang="en">' in page
    response = client.post("/auth/language", data={"locale": "ja", "next": "/admin/?x=1", "csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/?x=1"
    page = client.get("/admin/?x=1").get_data(as_text=True)
    assert '<html lang="ja">' in page
    assert re.search(r'<a href="/admin/" aria-current="page">ダッシュボード</a>', page)
    assert "言語を変更しました。" in page  # the flash, in the new language
    with db.session() as session:
        assert session.scalar(select(User.locale).where(User.email == email)) == "ja"
    # A new sign-in, from a browser that asks for English, keeps the choice.
    other = app.test_client()
    login(other, email)
    assert '<html lang="ja">' in other.get("/admin/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_an_unknown_language_is_refused_with_a_reason_and_changes_nothing(app, db, make_user, login, csrf_token):
    email = make_user("viewer")
    client = app.test_client()
    login(client, email)
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    response = client.post("/auth/language", data={"locale": "fr", "csrf_token": token})
    assert response.status_code == 400 and "Choose English or Japanese." in response.get_data(as_text=True)
    with db.session() as session:
        assert session.scalar(select(User.locale).where(User.email == email)) is None


def test_choosing_a_language_needs_a_signed_in_user_and_a_csrf_token(app, make_user, login):
    assert app.test_client().post("/auth/language", data={"locale": "ja"}).status_code in (302, 400)
    client = app.test_client()
    login(client, make_user("viewer"))
    assert client.post("/auth/language", data={"locale": "ja"}).status_code == 400  # no CSRF token


def test_a_string_means_the_same_in_every_area():
    # The areas' catalogs are merged at run time: one msgid with two translations would show
    # either, depending on the merge order.
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for catalog in CATALOGS:
        for message in read_po(catalog):
            if not message.id or not isinstance(message.id, str):
                continue
            if message.id in seen and seen[message.id][1] != message.string:
                clashes.append((message.id, seen[message.id], (catalog.name, message.string)))
            seen.setdefault(message.id, (catalog.name, message.string))
    assert clashes == []
