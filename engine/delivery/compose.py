"""From a delivery row to the message a channel sends: context, template, links, headers, Message-ID.

A delivery that cannot be made into a message (its template fails, its
account is gone, its address is not one) gets a reason instead, and the send
job fails it without sending anything half-made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.compliance import OPERATIONAL, list_unsubscribe_headers, preferences_url, unsubscribe_token, unsubscribe_url
from engine.delivery.message import OutgoingMessage, message_id_for
from engine.delivery.tracking import Tracker
from engine.models import Account, Contact, Delivery, RuleVersion
from engine.rules.schema import Action, Rule
from engine.rules.versions import validate_content
from engine.settings import Settings
from engine.sqlutil import chunks
from engine.templates import ContextError, RenderError, TemplateLibrary, context_for, locale_chain, rule_record
from engine.templates.context import Record, usage_many
from engine.templates.library import Rendered


@dataclass
class Composed:
    message: OutgoingMessage | None
    error: str | None = None  # why there is no message


class Composer:
    """Composes the deliveries of one batch (one template library, one clock)."""

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session: Session | None = session
        self.settings, self.now = settings, now
        self.library = shared_library(settings.templates_dir)
        self.domain = message_domain(settings)
        self.tracker = Tracker(settings)
        self._rules: dict[int, Rule | None] = {}
        self._rule_records: dict[int, Record] = {}
        self._versions: dict[int, RuleVersion | None] = {}
        # Held here, not only in the session: its identity map keeps rows weakly, so a
        # prefetched row nobody references would be loaded again, one query per message.
        self._accounts: dict[int, Account | None] = {}
        self._contacts: dict[int, Contact | None] = {}
        self._usage: dict[int, dict] = {}

    def prefetch(self, rows: list[Delivery]) -> None:
        """Load a batch's accounts, contacts, usage and rule versions in a few queries, not a
        few per message: composing these rows then reads nothing more (see ``detach``)."""
        self.load({r.account_id for r in rows}, {r.contact_id for r in rows if r.contact_id is not None})
        for version_id in {r.rule_version_id for r in rows}:
            self.rule_version(version_id)
        for row in rows:
            if row.channel != "email":
                self._action(row)  # parsed now, while the session is open

    def detach(self) -> None:
        """The session is closing: compose only what ``prefetch`` loaded from now on."""
        self.session = None

    def load(self, account_ids: set[int], contact_ids: set[int]) -> None:
        """Load these accounts (with their usage) and contacts, those not loaded yet."""
        account_ids, contact_ids = account_ids - self._accounts.keys(), contact_ids - self._contacts.keys()
        if account_ids or contact_ids:
            self._reader()
        for part in chunks(sorted(account_ids), 500):
            self._accounts.update((a.id, a) for a in self.session.scalars(select(Account).where(Account.id.in_(part))))
        for part in chunks(sorted(contact_ids), 500):
            self._contacts.update((c.id, c) for c in self.session.scalars(select(Contact).where(Contact.id.in_(part))))
        usage = usage_many(self.session, account_ids, self.now.astimezone(UTC).date())
        for account_id in account_ids:
            self._accounts.setdefault(account_id, None)  # gone: not asked for again
            self._usage[account_id] = usage.get(account_id, {})
        for contact_id in contact_ids:
            self._contacts.setdefault(contact_id, None)

    def _reader(self) -> Session:
        if self.session is None:
            raise RuntimeError("composing a row that was not prefetched, after the session was closed")
        return self.session

    def rule_version(self, version_id: int) -> RuleVersion | None:
        if version_id not in self._versions:
            self._versions[version_id] = self._reader().get(RuleVersion, version_id)
        return self._versions[version_id]

    def _rule(self, version_id: int) -> Record:
        if version_id not in self._rule_records:
            self._rule_records[version_id] = rule_record(self.rule_version(version_id), version_id)
        return self._rule_records[version_id]

    def _action(self, row: Delivery) -> Action | None:
        """The rule action a row came from, from its rule version (parsed once per version)."""
        if row.rule_version_id not in self._rules:
            version = self.rule_version(row.rule_version_id)
            result = validate_content(version.content, version.rule_id, version.rule_id) if version else None
            self._rules[row.rule_version_id] = result.rule if result is not None else None
        rule = self._rules[row.rule_version_id]
        return rule.actions[row.action_index] if rule is not None and row.action_index < len(rule.actions) else None

    def compose(self, row: Delivery, locale: str | None = None) -> Composed:
        """``row`` as a message; ``locale`` (a preview or test send) instead of the recipient's."""
        try:
            return Composed(self._compose(row, locale))
        except (RenderError, ContextError, ValueError) as exc:
            return Composed(None, f"not sent: {exc}")

    def _compose(self, row: Delivery, locale: str | None = None) -> OutgoingMessage:
        if row.account_id not in self._accounts or (row.contact_id is not None and row.contact_id not in self._contacts):
            self.load({row.account_id}, {row.contact_id} if row.contact_id is not None else set())
        account = self._accounts[row.account_id]
        contact = self._contacts[row.contact_id] if row.contact_id is not None else None
        if account is None:
            raise ContextError(f"account {row.account_id} no longer exists")
        if row.contact_id is None and row.recipient != account.owner:
            # The contact was deleted after the message was written (contact_id is SET NULL).
            raise ContextError(f"the contact this message was for ({row.recipient}) no longer exists")
        if row.contact_id is not None and contact is None:
            raise ContextError(f"contact {row.contact_id} does not exist at account {account.external_id!r}")
        links: dict[str, str] = {"app": self.settings.product_url or self.settings.public_url}
        headers: dict[str, str] = {}
        if row.channel == "email" and row.category != OPERATIONAL:
            token = unsubscribe_token(self.settings, row.recipient, row.category, row.contact_id,
                                      locale=(contact.locale if contact else None) or account.locale)  # fmt: skip
            links["unsubscribe"] = unsubscribe_url(self.settings.public_url, token)
            links["preferences"] = preferences_url(self.settings.public_url, token)
            headers.update(list_unsubscribe_headers(self.settings.public_url, token))
        # A template previewed on its own has no rule (rule_version_id None): ``rule`` is then undefined.
        rule = self._rule(row.rule_version_id) if row.rule_version_id is not None else None
        context = context_for(account, contact, links, self.now, rule=rule, usage=self._usage[row.account_id],
                              brand=self.settings.brand)  # fmt: skip
        if locale:
            locales = locale_chain(locale, None)
        else:
            locales = locale_chain(contact.locale if contact else None, account.locale)
        rendered = self.library.render(row.template, locales, context)
        html, text = rendered.html, rendered.text
        if row.channel == "email":
            # Customer email's links go through the click route, and its category may carry the open
            # pixel (engine.delivery.tracking); the unsubscribe and preference links stay as they are.
            html, text = self.tracker.apply(row.id, row.category, contact is not None, html, text,
                                            keep=(links.get("unsubscribe"), links.get("preferences")))  # fmt: skip
        # In-app and webhook messages take settings from their rule's action; email none.
        action = self._action(row) if row.channel != "email" else None
        days = action.expires_in if action is not None and row.channel == "in_app" else None
        expires = self.now + timedelta(days=days) if days else None
        return OutgoingMessage(
            delivery_id=row.id,
            to_addr=row.recipient,
            to_name=(contact.name or "") if contact is not None else "",
            subject=rendered.subject,
            text=text,
            html=html,
            headers=headers,
            message_id=message_id_for(row.id, self.domain),
            account_id=row.account_id,
            contact_id=row.contact_id,
            expires_at=expires,
            **(_nudge_settings(action, rendered) if row.channel == "in_app" else {}),
            url=action.url if action is not None and row.channel == "webhook" else None,
            format=action.format if action is not None and row.channel == "webhook" else None,
            data={"rule": row.rule_id, "template": row.template, "account": account.external_id,
                  "category": row.category, "delivery": row.id},  # fmt: skip
        )


def _nudge_settings(action: Action | None, rendered: Rendered) -> dict[str, Any]:
    """An in-app message's kind and priority (its rule's action), call to action and language (its template)."""
    return {
        "kind": (action.kind if action is not None else None) or "card",
        "priority": action.priority if action is not None and action.priority is not None else 50,
        "cta_label": rendered.cta_label, "cta_url": rendered.cta_url, "locale": rendered.locale,
    }  # fmt: skip


_libraries: dict[Path, TemplateLibrary] = {}


def shared_library(root: Path) -> TemplateLibrary:
    """One template library per folder and process: compiled templates are kept across batches
    (Jinja reloads a file that changed on disk)."""
    library = _libraries.get(root)
    if library is None:
        library = _libraries[root] = TemplateLibrary(root)
    return library


def warm_templates(settings: Settings) -> int:
    """Compile every template file now, layouts and partials included (the worker does it
    before forking work-horses, which inherit them); one that does not compile is left for
    its delivery to report. Files compiled."""
    library = shared_library(settings.templates_dir)
    compiled = 0
    for path in library.files():
        try:
            library.env.get_template(path.relative_to(library.root).as_posix())
            compiled += 1
        except Exception:  # reported with file and line when a delivery renders it
            continue
    return compiled


def message_domain(settings: Settings) -> str:
    """The host Message-IDs name: the sender's domain, else the public URL's host."""
    sender = settings.mail_from.rsplit("@", 1)[-1].strip("> ") if "@" in settings.mail_from else ""
    return sender or urlsplit(settings.public_url).hostname or "localhost"
