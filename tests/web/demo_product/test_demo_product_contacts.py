"""The demo product mints tokens for, and lists, the demo data's contacts only: `touchline up` turns
it on over whatever database it runs on, and a viewer must not act as a real person there."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from engine.ingest import upsert_contacts
from engine.models import Contact, Nudge
from htmlids import parse as by_id


@pytest.fixture
def demo_app(make_app, tmp_path):
    return make_app(demo_product=True, public_url="http://localhost", instance_dir=tmp_path, policy_file=None)


@pytest.fixture
def dana(inapp_nudges, db):
    """A real person at Acme (no demo address), given Bea's nudges."""
    with db.session() as s:
        upsert_contacts(s, [{"id": "dana", "account_id": "acme", "email": "dana@acme-corp.com", "name": "Dana"}])
    with db.session() as s:
        dana_id = s.scalar(select(Contact.id).where(Contact.external_id == "dana"))
        s.execute(update(Nudge).where(Nudge.contact_id == inapp_nudges.contacts["bea"]).values(contact_id=dana_id))
    return "dana"


def test_no_token_and_no_page_for_a_contact_outside_the_demo_data(demo_app, dana, make_user, login):
    client = demo_app.test_client()
    login(client, make_user("viewer"))
    assert client.get("/demo/product/token?contact=ann").status_code == 200
    assert client.get(f"/demo/product/token?contact={dana}").status_code == 404
    assert client.get(f"/demo/product?contact={dana}").status_code == 404
    page = by_id(client.get("/demo/product?contact=ann").get_data(as_text=True))
    assert [attrs["value"] for tag, attrs in page.tags if tag == "option"] == ["ann", "carl"]
