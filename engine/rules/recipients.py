"""Who an action goes to, for a batch of accounts at once.

One query per (action, batch) rather than one per account. A recipient is the
string the delivery is addressed to and deduplicated on:

- email: the contact's email address (contacts without one are left out), or
  for ``to: owner`` the account's owner;
- in_app: ``contact:<id>`` (the nudge is shown to that contact in the product);
- webhook: the account's owner for ``to: owner``, else ``contact:<id>`` per contact.

An account with nobody to send to gets a reason instead, so that the cycle
can record a skipped delivery rather than drop the action silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, Contact
from engine.rules.schema import Action
from engine.sqlutil import chunks

BATCH = 500  # account ids per IN (...): well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Recipient:
    address: str
    contact_id: int | None = None


@dataclass
class Resolved:
    """Recipients by account id; accounts with none are in ``missing`` with the reason."""

    recipients: dict[int, list[Recipient]]
    missing: dict[int, str]


def resolve_contacts(session: Session, action: Action, contact_ids: Iterable[int]) -> Resolved:
    """``to: contact`` of a contact-level rule: each matched contact itself, by contact id."""
    ids = sorted(set(contact_ids))
    found: dict[int, list[Recipient]] = {}
    for part in chunks(ids, BATCH):
        for contact_id, email in session.execute(select(Contact.id, Contact.email).where(Contact.id.in_(part))):
            if action.channel != "email":
                found[contact_id] = [Recipient(f"contact:{contact_id}", contact_id)]
            elif email:
                found[contact_id] = [Recipient(email, contact_id)]
    missing = {i: "no recipient: the contact has no email address" for i in ids if i not in found}
    return Resolved(found, missing)


def resolve(session: Session, action: Action, account_ids: Iterable[int]) -> Resolved:
    ids = sorted(set(account_ids))
    found: dict[int, list[Recipient]] = {}
    if action.to.kind == "owner":
        if action.channel == "in_app":
            reason = "no recipient: the owner is not a user of the product"
            return Resolved({}, {i: reason for i in ids})
        for part in chunks(ids, BATCH):
            stmt = select(Account.id, Account.owner).where(Account.id.in_(part), Account.owner.is_not(None))
            for account_id, owner in session.execute(stmt):
                if owner.strip():
                    found[account_id] = [Recipient(owner)]
        return Resolved(found, {i: "no recipient: the account has no owner" for i in ids if i not in found})
    if action.to.kind == "contact":
        reason = "no recipient: 'contact' needs a contact-level rule"
        return Resolved({}, {i: reason for i in ids})

    needs_email = action.channel == "email"
    role = action.to.role if action.to.kind == "role" else None
    for part in chunks(ids, BATCH):
        stmt = select(Contact.id, Contact.account_id, Contact.email).where(Contact.account_id.in_(part))
        if role is not None:
            stmt = stmt.where(Contact.role == role)
        if needs_email:
            stmt = stmt.where(Contact.email.is_not(None), Contact.email != "")
        for contact_id, account_id, email in session.execute(stmt.order_by(Contact.id)):
            address = email if needs_email else f"contact:{contact_id}"
            found.setdefault(account_id, []).append(Recipient(address, contact_id))
    nobody = f"no recipient: no contact with role {role}" if role else "no recipient: no contacts"
    missing = {i: nobody for i in ids if i not in found}
    if needs_email and missing:
        # Mention the email address only where such contacts exist but lack one.
        for part in chunks(sorted(missing), BATCH):
            stmt = select(Contact.account_id).where(Contact.account_id.in_(part))
            if role is not None:
                stmt = stmt.where(Contact.role == role)
            for account_id in session.scalars(stmt.distinct()):
                missing[account_id] = nobody + (" and an email address" if role else " with an email address")
    return Resolved(found, missing)
