"""Occurrences and pending deliveries: what the evaluation cycle writes for members of a segment.

An occurrence is one firing of a rule for one membership: its entry
(``on_enter``), the first of its events on or after the day of entry
(``on_event``), or the k-th period of a ``while_matching`` stay.
Each occurrence gets one delivery per action and recipient, keyed by
``rule|action|recipient|occurrence`` under a unique constraint, with the
explanation of why the subject matched. docs/rules.md ("The evaluation
cycle") states the semantics.

Two control groups decide, in this order, whether a row is sent or only recorded:
the program's global holdout (the policy's ``global_holdout``): an account in it
gets, for a marketing play, ``skipped`` rows with the reason ``global holdout: ...``,
which are no part of the rule's own experiment; then the rule's own ``holdout``:
``held_out`` rows, its control group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from engine.delivery.holdout import in_global_holdout, in_holdout
from engine.delivery.policy import OPERATIONAL, GlobalHoldout, Policy, PolicyError, current_policy
from engine.models import Account, DailyUsage, Delivery, RuleVersion, SegmentMembership
from engine.rules import sqlparts as sp
from engine.rules.days import utc_today
from engine.rules.evaluate import ExplainNode, explain
from engine.rules.facts import contact_events_of, events_of, load_contact_facts_many, load_facts_many, rules_of
from engine.rules.recipients import Resolved, resolve, resolve_contacts
from engine.rules.schema import OnEnter, OnEvent, Rule, Variant, WhileMatching
from engine.rules.variants import tested_action, variant_for
from engine.sqlutil import chunks, insert_for

if TYPE_CHECKING:
    from engine.rules.cycle import RuleOutcome

SM = SegmentMembership.__table__
DU = DailyUsage.__table__
DELIVERIES = Delivery.__table__
BATCH = 200  # rows per bulk INSERT / ids per IN (...), under SQLite's parameter limit
NO_RECIPIENT = "(none)"
MAX_KEY = 255  # deliveries.dedupe_key


@dataclass
class Firing:
    membership_id: int
    account_id: int
    contact_id: int | None  # the subject of a contact-level rule
    occurrence: str


def fire(session: Session, version: RuleVersion, rule: Rule, now: datetime, outcome: RuleOutcome,
         already: int = 0, policy: Policy | None = None) -> None:  # fmt: skip
    """Write the deliveries of every occurrence due at ``now`` and mark the memberships fired.
    ``already``: messages this rule wrote earlier in the same cycle (on_event re-checks), which
    count against the circuit breaker's ceiling with these. ``policy``: for its global
    holdout; None reads the settings' policy file (engine.delivery.policy.current_policy)."""
    dwell = timedelta(days=rule.min_dwell or 0)
    trigger = rule.trigger
    cond = [SM.c.rule_id == rule.id, SM.c.exited_at.is_(None), SM.c.entered_at <= now - dwell]
    if isinstance(trigger, WhileMatching):
        every = timedelta(days=trigger.every)
        # last_fired_at holds the nominal time of the last occurrence (entry + k
        # periods), so "the next one is due" is a plain comparison in SQL.
        cond.append((SM.c.last_fired_at.is_(None)) | (SM.c.last_fired_at <= now - every))
    elif isinstance(trigger, OnEnter):
        cond.append(SM.c.last_fired_at.is_(None))
    elif isinstance(trigger, OnEvent):
        # One of its events on the UTC day of entering or later, read from the
        # rollups, so an event the on_event re-check missed still fires here.
        had_event = exists().where(
            DU.c.event_name.in_(trigger.events),
            DU.c.account_id == SM.c.account_id,
            DU.c.day >= sp.DayOf(SM.c.entered_at),
            DU.c.day <= utc_today(now),
            DU.c.count > 0,
        )
        cond += [SM.c.last_fired_at.is_(None), had_event]
    else:
        raise TypeError(f"unknown trigger {trigger!r}")
    columns = (SM.c.id, SM.c.subject_key, SM.c.account_id, SM.c.contact_id, SM.c.entered_at, SM.c.last_fired_at)
    due = session.execute(select(*columns).where(*cond)).all()
    if not due:
        return

    bounced = _recent_exits(session, rule.id, [r.subject_key for r in due if r.last_fired_at is None])
    firings: list[Firing] = []
    marks: list[dict[str, Any]] = []
    for mid, subject_key, account_id, contact_id, entered_at, last_fired_at in due:
        if isinstance(trigger, WhileMatching):
            k = (now - entered_at) // timedelta(days=trigger.every)
            mark, occurrence = entered_at + k * timedelta(days=trigger.every), f"remind:{mid}:{k}"
        else:
            kind = "event" if isinstance(trigger, OnEvent) else "enter"
            k, mark, occurrence = 0, now, f"{kind}:{mid}"
        marks.append({"id": mid, "last_fired_at": mark})
        # A re-entry soon after leaving is the same stay flickering: its entry does not fire.
        last_exit = bounced.get(subject_key)
        if k == 0 and last_fired_at is None and last_exit is not None and last_exit > entered_at - dwell:
            outcome.debounced += 1
            continue
        firings.append(Firing(mid, account_id, contact_id, occurrence))
    write_deliveries(session, version, rule, now, firings, outcome, already, policy)
    for part in chunks(marks, BATCH):
        session.execute(update(SegmentMembership), part)
    outcome.fired += len(firings)


def _recent_exits(session: Session, rule_id: str, subject_keys: list[str]) -> dict[str, datetime]:
    """The last exit of each subject's earlier stays, for the re-entry debounce."""
    last: dict[str, datetime] = {}
    for part in chunks(sorted(set(subject_keys)), BATCH):
        rows = session.execute(
            select(SM.c.subject_key, func.max(SM.c.exited_at))
            .where(SM.c.rule_id == rule_id, SM.c.exited_at.is_not(None), SM.c.subject_key.in_(part))
            .group_by(SM.c.subject_key)
        )
        for subject_key, exited_at in rows:
            last[subject_key] = _aware(exited_at)
    return last


def _aware(value: datetime | str) -> datetime:
    # func.max() loses the column type, so the UTC marker is put back here.
    if isinstance(value, str):  # SQLite hands back text for an aggregate
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def write_deliveries(
    session: Session, version: RuleVersion, rule: Rule, now: datetime, firings: list[Firing], outcome: RuleOutcome,
    already: int = 0, policy: Policy | None = None,
) -> None:
    """One delivery per action and recipient of each firing, a batch of firings at a time
    (explanations, recipients, rows), so memory stays flat however many fire."""
    if not firings:
        return
    program = program_holdout(rule, policy)
    stmt = (
        insert_for(session, DELIVERIES)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(DELIVERIES.c.status)
    )
    ceiling = message_ceiling(rule, version)
    written = already
    for part in chunks(firings, BATCH):
        explanations = _explanations(session, rule, now, part)
        keys = _account_keys(session, part) if rule.holdout or program is not None else {}
        held = _held_out(rule, keys)
        globally_held = _globally_held(program, keys)
        variants = _variants(session, rule, part)
        for index, action in enumerate(rule.actions):
            if rule.level == "contact" and action.to.kind == "contact":
                resolved = resolve_contacts(session, action, {f.contact_id for f in part if f.contact_id is not None})
                subject_of = _contact_of
            else:
                resolved = resolve(session, action, {f.account_id for f in part})
                subject_of = _account_of
            rows = _rows(rule, version, index, action, now, part, resolved, subject_of, explanations, held, variants,
                         program, globally_held)  # fmt: skip
            written += sum(1 for r in rows if r["status"] == "pending")
            if written > ceiling:
                raise CircuitBreakerTripped(rule, version, written, ceiling)
            for (status,) in session.execute(stmt, rows) if rows else ():
                if status == "skipped":
                    outcome.skipped_deliveries += 1
                elif status == "held_out":
                    outcome.held_out += 1
                else:
                    outcome.deliveries += 1


def written_since(session: Session, rule_id: str, since: datetime | None, now: datetime) -> int:
    """Messages the rule wrote after ``since`` (its last scheduled evaluation; else the last
    CYCLE_WINDOW): the on_event re-checks between two cycles are one cycle to the breaker,
    so a runaway condition spread over many small re-checks still trips it."""
    start = since if since is not None and since > now - CYCLE_WINDOW else now - CYCLE_WINDOW
    return session.scalar(
        select(func.count()).select_from(DELIVERIES).where(
            DELIVERIES.c.rule_id == rule_id, DELIVERIES.c.created_at > start,
            DELIVERIES.c.status.not_in(("skipped", "held_out", "test")),  # a test send is no message of the cycle's
        )
    ) or 0  # fmt: skip


# A re-check counts the messages of at most this long ago as the same cycle's.
CYCLE_WINDOW = timedelta(hours=1)
# The circuit breaker's default ceiling: this many times what the plan predicted
# when the version was applied, and never below the floor; without a
# prediction (applied without planning), the floor alone.
CEILING_FACTOR = 10
CEILING_FLOOR = 1000


def message_ceiling(rule: Rule, version: RuleVersion) -> int:
    if rule.max_messages_per_cycle is not None:
        return rule.max_messages_per_cycle
    return max(CEILING_FLOOR, CEILING_FACTOR * (version.predicted_messages or 0))


class CircuitBreakerTripped(Exception):
    """A rule was about to write more messages in one cycle than its ceiling: nothing is written."""

    def __init__(self, rule: Rule, version: RuleVersion, messages: int, ceiling: int) -> None:
        self.rule_id = rule.id
        if rule.max_messages_per_cycle is not None:
            basis = "its max_messages_per_cycle"
        elif version.predicted_messages is not None:
            basis = (f"the default ceiling: {CEILING_FACTOR}x the {version.predicted_messages:,} messages "
                     f"planned when this version was applied, at least {CEILING_FLOOR:,}")  # fmt: skip
        else:
            basis = f"the default ceiling for a version applied without a plan: {CEILING_FLOOR:,}"
        super().__init__(
            f"circuit breaker: more than {ceiling:,} messages in one cycle ({basis}); the rule is paused and "
            "nothing was written. Check its condition with `touchline plan`, then resume it, or set "
            "max_messages_per_cycle if the volume is right"
        )


def _account_of(firing: Firing) -> int:
    return firing.account_id


def _contact_of(firing: Firing) -> int | None:
    return firing.contact_id


class GlobalHoldoutUnknown(Exception):
    """The policy file cannot be used, so whether an account is in the program's control group is
    unknown: a marketing play does not fire (the cycle records the rule's error and rolls its
    writes back) until the file is fixed, rather than reach accounts that may be in it."""

    def __init__(self, error: PolicyError) -> None:
        first = str(error.problems[0]) if error.problems else "no details"
        more = f" (and {len(error.problems) - 1} more: touchline rules check)" if len(error.problems) > 1 else ""
        super().__init__(f"the policy file cannot be used, so its global holdout is unknown: {first}{more}; "
                         "the rule fires once the file is fixed")  # fmt: skip


def program_holdout(rule: Rule, policy: Policy | None = None) -> GlobalHoldout | None:
    """The policy's global holdout when it is on and the rule is one of its marketing plays, else None.

    ``policy`` None reads the settings' file. A rule that cannot be one (only owner alerts, or
    ``operational``) needs no file; for any other, a file that cannot be used raises
    GlobalHoldoutUnknown (the dispatch holds its messages meanwhile too: engine.delivery.gates).
    """
    if rule.category == OPERATIONAL or all(a.to.kind == "owner" for a in rule.actions):
        return None
    if policy is None:
        try:
            policy = current_policy()
        except PolicyError as exc:
            raise GlobalHoldoutUnknown(exc) from None
    found = policy.global_holdout
    return found if found is not None and found.covers(rule) else None


def _account_keys(session: Session, firings: list[Firing]) -> dict[int, str]:
    """The firing accounts' external ids, which both holdouts are drawn by."""
    ids = sorted({f.account_id for f in firings})
    return dict(session.execute(select(Account.id, Account.external_id).where(Account.id.in_(ids))).all())


def _held_out(rule: Rule, keys: dict[int, str]) -> set[int]:
    """The firing accounts in the rule's control group (engine.delivery.holdout: by external id)."""
    if not rule.holdout:
        return set()
    return {account_id for account_id, key in keys.items() if in_holdout(rule.id, key, rule.holdout)}


def _globally_held(program: GlobalHoldout | None, keys: dict[int, str]) -> set[int]:
    """The firing accounts in the program's control group, when the rule is one of its plays."""
    if program is None:
        return set()
    return {account_id for account_id, key in keys.items() if in_global_holdout(key, program.percent)}


def _variants(session: Session, rule: Rule, firings: list[Firing]) -> dict[int, Variant]:
    """Each firing account's A/B variant, when the rule tests one (engine.rules.variants: by external id)."""
    tested = tested_action(rule.actions)
    if tested is None:
        return {}
    ids = sorted({f.account_id for f in firings})
    keys = session.execute(select(Account.id, Account.external_id).where(Account.id.in_(ids)))
    return {account_id: variant_for(rule.id, key, tested[1]) for account_id, key in keys}


def _rows(rule, version, index, action, now, firings, resolved: Resolved, subject_of, explanations,
          held: set[int], variants: dict[int, Variant] | None = None, program: GlobalHoldout | None = None,
          globally_held: frozenset[int] | set[int] = frozenset()) -> list[dict[str, Any]]:  # fmt: skip
    rows: list[dict[str, Any]] = []
    for firing in firings:
        subject = subject_of(firing)
        # The account's variant, on every row of its firing (the tested action takes its template).
        variant = (variants or {}).get(firing.account_id) if firing.account_id not in held else None
        template = variant.template if variant is not None and action.variants and variant.template else action.template
        base = {
            "rule_id": rule.id,
            "rule_version_id": version.id,
            "category": rule.category,
            "priority": rule.priority,
            "action_index": index,
            "channel": action.channel,
            "template": template,
            "variant": variant.name if variant is not None else None,
            "account_id": firing.account_id,
            "occurrence": firing.occurrence,
            "explanation": explanations.get(firing.membership_id, {}),
            "due_at": now,
            "created_at": now,
            "updated_at": now,
        }
        reason = resolved.missing.get(subject)
        if reason is not None:
            key = dedupe_key(rule.id, index, NO_RECIPIENT, firing.occurrence)
            rows.append(base | {"contact_id": firing.contact_id, "recipient": NO_RECIPIENT, "status": "skipped",
                                "reason": reason, "dedupe_key": key})  # fmt: skip
            continue
        seen: dict[str, int | None] = {}  # address -> the contact whose message it gets
        for r in resolved.recipients.get(subject, []):
            if r.address in seen:  # two contacts sharing one address get one message; the other says why
                rows.append(base | _duplicate(rule.id, index, firing.occurrence, r, seen[r.address]))
                continue
            seen[r.address] = r.contact_id
            key = dedupe_key(rule.id, index, r.address, firing.occurrence)
            row = base | {"contact_id": r.contact_id, "recipient": r.address[:320], "dedupe_key": key}
            if program is not None and firing.account_id in globally_held and program.holds(rule.category, r.contact_id):
                # The program's control group, drawn first: recorded, never sent, and no unit of the
                # rule's own experiment (skipped, not held_out); an owner alert still goes.
                row |= {"status": "skipped", "reason": program.reason, "variant": None, "template": action.template}
            elif firing.account_id in held:  # the rule's control group: recorded, never sent
                row |= {"status": "held_out", "reason": f"holdout: in the rule's {rule.holdout:g}% control group"}
            else:
                row |= {"status": "pending", "reason": None}
            rows.append(row)
    return rows


def _duplicate(rule_id: str, index: int, occurrence: str, recipient, first: int | None) -> dict[str, Any]:
    """The skipped row of a contact whose address another contact of the firing already gets."""
    # Keyed by the contact, not the address: the address's own key is the message's.
    key = dedupe_key(rule_id, index, f"duplicate:contact:{recipient.contact_id}", occurrence)
    reason = f"skipped: duplicate: {recipient.address} already gets this message (as contact #{first})"
    return {"contact_id": recipient.contact_id, "recipient": recipient.address[:320], "status": "skipped",
            "reason": reason, "dedupe_key": key}  # fmt: skip


def dedupe_key(rule_id: str, action_index: int, recipient: str, occurrence: str) -> str:
    key = f"{rule_id}|{action_index}|{recipient}|{occurrence}"
    if len(key) <= MAX_KEY:
        return key
    # A very long address would not fit the column: stand in a digest of it.
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:40]
    return f"{rule_id}|{action_index}|sha256:{digest}|{occurrence}"


# -- explanations ----------------------------------------------------------------


def _explanations(session: Session, rule: Rule, now: datetime, firings: list[Firing]) -> dict[int, dict[str, Any]]:
    """Why each firing's subject matched, as a compact JSON tree, by membership id."""
    events, rules, stamp = events_of(rule.when), rules_of(rule.when), now.isoformat()
    if rule.level == "contact":
        ids, key = {f.contact_id for f in firings if f.contact_id is not None}, _contact_of
        facts = load_contact_facts_many(session, ids, now, events, rules)
    else:
        ids, key = {f.account_id for f in firings}, _account_of
        facts = load_facts_many(session, ids, now, events, rules, contact_events=contact_events_of(rule.when))
    trees = {subject: compact(explain(rule.when, f, now)) for subject, f in facts.items()}
    return {f.membership_id: {"at": stamp, "tree": trees[key(f)]} for f in firings if key(f) in trees}


def compact(node: ExplainNode) -> dict[str, Any]:
    """``{"if": text, "ok": held, "saw": value, "of": [children]}``, leaving out empty parts."""
    out: dict[str, Any] = {"if": node.text, "ok": node.held}
    if node.children:
        out["of"] = [compact(c) for c in node.children]
    elif node.value is not None:
        out["saw"] = _json_value(node.value)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
