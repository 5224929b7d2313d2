import pytest

from web.auth.roles import has_role, role_required
from web.auth.users import SignedInUser


def test_roles_rank_admin_over_editor_over_viewer():
    admin, editor, viewer = (SignedInUser(i, f"{r}@x.test", r) for i, r in enumerate(["admin", "editor", "viewer"]))
    assert has_role(admin, "admin") and has_role(admin, "editor") and has_role(admin, "viewer")
    assert not has_role(editor, "admin") and has_role(editor, "editor") and has_role(editor, "viewer")
    assert not has_role(viewer, "editor") and has_role(viewer, "viewer")


def test_unknown_role_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        role_required("owner")


@pytest.mark.parametrize("path", ["/admin/", "/admin/users/api-keys"])
def test_admin_pages_need_a_signed_in_user(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


@pytest.mark.parametrize(
    ("role", "dashboard", "api_keys"),
    [("viewer", 200, 403), ("editor", 200, 403), ("admin", 200, 200)],
)
def test_each_page_admits_its_role_and_above(login_as, role, dashboard, api_keys):
    client = login_as(role)
    assert client.get("/admin/").status_code == dashboard
    response = client.get("/admin/users/api-keys")
    assert response.status_code == api_keys
    if api_keys == 403:
        assert "This page needs the admin role." in response.get_data(as_text=True)


def test_only_admins_see_the_api_keys_link(login_as):
    assert "/admin/users/api-keys" in login_as("admin").get("/admin/").get_data(as_text=True)
    assert "/admin/users/api-keys" not in login_as("viewer").get("/admin/").get_data(as_text=True)
