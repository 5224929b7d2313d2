"""Campaigns spread over days, for pages that draw results day by day (the chart, screenshots).

tests/conftest.py's ``campaign`` fires every account at one moment, so every goal window ends
on the same day. ``spread_campaigns`` fires new accounts every day for ``days`` days through the
same real path (apply, cycle, dispatch, send, events, the outcomes pass), so that units settle
day after day and the daily verdict has a history."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

FIRST = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


@dataclass
class Play:
    rule_id: str
    name: str
    plan: str  # the plan its accounts have (each play its own accounts)
    per_day: int
    treated_rate: float
    control_rate: float
    goal: str | None = "{event: project_created, within: 14d}"
    holdout: str = "30%"
    arms: dict[str, list[str]] = field(default_factory=dict)

    def text(self) -> str:
        goal = f"goal: {self.goal}\n" if self.goal else ""
        return (f"id: {self.rule_id}\nname: {self.name}\nowner: cs@vendor.test\nwhen:\n  account.plan: {self.plan}\n"
                f"actions:\n  - in_app: {{template: onboarding/checklist, to: contacts}}\nholdout: {self.holdout}\n{goal}")  # fmt: skip


@pytest.fixture
def spread_campaigns(db, fire_and_send):
    """``run(plays, days=21, seed=7)``: each play fires ``per_day`` new accounts a day for
    ``days`` days; each account converts with its arm's rate (seeded) a day after it fired;
    the outcomes pass measures 15 days after the last firing. Returns the plays with their
    arms and the time measured."""
    from sqlalchemy import select

    from engine.ingest import track_events, upsert_accounts, upsert_contacts
    from engine.models import Account, Delivery
    from engine.results.harm import review_harm
    from engine.results.outcomes import measure
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules
    from engine.settings import load_settings

    def run(plays: list[Play], days: int = 21, seed: int = 7):
        rng = random.Random(seed)
        with db.session() as s:
            apply_rules(s, [(validate_text(p.text(), f"{p.rule_id}.yaml", expected_id=p.rule_id).rule, p.text()) for p in plays],
                        author="test")  # fmt: skip
        fired_at: dict[str, datetime] = {}
        for day in range(days):
            at = FIRST + timedelta(days=day)
            names = [(p, f"{p.plan}-{day:02d}-{i:03d}") for p in plays for i in range(p.per_day)]
            with db.session() as s:
                upsert_accounts(s, [{"id": n, "name": n.replace("-", " ").title(), "plan": p.plan} for p, n in names])
                upsert_contacts(s, [{"id": f"{n}-u", "account_id": n, "email": f"{n}@x.test", "role": "admin"} for p, n in names])
            fired_at.update({n: at for _p, n in names})
            fire_and_send(at, at + timedelta(minutes=5))
        events = []
        with db.read_session() as s:
            for p in plays:
                rows = s.execute(select(Account.external_id, Delivery.status).join(Account, Account.id == Delivery.account_id)
                                 .where(Delivery.rule_id == p.rule_id))  # fmt: skip
                for ext, status in rows:
                    p.arms.setdefault("control" if status == "held_out" else "treated", []).append(ext)
                for arm, members in p.arms.items():
                    rate = p.control_rate if arm == "control" else p.treated_rate
                    for ext in sorted(members):
                        if p.goal and rng.random() < rate:
                            when = fired_at[ext] + timedelta(days=1)
                            events.append({"id": f"{p.rule_id}-{ext}", "account_id": ext, "name": "project_created",
                                           "timestamp": when.isoformat()})  # fmt: skip
        last = FIRST + timedelta(days=days - 1)
        with db.session() as s:
            result = track_events(s, events, now=last + timedelta(days=2), retention_days=10_000)
        assert result.accepted == len(events), result.rejected
        at = last + timedelta(days=15)
        measure(db, at)
        # As the outcomes job does after its pass (no alert channel here).
        review_harm(db, dataclasses.replace(load_settings(), smtp_url=None, webhook_url=None), at)
        return plays, at

    return run
