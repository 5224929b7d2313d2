"""Sign-in limits: per address (web.ratelimit.LOGIN_RATE_LIMIT) and per account, from any address."""

from sqlalchemy import select

from engine.models import User


def _attempt(client, email, password, token, address):
    return client.post("/auth/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address}).status_code  # fmt: skip


def test_failed_sign_ins_are_limited_per_account_across_addresses(app, make_user, csrf_token, password):
    email = make_user("admin")
    client = app.test_client()
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    # Five wrong passwords, each from another address: no per-address limit is near.
    assert [_attempt(client, email, "wrong password!", token, f"10.0.0.{i}") for i in range(5)] == [401] * 5
    assert _attempt(client, email, "wrong password!", token, "10.0.0.99") == 429
    # The account is locked for the window, even with the right password from a new address...
    assert _attempt(client, email.upper(), password, token, "10.0.1.1") == 429
    # ...while another account signs in from the same addresses as usual.
    other = make_user("viewer")
    assert _attempt(client, other, password, token, "10.0.0.1") == 302


def test_successful_sign_ins_do_not_spend_the_account_budget(app, make_user, csrf_token, password):
    email = make_user("viewer")
    for i in range(7):
        client = app.test_client()
        token = csrf_token(client.get("/auth/login").get_data(as_text=True))
        assert _attempt(client, email, password, token, f"10.1.0.{i}") == 302


def test_sign_in_upgrades_an_old_hash(app, db, make_user, csrf_token, password, monkeypatch):
    from engine import auth

    monkeypatch.setattr(auth, "SCRYPT_N", 2**4)
    email = make_user("viewer")
    monkeypatch.setattr(auth, "SCRYPT_N", 2**11)
    client = app.test_client()
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    assert _attempt(client, email, password, token, "10.2.0.1") == 302
    with db.read_session() as s:
        assert s.scalar(select(User.password_hash).where(User.email == email)).startswith(f"scrypt${2**11}$")
