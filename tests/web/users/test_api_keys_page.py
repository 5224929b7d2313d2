"""The API keys page: create shows the token once, revoke; both audited; the old URL redirects."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.auth import create_api_key, verify_api_key
from engine.models import ApiKey, AuditEntry


def test_create_shows_the_token_once_and_it_works(db, admin_user, csrf_token):
    token = csrf_token(admin_user.get("/admin/users/api-keys").get_data(as_text=True))
    r = admin_user.post("/admin/users/api-keys", data={"name": "backend", "csrf_token": token})
    assert (r.status_code, r.headers["Location"]) == (303, "/admin/users/api-keys")
    html = admin_user.get("/admin/users/api-keys").get_data(as_text=True)
    assert "Created the API key backend." in html
    secret = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    assert 'class="secret"' not in admin_user.get("/admin/users/api-keys").get_data(as_text=True)
    with db.read_session() as s:
        key = verify_api_key(s, secret)
        assert key is not None and key.name == "backend"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.object_type == "api_key"))
        assert (entry.actor, entry.action, entry.object_id) == ("user:admin@example.test", "create", key.prefix)
        assert secret.split("_")[-1] not in repr((entry.before, entry.after, entry.summary))


def test_revoke_and_bad_input(db, admin_user, csrf_token):
    with db.session() as s:
        key, _ = create_api_key(s, "old")
        prefix = key.prefix
    token = csrf_token(admin_user.get("/admin/users/api-keys").get_data(as_text=True))
    r = admin_user.post(f"/admin/users/api-keys/{prefix}/revoke", data={"csrf_token": token})
    assert (r.status_code, r.headers["Location"]) == (303, "/admin/users/api-keys")
    assert "Revoked the API key old" in admin_user.get("/admin/users/api-keys").get_data(as_text=True)
    with db.read_session() as s:
        assert s.scalar(select(ApiKey.revoked_at).where(ApiKey.prefix == prefix)) is not None
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == prefix)).all() == ["create", "revoke"]
    again = admin_user.post(f"/admin/users/api-keys/{prefix}/revoke", data={"csrf_token": token})
    assert again.status_code == 422 and "no active API key" in again.get_data(as_text=True)
    empty = admin_user.post("/admin/users/api-keys", data={"name": "", "csrf_token": token})
    assert empty.status_code == 422


def test_names_are_escaped_and_the_old_url_redirects(db, admin_user):
    with db.session() as s:
        create_api_key(s, "<script>alert(1)</script>")
    old = admin_user.get("/admin/api-keys")
    assert (old.status_code, old.headers["Location"]) == (301, "/admin/users/api-keys")
    html = admin_user.get("/admin/users/api-keys").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)</script>" not in html
    assert "never" in html  # not used yet
