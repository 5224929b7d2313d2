"""The checks a due delivery passes before the dispatcher queues it, in this order:

0. **its rule**: disabled (``enabled: false``) since, or its version no longer valid -> ``skipped``;
1. **suppression** (email): the address unsubscribed from the category (or
   from all), bounced or complained -> ``suppressed``, with the reason;
2. **the fatigue policy file** (``Settings.policy_file``), only while it
   cannot be used: whatever it could limit (all but the exempt
   ``operational``) -> ``deferred``, in its place, until the file is fixed;
   and **the sender's brand**, in production only while a required
   ``TOUCHLINE_BRAND_*`` is unset: customer email not ``operational`` ->
   ``deferred`` in its place until it is set;
3. **send window**: outside its rule's window in the recipient's local time
   -> ``deferred`` to the next opening (never dropped); a window that never
   opens -> ``skipped``;
4. **limits**: the rule's own ``limits`` and the fatigue policy, higher
   priority first -> ``skipped`` with the limit that stopped it.

Each gate reads what it needs for the whole chunk with a few set-wise
queries. Holdout is decided earlier, when the cycle writes the row
(``held_out``), so a control account never reaches a gate.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.compliance import OPERATIONAL, suppressed_addresses
from engine.delivery.dispatch import Due, Gate, Verdicts
from engine.delivery.limits import Candidate, apply_limits, lookback, sent_counts
from engine.delivery.policy import NO_POLICY, Fatigue, Policy, PolicyError, load_policy
from engine.delivery.windows import is_open, next_opening, resolve_timezone
from engine.models import Account, Contact
from engine.rules.schema import Rule
from engine.rules.versions import active_rules
from engine.settings import Brand, Settings

log = logging.getLogger(__name__)


def standard_gates(settings: Settings) -> list[Gate]:
    """Fresh gates for one dispatch pass (the rules and the policy file are read once per pass)."""
    rules = _Rules()
    try:
        policy = load_policy(settings.policy_file) if settings.policy_file is not None else NO_POLICY
        hold: list[Gate] = []
    except PolicyError as exc:
        log.error("fatigue policy %s is invalid; holding the messages it limits:\n%s", settings.policy_file, exc)
        policy, hold = NO_POLICY, [PolicyHold(exc)]
    if settings.production and settings.brand.missing:
        log.error("%s; holding non-operational email to customers", BrandHold.problem(settings.brand))
        hold.append(BrandHold(settings.brand))
    return [RuleGate(rules), suppression_gate, *hold, WindowGate(rules, policy), LimitGate(rules, policy)]


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


class PolicyHold:
    """The policy file cannot be used: what it could limit waits in its place rather than go unlimited.
    Its own exemptions are unknown, so the default ones (operational) go."""

    EXEMPT = Fatigue().exempt_categories

    def __init__(self, error: PolicyError) -> None:
        first = str(error.problems[0]) if error.problems else "no details"
        more = f" (and {len(error.problems) - 1} more: touchline rules check)" if len(error.problems) > 1 else ""
        self.reason = f"waiting: the fatigue policy is invalid: {first}{more}; held until the file is fixed"

    def __call__(self, session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None:
        for d in due:
            if d.category not in self.EXEMPT:
                verdicts.deferred[d.id] = (d.due_at, self.reason)  # due as before: the next pass tries again


class BrandHold:
    """Production without the sender's identity, postal address and support address: customer email
    that is not operational waits rather than go without what the law asks of it (docs/compliance.md).
    Owner alerts (no contact), in-app nudges and webhooks are not mail to customers and go."""

    def __init__(self, brand: Brand) -> None:
        self.reason = f"waiting: {self.problem(brand)}; held until they are set"

    @staticmethod
    def problem(brand: Brand) -> str:
        verb = "is" if len(brand.missing) == 1 else "are"
        return (f"{', '.join(brand.missing)} {verb} not set: production sends no marketing email "
                "without the sender's name, postal address and support address")

    def __call__(self, session: Session, due: list[Due], now: datetime, verdicts: Verdicts) -> None:
        for d in due:
            if d.channel == "email" and d.category != OPERATIONAL and d.contact_id is not None:
                verdicts.deferred[d.id] = (d.due_at, self.reason)  # due as before: the next pass tries again


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
            try:
                opens = next_opening(window, zone.zone, now)
            except ValueError as exc:  # one rule's window, not the whole pass
                verdicts.skipped[d.id] = ("skipped", f"skipped: its {exc}")
                continue
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
