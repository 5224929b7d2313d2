"""Suppressions changed through the web are audited with who did it: an API key, or the recipient."""

from __future__ import annotations

from sqlalchemy import select

from engine.compliance import unsubscribe_token
from engine.models import ApiKey, AuditEntry


def _entries(db):
    with db.read_session() as s:
        return [(e.actor, e.action, e.object_id) for e in s.scalars(select(AuditEntry).where(AuditEntry.object_type == "suppression"))]


def test_the_api_records_its_key(db, client, auth):
    r = client.post("/api/v1/suppressions", json={"suppressions": [{"address": "Ann@Example.com", "reason": "complained"}]}, headers=auth)
    assert r.status_code == 200, r.get_data(as_text=True)
    with db.read_session() as s:
        prefix = s.scalar(select(ApiKey.prefix))
    assert _entries(db) == [(f"api_key:{prefix}", "add", "ann@example.com")]


def test_a_one_click_unsubscribe_records_the_recipient(db, app, client):
    with app.app_context():
        from web.context import get_settings

        token = unsubscribe_token(get_settings(), "ann@example.com", "newsletter")
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert _entries(db) == [("recipient:ann@example.com", "add", "ann@example.com")]
