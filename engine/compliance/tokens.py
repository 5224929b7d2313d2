"""Signed unsubscribe tokens: who (address, contact) and what (category) a link is for.

A token is itsdangerous' URL-safe serialisation of a small JSON object,
signed with HMAC-SHA256 under ``settings.secret_key`` and the salt ``SALT``:

    {"a": "ann@example.com", "c": "onboarding", "i": 42, "l": "ja"}

``a`` is the normalised address, ``c`` the category (absent: every
category), ``i`` the contact id and ``l`` the locale, both optional. Tokens
do not expire: an unsubscribe link must keep working in an old email, and it
can only ever reduce (or restore) mail to the address it names. Changing the
secret key invalidates every link already sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from itsdangerous import BadData, URLSafeSerializer

from engine.compliance.addresses import InvalidAddress, InvalidCategory, check_category, normalise_address

SALT = "touchline.unsubscribe.v1"
MAX_TOKEN = 2000
_LOCALE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class HasSecretKey(Protocol):
    secret_key: str


class BadToken(ValueError):
    """A token that is not one of ours: cut short, changed, or signed with another key."""


@dataclass(frozen=True)
class TokenData:
    address: str
    category: str | None  # None: every category
    contact_id: int | None = None
    locale: str | None = None


def _serializer(settings: HasSecretKey) -> URLSafeSerializer:
    if not settings.secret_key:
        raise ValueError("settings.secret_key is empty: unsubscribe tokens cannot be signed")
    return URLSafeSerializer(settings.secret_key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def unsubscribe_token(
    settings: HasSecretKey,
    address: str,
    category: str | None,
    contact_id: int | None = None,
    locale: str | None = None,
) -> str:
    """A token for ``address`` in ``category`` (None: every category)."""
    payload: dict[str, Any] = {"a": normalise_address(address)}
    if category is not None:
        payload["c"] = check_category(category)
    if contact_id is not None:
        if not isinstance(contact_id, int) or isinstance(contact_id, bool):
            raise ValueError(f"contact_id {contact_id!r}: expected a whole number")
        payload["i"] = contact_id
    if locale:
        if len(locale) > 16 or not set(locale) <= _LOCALE_CHARS:
            raise ValueError(f"locale {locale!r}: expected a tag such as 'ja' or 'en-US'")
        payload["l"] = locale
    return _serializer(settings).dumps(payload)


def read_token(settings: HasSecretKey, token: str) -> TokenData:
    """The data a token carries; ``BadToken`` saying what is wrong otherwise."""
    if not isinstance(token, str) or not token:
        raise BadToken("the link has no token")
    if len(token) > MAX_TOKEN:
        raise BadToken("the link's token is too long to be one of ours")
    try:
        payload = _serializer(settings).loads(token)
    except BadData:
        # BadSignature, BadPayload: cut short when copied, edited, or signed
        # with a different secret key (another instance, or a rotated key).
        raise BadToken("the link is incomplete or has been changed (its signature does not match)") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("a"), str):
        raise BadToken("the link's token does not name a recipient")
    try:
        address = normalise_address(payload["a"])
        category = check_category(payload["c"]) if payload.get("c") is not None else None
    except (InvalidAddress, InvalidCategory) as exc:
        raise BadToken(f"the link's token is malformed: {exc}") from None
    contact_id = payload.get("i")
    if contact_id is not None and (not isinstance(contact_id, int) or isinstance(contact_id, bool)):
        raise BadToken("the link's token has a malformed contact id")
    locale = payload.get("l")
    if locale is not None and not isinstance(locale, str):
        locale = None
    return TokenData(address=address, category=category, contact_id=contact_id, locale=locale)
