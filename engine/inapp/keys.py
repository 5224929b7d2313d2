"""The product's app id, its allowed origins and its signing keys: ``touchline inapp-keys``.

One app per installation (the product that shows nudges), created with its
first key. A key's secret is returned once, when created; two or more keys can
be valid at once, so a new one is deployed before the old one is revoked.
Every change is audited.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import record
from engine.models import InAppApp, InAppKey, utcnow


# Kept in a host by browsers (UTS #46) but mapped away by Python's IDNA 2003 codec: straße.example
# would be allowed as strasse.example, another site, while the browser sends xn--strae-oqa.example.
_IDNA_DEVIATIONS = re.compile("[\u00df\u03c2\u200c\u200d]")


class OriginError(ValueError):
    pass


class UnknownKey(LookupError):
    pass


@dataclass(frozen=True)
class NewKey:
    app_id: str
    kid: str
    secret: str  # shown once


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


def normalise_origin(origin: str) -> str:
    """``https://App.Example.com/`` -> ``https://app.example.com``: scheme, host and port only, as browsers send it."""
    text = origin.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OriginError(f"{origin!r} is not a web origin: give scheme and host, e.g. https://app.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise OriginError(f"{origin!r} is not a web origin: an origin is scheme, host and port only, no path")
    try:
        port = parts.port
    except ValueError as exc:
        raise OriginError(f"{origin!r} has a bad port: {exc}") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname
    if not host.isascii():
        if _IDNA_DEVIATIONS.search(unicodedata.normalize("NFKC", parts.netloc)):  # as written: lower() makes a final Σ ς
            raise OriginError(f"{origin!r}: give its host in Punycode (xn--...), as the browser sends it in Origin")
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise OriginError(f"{origin!r} has a host that is not a domain name: {exc}") from None
    if ":" in host:  # an IPv6 address: urlsplit drops its brackets, the Origin header has them
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def the_app(session: Session) -> InAppApp | None:
    return session.scalar(select(InAppApp).order_by(InAppApp.id).limit(1))


def create_key(session: Session, *, actor: str, origins: list[str] | None = None) -> NewKey:
    """A new signing key; the app (with ``origins``) is created with the first key, else gains them."""
    wanted = [normalise_origin(o) for o in origins or []]
    app = the_app(session)
    if app is None:
        app = InAppApp(app_id="app_" + secrets.token_hex(8), origins=sorted(set(wanted)))
        session.add(app)
        session.flush()
        record(session, actor=actor, action="create", object_type="setting", object_id=f"inapp:{app.app_id}",
               after={"origins": app.origins}, summary="in-app app created")  # fmt: skip
    elif wanted:
        set_origins(session, actor=actor, add=wanted)
    key = InAppKey(app_pk=app.id, kid="key_" + secrets.token_hex(6), secret=secrets.token_urlsafe(32), created_by=actor[:400])
    session.add(key)
    session.flush()
    record(session, actor=actor, action="create", object_type="api_key", object_id=key.kid,
           after={"kind": "inapp", "app_id": app.app_id}, summary="in-app signing key created")  # fmt: skip
    return NewKey(app.app_id, key.kid, key.secret)


def list_keys(session: Session) -> tuple[InAppApp | None, list[KeyInfo]]:
    app = the_app(session)
    if app is None:
        return None, []
    rows = session.scalars(select(InAppKey).where(InAppKey.app_pk == app.id).order_by(InAppKey.created_at, InAppKey.id))
    return app, [KeyInfo(k.kid, k.created_by, k.created_at, k.revoked_at) for k in rows]


def revoke_key(session: Session, kid: str, *, actor: str) -> KeyInfo:
    key = session.scalar(select(InAppKey).where(InAppKey.kid == kid))
    if key is None:
        raise UnknownKey(f"no in-app key {kid!r}; touchline inapp-keys list shows them")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record(session, actor=actor, action="revoke", object_type="api_key", object_id=kid,
               before={"revoked": False}, after={"revoked": True}, summary="in-app signing key revoked")  # fmt: skip
    return KeyInfo(key.kid, key.created_by, key.created_at, key.revoked_at)


def set_origins(session: Session, *, actor: str, add: list[str] = (), remove: list[str] = ()) -> list[str]:
    """Add and remove allowed origins; the app must exist (create a key first)."""
    app = the_app(session)
    if app is None:
        raise UnknownKey("there is no in-app app yet: create a key first (touchline inapp-keys create)")
    before = list(app.origins or [])
    gone = {normalise_origin(o) for o in remove}
    after = sorted((set(before) | {normalise_origin(o) for o in add}) - gone)
    if after != before:
        app.origins = after
        record(session, actor=actor, action="update", object_type="setting", object_id=f"inapp:{app.app_id}",
               before={"origins": before}, after={"origins": after}, summary="in-app origins changed")  # fmt: skip
    return after
