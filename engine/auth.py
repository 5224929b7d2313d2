"""Admin users (scrypt password hashes) and ingest API keys (SHA-256 of a random token).

An API key looks like ``tl_<prefix>_<secret>``; the prefix is stored in clear so
an operator can tell keys apart, the whole token only as a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.models import USER_ROLES, ApiKey, User, utcnow

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10
# Checked against for addresses with no account, with the real cost parameters, so a
# sign-in takes as long for an unknown address as for a known one (its digest never matches).
DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'00' * 16}${'00' * 32}"


class AuthError(ValueError):
    pass


# -- passwords ----------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
    )
    return hmac.compare_digest(candidate.hex(), digest)


def create_user(session: Session, email: str, password: str, role: str = "viewer") -> User:
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
    return user


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"password must be at least {MIN_PASSWORD} characters")


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    # Always one scrypt check, whether the address is unknown, disabled or known.
    matches = check_password(user.password_hash if user is not None else DUMMY_HASH, password)
    if user is None or not user.active or not matches:
        return None
    user.last_login_at = utcnow()
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


def change_password(session: Session, email: str, password: str) -> User:
    """Set a new password and end the user's sessions, so one taken with the old password stops working."""
    _check_new_password(password)
    user = _user_by_email(session, email)
    user.password_hash = hash_password(password)
    session.flush()
    end_sessions(session, user.id)
    return user


def set_active(session: Session, email: str, active: bool) -> User:
    """Enable or disable a user; disabling ends the user's sessions."""
    user = _user_by_email(session, email)
    user.active = active
    session.flush()
    if not active:
        end_sessions(session, user.id)
    return user


def ensure_first_admin(session: Session, email: str = "admin@localhost") -> str | None:
    """Create the first admin when there are no users; return its password (shown once)."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, email, password, role="admin")
    return password


# -- API keys -----------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_key(session: Session, name: str) -> tuple[ApiKey, str]:
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
    return key, token


def verify_api_key(session: Session, token: str) -> ApiKey | None:
    if not token.startswith("tl_"):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_token(token)))
    if key is None or key.revoked_at is not None:
        return None
    return key


def revoke_api_key(session: Session, prefix: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
    if key is None:
        raise AuthError(f"no active API key with prefix {prefix!r}")
    key.revoked_at = utcnow()
    return key
