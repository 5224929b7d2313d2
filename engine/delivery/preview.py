"""A message composed for one real account as the send job would compose it, without sending it:
the templates area's preview, and what a test send sends (engine.delivery.testsend).

The same ``Composer`` as the send path (context, locale, links, headers), on a
draft row that is never written to the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from engine.delivery.compose import Composer
from engine.delivery.message import OutgoingMessage
from engine.models import Account, Contact, RuleState, RuleVersion, utcnow
from engine.rules.recipients import resolve, resolve_contacts
from engine.rules.schema import Action, Rule
from engine.rules.versions import validate_content
from engine.settings import Settings
from engine.templates import RenderError, locale_chain


class PreviewError(ValueError):
    """The preview cannot be made: no such account, rule or action; the message says which."""


@dataclass
class Draft:
    """What the composer reads of a delivery row."""

    id: int
    rule_id: str
    rule_version_id: int | None
    action_index: int
    channel: str
    template: str
    category: str
    account_id: int
    contact_id: int | None
    recipient: str


@dataclass(frozen=True)
class Preview:
    template: str
    locale: str | None  # the template file's locale, when one was found
    account_external_id: str
    account_name: str
    contact_name: str | None  # whose data personalises the message; None: an owner alert
    contact_address: str | None
    message: OutgoingMessage | None
    error: str | None = None  # "file:line: part: reason" when it cannot be rendered


def find_account(session: Session, external_id: str) -> Account:
    account = session.scalar(select(Account).where(Account.external_id == external_id.strip()))
    if account is None:
        raise PreviewError(f"no account with the id {external_id.strip()!r}")
    return account


def first_contact(session: Session, account: Account) -> Contact | None:
    """The contact a template preview is personalised for: the account's first admin with an address, else its first contact with one."""
    return session.scalar(
        select(Contact)
        .where(Contact.account_id == account.id, Contact.email.is_not(None))
        .order_by(case((Contact.role == "admin", 0), else_=1), Contact.id)
        .limit(1)
    )


def active_rule(session: Session, rule_id: str) -> tuple[RuleVersion, Rule]:
    """The active version of ``rule_id`` and the rule it holds."""
    row = session.execute(
        select(RuleVersion).join(RuleState, RuleState.active_version_id == RuleVersion.id).where(RuleState.rule_id == rule_id)
    ).scalar_one_or_none()
    if row is None:
        raise PreviewError(f"no applied rule {rule_id!r}")
    result = validate_content(row.content, row.rule_id, row.rule_id)
    if result.rule is None:
        raise PreviewError(f"the active version of rule {rule_id!r} does not validate any more: touchline rules check")
    return row, result.rule


def rule_recipient(session: Session, rule: Rule, action: Action, account: Account) -> Contact | None:
    """A contact the rule's action would reach at ``account`` (the first), or None for an owner alert."""
    if action.to.kind == "owner":
        return None
    if action.to.kind == "contact":  # a contact-level rule: any contact of the account stands for the one matched
        first = first_contact(session, account)
        if first is None:
            raise PreviewError(f"account {account.external_id!r} has no contact with an email address")
        resolved, key = resolve_contacts(session, action, [first.id]), first.id
    else:
        resolved, key = resolve(session, action, [account.id]), account.id
    contact_id = next((r.contact_id for r in resolved.recipients.get(key, []) if r.contact_id is not None), None)
    if contact_id is None:
        why = resolved.missing.get(key, "no contact")
        raise PreviewError(f"account {account.external_id!r} has nobody this action reaches ({why})")
    return session.get(Contact, contact_id)


def compose_draft(session: Session, settings: Settings, draft: Draft, locale: str | None = None,
                  now: datetime | None = None):  # fmt: skip
    """The composer's result (``Composed``) for ``draft``, as the send job would make it."""
    composer = Composer(session, settings, now or utcnow())
    return composer.compose(draft, locale=locale)  # type: ignore[arg-type]  # a Draft reads as a row


def preview_template(session: Session, settings: Settings, *, template: str, account_id: str, locale: str | None = None,
                     category: str = "general", recipient: str | None = None) -> Preview:  # fmt: skip
    """``template`` composed as an email to the account's first admin (else first contact) in
    ``locale`` (else theirs), with links as for ``category``; ``recipient`` is the address its
    links are made for (default: the contact's). A render problem is in ``error``."""
    account = find_account(session, account_id)
    contact = first_contact(session, account)
    if contact is None and not account.owner:
        raise PreviewError(f"account {account.external_id!r} has no contact with an email address and no owner: "
                           "nobody to personalise the message for")  # fmt: skip
    # Without a contact it reads as an alert to the owner, whose address the composer expects.
    address = (recipient or contact.email) if contact is not None else account.owner
    draft = Draft(0, "", None, 0, "email", template, category, account.id, contact.id if contact else None, address)
    return _preview(session, settings, draft, account, contact, locale)


def preview_rule_action(session: Session, settings: Settings, *, rule_id: str, account_id: str, action_index: int = 0,
                        delivery_id: int = 0, recipient: str | None = None) -> tuple[Preview, Draft]:  # fmt: skip
    """Action ``action_index`` of rule ``rule_id``'s active version composed for the account, for
    the first contact it reaches; ``recipient`` replaces the address (a test send's own)."""
    version, rule = active_rule(session, rule_id)
    if not 0 <= action_index < len(rule.actions):
        raise PreviewError(f"rule {rule_id!r} has {len(rule.actions)} action(s): no action {action_index + 1}")
    action = rule.actions[action_index]
    account = find_account(session, account_id)
    contact = rule_recipient(session, rule, action, account)
    if contact is None and not account.owner:
        raise PreviewError(f"account {account.external_id!r} has no owner for this owner alert")
    # An owner alert keeps the owner's address for composing; the test send addresses it to its own.
    address = account.owner if contact is None else (recipient or contact.email or "")
    draft = Draft(delivery_id, rule.id, version.id, action_index, action.channel, action.template, rule.category,
                  account.id, contact.id if contact else None, address)  # fmt: skip
    return _preview(session, settings, draft, account, contact, None), draft


def _preview(session, settings, draft: Draft, account: Account, contact: Contact | None, locale: str | None) -> Preview:
    from engine.delivery.compose import shared_library

    chain = locale_chain(locale, None) if locale else locale_chain(contact.locale if contact else None, account.locale)
    try:
        chosen: str | None = shared_library(settings.templates_dir).choose(draft.template, chain)
    except RenderError:
        chosen = None
    composed = compose_draft(session, settings, draft, locale)
    error = composed.error.removeprefix("not sent: ") if composed.error else None
    return Preview(draft.template, chosen, account.external_id, account.name, contact.name if contact else None,
                   contact.email if contact else None, composed.message, error)  # fmt: skip


def sample_account(session: Session) -> str | None:
    """An account to preview with when none is chosen: the first by external id that has a contact with an address."""
    return session.scalar(
        select(Account.external_id)
        .where(Account.id.in_(select(Contact.account_id).where(Contact.email.is_not(None))))
        .order_by(Account.external_id)
        .limit(1)
    )
