"""The users page: create, change role, deactivate and reactivate through CSRF-protected forms,
each with its audit row; the last admin and an admin's own role are kept."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.models import AuditEntry, User


def _audit(db):
    with db.read_session() as s:
        return [(e.actor, e.action, e.object_id) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _user(db, email):
    with db.read_session() as s:
        return s.scalar(select(User).where(User.email == email))


def _token(client, csrf_token, path="/admin/users/"):
    return csrf_token(client.get(path).get_data(as_text=True))


def test_create_with_a_generated_password_shown_once(db, admin_user, csrf_token):
    before = len(_audit(db))
    response = admin_user.post("/admin/users/", data={"email": "New@Example.com", "role": "editor", "password": "",
                                                      "csrf_token": _token(admin_user, csrf_token)})  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"] == "/admin/users/"
    page = admin_user.get("/admin/users/")
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert "Created new@example.com." in html
    password = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    assert "secret" not in admin_user.get("/admin/users/").get_data(as_text=True)  # shown once
    user = _user(db, "new@example.com")
    assert user.role == "editor" and user.active
    from engine.auth import check_password

    assert check_password(user.password_hash, password)
    assert _audit(db)[before:] == [("user:admin@example.test", "create", "new@example.com")]


def test_create_with_a_chosen_password_and_bad_input_inline(db, admin_user, csrf_token):
    token = _token(admin_user, csrf_token)
    ok = admin_user.post("/admin/users/", data={"email": "a@example.com", "role": "viewer", "password": "long enough pw",
                                                "csrf_token": token})  # fmt: skip
    assert ok.status_code == 303
    assert "secret" not in admin_user.get("/admin/users/").get_data(as_text=True)
    again = admin_user.post("/admin/users/", data={"email": "a@example.com", "role": "viewer", "password": "long enough pw",
                                                   "csrf_token": token})  # fmt: skip
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)
    short = admin_user.post("/admin/users/", data={"email": "b@example.com", "role": "viewer", "password": "short",
                                                   "csrf_token": token})  # fmt: skip
    assert short.status_code == 422 and "at least 10 characters" in short.get_data(as_text=True)
    assert _user(db, "b@example.com") is None


def test_a_post_without_csrf_is_refused_and_changes_nothing(db, admin_user):
    response = admin_user.post("/admin/users/", data={"email": "x@example.com", "role": "admin", "password": "long enough pw"})
    assert response.status_code == 400 and _user(db, "x@example.com") is None
    assert not [a for a in _audit(db) if a[2] == "x@example.com"]


def test_change_role_deactivate_and_reactivate(db, admin_user, make_user, csrf_token):
    email = make_user("viewer", "ops@example.com")
    uid = _user(db, email).id
    token = _token(admin_user, csrf_token)
    before = len(_audit(db))
    r = admin_user.post(f"/admin/users/{uid}/role", data={"role": "editor", "csrf_token": token})
    assert (r.status_code, r.headers["Location"]) == (303, "/admin/users/")
    assert "ops@example.com is now Editor." in admin_user.get("/admin/users/").get_data(as_text=True)
    assert _user(db, email).role == "editor"
    r = admin_user.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": token})
    assert r.status_code == 303 and not _user(db, email).active
    assert "Deactivated ops@example.com" in admin_user.get("/admin/users/").get_data(as_text=True)
    r = admin_user.post(f"/admin/users/{uid}/reactivate", data={"csrf_token": token})
    assert r.status_code == 303 and _user(db, email).active
    assert _audit(db)[before:] == [("user:admin@example.test", a, email) for a in ("change_role", "deactivate", "reactivate")]
    assert admin_user.post("/admin/users/999999/deactivate", data={"csrf_token": token}).status_code == 404


def test_the_last_admin_and_an_admins_own_role_are_kept(db, admin_user, csrf_token):
    me = _user(db, "admin@example.test")
    token = _token(admin_user, csrf_token)
    before = len(_audit(db))
    r = admin_user.post(f"/admin/users/{me.id}/deactivate", data={"csrf_token": token})
    assert r.status_code == 422 and "last active admin" in r.get_data(as_text=True)
    r = admin_user.post(f"/admin/users/{me.id}/role", data={"role": "viewer", "csrf_token": token})
    assert r.status_code == 422 and "your own admin role" in r.get_data(as_text=True)
    assert _user(db, me.email).role == "admin" and _user(db, me.email).active
    assert len(_audit(db)) == before


def test_only_admins_reach_the_page(login_as):
    assert login_as("editor").get("/admin/users/").status_code == 403
    assert login_as("viewer").get("/admin/api-keys").status_code == 403


def test_the_page_renders_in_japanese(admin_user):
    html = admin_user.get("/admin/users/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert 'lang="ja"' in html and "ユーザー" in html
