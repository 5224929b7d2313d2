"""The product's in-app installation: its public app id, allowed origins and signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, JSONType, utcnow


class InAppApp(Base):
    """One product that shows nudges: ``app_id`` is public (the snippet's calls name it)."""

    __tablename__ = "inapp_apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(40), unique=True)
    # Web origins allowed to call the nudge API from a browser (CORS), e.g. "https://app.example.com".
    origins: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InAppKey(Base):
    """A secret the product's backend signs identity tokens with; ``kid`` names it in a token's header.

    The secret is kept as is: HS256 verification needs it (shown once, when created).
    """

    __tablename__ = "inapp_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("inapp_apps.id", ondelete="CASCADE"), index=True)
    kid: Mapped[str] = mapped_column(String(40), unique=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
