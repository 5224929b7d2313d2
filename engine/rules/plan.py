"""What applying rules would do now, without doing any of it.

For each rule that is new or differs from its active version (or every
rule, when asked): the subjects that would enter its segment (they match now
and have no open membership), those that would leave (an open membership
that no longer matches), and how many messages each channel would get for
the entering subjects. Subjects are accounts, or contacts for a contact-level
rule. The counts are an upper bound: holdout, limits, send windows,
unsubscribes and missing addresses are not applied. Nothing is written.
``messages_after_holdout`` leaves out the messages the cycle would only record:
those of entering subjects whose account is in the rule's control group, and
the messages to customers of those whose account is in the program's global
holdout when the rule is one of its marketing plays (engine.delivery.holdout
and the policy's ``global_holdout``, drawn as the cycle draws them).

An unchanged rule that is not evaluated shows its segment as the evaluation
cycle left it: the subjects in it (open memberships) and when it was last
evaluated, which is cheap; ``include_unchanged`` evaluates it now instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.delivery.holdout import in_global_holdout, in_holdout
from engine.delivery.policy import GlobalHoldout, Policy, PolicyError, current_policy
from engine.models import Account, Contact, RuleState, SegmentMembership
from engine.rules.recipients import Recipient, resolve, resolve_contacts
from engine.rules.compiler import compile_condition, compile_contact_condition, contacts_with_accounts
from engine.rules.schema import Rule
from engine.rules.versions import RuleSource, Status, active_versions, status_of

SAMPLE_SIZE = 5
accounts_table = Account.__table__
NOT_PLANNED_UNCHANGED = "not evaluated now (--all evaluates it)"


@dataclass
class RulePlan:
    rule_id: str
    status: Status
    paused: bool = False
    planned: bool = False
    note: str | None = None  # why it was not planned
    level: str = "account"  # what entering and leaving count: accounts, or contacts for level contact
    entering: int = 0
    leaving: int = 0
    messages: dict[str, int] = field(default_factory=dict)  # channel -> messages, in action order
    sample: list[str] = field(default_factory=list)  # external ids of some entering accounts (or contacts)
    staying: int = 0  # subjects in the segment that still match
    held_out: int = 0  # entering subjects whose account is in the rule's holdout group
    # Entering subjects whose account is in the program's global holdout, when the rule is a
    # marketing play (its customers get nothing, owner alerts go). Drawn independently of the
    # rule's own group: a subject may be counted in both.
    global_held_out: int = 0
    messages_after_holdout: dict[str, int] = field(default_factory=dict)  # channel -> messages, holdouts left out
    # An unchanged rule not evaluated: its segment as the cycle left it.
    members: int = 0
    member_sample: list[str] = field(default_factory=list)  # external ids of some members
    evaluated_at: datetime | None = None  # the cycle's last evaluation; None if it never ran


def plan(session: Session, rules: Iterable[RuleSource], now: datetime, include_unchanged: bool = False,
         policy: Policy | None = None) -> list[RulePlan]:  # fmt: skip
    """One RulePlan per given rule; unchanged rules are planned only with ``include_unchanged``.

    ``policy``: for its global holdout; None reads the settings' policy file, and a file that
    cannot be used plans without it (the cycle would not fire the rule's marketing plays
    until it is fixed; engine.rules.firing)."""
    if policy is None:
        try:
            policy = current_policy()
        except PolicyError:
            policy = Policy()
    active = active_versions(session)
    plans: list[RulePlan] = []
    for source in rules:
        rule = source.rule
        status = status_of(source, active)
        result = RulePlan(rule.id, status, paused=rule.id in active and active[rule.id][0].paused, level=rule.level)
        if status == "unchanged" and not include_unchanged:
            result.note = NOT_PLANNED_UNCHANGED
            _current_segment(session, rule, result, active[rule.id][0])
        elif rule.level == "contact":
            _plan_contact_rule(session, rule, now, result, _program(rule, policy))
        else:
            _plan_rule(session, rule, now, result, _program(rule, policy))
        plans.append(result)
    return plans


def _program(rule: Rule, policy: Policy) -> GlobalHoldout | None:
    """The policy's global holdout when the rule is one of its marketing plays (as engine.rules.firing)."""
    found = policy.global_holdout
    return found if found is not None and found.covers(rule) else None


def _recorded_only(rule: Rule, program: GlobalHoldout | None, held: bool, globally: bool, r: Recipient) -> bool:
    """Whether the cycle would only record this message: its account in the global holdout and
    the message to a customer (drawn first), or its account in the rule's group."""
    return (globally and program is not None and program.holds(rule.category, r.contact_id)) or held


def _plan_rule(session: Session, rule: Rule, now: datetime, result: RulePlan, program: GlobalHoldout | None = None) -> None:
    accounts = Account.__table__
    matching = {
        row.id: (row.external_id, row.owner)
        for row in session.execute(
            select(accounts.c.id, accounts.c.external_id, accounts.c.owner).where(compile_condition(rule.when, now))
        )
    }
    open_ids = set(
        session.scalars(
            select(SegmentMembership.account_id).where(
                SegmentMembership.rule_id == rule.id,
                SegmentMembership.exited_at.is_(None),
                SegmentMembership.contact_id.is_(None),
            )
        )
    )
    entering = set(matching) - open_ids
    result.entering = len(entering)
    result.leaving = len(open_ids - set(matching))
    result.staying = len(open_ids & set(matching))
    result.sample = sorted(matching[i][0] for i in entering)[:SAMPLE_SIZE]
    result.planned = True

    held = {i for i in entering if rule.holdout and in_holdout(rule.id, matching[i][0], rule.holdout)}
    globally = {i for i in entering if program is not None and in_global_holdout(matching[i][0], program.percent)}
    result.held_out = len(held)
    result.global_held_out = len(globally)
    # The same recipient resolution the evaluation cycle uses, so the counts are what it would write.
    for action in rule.actions:
        resolved = resolve(session, action, entering)
        total = sum(len(found) for found in resolved.recipients.values())
        kept = sum(1 for i, found in resolved.recipients.items() for r in found
                   if not _recorded_only(rule, program, i in held, i in globally, r))  # fmt: skip
        result.messages[action.channel] = result.messages.get(action.channel, 0) + total
        result.messages_after_holdout[action.channel] = result.messages_after_holdout.get(action.channel, 0) + kept


def _plan_contact_rule(session: Session, rule: Rule, now: datetime, result: RulePlan,
                       program: GlobalHoldout | None = None) -> None:  # fmt: skip
    """As _plan_rule, for the contacts of a contact-level rule (memberships keyed by contact)."""
    contacts = Contact.__table__
    stmt = (
        select(contacts.c.id, contacts.c.account_id, contacts.c.external_id)
        .select_from(contacts_with_accounts())
        .where(compile_contact_condition(rule.when, now))
    )
    matching = {row.id: (row.account_id, row.external_id) for row in session.execute(stmt)}
    open_ids = set(
        session.scalars(
            select(SegmentMembership.contact_id).where(
                SegmentMembership.rule_id == rule.id,
                SegmentMembership.exited_at.is_(None),
                SegmentMembership.contact_id.is_not(None),
            )
        )
    )
    entering = set(matching) - open_ids
    result.entering = len(entering)
    result.leaving = len(open_ids - set(matching))
    result.staying = len(open_ids & set(matching))
    result.sample = sorted(matching[i][1] for i in entering)[:SAMPLE_SIZE]
    result.planned = True

    held: set[int] = set()
    globally: set[int] = set()
    if (rule.holdout or program is not None) and entering:
        account_ids = sorted({matching[c][0] for c in entering})
        rows = session.execute(select(accounts_table.c.id, accounts_table.c.external_id)
                               .where(accounts_table.c.id.in_(account_ids)))  # fmt: skip
        keys = {account_id: key for account_id, key in rows}
        if rule.holdout:
            held = {c for c in entering if in_holdout(rule.id, keys[matching[c][0]], rule.holdout)}
        if program is not None:
            globally = {c for c in entering if in_global_holdout(keys[matching[c][0]], program.percent)}
    result.held_out = len(held)
    result.global_held_out = len(globally)
    # As the cycle writes them: per entering contact, ``to: contact`` is the contact itself and any
    # other audience that of its account; one message per distinct address.
    for action in rule.actions:
        if action.to.kind == "contact":
            found = resolve_contacts(session, action, entering).recipients
            each = {c: _by_address(found.get(c, [])) for c in entering}
        else:
            by_account = resolve(session, action, {matching[c][0] for c in entering}).recipients
            each = {c: _by_address(by_account.get(matching[c][0], [])) for c in entering}
        result.messages[action.channel] = result.messages.get(action.channel, 0) + sum(len(a) for a in each.values())
        kept = sum(1 for c, addresses in each.items() for r in addresses.values()
                   if not _recorded_only(rule, program, c in held, c in globally, r))  # fmt: skip
        result.messages_after_holdout[action.channel] = result.messages_after_holdout.get(action.channel, 0) + kept


def _by_address(recipients: list[Recipient]) -> dict[str, Recipient]:
    """One message per distinct address, to the first recipient that has it (as the cycle writes them)."""
    first: dict[str, Recipient] = {}
    for r in recipients:
        first.setdefault(r.address, r)
    return first


def _current_segment(session: Session, rule: Rule, result: RulePlan, state: RuleState) -> None:
    """The rule's open memberships: who is in its segment since the cycle last evaluated it."""
    contact_level = rule.level == "contact"
    subject = Contact if contact_level else Account
    key = SegmentMembership.contact_id if contact_level else SegmentMembership.account_id
    open_stays = (
        SegmentMembership.rule_id == rule.id,
        SegmentMembership.exited_at.is_(None),
        SegmentMembership.contact_id.is_not(None) if contact_level else SegmentMembership.contact_id.is_(None),
    )
    result.members = session.scalar(select(func.count()).select_from(SegmentMembership).where(*open_stays)) or 0
    result.member_sample = list(session.scalars(
        select(subject.external_id).join(SegmentMembership, key == subject.id).where(*open_stays)
        .order_by(subject.external_id).limit(SAMPLE_SIZE)
    ))  # fmt: skip
    result.evaluated_at = state.last_evaluated_at
