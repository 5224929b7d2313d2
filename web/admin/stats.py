"""Figures for the dashboard, each one indexed query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import TIERS, Account, ApiKey, Contact, DailyUsage, utcnow


@dataclass(frozen=True)
class Overview:
    accounts_by_tier: dict[str, int]
    contacts: int
    events_last_7_days: int
    api_keys_active: int
    api_keys_revoked: int

    @property
    def accounts(self) -> int:
        return sum(self.accounts_by_tier.values())


def overview(session: Session, now: datetime | None = None) -> Overview:
    now = now or utcnow()
    by_tier = dict.fromkeys(TIERS, 0)
    by_tier.update(session.execute(select(Account.tier, func.count()).group_by(Account.tier)).all())
    keys = dict(
        session.execute(
            select(ApiKey.revoked_at.is_(None), func.count()).group_by(ApiKey.revoked_at.is_(None))
        ).all()
    )
    return Overview(
        accounts_by_tier=by_tier,
        contacts=session.scalar(select(func.count()).select_from(Contact)) or 0,
        # From the daily rollups: raw events carry no time index, by design.
        events_last_7_days=session.scalar(
            select(func.coalesce(func.sum(DailyUsage.count), 0)).where(DailyUsage.day > (now - timedelta(days=7)).date())
        )
        or 0,
        api_keys_active=keys.get(True, 0),
        api_keys_revoked=keys.get(False, 0),
    )

