"""The evaluation cycle: segment matches become memberships, and firings become deliveries.

The matches of all due rules come from one shared set-wise pass (every
account for a full evaluation, only the accounts that changed for an
incremental one: engine.rules.changes). Then for each rule, in its own
transaction: a set difference against the open memberships, new memberships
for entering subjects and ``exited_at`` for leaving ones, then pending
deliveries for every occurrence that is due (engine.rules.firing). Every write is idempotent: memberships are
inserted against the partial unique index on open stays and deliveries against
their unique ``dedupe_key``, both with ON CONFLICT DO NOTHING, so a repeated
cycle, or two at once, writes each row once. docs/rules.md ("The evaluation
cycle") states the semantics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from croniter import croniter
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from engine.db import Database
from engine.models import RuleState, RuleVersion, SegmentMembership, utcnow
from engine.rules.changes import Since, changed_accounts, event_watermark, incremental_reason
from engine.rules.compiler import ONLY_CHUNK, matching_sets
from engine.rules.firing import CircuitBreakerTripped, fire, written_since
from engine.rules.schema import Rule
from engine.rules.versions import pause_rule
from engine.sqlutil import chunks, insert_for

log = logging.getLogger(__name__)

SM = SegmentMembership.__table__
BATCH = 200  # rows per bulk INSERT / ids per IN (...), under SQLite's parameter limit


@dataclass
class RuleOutcome:
    """What the cycle did with one rule."""

    rule_id: str
    status: str  # evaluated | not_due | paused | skipped | error | tripped (circuit breaker)
    reason: str | None = None  # why not evaluated; for a full evaluation, why not incremental
    mode: str | None = None  # full | incremental, when evaluated
    checked: int | None = None  # incremental: accounts re-checked
    matched: int = 0
    entered: int = 0  # memberships this cycle opened
    exited: int = 0  # memberships this cycle closed
    fired: int = 0  # occurrences that produced deliveries
    debounced: int = 0  # re-entries within min_dwell of the last exit: not fired
    deliveries: int = 0  # pending deliveries written
    skipped_deliveries: int = 0  # deliveries written as skipped (no recipient)
    held_out: int = 0  # deliveries written as held_out (the rule's control group)


@dataclass
class CycleReport:
    now: datetime
    rules: list[RuleOutcome] = field(default_factory=list)

    def by_rule(self) -> dict[str, RuleOutcome]:
        return {o.rule_id: o for o in self.rules}

    def summary(self) -> dict[str, Any]:
        """Counts for the tick outcome (JSON-safe)."""
        totals: dict[str, Any] = {"rules": len(self.rules)}
        for status in ("evaluated", "not_due", "paused", "skipped", "error", "tripped"):
            totals[status] = sum(1 for o in self.rules if o.status == status)
        totals["incremental"] = sum(1 for o in self.rules if o.mode == "incremental")
        for name in ("entered", "exited", "fired", "debounced", "deliveries", "skipped_deliveries", "held_out"):
            totals[name] = sum(getattr(o, name) for o in self.rules)
        errors = {o.rule_id: o.reason for o in self.rules if o.status == "error"}
        if errors:
            totals["errors"] = errors
        alerts = {o.rule_id: o.reason for o in self.rules if o.status == "tripped"}
        if alerts:
            totals["alerts"] = alerts
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
    full: bool = False,
) -> CycleReport:
    """Evaluate ``rules`` at ``now``; a failing rule is recorded and the others still run.

    The due rules' matches come from one shared pass per kind of subject
    (engine.rules.compiler.matching_sets), over every account for rules due
    a full evaluation, and over the accounts that changed for the others
    (engine.rules.changes); ``full`` forces full evaluations. Then each rule
    writes its memberships and deliveries in its own transaction.
    """
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: the cycle needs a timezone-aware now")
    report = CycleReport(now)
    # Higher priority first, so when limits arrive the important rule claims the slot.
    ordered = sorted(rules, key=lambda r: (-r[2].priority, r[2].id))
    seen_at = utcnow()
    with db.read_session() as session:
        states = {s.rule_id: s for s in session.scalars(select(RuleState))}
        watermark = event_watermark(session)
    outcomes: dict[str, RuleOutcome] = {}
    todo: list[tuple[RuleVersion, Rule, Pass]] = []
    for _state, version, rule in ordered:
        early = _not_evaluated(states.get(rule.id), version, rule, now, only_due)
        if early is not None:
            outcomes[rule.id] = early
            continue
        state = states[rule.id]
        reason = "forced" if full else incremental_reason(state, version.id, rule, now, watermark)
        todo.append((version, rule, Pass(rule.level, reason is None, reason, generation=state.generation)))
    _match_each_safely(db, todo, states, now, outcomes)
    _write_each(db, todo, outcomes, "the evaluation cycle",
                lambda session, version, rule, plan: _run_rule(session, version, rule, now, only_due, plan,
                                                               seen_at, watermark))  # fmt: skip
    report.rules = [outcomes[rule.id] for _s, _v, rule in ordered]
    return report


def _write_each(db: Database, todo: list[tuple[RuleVersion, Rule, Pass]], outcomes: dict[str, RuleOutcome],
                what: str, run) -> None:  # fmt: skip
    """``run(session, version, rule, plan)`` for each rule with no outcome yet, in its own
    transaction: a tripped circuit breaker pauses the rule, and one broken rule does not stop the rest."""
    for version, rule, plan in todo:
        if rule.id in outcomes:
            continue
        try:
            with db.session() as session:
                outcomes[rule.id] = run(session, version, rule, plan)
        except CircuitBreakerTripped as trip:
            outcomes[rule.id] = _trip(db, trip)
        except Exception as exc:
            log.exception("rule %s failed in %s", rule.id, what)
            outcomes[rule.id] = RuleOutcome(rule.id, "error", f"{type(exc).__name__}: {exc}")


@dataclass
class Pass:
    """How one rule is evaluated in this cycle, and what the matching pass found."""

    level: str
    incremental: bool
    full_reason: str | None  # why not incremental
    checked: set[int] | None = None  # incremental: the account ids re-checked
    matches: set[Any] = field(default_factory=set)  # account ids, or (contact id, account id)
    generation: int = 0  # the rule state's generation when the matches were read
    mode: str | None = None  # as reported; default full/incremental


def _not_evaluated(
    state: RuleState | None, version: RuleVersion, rule: Rule, now: datetime, only_due: bool
) -> RuleOutcome | None:
    """The outcome of a rule this cycle does not evaluate, or None if it should.

    Read without a lock; _run_rule checks again under the lock before writing.
    """
    if not rule.enabled:
        return RuleOutcome(rule.id, "skipped", "the rule is disabled (enabled: false)")
    if state is None:
        return RuleOutcome(rule.id, "skipped", "the rule has no state row (not applied)")
    if state.paused:
        return RuleOutcome(rule.id, "paused", state.paused_reason)
    if state.active_version_id != version.id:
        # Applied while this cycle was starting: the next cycle loads the new version.
        return RuleOutcome(rule.id, "skipped", "another version was applied since the rules were loaded")
    if only_due and not is_due(rule.schedule, state.last_evaluated_at, now):
        return RuleOutcome(rule.id, "not_due")
    return None


def _match(db: Database, todo: list[tuple[RuleVersion, Rule, Pass]], states: dict[str, RuleState], now: datetime) -> None:
    """Fill each Pass's matches: one shared pass per subject level and set of accounts
    (every account; the accounts changed since the same last look; the accounts given)."""
    groups: dict[tuple[str, Any], list[tuple[Rule, Pass]]] = {}
    with db.read_session() as session:
        for _version, rule, plan in todo:
            if plan.checked is not None:
                key: Any = "given"
            elif plan.incremental:
                state = states[rule.id]
                key = (Since(state.data_seen_at, state.event_watermark), state.last_evaluated_at)
            else:
                key = "all"
            groups.setdefault((plan.level, key), []).append((rule, plan))
        for (level, key), members in groups.items():
            if key == "all":
                only = None
            elif key == "given":
                only = set().union(*(p.checked for _r, p in members))
            else:
                since, last = key
                only = changed_accounts(
                    session, since, [r for r, _p in members], last or since.seen_at, now, contacts=level == "contact"
                )
                for _rule, plan in members:
                    plan.checked = only
            found = matching_sets(session, {r.id: r.when for r, _p in members}, now, subject=level, only=only)
            for rule, plan in members:
                plan.matches = found[rule.id]


def _trip(db: Database, trip: CircuitBreakerTripped) -> RuleOutcome:
    """The rule's writes were rolled back; pause it with the reason, and say so loudly."""
    with db.session() as session:
        pause_rule(session, trip.rule_id, str(trip))
    log.error("rule %s: %s", trip.rule_id, trip)
    return RuleOutcome(trip.rule_id, "tripped", str(trip))


def _match_each_safely(
    db: Database,
    todo: list[tuple[RuleVersion, Rule, Pass]],
    states: dict[str, RuleState],
    now: datetime,
    outcomes: dict[str, RuleOutcome],
) -> None:
    """_match, and if the shared pass fails, rule by rule so that only the broken rule is an error."""
    try:
        _match(db, todo, states, now)
    except Exception as exc:
        log.warning("shared matching pass failed (%s); matching each rule on its own", exc)
        for version, rule, plan in todo:
            try:
                _match(db, [(version, rule, plan)], states, now)
            except Exception as rule_exc:
                log.exception("rule %s failed in the evaluation cycle", rule.id)
                outcomes[rule.id] = RuleOutcome(rule.id, "error", f"{type(rule_exc).__name__}: {rule_exc}")


def recheck_accounts(
    db: Database, rules: Sequence[tuple[RuleState, RuleVersion, Rule]], account_ids: set[int], now: datetime
) -> CycleReport:
    """Re-check ``rules`` for these accounts only, now (``on_event``: within seconds of the event).

    Their memberships are updated and every occurrence due is fired, as in a
    cycle; the rules' schedules and what their last evaluation saw are left
    alone, so the next cycle still looks at everything that changed.
    """
    report = CycleReport(now)
    ordered = sorted(rules, key=lambda r: (-r[2].priority, r[2].id))
    with db.read_session() as session:
        states = {s.rule_id: s for s in session.scalars(select(RuleState))}
    outcomes: dict[str, RuleOutcome] = {}
    todo = []
    for _state, version, rule in ordered:
        early = _not_evaluated(states.get(rule.id), version, rule, now, only_due=False)
        if early is not None:
            outcomes[rule.id] = early
            continue
        plan = Pass(rule.level, True, None, checked=set(account_ids), generation=states[rule.id].generation, mode="recheck")
        todo.append((version, rule, plan))
    _match_each_safely(db, todo, states, now, outcomes)
    _write_each(db, todo, outcomes, "an on_event re-check",
                lambda session, version, rule, plan: _run_rule(session, version, rule, now, False, plan, record=False))
    report.rules = [outcomes[rule.id] for _s, _v, rule in ordered]
    return report


def _run_rule(
    session: Session,
    version: RuleVersion,
    rule: Rule,
    now: datetime,
    only_due: bool,
    plan: Pass,
    seen_at: datetime | None = None,
    watermark: int | None = None,
    record: bool = True,
) -> RuleOutcome:
    # Lock the state row (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
    # writers) so two cycles on the same rule run one after the other, and read
    # it fresh: another cycle may have evaluated it since the matching pass.
    state = session.scalars(select(RuleState).where(RuleState.rule_id == rule.id).with_for_update()).one_or_none()
    early = _not_evaluated(state, version, rule, now, only_due)
    if early is not None:
        return early
    mode = plan.mode or ("incremental" if plan.incremental else "full")
    checked = len(plan.checked) if plan.checked is not None else None
    outcome = RuleOutcome(rule.id, "evaluated", reason=plan.full_reason, mode=mode, checked=checked)
    if state.generation != plan.generation:
        # Another writer (a re-check, another cycle) changed this rule's
        # memberships after our matches were read: applying them now could
        # close or reopen its stays. Read them again, under the lock.
        found = matching_sets(session, {rule.id: rule.when}, now, subject=rule.level, only=plan.checked)
        plan.matches = found[rule.id]
    matching = {_subject(rule.level, m): m for m in plan.matches}
    outcome.matched = len(matching)
    open_keys = _open_stays(session, rule, plan, matching)
    outcome.exited = _close(session, rule.id, sorted(open_keys.keys() - matching.keys()), now)
    entering = sorted(matching.keys() - open_keys)
    outcome.entered = _open(session, rule.id, [(key, matching[key]) for key in entering], now)
    # A re-check is a slice of the cycle: the breaker counts what the rule wrote since its last one.
    already = written_since(session, rule.id, state.last_evaluated_at, now) if not record else 0
    fire(session, version, rule, now, outcome, already)
    bump = {"generation": RuleState.generation + 1}
    if not record:  # a partial look (recheck_accounts): the rule's own schedule goes on as before
        session.execute(update(RuleState).where(RuleState.rule_id == rule.id).values(**bump))
        return outcome
    values: dict[str, Any] = {"last_evaluated_at": now, "data_seen_at": seen_at, "event_watermark": watermark, **bump}
    if not plan.incremental:
        values |= {"last_full_at": now, "full_version_id": version.id}
    session.execute(update(RuleState).where(RuleState.rule_id == rule.id).values(**values))
    return outcome


def _open_stays(session: Session, rule: Rule, plan: Pass, matching: dict[str, Any]) -> dict[str, int]:
    """The rule's open stays (subject key -> account id) among what this pass looked at.

    A contact that moved to another account keeps its stay; its account id is
    brought up to date here, so recipients and on_event read the new account.
    """
    base = select(SM.c.subject_key, SM.c.account_id).where(SM.c.rule_id == rule.id, SM.c.exited_at.is_(None))
    stays: dict[str, int] = {}
    if plan.checked is None:
        stays.update((k, a) for k, a in session.execute(base))
    else:
        for part in chunks(sorted(plan.checked), ONLY_CHUNK):
            stays.update((k, a) for k, a in session.execute(base.where(SM.c.account_id.in_(part))))
        if rule.level == "contact":
            keys = sorted(matching.keys() - stays.keys())
            for part in chunks(keys, ONLY_CHUNK):
                stays.update((k, a) for k, a in session.execute(base.where(SM.c.subject_key.in_(part))))
    if rule.level == "contact":
        moved = [{"key": k, "account": matching[k][1]} for k, a in stays.items() if k in matching and matching[k][1] != a]
        if moved:
            session.execute(
                update(SM)
                .where(SM.c.rule_id == rule.id, SM.c.exited_at.is_(None), SM.c.subject_key == bindparam("key"))
                .values(account_id=bindparam("account")),
                moved,
            )
    return stays


def _subject(level: str, match: Any) -> str:
    return f"account:{match}" if level == "account" else f"contact:{match[0]}"


def _close(session: Session, rule_id: str, leaving: list[str], now: datetime) -> int:
    closed = 0
    for part in chunks(leaving, BATCH):
        result = session.execute(
            update(SM)
            # A stay opened after ``now`` (by a later look) is not this cycle's to close.
            .where(SM.c.rule_id == rule_id, SM.c.exited_at.is_(None), SM.c.subject_key.in_(part), SM.c.entered_at <= now)
            .values(exited_at=now)
        )
        closed += result.rowcount
    return closed


def _open(session: Session, rule_id: str, entering: list[tuple[str, Any]], now: datetime) -> int:
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
            {
                "rule_id": rule_id,
                "subject_key": key,
                "account_id": match if isinstance(match, int) else match[1],
                "contact_id": None if isinstance(match, int) else match[0],
                "entered_at": now,
            }
            for key, match in part
        ]
        created += len(session.execute(stmt, rows).all())
    return created
