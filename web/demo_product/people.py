"""Whom the demo product can be viewed as: demo contacts with nudges waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.models import Account, Contact, Nudge

# Enough to try a few people and languages; the select stays short.
SHOWN = 8
CANDIDATES = 500  # read to choose those from: the most nudges waiting first


@dataclass(frozen=True)
class Person:
    contact: str  # the product's ids, as the token names them
    account: str
    name: str
    email: str | None
    account_name: str
    locale: str | None
    waiting: int  # nudges neither dismissed, snoozed nor expired (before the API's other checks)


def _demo():
    """The demo data's contacts: all its addresses are under .example (engine/demo/people.py), as no
    real person's can be. Only they are offered and get tokens: `touchline up` turns the demo
    product on over any database, and a viewer must not act as a real contact."""
    return func.lower(Contact.email).like("%.example")


def _waiting(now: datetime):
    return (
        Nudge.dismissed_at.is_(None),
        or_(Nudge.expires_at.is_(None), Nudge.expires_at > now),
        or_(Nudge.snoozed_until.is_(None), Nudge.snoozed_until <= now),
    )


def people_with_nudges(session: Session, now: datetime, limit: int = SHOWN) -> list[Person]:
    """The contacts with the most nudges waiting, each once, the first of each kind of nudge and
    language among them (a modal, a Japanese contact), so that a few cover what there is to see."""
    waiting = func.count(Nudge.id)
    rows = session.execute(
        select(Contact.external_id, Account.external_id, Contact.name, Contact.email, Account.name, Contact.locale, waiting,
               func.max(Nudge.kind))
        .join(Nudge, Nudge.contact_id == Contact.id)
        .join(Account, Account.id == Contact.account_id)
        .where(*_waiting(now), _demo())
        .group_by(Contact.id, Account.id)
        .order_by(waiting.desc(), Contact.id)
        .limit(CANDIDATES)
    ).all()  # fmt: skip
    first_of_a_kind = {(row[5], row[7]): row for row in reversed(rows)}  # the first row of each wins
    picked = [row for row in rows if first_of_a_kind.get((row[5], row[7])) is row][:limit]
    picked += [row for row in rows if row not in picked][: limit - len(picked)]
    return [_person(*row[:7]) for row in sorted(picked, key=rows.index)]


def find_person(session: Session, contact: str, now: datetime) -> Person | None:
    """One demo contact by the product's id, whether or not anything is waiting for them."""
    row = session.execute(
        select(Contact.external_id, Account.external_id, Contact.name, Contact.email, Account.name, Contact.locale)
        .join(Account, Account.id == Contact.account_id)
        .where(Contact.external_id == contact, _demo())
    ).first()
    if row is None:
        return None
    count = session.scalar(
        select(func.count(Nudge.id)).join(Contact, Contact.id == Nudge.contact_id)
        .where(Contact.external_id == contact, *_waiting(now))
    )  # fmt: skip
    return _person(*row, count or 0)


def _person(contact, account, name, email, account_name, locale, waiting) -> Person:
    return Person(contact, account, name or email or contact, email, account_name or account, locale, waiting)
