"""Identity tokens: the product's backend proves which contact is signed in.

A JWT signed with HS256 and one of the app's keys (``kid`` in its header),
with ``sub`` (the contact's id in the product), ``account`` (its account's
id), ``iat`` and ``exp`` (at most 24 hours apart). Only HS256 is accepted: a
token naming ``none`` or any other algorithm is refused before its signature
is looked at. The contact comes from the verified token, never from the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, Contact, InAppApp, InAppKey, utcnow

ALGORITHM = "HS256"
MAX_LIFETIME = timedelta(hours=24)
LEEWAY = timedelta(seconds=60)  # clock skew between the product's servers and ours
MAX_TOKEN_BYTES = 4096


class InvalidToken(ValueError):
    """Why a token is refused; the message is safe to show the product's developers.

    ``expired``: a token that was good and ran out, which every page meets once an hour (it
    asks for a new one): not a guess, so it does not count toward an address's failures."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Identity:
    contact_id: int
    account_id: int
    contact: str  # the product's ids, as in the token
    account: str
    kid: str
    expires_at: datetime


def mint_token(
    secret: str, kid: str, *, contact: str, account: str, ttl: timedelta = timedelta(hours=1), now: datetime | None = None
) -> str:
    """A token as the product's backend makes one (docs/inapp.md); for the demo page and tests."""
    now = now or utcnow()
    claims = {"sub": contact, "account": account, "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})


def verify_token(session: Session, app_id: str, token: str, now: datetime | None = None) -> Identity:
    """The contact a token names, for the app ``app_id``; raises InvalidToken saying why not."""
    now = now or utcnow()
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken("the token is not a JWT (three base64url parts separated by dots)") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"the token's algorithm must be {ALGORITHM}, not {header.get('alg')!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token's header has no kid (the key id from touchline inapp-keys create)")
    key = session.scalar(
        select(InAppKey).join(InAppApp, InAppApp.id == InAppKey.app_pk).where(InAppKey.kid == kid, InAppApp.app_id == app_id)
    )
    if key is None:
        raise InvalidToken(f"no key {kid!r} for app {app_id!r}")
    if key.revoked_at is not None:
        raise InvalidToken(f"key {kid!r} was revoked")
    try:
        claims = jwt.decode(
            token, key.secret, algorithms=[ALGORITHM], leeway=LEEWAY,
            # Times are checked below against ``now``, one clock for every check.
            options={"require": ["sub", "account", "iat", "exp"], "verify_exp": False, "verify_iat": False},
        )  # fmt: skip
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"the token has no {exc.claim!r} claim") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("the token's signature does not match its key") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"the token is not valid: {exc}") from None
    iat, exp = claims["iat"], claims["exp"]
    # Finite: NaN (which JSON parsers accept) compares false with everything and would pass every check below.
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (iat, exp)):
        raise InvalidToken("iat and exp must be Unix times in seconds")
    if exp < (now - LEEWAY).timestamp():
        raise InvalidToken("the token has expired: mint a new one", expired=True)
    if iat > (now + LEEWAY).timestamp():
        raise InvalidToken("the token is issued in the future (check the product server's clock)")
    if exp - iat > MAX_LIFETIME.total_seconds():
        raise InvalidToken("the token lives longer than 24 hours (exp - iat); mint shorter-lived tokens")
    contact, account = claims["sub"], claims["account"]
    if not isinstance(contact, str | int) or not isinstance(account, str | int) or isinstance(contact, bool) or isinstance(account, bool):
        raise InvalidToken("sub and account must be the product's ids (text)")
    contact, account = str(contact), str(account)
    row = session.execute(
        select(Contact.id, Account.id)
        .join(Account, Account.id == Contact.account_id)
        .where(Contact.external_id == contact, Account.external_id == account)
    ).first()
    if row is None:
        raise InvalidToken(f"no contact {contact!r} in account {account!r}")
    return Identity(row[0], row[1], contact, account, kid, datetime.fromtimestamp(exp, now.tzinfo))
