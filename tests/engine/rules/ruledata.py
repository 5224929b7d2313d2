"""Writing accounts, rollups and changes for rule tests, straight into the tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from engine.db import Database
from engine.models import Account, AccountChange, Base, Contact, DailyContactActivity, DailyUsage


@dataclass
class AccountSpec:
    fields: dict[str, Any]
    traits: dict[str, Any] = field(default_factory=dict)
    usage: dict[tuple[str, date], int] = field(default_factory=dict)
    # (event, day) -> contact numbers (0-based, per account)
    contacts: dict[tuple[str, date], set[int]] = field(default_factory=dict)
    changes: list[tuple[str, datetime]] = field(default_factory=list)


def clear(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def write_accounts(db: Database, specs: list[AccountSpec], now: datetime) -> list[int]:
    """Insert the accounts and their data; returns their ids in order."""
    ids = []
    with db.session() as s:
        for n, spec in enumerate(specs):
            values = {"external_id": f"acct-{n}", "name": f"Account {n}", "created_at": now, **spec.fields}
            if isinstance(values.get("mrr"), float):
                values["mrr"] = Decimal(str(values["mrr"]))
            account = Account(**values, traits=spec.traits)
            s.add(account)
            s.flush()
            ids.append(account.id)
            wanted = max((max(c) + 1 for c in spec.contacts.values() if c), default=0)
            contacts = [Contact(external_id=f"c-{n}-{i}", account_id=account.id) for i in range(wanted)]
            s.add_all(contacts)
            s.flush()
            for (event, day), count in spec.usage.items():
                active = len(spec.contacts.get((event, day), ()))
                s.add(DailyUsage(account_id=account.id, event_name=event, day=day, count=count,
                                 active_contacts=active))  # fmt: skip
            for (event, day), numbers in spec.contacts.items():
                for i in numbers:
                    s.add(DailyContactActivity(account_id=account.id, event_name=event, day=day,
                                               contact_id=contacts[i].id))  # fmt: skip
            for name, at in spec.changes:
                s.add(AccountChange(account_id=account.id, field=name, old_value="a", new_value="b", changed_at=at))
    return ids
