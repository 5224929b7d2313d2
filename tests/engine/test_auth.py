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


# -- hashing cost ----------------------------------------------------------------


def test_new_hashes_use_owasps_scrypt_minimum(session, real_password_cost):
    assert (auth.SCRYPT_N, auth.SCRYPT_R, auth.SCRYPT_P) >= (2**17, 8, 1) and real_password_cost >= 2**17
    user = auth.create_user(session, "ops@example.com", "correct horse battery")
    assert user.password_hash.startswith(f"scrypt${2**17}$8$1$")
    assert auth.authenticate(session, "ops@example.com", "correct horse battery") is user
    assert not auth.needs_rehash(user.password_hash)


def test_an_old_hash_is_upgraded_at_sign_in(session, monkeypatch):
    monkeypatch.setattr(auth, "SCRYPT_N", 2**4)
    user = auth.create_user(session, "ops@example.com", "correct horse battery")
    old = user.password_hash
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)
    assert auth.needs_rehash(old)
    assert auth.authenticate(session, "ops@example.com", "wrong password!!") is None
    assert user.password_hash == old  # a wrong password changes nothing
    assert auth.authenticate(session, "ops@example.com", "correct horse battery") is user
    assert user.password_hash != old and user.password_hash.startswith(f"scrypt${2**10}$")
    assert auth.check_password(user.password_hash, "correct horse battery")


@pytest.mark.parametrize("stored", ["", "bcrypt$x", "scrypt$3$8$1$00$00", f"scrypt${2**30}$8$1$00$00", "scrypt$a$b$c$d$e"])
def test_malformed_or_hostile_hashes_never_match(stored):
    assert auth.check_password(stored, "anything at all") is False
    assert auth.needs_rehash(stored)


# -- changes are audited, in the same transaction ----------------------------------


def _audit(db):
    from engine.models import AuditEntry

    with db.read_session() as s:
        return [(e.actor, e.action, e.object_type, e.object_id, e.before, e.after)
                for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]  # fmt: skip


def test_each_user_change_writes_exactly_one_audit_row(db):
    with db.session() as s:
        auth.create_user(s, "ana@example.com", "correct horse battery", "admin", actor="cli:root")
        auth.create_user(s, "bob@example.com", "correct horse battery", "viewer", actor="cli:root")
    steps = [
        lambda s: auth.set_role(s, "bob@example.com", "editor", actor="user:ana@example.com"),
        lambda s: auth.change_password(s, "bob@example.com", "a brand new password", actor="user:ana@example.com"),
        lambda s: auth.set_active(s, "bob@example.com", False, actor="user:ana@example.com"),
        lambda s: auth.set_active(s, "bob@example.com", True, actor="user:ana@example.com"),
    ]
    for step in steps:
        with db.session() as s:
            step(s)
    rows = _audit(db)
    assert rows[0] == ("cli:root", "create", "user", "ana@example.com", None,
                       {"email": "ana@example.com", "role": "admin", "active": True})
    assert [r[1] for r in rows[2:]] == ["change_role", "change_password", "deactivate", "reactivate"]
    assert rows[2][4:] == ({"email": "bob@example.com", "role": "viewer", "active": True},
                           {"email": "bob@example.com", "role": "editor", "active": True})
    assert rows[3][4:] == (None, None)  # no hash, old or new, in the trail
    assert all(r[0] == "user:ana@example.com" for r in rows[2:])


def test_no_change_writes_no_row(db):
    with db.session() as s:
        auth.create_user(s, "bob@example.com", "correct horse battery", "viewer")
        auth.set_role(s, "bob@example.com", "viewer", actor="cli:x")
        auth.set_active(s, "bob@example.com", True, actor="cli:x")
    assert len(_audit(db)) == 1


def test_a_failed_change_leaves_neither_change_nor_audit_row(db):
    with db.session() as s:
        auth.create_user(s, "bob@example.com", "correct horse battery", "viewer")
    with pytest.raises(RuntimeError):
        with db.session() as s:
            auth.set_role(s, "bob@example.com", "admin", actor="cli:x")
            raise RuntimeError("something after the change failed")
    with db.read_session() as s:
        assert s.scalar(select(User.role)) == "viewer"
    assert [r[1] for r in _audit(db)] == ["create"]


def test_the_last_active_admin_is_kept(session):
    auth.create_user(session, "ana@example.com", "correct horse battery", "admin")
    with pytest.raises(auth.AuthError, match="last active admin"):
        auth.set_active(session, "ana@example.com", False, actor="cli:x")
    with pytest.raises(auth.AuthError, match="last active admin"):
        auth.set_role(session, "ana@example.com", "editor", actor="cli:x")
    auth.create_user(session, "bob@example.com", "correct horse battery", "admin")
    with pytest.raises(auth.AuthError, match="your own admin role"):
        auth.set_role(session, "ana@example.com", "editor", actor="user:ana@example.com")
    auth.set_role(session, "ana@example.com", "editor", actor="user:bob@example.com")
    with pytest.raises(auth.AuthError, match="last active admin"):
        auth.set_active(session, "bob@example.com", False, actor="user:bob@example.com")
    with pytest.raises(auth.AuthError, match="not one of"):
        auth.set_role(session, "ana@example.com", "root", actor="cli:x")


def test_api_key_create_and_revoke_are_audited_without_the_secret(db):
    with db.session() as s:
        key, token = auth.create_api_key(s, "backend", actor="cli:ops")
        prefix = key.prefix
    with db.session() as s:
        auth.revoke_api_key(s, prefix, actor="user:ana@example.com")
    rows = _audit(db)
    assert [(r[0], r[1], r[3]) for r in rows] == [("cli:ops", "create", prefix), ("user:ana@example.com", "revoke", prefix)]
    assert rows[1][4]["revoked_at"] is None and rows[1][5]["revoked_at"]
    secret = token.removeprefix(f"tl_{prefix}_")  # URL-safe base64: may itself hold "_"
    assert len(secret) == 32 and secret not in repr(rows)
    assert auth._hash_token(token) not in repr(rows)
