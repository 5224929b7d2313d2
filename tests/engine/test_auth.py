import pytest
from sqlalchemy import select

from engine import auth
from engine.models import ApiKey, User


def test_passwords_are_hashed_and_checked(session):
    user = auth.create_user(session, "Ops@Example.com", "correct horse battery", role="editor")
    assert user.email == "ops@example.com"
    assert "correct horse" not in user.password_hash and user.password_hash.startswith("scrypt$")
    assert auth.authenticate(session, "ops@example.com", "correct horse battery") is user
    assert auth.authenticate(session, "ops@example.com", "wrong password!") is None
    assert auth.authenticate(session, "nobody@example.com", "correct horse battery") is None


@pytest.mark.parametrize(
    "email, password, role, message",
    [
        ("no-at-sign", "long enough pw", "viewer", "not an email"),
        ("a@b.c", "short", "viewer", "at least 10"),
        ("a@b.c", "long enough pw", "root", "not one of"),
    ],
)
def test_bad_users_are_refused_with_reason(session, email, password, role, message):
    with pytest.raises(auth.AuthError, match=message):
        auth.create_user(session, email, password, role)


def test_duplicate_user_refused(session):
    auth.create_user(session, "a@b.c", "long enough pw")
    with pytest.raises(auth.AuthError, match="already exists"):
        auth.create_user(session, "A@B.C", "long enough pw")


def test_first_admin_only_once(session):
    password = auth.ensure_first_admin(session)
    assert password and len(password) >= 12
    admin = session.scalar(select(User))
    assert admin.role == "admin" and auth.authenticate(session, admin.email, password)
    assert auth.ensure_first_admin(session) is None


def test_api_keys_store_only_a_hash_and_can_be_revoked(session):
    key, token = auth.create_api_key(session, "product backend")
    assert token.startswith(f"tl_{key.prefix}_")
    stored = session.scalar(select(ApiKey))
    assert token not in (stored.key_hash, stored.prefix, stored.name)
    assert auth.verify_api_key(session, token) is key
    assert auth.verify_api_key(session, token + "x") is None
    assert auth.verify_api_key(session, "Bearer nonsense") is None
    auth.revoke_api_key(session, key.prefix)
    assert auth.verify_api_key(session, token) is None
    with pytest.raises(auth.AuthError, match="no active API key"):
        auth.revoke_api_key(session, key.prefix)


def test_names_longer_than_their_columns_are_refused(session):
    with pytest.raises(auth.AuthError, match="at most 100"):
        auth.create_api_key(session, "k" * 101)
    with pytest.raises(auth.AuthError, match="at most 320"):
        auth.create_user(session, "a" * 320 + "@example.com", "long enough pw")


def _count_hash_checks(monkeypatch) -> list[str]:
    """Record the stored hash of every password check authenticate() makes (the check still runs)."""
    checked: list[str] = []
    real = auth.check_password

    def spy(stored: str, password: str) -> bool:
        checked.append(stored)
        return real(stored, password)

    monkeypatch.setattr(auth, "check_password", spy)
    return checked


def test_unknown_and_disabled_addresses_cost_one_full_password_check(session, monkeypatch):
    """So the time a sign-in takes does not tell which addresses have an account."""
    user = auth.create_user(session, "known@example.com", "correct horse battery")
    auth.set_active(session, "known@example.com", False)
    checked = _count_hash_checks(monkeypatch)
    assert auth.authenticate(session, "nobody@example.com", "correct horse battery") is None
    assert auth.authenticate(session, "known@example.com", "correct horse battery") is None  # disabled
    assert len(checked) == 2
    cost = f"scrypt${auth.SCRYPT_N}${auth.SCRYPT_R}${auth.SCRYPT_P}$"
    assert checked[0].startswith(cost) and checked[0] != user.password_hash
    assert checked[1] == user.password_hash


def test_password_change_and_disabling_end_sessions(session):
    user = auth.create_user(session, "ops@example.com", "correct horse battery")
    assert user.session_generation == 0
    auth.change_password(session, "OPS@example.com", "a new long password")
    assert user.session_generation == 1
    assert auth.authenticate(session, "ops@example.com", "correct horse battery") is None
    assert auth.authenticate(session, "ops@example.com", "a new long password") is user
    auth.set_active(session, "ops@example.com", False)
    assert (user.active, user.session_generation) == (False, 2)
    auth.set_active(session, "ops@example.com", True)  # enabling again does not revive old sessions
    assert (user.active, user.session_generation) == (True, 2)
    auth.end_sessions(session, user.id)
    session.refresh(user)
    assert user.session_generation == 3


def test_password_change_and_disabling_refuse_bad_input_with_reason(session):
    auth.create_user(session, "ops@example.com", "correct horse battery")
    with pytest.raises(auth.AuthError, match="at least 10"):
        auth.change_password(session, "ops@example.com", "short")
    with pytest.raises(auth.AuthError, match="no user with email 'nobody@example.com'"):
        auth.change_password(session, "nobody@example.com", "long enough pw")
    with pytest.raises(auth.AuthError, match="no user with email"):
        auth.set_active(session, "nobody@example.com", False)
