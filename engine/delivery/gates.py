"""The checks a due delivery passes before the dispatcher queues it, in this order:

0. **its rule**: disabled (``enabled: false``) since, or its version no longer valid -> ``skipped``;
1. **suppression** (email): the address unsubscribed from the category (or
   from all), bounced or complained -> ``suppressed``, with the reason;
2. **send window**: outside its rule's window in the recipient's local time
   -> ``deferred`` to the next opening (never dropped);
3. **limits**: the rule's own ``limits`` and the fatigue policy
   (rules/policy.yaml), higher priority first -> ``skipped`` with the limit
   that stopped it.

Each gate reads what it needs for the whole chunk with a few set-wise
queries. Holdout is decided earlier, when the cycle writes the row
(``held_out``), so a control account never reaches a gate.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.compliance import suppressed_addresses
from engine.delivery.dispatch import Due, Gate, Verdicts
from engine.delivery.limits import Candidate, apply_limits, lookback, sent_counts
from engine.delivery.policy import DEFAULT_PATH, Policy, load_policy
from engine.delivery.windows import is_open, next_opening, resolve_timezone
from engine.models import Account, Contact
from engine.rules.schema import Rule
from engine.rules.versions import active_rules
from engine.settings import Settings


def standard_gates(settings: Settings, policy_path: str | Path = DEFAULT_PATH) -> list[Gate]:
    """Fresh gates for one dispatch pass (the rules and the policy file are read once per pass)."""
    policy = load_policy(policy_path, missing_ok=True)
    rules = _Rules()
    return [RuleGate(rules), suppression_gate, WindowGate(rules, policy), LimitGate(rules, policy)]


class _Rules:
    """The active rules by id, read once per dispatch pass (for windows and limits)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Rule] | None = None

    def get(self, session: Session) -> dict[str, Rule]:
        if self._by_id is None:
            self._by_id = {rule.id: rule for _s, _v, rule in active_rules(session, include_paused=True)}
        return self._by_id


class RuleGate:
    """A message whose rule was disabled (``enabled: false``) since, or whose active version no longer validates, does not go."""

    def __init__(self, rules: _Rules) -> None:
        self.rules = rules

    def __call__(self, session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None:
        rules = self.rules.get(session)
        for d in due:
            rule = rules.get(d.rule_id)
            if rule is None:
                verdicts.skipped[d.id] = ("skipped", "skipped: its rule's active version does not validate any more (see the log)")
            elif not rule.enabled:
                verdicts.skipped[d.id] = ("skipped", "skipped: its rule is disabled (enabled: false)")


def suppression_gate(session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None:
    by_category: dict[str, list[Due]] = {}
    for d in due:
        if d.channel == "email":
            by_category.setdefault(d.category, []).append(d)
    for category, items in by_category.items():
        found = suppressed_addresses(session, {d.recipient for d in items}, category)
        for d in items:
            reason = found.get(d.recipient) or found.get(d.recipient.lower())
            if reason is not None:
                verdicts.skipped[d.id] = ("suppressed", f"suppressed: {reason}")


class WindowGate:
    def __init__(self, rules: _Rules, policy: Policy) -> None:
        self.rules, self.policy = rules, policy

    def __call__(self, session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None:
        rules = self.rules.get(session)
        windowed = [d for d in due if d.rule_id in rules and rules[d.rule_id].send_window is not None]
        if not windowed:
            return
        account_tz = dict(session.execute(
            select(Account.id, Account.timezone).where(Account.id.in_({d.account_id for d in windowed}))
        ).all())  # fmt: skip
        contact_ids = {d.contact_id for d in windowed if d.contact_id is not None}
        contact_tz = dict(session.execute(select(Contact.id, Contact.timezone).where(Contact.id.in_(contact_ids))).all())
        for d in windowed:
            window = rules[d.rule_id].send_window
            zone = resolve_timezone(window, contact_tz.get(d.contact_id), account_tz.get(d.account_id),
                                    self.policy.default_timezone)  # fmt: skip
            if is_open(window, zone.zone, now):
                continue
            opens = next_opening(window, zone.zone, now)
            local = opens.astimezone(zone.zone)
            note = f"; {zone.note}" if zone.note else ""
            verdicts.deferred[d.id] = (opens, f"send window: opens {local:%a %Y-%m-%d %H:%M} {zone.name}{note}")


class LimitGate:
    def __init__(self, rules: _Rules, policy: Policy) -> None:
        self.rules, self.policy = rules, policy

    def __call__(self, session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None:
        rules = self.rules.get(session)
        limits = {rule_id: rule.limits for rule_id, rule in rules.items()}
        if not due or (self.policy.fatigue is None and not any(l.per_account or l.per_contact for l in limits.values())):
            return
        candidates = [
            Candidate(d.id, d.rule_id, d.occurrence, d.category, d.priority, d.channel, d.account_id, d.contact_id,
                      d.recipient, d.due_at)  # fmt: skip
            for d in due
        ]
        history = sent_counts(session, {d.account_id for d in due}, {d.contact_id for d in due if d.contact_id},
                              since=lookback(self.policy, limits, now))  # fmt: skip
        for decision in apply_limits(candidates, history, self.policy, limits, now):
            if not decision.go:
                verdicts.skipped[decision.id] = ("skipped", decision.reason or "limit")
