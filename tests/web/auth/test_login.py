from sqlalchemy import select, update

from engine.models import User


def test_login_page_has_a_csrf_protected_form(client, csrf_token):
    response = client.get("/auth/login")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'name="email"' in html and 'name="password"' in html
    assert csrf_token(html)


def test_good_login_reaches_the_dashboard_and_records_the_login(client, make_user, db, login):
    email = make_user("viewer")
    response = login(client, email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    with db.read_session() as session:
        assert session.scalar(select(User.last_login_at).where(User.email == email)) is not None


def test_wrong_password_and_unknown_email_get_the_same_clear_message(client, make_user, login, password):
    email = make_user("admin")
    for address, attempt in [(email, "wrong password!"), ("nobody@example.test", password)]:
        response = login(client, address, attempt)
        assert response.status_code == 401
        assert "Wrong email or password." in response.get_data(as_text=True)
        assert client.get("/admin/").status_code == 302  # still signed out


def test_login_without_csrf_token_is_refused(client, make_user, password):
    email = make_user("admin")
    client.get("/auth/login")
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert "not sent from this site or has expired" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_with_a_forged_csrf_token_is_refused(client, make_user, password):
    email = make_user("admin")
    client.get("/auth/login")
    response = client.post("/auth/login", data={"email": email, "password": password, "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_logout_needs_the_csrf_token_and_signs_out(admin_user, csrf_token):
    assert admin_user.post("/auth/logout").status_code == 400
    assert admin_user.get("/admin/").status_code == 200  # a forged sign-out did nothing
    token = csrf_token(admin_user.get("/admin/").get_data(as_text=True))
    response = admin_user.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert admin_user.get("/admin/").status_code == 302


def test_next_goes_back_to_a_local_page_only(client, make_user, password, csrf_token):
    email = make_user("admin")
    page = client.get("/auth/login?next=/admin/api-keys")
    token = csrf_token(page.get_data(as_text=True))
    form = {"email": email, "password": password, "csrf_token": token}
    assert client.post("/auth/login?next=/admin/api-keys", data=form).headers["Location"] == "/admin/api-keys"

    other = client.application.test_client()
    for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
        token = csrf_token(other.get("/auth/login").get_data(as_text=True))
        form["csrf_token"] = token
        response = other.post("/auth/login", query_string={"next": target}, data=form)
        assert response.headers["Location"] == "/admin/", target
        token = csrf_token(other.get("/admin/").get_data(as_text=True))
        other.post("/auth/logout", data={"csrf_token": token})


def test_deactivated_user_cannot_sign_in_and_loses_an_open_session(app, make_user, db, login):
    email = make_user("admin")
    signed_in = app.test_client()
    assert login(signed_in, email).status_code == 302
    with db.session() as session:
        session.execute(update(User).where(User.email == email).values(active=False))
    assert signed_in.get("/admin/").status_code == 302
    assert login(app.test_client(), email).status_code == 401


def test_login_attempts_are_rate_limited_per_address(client, make_user, csrf_token):
    email = make_user("admin")
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    statuses = [
        # Another account each time, so the per-account limit (test_login_limits.py) stays out of it.
        client.post("/auth/login", data={"email": f"{i}{email}", "password": "wrong password!", "csrf_token": token}).status_code
        for i in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # The form itself still loads; only sign-in attempts are counted.
    assert client.get("/auth/login").status_code == 200
