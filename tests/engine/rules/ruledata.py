"""Writing accounts, rollups, changes and deliveries for rule tests, straight into the tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.db import Database
from engine.models import Account, AccountChange, Contact, DailyContactActivity, DailyUsage, Delivery, RuleVersion
from tables import empty_tables


@dataclass(frozen=True)
class SentSpec:
    """One delivery of an account: the rule, action and its status and sent time."""

    rule: str
    action_index: int
    template: str
    status: str
    sent_at: datetime | None


@dataclass(frozen=True)
class ContactSpec:
    """A contact's columns (role is never NULL) and traits; the rest default."""

    fields: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)


@dataclass
class AccountSpec:
    fields: dict[str, Any]
    traits: dict[str, Any] = field(default_factory=dict)
    usage: dict[tuple[str, date], int] = field(default_factory=dict)
    # (event, day) -> contact numbers (0-based, per account)
    contacts: dict[tuple[str, date], set[int]] = field(default_factory=dict)
    changes: list[tuple[str, datetime]] = field(default_factory=list)
    deliveries: list[SentSpec] = field(default_factory=list)
    # Contact number i is written with people[i] (contacts only named in ``contacts`` get defaults).
    people: list[ContactSpec] = field(default_factory=list)


def clear(db: Database) -> None:
    empty_tables(db)


def write_accounts(db: Database, specs: list[AccountSpec], now: datetime) -> list[int]:
    """Insert the accounts and their data; returns their ids in order."""
    ids = []
    with db.session() as s:
        version = RuleVersion(rule_id="any", version=1, content="", content_hash="", author="test", created_at=now)
        s.add(version)
        s.flush()
        for n, spec in enumerate(specs):
            values = {"external_id": f"acct-{n}", "name": f"Account {n}", "created_at": now, **spec.fields}
            if isinstance(values.get("mrr"), float):
                values["mrr"] = Decimal(str(values["mrr"]))
            account = Account(**values, traits=spec.traits)
            s.add(account)
            s.flush()
            ids.append(account.id)
            wanted = max((max(c) + 1 for c in spec.contacts.values() if c), default=0)
            people = spec.people + [ContactSpec()] * (wanted - len(spec.people))
            contacts = [
                Contact(**{"external_id": f"c-{n}-{i}", "created_at": now, **person.fields}, account_id=account.id,
                        traits=person.traits)
                for i, person in enumerate(people)
            ]  # fmt: skip
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
            for i, d in enumerate(spec.deliveries):
                s.add(Delivery(
                    dedupe_key=f"{n}|{i}", rule_id=d.rule, rule_version_id=version.id, action_index=d.action_index,
                    channel="email", template=d.template, account_id=account.id, recipient="a@example.com",
                    occurrence=str(i), status=d.status, sent_at=d.sent_at, due_at=now, created_at=now, updated_at=now,
                ))  # fmt: skip
    return ids


def contact_ids(db: Database) -> dict[str, int]:
    """Contact id by external id (``c-<account number>-<contact number>``)."""
    with db.read_session() as s:
        return {external_id: contact_id for external_id, contact_id in s.execute(select(Contact.external_id, Contact.id))}
