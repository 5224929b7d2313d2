"""API key authentication: ``Authorization: Bearer tl_...``.

``last_used_at`` is written at most once a minute per key; writing it on every
request would add a write transaction to every ingest call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, request
from sqlalchemy import or_, update

from engine.auth import verify_api_key
from engine.db import Database
from engine.models import ApiKey, utcnow
from web.api import bp
from web.api.errors import ApiError
from web.context import get_db

TOUCH_INTERVAL = timedelta(minutes=1)
CHALLENGE = 'Bearer realm="touchline"'


def authenticate() -> None:
    """App-level before_request hook; acts on API routes only.

    It finds the key but does not refuse a bad one yet: the limiter's hook runs
    next and refuses an address with too many failed authentications (with a
    right key too, so that a guess cannot be confirmed while it is blocked);
    ``refuse_unauthenticated`` then refuses, and the limiter counts the 401.
    """
    if request.blueprint != "api":
        return
    try:
        g.api_key_id, g.api_key_name, g.api_key_prefix, last_used = _find_key()
    except ApiError as exc:
        g.api_auth_error = exc
        return
    touch(get_db(), g.api_key_id, last_used)


@bp.before_request
def refuse_unauthenticated() -> None:
    error = g.pop("api_auth_error", None)
    if error is not None:
        raise error


def _find_key() -> tuple[int, str, str, datetime | None]:
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(
            401, "missing_api_key", "send an API key as 'Authorization: Bearer <token>'", {"WWW-Authenticate": CHALLENGE}
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "invalid_authorization",
            "the Authorization header must be 'Bearer <token>'",
            {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_request"'},
        )
    with get_db().read_session() as session:
        key = verify_api_key(session, token)
        if key is not None:
            return key.id, key.name, key.prefix, key.last_used_at
    raise ApiError(
        401,
        "invalid_api_key",
        "this API key is unknown or revoked",
        {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'},
    )


def touch(db: Database, key_id: int, last_used: datetime | None, now: datetime | None = None) -> bool:
    """Record use of a key unless it was recorded less than a minute ago."""
    now = now or utcnow()
    if last_used is not None and now - last_used < TOUCH_INTERVAL:
        return False
    with db.session() as session:
        # The condition stops several web processes writing the same minute twice.
        result = session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - TOUCH_INTERVAL))
            .values(last_used_at=now)
        )
    return bool(result.rowcount)
