"""The evaluation cycle: segment matches become memberships, and firings become deliveries.

For each due rule, in its own transaction: one set-wise query for the matching
accounts, a set difference against the open memberships, new memberships for
entering accounts and ``exited_at`` for leaving ones, then pending deliveries
for every occurrence that is due. Every write is idempotent: memberships are
inserted against the partial unique index on open stays and deliveries against
their unique ``dedupe_key``, both with ON CONFLICT DO NOTHING, so a repeated
cycle, or two at once, writes each row once. docs/rules.md ("The evaluation
cycle") states the semantics.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from croniter import croniter
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from engine.db import Database
from engine.models import Delivery, RuleState, RuleVersion, SegmentMembership
from engine.rules.compiler import matching_account_ids
from engine.rules.evaluate import ExplainNode, explain
from engine.rules.facts import events_of, load_facts_many
from engine.rules.recipients import resolve
from engine.rules.schema import OnEnter, OnEvent, Rule, WhileMatching
from engine.sqlutil import chunks, insert_for

log = logging.getLogger(__name__)

SM = SegmentMembership.__table__
DELIVERIES = Delivery.__table__
BATCH = 200  # rows per bulk INSERT / ids per IN (...), under SQLite's parameter limit
NO_RECIPIENT = "(none)"
MAX_KEY = 255  # deliveries.dedupe_key


@dataclass
class RuleOutcome:
    """What the cycle did with one rule."""

    rule_id: str
    status: str  # evaluated | not_due | paused | skipped | error
    reason: str | None = None
    matched: int = 0
    entered: int = 0  # memberships this cycle opened
    exited: int = 0  # memberships this cycle closed
    fired: int = 0  # occurrences that produced deliveries
    debounced: int = 0  # re-entries within min_dwell of the last exit: not fired
    deliveries: int = 0  # pending deliveries written
    skipped_deliveries: int = 0  # deliveries written as skipped (no recipient)


@dataclass
class CycleReport:
    now: datetime
    rules: list[RuleOutcome] = field(default_factory=list)

    def by_rule(self) -> dict[str, RuleOutcome]:
        return {o.rule_id: o for o in self.rules}

    def summary(self) -> dict[str, Any]:
        """Counts for the tick outcome (JSON-safe)."""
        totals: dict[str, Any] = {"rules": len(self.rules)}
        for status in ("evaluated", "not_due", "paused", "skipped", "error"):
            totals[status] = sum(1 for o in self.rules if o.status == status)
        for name in ("entered", "exited", "fired", "debounced", "deliveries", "skipped_deliveries"):
            totals[name] = sum(getattr(o, name) for o in self.rules)
        errors = {o.rule_id: o.reason for o in self.rules if o.status == "error"}
        if errors:
            totals["errors"] = errors
        return totals

    def as_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat(), "rules": [asdict(o) for o in self.rules]}


def is_due(schedule: str, last_evaluated_at: datetime | None, now: datetime) -> bool:
    """Due when the rule was never evaluated, or a cron time has passed since it last was."""
    if last_evaluated_at is None:
        return True
    return croniter(schedule, last_evaluated_at).get_next(datetime) <= now


def run_cycle(
    db: Database,
    rules: Sequence[tuple[RuleState, RuleVersion, Rule]],
    now: datetime,
    only_due: bool = True,
) -> CycleReport:
    """Evaluate ``rules`` at ``now``; a failing rule is recorded and the others still run."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: the cycle needs a timezone-aware now")
    report = CycleReport(now)
    # Higher priority first, so when limits arrive the important rule claims the slot.
    for _state, version, rule in sorted(rules, key=lambda r: (-r[2].priority, r[2].id)):
        try:
            with db.session() as session:
                outcome = _run_rule(session, version, rule, now, only_due)
        except Exception as exc:  # one broken rule must not stop the rest
            log.exception("rule %s failed in the evaluation cycle", rule.id)
            outcome = RuleOutcome(rule.id, "error", f"{type(exc).__name__}: {exc}")
        report.rules.append(outcome)
    return report


def _run_rule(session: Session, version: RuleVersion, rule: Rule, now: datetime, only_due: bool) -> RuleOutcome:
    if rule.level != "account":
        return RuleOutcome(rule.id, "skipped", "contact-level rules are not evaluated by the cycle yet")
    if not rule.enabled:
        return RuleOutcome(rule.id, "skipped", "the rule is disabled (enabled: false)")
    # Lock the state row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
    # writers) so two cycles on the same rule run one after the other, and read
    # it fresh: the caller's copy may be stale.
    state = session.scalars(select(RuleState).where(RuleState.rule_id == rule.id).with_for_update()).one_or_none()
    if state is None:
        return RuleOutcome(rule.id, "skipped", "the rule has no state row (not applied)")
    if state.paused:
        return RuleOutcome(rule.id, "paused", state.paused_reason)
    if state.active_version_id != version.id:
        # Applied while this cycle was starting: the next cycle loads the new version.
        return RuleOutcome(rule.id, "skipped", "another version was applied since the rules were loaded")
    if only_due and not is_due(rule.schedule, state.last_evaluated_at, now):
        return RuleOutcome(rule.id, "not_due")

    outcome = RuleOutcome(rule.id, "evaluated")
    matching = matching_account_ids(session, rule.when, now)
    outcome.matched = len(matching)
    open_ids = set(session.scalars(select(SM.c.account_id).where(SM.c.rule_id == rule.id, SM.c.exited_at.is_(None))))
    outcome.exited = _close(session, rule.id, sorted(open_ids - matching), now)
    outcome.entered = _open(session, rule.id, sorted(matching - open_ids), now)
    _fire(session, version, rule, now, outcome)
    session.execute(update(RuleState).where(RuleState.rule_id == rule.id).values(last_evaluated_at=now))
    return outcome


def _close(session: Session, rule_id: str, leaving: list[int], now: datetime) -> int:
    closed = 0
    for part in chunks(leaving, BATCH):
        result = session.execute(
            update(SM)
            .where(SM.c.rule_id == rule_id, SM.c.exited_at.is_(None), SM.c.account_id.in_(part))
            .values(exited_at=now)
        )
        closed += result.rowcount
    return closed


def _open(session: Session, rule_id: str, entering: list[int], now: datetime) -> int:
    """Insert open stays; RETURNING tells which ones this cycle created (a concurrent one may have won)."""
    created = 0
    # One statement with the rows as parameters (executemany), so SQLAlchemy
    # compiles it once instead of a new multi-row VALUES for every chunk.
    stmt = (
        insert_for(session, SM)
        .on_conflict_do_nothing(index_elements=["rule_id", "subject_key"], index_where=text("exited_at IS NULL"))
        .returning(SM.c.id)
    )
    for part in chunks(entering, BATCH):
        rows = [
            {"rule_id": rule_id, "subject_key": f"account:{i}", "account_id": i, "entered_at": now} for i in part
        ]
        created += len(session.execute(stmt, rows).all())
    return created


@dataclass
class _Firing:
    membership_id: int
    account_id: int
    occurrence: str
    fired_mark: datetime  # stored in last_fired_at


def _fire(session: Session, version: RuleVersion, rule: Rule, now: datetime, outcome: RuleOutcome) -> None:
    dwell = timedelta(days=rule.min_dwell or 0)
    trigger = rule.trigger
    cond = [SM.c.rule_id == rule.id, SM.c.exited_at.is_(None), SM.c.entered_at <= now - dwell]
    if isinstance(trigger, WhileMatching):
        every = timedelta(days=trigger.every)
        # last_fired_at holds the nominal time of the last occurrence (entry + k
        # periods), so "the next one is due" is a plain comparison in SQL.
        cond.append((SM.c.last_fired_at.is_(None)) | (SM.c.last_fired_at <= now - every))
    elif isinstance(trigger, (OnEnter, OnEvent)):
        cond.append(SM.c.last_fired_at.is_(None))
    else:
        raise TypeError(f"unknown trigger {trigger!r}")
    due = session.execute(select(SM.c.id, SM.c.account_id, SM.c.entered_at, SM.c.last_fired_at).where(*cond)).all()
    if not due:
        return

    bounced = _recent_exits(session, rule.id, [r.account_id for r in due if r.last_fired_at is None], now)
    firings: list[_Firing] = []
    marks: list[dict[str, Any]] = []
    for mid, account_id, entered_at, last_fired_at in due:
        if isinstance(trigger, WhileMatching):
            k = (now - entered_at) // timedelta(days=trigger.every)
            mark, occurrence = entered_at + k * timedelta(days=trigger.every), f"remind:{mid}:{k}"
        else:
            k, mark, occurrence = 0, now, f"enter:{mid}"
        marks.append({"id": mid, "last_fired_at": mark})
        # A re-entry soon after leaving is the same stay flickering: its entry does not fire.
        if k == 0 and last_fired_at is None and account_id in bounced and bounced[account_id] > entered_at - dwell:
            outcome.debounced += 1
            continue
        firings.append(_Firing(mid, account_id, occurrence, mark))
    _write_deliveries(session, version, rule, now, firings, outcome)
    for part in chunks(marks, BATCH):
        session.execute(update(SegmentMembership), part)
    outcome.fired += len(firings)


def _recent_exits(session: Session, rule_id: str, account_ids: list[int], now: datetime) -> dict[int, datetime]:
    """The last exit of each account's earlier stays, for the re-entry debounce."""
    last: dict[int, datetime] = {}
    for part in chunks(sorted(set(account_ids)), BATCH):
        rows = session.execute(
            select(SM.c.account_id, func.max(SM.c.exited_at))
            .where(SM.c.rule_id == rule_id, SM.c.exited_at.is_not(None), SM.c.account_id.in_(part))
            .group_by(SM.c.account_id)
        )
        for account_id, exited_at in rows:
            last[account_id] = _aware(exited_at)
    return last


def _aware(value: datetime) -> datetime:
    # func.max() loses the column type, so the UTC marker is put back here.
    if isinstance(value, str):  # SQLite hands back text for an aggregate
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _write_deliveries(
    session: Session, version: RuleVersion, rule: Rule, now: datetime, firings: list[_Firing], outcome: RuleOutcome
) -> None:
    if not firings:
        return
    accounts = {f.account_id for f in firings}
    explanations = _explanations(session, rule, now, accounts)
    rows: list[dict[str, Any]] = []
    for index, action in enumerate(rule.actions):
        resolved = resolve(session, action, accounts)
        for firing in firings:
            base = {
                "rule_id": rule.id,
                "rule_version_id": version.id,
                "action_index": index,
                "channel": action.channel,
                "template": action.template,
                "account_id": firing.account_id,
                "occurrence": firing.occurrence,
                "explanation": explanations[firing.account_id],
                "due_at": now,
                "created_at": now,
                "updated_at": now,
            }
            reason = resolved.missing.get(firing.account_id)
            if reason is not None:
                key = dedupe_key(rule.id, index, NO_RECIPIENT, firing.occurrence)
                rows.append(base | {"contact_id": None, "recipient": NO_RECIPIENT, "status": "skipped",
                                    "reason": reason, "dedupe_key": key})  # fmt: skip
                continue
            seen: set[str] = set()
            for r in resolved.recipients[firing.account_id]:
                if r.address in seen:  # two contacts sharing one address get one message
                    continue
                seen.add(r.address)
                key = dedupe_key(rule.id, index, r.address, firing.occurrence)
                rows.append(base | {"contact_id": r.contact_id, "recipient": r.address[:320], "status": "pending",
                                    "reason": None, "dedupe_key": key})  # fmt: skip
    stmt = (
        insert_for(session, DELIVERIES)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(DELIVERIES.c.status)
    )
    for part in chunks(rows, BATCH):
        for (status,) in session.execute(stmt, part):
            if status == "skipped":
                outcome.skipped_deliveries += 1
            else:
                outcome.deliveries += 1


def dedupe_key(rule_id: str, action_index: int, recipient: str, occurrence: str) -> str:
    key = f"{rule_id}|{action_index}|{recipient}|{occurrence}"
    if len(key) <= MAX_KEY:
        return key
    # A very long address would not fit the column: stand in a digest of it.
    digest = hashlib.sha256(recipient.encode()).hexdigest()[:40]
    return f"{rule_id}|{action_index}|sha256:{digest}|{occurrence}"


# -- explanations ----------------------------------------------------------------


def _explanations(session: Session, rule: Rule, now: datetime, accounts: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Why each firing account matched, as a compact JSON tree (one per account, shared by its deliveries)."""
    events, stamp = events_of(rule.when), now.isoformat()
    out: dict[int, dict[str, Any]] = {}
    # A chunk of accounts' facts at a time: only the compact trees are kept.
    for part in chunks(sorted(set(accounts)), BATCH):
        for account_id, account_facts in load_facts_many(session, part, now, events).items():
            out[account_id] = {"at": stamp, "tree": compact(explain(rule.when, account_facts, now))}
    return out


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
