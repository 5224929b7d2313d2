"""Admin users (scrypt password hashes) and ingest API keys (SHA-256 of a random token).

An API key looks like ``tl_<prefix>_<secret>``; the prefix is stored in clear so
an operator can tell keys apart, the whole token only as a hash.

Every change takes an ``actor`` (engine.audit: ``user:<email>``, ``cli:<OS user>``...)
and writes its audit row in the caller's transaction; ``system`` marks changes made
by code with no person behind them (first-run setup, fixtures).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.audit import SYSTEM_ACTOR, record, user_actor
from engine.models import USER_ROLES, ApiKey, User, utcnow

# OWASP's minimum for scrypt (Password Storage Cheat Sheet): N=2^17, r=8, p=1, 128 MiB.
# Hashes made with less are upgraded at the next sign-in (needs_rehash).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
# A stored hash asking for more than this is refused rather than allowed to exhaust memory.
SCRYPT_MAX_N = 2**20
MIN_PASSWORD = 10


class AuthError(ValueError):
    pass


# -- passwords ----------------------------------------------------------------


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # hashlib refuses more than 32 MiB unless told; N=2^17, r=8 needs 128 MiB.
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=129 * n * r * p + 2**20)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def dummy_hash() -> str:
    """Checked against for addresses with no account, with the current cost, so a sign-in
    takes as long for an unknown address as for a known one (its digest never matches)."""
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'00' * 16}${'00' * 32}"


def _parse(stored: str) -> tuple[int, int, int, bytes, str] | None:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt" or not 1 < int(n) <= SCRYPT_MAX_N or int(r) < 1 or int(p) < 1:
            return None
        return int(n), int(r), int(p), bytes.fromhex(salt), digest
    except ValueError:
        return None


def check_password(stored: str, password: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    try:
        candidate = _scrypt(password, salt, n, r, p, len(digest) // 2)
    except ValueError:  # parameters scrypt refuses (N not a power of two...)
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when the hash was made with less than the current cost (or is not ours)."""
    parsed = _parse(stored)
    if parsed is None:
        return True
    n, r, p, _salt, _digest = parsed
    return n < SCRYPT_N or r < SCRYPT_R or p < SCRYPT_P


def _user_state(user: User) -> dict:
    return {"email": user.email, "role": user.role, "active": user.active}


def create_user(
    session: Session, email: str, password: str, role: str = "viewer", *, actor: str = SYSTEM_ACTOR
) -> User:
    email = email.strip().lower()
    if len(email) > 320:
        raise AuthError("an email address has at most 320 characters")
    if "@" not in email:
        raise AuthError(f"{email!r} is not an email address")
    if role not in USER_ROLES:
        raise AuthError(f"role {role!r} is not one of: {', '.join(USER_ROLES)}")
    _check_new_password(password)
    if session.scalar(select(User).where(User.email == email)):
        raise AuthError(f"a user with email {email!r} already exists")
    user = User(email=email, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    record(session, actor=actor, action="create", object_type="user", object_id=email,
           after=_user_state(user), summary=f"created {role} {email}")  # fmt: skip
    return user


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"password must be at least {MIN_PASSWORD} characters")


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    # Always one scrypt check, whether the address is unknown, disabled or known.
    matches = check_password(user.password_hash if user is not None else dummy_hash(), password)
    if user is None or not user.active or not matches:
        return None
    user.last_login_at = utcnow()
    if needs_rehash(user.password_hash):
        # The only moment the password is known: bring an old hash up to the current cost.
        user.password_hash = hash_password(password)
    return user


def _user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise AuthError(f"no user with email {email.strip().lower()!r}")
    return user


def end_sessions(session: Session, user_id: int) -> None:
    """End every signed-in session of the user (sessions carry the generation they began in)."""
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session="fetch")
    )


def change_password(session: Session, email: str, password: str, *, actor: str = SYSTEM_ACTOR) -> User:
    """Set a new password and end the user's sessions, so one taken with the old password stops working."""
    _check_new_password(password)
    user = _user_by_email(session, email)
    user.password_hash = hash_password(password)
    session.flush()
    end_sessions(session, user.id)
    record(session, actor=actor, action="change_password", object_type="user", object_id=user.email,
           summary=f"password of {user.email} changed; their sessions ended")  # fmt: skip
    return user


def _other_active_admins(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    ) or 0


def set_active(session: Session, email: str, active: bool, *, actor: str = SYSTEM_ACTOR) -> User:
    """Enable or disable a user; disabling ends the user's sessions. The last active admin
    cannot be disabled (nobody could manage users after). No change, no audit row."""
    user = _user_by_email(session, email)
    if user.active == active:
        return user
    if not active and user.role == "admin" and not _other_active_admins(session, user):
        raise AuthError(f"{user.email} is the last active admin; make another user admin first")
    before = _user_state(user)
    user.active = active
    session.flush()
    if not active:
        end_sessions(session, user.id)
    record(session, actor=actor, action="reactivate" if active else "deactivate", object_type="user",
           object_id=user.email, before=before, after=_user_state(user),
           summary=f"{'reactivated' if active else 'deactivated'} {user.email}")  # fmt: skip
    return user


def set_role(session: Session, email: str, role: str, *, actor: str = SYSTEM_ACTOR) -> User:
    """Give a user another role. Admins cannot drop their own admin role (another admin must),
    and the last active admin keeps it. No change, no audit row."""
    if role not in USER_ROLES:
        raise AuthError(f"role {role!r} is not one of: {', '.join(USER_ROLES)}")
    user = _user_by_email(session, email)
    if user.role == role:
        return user
    if user.role == "admin":
        if actor == user_actor(user.email):
            raise AuthError("you cannot remove your own admin role; ask another admin to do it")
        if user.active and not _other_active_admins(session, user):
            raise AuthError(f"{user.email} is the last active admin; make another user admin first")
    before = _user_state(user)
    user.role = role
    session.flush()
    record(session, actor=actor, action="change_role", object_type="user", object_id=user.email,
           before=before, after=_user_state(user), summary=f"{user.email}: {before['role']} -> {role}")  # fmt: skip
    return user


def list_users(session: Session) -> list[User]:
    """Every user, active ones first, then by email."""
    return list(session.scalars(select(User).order_by(User.active.desc(), User.email)))


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def ensure_first_admin(
    session: Session, email: str = "admin@localhost", *, actor: str = SYSTEM_ACTOR
) -> str | None:
    """Create the first admin when there are no users; return its password (shown once)."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, email, password, role="admin", actor=actor)
    return password


# -- API keys -----------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key_state(key: ApiKey) -> dict:
    return {"name": key.name, "prefix": key.prefix, "revoked_at": key.revoked_at}


def create_api_key(session: Session, name: str, *, actor: str = SYSTEM_ACTOR) -> tuple[ApiKey, str]:
    """Create a key; the returned token is the only time the secret is visible."""
    name = name.strip()
    if not name:
        raise AuthError("an API key needs a name")
    if len(name) > 100:
        raise AuthError("an API key's name has at most 100 characters")
    prefix = secrets.token_hex(4)
    token = f"tl_{prefix}_{secrets.token_urlsafe(24)}"
    key = ApiKey(name=name, prefix=prefix, key_hash=_hash_token(token))
    session.add(key)
    session.flush()
    record(session, actor=actor, action="create", object_type="api_key", object_id=prefix,
           after=_key_state(key), summary=f"created API key {name!r} ({prefix})")  # fmt: skip
    return key, token


def verify_api_key(session: Session, token: str) -> ApiKey | None:
    if not token.startswith("tl_"):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_token(token)))
    if key is None or key.revoked_at is not None:
        return None
    return key


def revoke_api_key(session: Session, prefix: str, *, actor: str = SYSTEM_ACTOR) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if key is None:
        raise AuthError(f"no active API key with prefix {prefix!r}")
    before = _key_state(key)
    key.revoked_at = utcnow()
    session.flush()
    record(session, actor=actor, action="revoke", object_type="api_key", object_id=prefix,
           before=before, after=_key_state(key), summary=f"revoked API key {key.name!r} ({prefix})")  # fmt: skip
    return key


def list_api_keys(session: Session) -> list[ApiKey]:
    """Active keys first, each group newest first; revoked ones stay listed (they explain old data)."""
    return list(session.scalars(
        select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    ))  # fmt: skip
