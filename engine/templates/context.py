"""What a template sees: the account, the contact, usage, the rule, links, the sender's brand and now.

Everything is read up front (one account at a time), so rendering touches no
database. Fields that are null in the database are *absent* from the views:
printing one fails the delivery like any missing variable, and
``{{ contact.name|default('there') }}`` gives the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, Contact, DailyUsage
from engine.models.ruleset import RuleVersion
from engine.settings import Brand
from engine.sqlutil import chunks

# usage.count(event, days) looks back at most this far.
USAGE_MAX_DAYS = 365
# The variables a template may use; ``templates check`` flags any other name.
CONTEXT_VARIABLES = ("account", "contact", "owner", "usage", "rule", "links", "brand", "now", "locale", "timezone", "part", "subject")


class ContextError(LookupError):
    """The account or contact to render for does not exist (or do not belong together)."""


class Record(Mapping[str, Any]):
    """A read-only record: ``record.field`` or ``record['field']``; null fields are absent."""

    __slots__ = ("_label", "_values")

    def __init__(self, _label: str = "record", **values: Any) -> None:
        # _label names the record in errors: "account has no 'plan'".
        object.__setattr__(self, "_label", _label)
        object.__setattr__(self, "_values", {k: v for k, v in values.items() if v is not None})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("records are read-only")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Record({self._label}, {self._values!r})"


class Usage:
    """Event counts from the daily rollups: ``usage.count('report_run', 30)``.

    A window of N days is the UTC day of ``now`` and the N-1 days before it.
    """

    __slots__ = ("_rows", "_today")

    def __init__(self, today: date, rows: Mapping[str, Mapping[date, int]]) -> None:
        self._today = today
        self._rows = rows

    def _days(self, days: int) -> date:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= USAGE_MAX_DAYS:
            raise ValueError(f"usage window {days!r}: expected a whole number of days from 1 to {USAGE_MAX_DAYS}")
        return self._today - timedelta(days=days - 1)

    def count(self, event: str, days: int = 30) -> int:
        """How many ``event`` events the account had in the last ``days`` days."""
        start = self._days(days)
        return sum(n for day, n in self._rows.get(event, {}).items() if start <= day <= self._today)

    def active_days(self, event: str, days: int = 30) -> int:
        """On how many of the last ``days`` days the account had at least one ``event``."""
        start = self._days(days)
        return sum(1 for day, n in self._rows.get(event, {}).items() if start <= day <= self._today and n > 0)

    def __repr__(self) -> str:
        return f"<usage of {len(self._rows)} events up to {self._today}>"


def build_context(
    session: Session,
    account_id: int,
    contact_id: int | None,
    links: Mapping[str, str],
    now: datetime,
    *,
    rule_version_id: int | None = None,
    usage: Mapping[str, dict[date, int]] | None = None,
    brand: Brand | None = None,
) -> dict[str, Any]:
    """The render context for one message (ids are the database ids in a delivery row).

    ``usage`` (from ``usage_many``) saves a query per message when a batch is composed.
    ``brand`` is the sender's (``Settings.brand``); None gives the demo brand, ``Brand()``.

    ``contact_id`` None (an owner alert) gives ``contact`` None. ``links`` is
    passed through as given (``unsubscribe``, ``preferences``, ``app``).
    ``rule_version_id`` fills ``rule`` (id and name); without it ``rule`` is None.
    Raises ContextError when the account or contact is missing.
    """
    _today(now)
    account = session.get(Account, account_id)
    if account is None:
        raise ContextError(f"account {account_id} does not exist")
    contact = None
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if contact is None:
            raise ContextError(f"contact {contact_id} does not exist at account {account.external_id!r}")
    rule = rule_record(session.get(RuleVersion, rule_version_id), rule_version_id) if rule_version_id is not None else None
    if usage is None:
        usage = _usage(session, account.id, _today(now))
    return context_for(account, contact, links, now, rule=rule, usage=usage, brand=brand or Brand())


def context_for(
    account: Account,
    contact: Contact | None,
    links: Mapping[str, str],
    now: datetime,
    *,
    rule: Record | None,
    usage: Mapping[str, dict[date, int]],
    brand: Brand,
) -> dict[str, Any]:
    """The render context from rows already loaded (a batch loads them all at once)."""
    today = _today(now)
    if contact is not None and contact.account_id != account.id:
        raise ContextError(f"contact {contact.id} does not exist at account {account.external_id!r}")
    return {
        "account": _account(account),
        "contact": _contact(contact) if contact is not None else None,
        "owner": Record("owner", email=account.owner) if account.owner else None,
        "usage": Usage(today, dict(usage)),
        "rule": rule,
        "links": dict(links),
        "brand": brand_record(brand),
        "now": now,
        "timezone": (contact.timezone if contact is not None else None) or account.timezone or "UTC",
    }


def brand_record(brand: Brand) -> Record:
    """What ``brand`` shows: the sender's product name, company, postal address, support
    address and logo; an unset one is absent (only production leaves any unset)."""
    return Record("brand", name=brand.name, company=brand.company, postal_address=brand.postal_address,
                  support_email=brand.support_email, logo_url=brand.logo_url)  # fmt: skip


def _today(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("build_context: now must be timezone-aware")
    return now.astimezone(UTC).date()


def _account(a: Account) -> Record:
    return Record(
        "account",
        external_id=a.external_id,
        name=a.name,
        plan=a.plan,
        tier=a.tier,
        mrr=_money(a.mrr),
        arr=_money(a.arr),
        signup_at=a.signup_at,
        renewal_at=a.renewal_at,
        owner=a.owner,
        timezone=a.timezone,
        locale=a.locale,
        traits=dict(a.traits or {}),
    )


def _contact(c: Contact) -> Record:
    return Record(
        "contact",
        external_id=c.external_id,
        name=c.name,
        email=c.email,
        role=c.role,
        locale=c.locale,
        timezone=c.timezone,
        traits=dict(c.traits or {}),
        last_seen_at=c.last_seen_at,
    )


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _usage(session: Session, account_id: int, today: date) -> dict[str, dict[date, int]]:
    return usage_many(session, [account_id], today).get(account_id, {})


def usage_many(session: Session, account_ids: Iterable[int], today: date) -> dict[int, dict[str, dict[date, int]]]:
    """Daily event counts of many accounts over the days ``usage`` can read, in a query per chunk of ids."""
    out: dict[int, dict[str, dict[date, int]]] = {}
    start = today - timedelta(days=USAGE_MAX_DAYS - 1)
    table = DailyUsage.__table__
    for part in chunks(sorted(set(account_ids)), 500):
        query = select(table.c.account_id, table.c.event_name, table.c.day, table.c.count).where(
            table.c.account_id.in_(part), table.c.day >= start, table.c.day <= today
        )
        for account_id, event, day, count in session.execute(query):
            out.setdefault(account_id, {}).setdefault(event, {})[day] = count
    return out


def rule_record(version: RuleVersion | None, version_id: int) -> Record:
    """What ``rule`` shows of a rule version (id, name, version)."""
    if version is None:
        raise ContextError(f"rule version {version_id} does not exist")
    return Record("rule", id=version.rule_id, name=_rule_name(version.id, version.content) or version.rule_id, version=version.version)


@lru_cache(maxsize=256)
def _rule_name(version_id: int, content: str) -> str | None:
    # A version's content never changes, so its parsed name is cached by id.
    try:
        doc = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None

