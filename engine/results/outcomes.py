"""Goal outcomes: the pass that records them, set-wise and incrementally, and the counts read from them.

**The unit** is the account. Each firing of a rule (``rule_id`` + ``occurrence``) at an
account gets one outcome, whatever the number of its messages. A contact-level rule's
occurrences are its contacts' stays, so two contacts of one account firing make two
outcomes of that account, measured against the same account events (holdout is drawn
by account too, so both are in the same arm).

**Arms and exposure.** ``treated``: the occurrence's first delivery with status ``sent``;
its ``sent_at`` is the exposure. ``control``: its first ``held_out`` delivery; its
``created_at`` (when the cycle fired it) is the exposure. An occurrence none of whose
deliveries was sent (all skipped, suppressed, failed, unknown, or still on their way)
gets no outcome until one is sent: it was not treated (the results count those apart,
from the deliveries). A firing at an account in the program's global holdout (a
``skipped`` row saying so) gets none either, whatever its other rows: the account is no
unit of the rule's experiment (docs/results.md, "Global holdout").

**The goal** is that of the version that wrote the deliveries (``outcome_goals``, read
once per version), copied into the outcome (its kind, and an event goal's name) with its
window: ``[exposed_at, exposed_at + min(within, 90) days)``. The goal reached exactly at
the window's end does not count, exactly at the exposure it does. By kind:

- ``event``: the outcome converts at the first event of the goal's name at the account
  in the window (``converted_at`` = its ``occurred_at``);
- ``leave`` (``leaves_segment: true``): at the end of the stay in the rule's segment that
  the occurrence fired for (``segment_memberships.exited_at``; the occurrence's text names
  the stay: OccurrenceStay), or at the exposure for a stay that ended before it (a treated
  subject that left between the firing and the send: its held-out twin's clock started at
  the firing, so it would have converted then);
- ``condition``: at the first pass, inside the window, that finds the condition true for
  the account (``converted_at`` = that pass's ``now``). The condition is the version's,
  read from its content (engine.results.goals.goal_conditions), compiled to SQL as the
  cycle compiles ``when`` and evaluated over the accounts with such outcomes only, on the
  data as it stands: the resolution is the pass interval, and no pass (a full one
  included) can tell when a condition was true before it.

**A pass** (``measure``), each step in its own short transactions:

(a) adds the outcomes of deliveries sent or held out since the last pass (``sent_at``,
    resp. ``created_at``, from an hour before it started: late commits), one
    ``INSERT .. SELECT`` per arm, with ``NOT EXISTS`` on the outcome's unique key. An
    outcome whose occurrence turns out to have an earlier row (two sends of one firing
    committed out of order) is deleted first and made again from that row;
(b) converts outcomes, driven from the events table's primary key, which has no other
    index on purpose (ingest throughput, docs/data-model.md): the events after the last
    pass's highest id (on PostgreSQL from EVENT_ID_LAG ids earlier) are joined to every
    outcome of their account and goal whose window they fall in, one ``UPDATE .. FROM``;
    the outcomes just added are also joined to the events seen before, back to the
    last pass that started a day (the most an event may be dated ahead of its arrival)
    before their earliest exposure. An outcome takes the earliest such event: a late
    event (imported later, dated earlier) converts a closed outcome, or moves a
    conversion earlier. Leave outcomes not converted whose window ends after the last
    pass started (less the hour) are joined to their stays by primary key, one ``UPDATE ..
    FROM``: a cycle stamps an exit with its start, so one committed after the pass that
    closed the window still converts it. Condition outcomes whose window holds ``now``
    are read, their conditions evaluated once each (engine.rules.compiler.matching_sets),
    and the matches converted in chunks of accounts;
(c) closes the open outcomes whose window has ended.

A **full** pass (the first, then at least once a day, or when event ids went back after
a purge) does (a) over every delivery and (b) over every event and every leave outcome
not converted, in primary-key ranges of CHUNK ids, one transaction each: whatever an
incremental pass could have missed (a transaction that committed very late) is caught
within a day. (The condition step is the same in both.) Every step is idempotent: a pass
run again, or two at once, changes nothing more.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, exists, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from engine.db import Database
from engine.delivery.holdout import GLOBAL_REASON_PREFIX
from engine.ingest.service import MAX_FUTURE
from engine.models import Delivery, Event, GoalOutcome, OutcomeGoal, OutcomePass, SegmentMembership, utcnow
from engine.models.base import UTCDateTime
from engine.results.goals import goal_conditions, record_goals
from engine.rules.ast import Condition
from engine.rules.changes import EVENT_ID_LAG, event_watermark
from engine.rules.compiler import matching_sets
from engine.sqlutil import chunks, insert_for

O = GoalOutcome.__table__
OG = OutcomeGoal.__table__
P = OutcomePass.__table__
D = Delivery.__table__
E = Event.__table__
SM = SegmentMembership.__table__

# Deliveries sent or held out this long before the last pass started are looked at again:
# a row is stamped before its transaction commits (a cycle's held_out rows carry its start).
LOOKBACK = timedelta(hours=1)
# A full pass at least this often: it catches what the incremental ones could miss.
FULL_EVERY = timedelta(days=1)
# Clocks of the machines that ingest events may be this far apart from the pass's.
CLOCK_MARGIN = timedelta(hours=1)
# Primary-key ids per statement of a full pass: short transactions, so SQLite's writers
# (ingest, sends) wait a fraction of a second at most.
CHUNK = 100_000
# Pass rows older than this are deleted: no exposure needs an event bound that old.
KEEP_PASSES = timedelta(days=100)
# Accounts per UPDATE of the condition step (bound parameters, under SQLite's limit).
CONDITION_CHUNK = 5000


class PlusDays(FunctionElement[datetime]):
    """A stored timestamp plus a whole number of days, in the storage format of UTCDateTime."""

    inherit_cache = True
    name = "plus_days"

    def __init__(self, timestamp, days) -> None:
        super().__init__(timestamp, days)
        self.type = UTCDateTime()


@compiles(PlusDays, "sqlite")
def _plus_days_sqlite(element, compiler, **kw):
    value, days = (compiler.process(c, **kw) for c in element.clauses)
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff': whole days leave the fraction as it is, and the
    # result must keep that exact format to compare as text with the other timestamps.
    return f"(strftime('%Y-%m-%d %H:%M:%S', substr({value}, 1, 19), '+' || ({days}) || ' days') || substr({value}, 20))"


@compiles(PlusDays, "postgresql")
def _plus_days_pg(element, compiler, **kw):
    value, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"({value} + ({days}) * INTERVAL '1 day')"


@dataclass
class PassReport:
    started_at: datetime
    full: bool
    why_full: str | None = None
    added: int = 0
    converted: int = 0
    corrected: int = 0  # conversions moved earlier by an event read later (in a full pass, or late)
    reclocked: int = 0  # exposures moved earlier by a row of the occurrence stamped earlier, recorded later
    closed: int = 0
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        return out


def measure(db: Database, now: datetime | None = None, *, full: bool = False) -> PassReport:
    """One outcomes pass at ``now`` (default: the current time); ``full`` forces a full one."""
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: the outcomes pass needs a timezone-aware now")
    clock = time.monotonic()
    with db.read_session() as session:
        last = session.execute(select(P).order_by(P.c.id.desc()).limit(1)).first()
        last_full = aware(session.scalar(select(func.max(P.c.started_at)).where(P.c.full.is_(True))))
        high = event_watermark(session)
    why = "asked for" if full else _why_full(last, last_full, now, high)
    report = PassReport(now, why is not None, why)

    with db.session() as session:
        record_goals(session, now)
    with db.read_session() as session:
        names = sorted(session.scalars(select(OG.c.goal_event).where(OG.c.goal_event.is_not(None)).distinct()))

    # (a) new outcomes
    since = None if report.full else aware(last.started_at) - LOOKBACK
    if since is None:
        for start, stop in _ranges(db, D.c.id):
            with db.session() as session:
                _count(report, _add(session, now, ids=(start, stop)))
    else:
        with db.session() as session:
            _count(report, _add(session, now, since=since))

    # (b) conversions
    with db.read_session() as session:
        outcome_high = session.scalar(select(func.max(O.c.id))) or 0
    if names and report.full:
        _convert(db, report, now, names, 0, high)
    elif names:
        lag = EVENT_ID_LAG if db.dialect == "postgresql" else 0
        seen = max(last.event_high_water - lag, 0)
        new = _new_outcomes(db, last.outcome_high_water)
        if new is not None and new[0] < seen:
            _convert(db, report, now, names, new[0], seen, new_after=(last.outcome_high_water, new[1]))
        _convert(db, report, now, names, seen, high)
    # ... and of the other goal kinds
    _convert_leaves(db, report, now, since)
    _convert_conditions(db, report, now)

    # (c) windows that ended
    with db.session() as session:
        report.closed = session.execute(
            update(O).where(O.c.state == "open", O.c.window_ends_at <= now).values(state="closed", updated_at=now)
        ).rowcount

    report.duration_ms = round((time.monotonic() - clock) * 1000)
    with db.session() as session:
        session.execute(insert(P).values(
            started_at=now, finished_at=utcnow(), full=report.full, event_high_water=high,
            outcome_high_water=outcome_high, added=report.added, converted=report.converted, closed=report.closed,
        ))  # fmt: skip
        session.execute(delete(P).where(P.c.started_at < now - KEEP_PASSES))
    return report


def _count(report: PassReport, added: tuple[int, int]) -> None:
    report.added += added[0]
    report.reclocked += added[1]


def _new_outcomes(db: Database, after: int) -> tuple[int, datetime] | None:
    """For the outcomes with ids after ``after`` (added since the last pass): the event id after
    which the events that an earlier pass saw may still fall in their windows, and their
    earliest exposure; None without such outcomes. An event may be dated up to MAX_FUTURE
    after its arrival, so one in such a window arrived after the last pass that started that
    long (and the clock margin) before the earliest exposure: after that pass's highest event
    id (0 when no pass is that old, as on the first day)."""
    with db.read_session() as session:
        first = aware(session.scalar(select(func.min(O.c.exposed_at)).where(O.c.id > after)))
        if first is None:
            return None
        bound = first - MAX_FUTURE - CLOCK_MARGIN
        start = session.scalar(
            select(P.c.event_high_water).where(P.c.started_at <= bound).order_by(P.c.started_at.desc()).limit(1)
        )
    return start or 0, first


def _why_full(last, last_full: datetime | None, now: datetime, high: int) -> str | None:
    if last is None or last_full is None:
        return "no full pass yet"
    if now < aware(last.started_at):
        return "measured for a later time before"
    if high < last.event_high_water:
        return "event ids went back (events were purged)"
    if now - last_full >= FULL_EVERY:
        return f"the last full pass is more than {FULL_EVERY.days} day old"
    return None


def _ranges(db: Database, column, low: int = 0, high: int | None = None):
    """``[start, stop)`` primary-key ranges of CHUNK ids covering the ids in ``(low, high]``
    that the table has (all of them without ``high``)."""
    with db.read_session() as session:
        # Two statements: SQLite reads a min() or a max() alone from the index end, not both at once.
        first, last = session.scalar(select(func.min(column))), session.scalar(select(func.max(column)))
    if first is None:
        return
    low, high = max(low, first - 1), last if high is None else min(high, last)
    for start in range(low + 1, high + 1, CHUNK):
        yield start, min(start + CHUNK, high + 1)


# -- (a) new outcomes -------------------------------------------------------------


def _add(session: Session, now: datetime, *, ids: tuple[int, int] | None = None,
         since: datetime | None = None) -> tuple[int, int]:  # fmt: skip
    """Outcomes of the occurrences among the deliveries with ids in ``[start, stop)`` (or sent /
    held out since ``since``) that have none yet: (how many were added, how many of an
    occurrence with an outcome already were clocked again from an earlier row of it)."""
    added = reclocked = 0
    for arm, status, clock in (("treated", "sent", "sent_at"), ("control", "held_out", "created_at")):
        d = D.alias("d")
        if ids is not None:
            window = [d.c.id >= ids[0], d.c.id < ids[1]]
        else:
            window = [d.c[clock].is_not(None), d.c[clock] >= since]
        # A row stamped before the outcome's exposure, recorded after the pass that clocked it
        # (two sends of one firing committed out of order): the outcome is made again from it,
        # so its window and conversion are those of the occurrence's first row.
        o = O.alias("o")
        # A correlated lookup per row, so the recent rows drive it (by their index), not the outcomes.
        clocked_later = (
            select(o.c.id)
            .where(o.c.rule_id == d.c.rule_id, o.c.occurrence == d.c.occurrence, o.c.account_id == d.c.account_id,
                   o.c.arm == arm,
                   or_(d.c[clock] < o.c.exposed_at, and_(d.c[clock] == o.c.exposed_at, d.c.id < o.c.delivery_id)))  # fmt: skip
            .scalar_subquery()
        )
        later = select(clocked_later).where(d.c.status == status, *window)
        moved = session.execute(delete(O).where(O.c.id.in_(later))).rowcount
        first = D.alias("first")
        # The occurrence's first sent (resp. held_out) row: its exposure.
        first_id = (
            select(first.c.id)
            .where(first.c.account_id == d.c.account_id, first.c.rule_id == d.c.rule_id,
                   first.c.occurrence == d.c.occurrence, first.c.status == status)  # fmt: skip
            .order_by(first.c[clock], first.c.id)
            .limit(1)
            .scalar_subquery()
        )
        # An account in the program's global holdout is no unit of the rule's experiment, even
        # when a row of its firing was sent or held out by the rule's own draw: an alert to the
        # account's owner is never held back by the program, and its customers got nothing.
        g = D.alias("g")
        held_globally = [~exists().where(
            g.c.account_id == d.c.account_id, g.c.rule_id == d.c.rule_id, g.c.occurrence == d.c.occurrence,
            g.c.status == "skipped", g.c.reason.like(f"{GLOBAL_REASON_PREFIX}%"),
        )]  # fmt: skip
        candidates = select(first_id).where(
            d.c.status == status,
            *window,
            ~exists().where(O.c.rule_id == d.c.rule_id, O.c.occurrence == d.c.occurrence, O.c.account_id == d.c.account_id),
            *held_globally,
        )
        f = D.alias("f")
        exposed = f.c[clock]
        stamp = bindparam("now", now, type_=UTCDateTime())
        rows = (
            select(
                f.c.rule_id, f.c.rule_version_id, f.c.account_id, f.c.occurrence, literal(arm), f.c.id, OG.c.goal_kind,
                OG.c.goal_event, exposed, PlusDays(exposed, OG.c.window_days), literal("open"), stamp, stamp,
            )
            .select_from(f.join(OG, OG.c.rule_version_id == f.c.rule_version_id))
            .where(OG.c.goal_kind.is_not(None), f.c.id.in_(candidates))
        )
        stmt = (
            insert_for(session, O)
            .from_select(["rule_id", "rule_version_id", "account_id", "occurrence", "arm", "delivery_id", "goal_kind",
                          "goal_event", "exposed_at", "window_ends_at", "state", "created_at", "updated_at"], rows)  # fmt: skip
            # Two passes at once: the second one's rows are dropped.
            .on_conflict_do_nothing(index_elements=["rule_id", "occurrence", "account_id"])
            # An INSERT's rowcount is read from the driver only when asked for (PostgreSQL).
            .execution_options(preserve_rowcount=True)
        )
        added += session.execute(stmt).rowcount - moved
        reclocked += moved
    return added, reclocked


# -- (b) conversions ----------------------------------------------------------------


def _convert(db: Database, report: PassReport, now: datetime, names: list[str], low: int, high: int,
             new_after: tuple[int, datetime] | None = None) -> None:  # fmt: skip
    """Convert the outcomes that events with ids in ``(low, high]`` fall in the windows of, a range
    of CHUNK ids per transaction. ``new_after``: only the outcomes with an id after its first
    item, all exposed at or after its second."""
    for start, stop in _ranges(db, E.c.id, low, high):
        with db.session() as session:
            converted, corrected = _convert_range(session, now, names, start, stop, new_after)
        report.converted += converted
        report.corrected += corrected


def _convert_range(session: Session, now: datetime, names: list[str], start: int, stop: int,
                   new_after: tuple[int, datetime] | None) -> tuple[int, int]:  # fmt: skip
    o = O.alias("o")
    hits = [
        E.c.id >= start, E.c.id < stop, E.c.name.in_(names),
        E.c.occurred_at >= o.c.exposed_at, E.c.occurred_at < o.c.window_ends_at,
    ]  # fmt: skip
    if new_after is not None:
        # Most events seen before are older than every new exposure: they are passed over
        # without looking up their account's outcomes.
        hits += [o.c.id > new_after[0], E.c.occurred_at >= new_after[1]]
    joined = E.join(o, and_(o.c.account_id == E.c.account_id, o.c.goal_event == E.c.name))

    def earliest(*more):
        return (
            select(o.c.id.label("oid"), func.min(E.c.occurred_at).label("first"))
            .select_from(joined)
            .where(*hits, *more)
            .group_by(o.c.id)
            .subquery("m")
        )

    m = earliest(o.c.converted_at.is_(None))
    converted = session.execute(
        update(O).where(O.c.id == m.c.oid, O.c.converted_at.is_(None))
        .values(converted_at=m.c.first, state="converted", updated_at=now)
    ).rowcount
    m = earliest(o.c.converted_at.is_not(None), E.c.occurred_at < o.c.converted_at)
    corrected = session.execute(
        update(O).where(O.c.id == m.c.oid, m.c.first < O.c.converted_at).values(converted_at=m.c.first, updated_at=now)
    ).rowcount
    return converted, corrected


# -- (b) conversions of the other kinds -----------------------------------------------


class OccurrenceStay(FunctionElement[int]):
    """The id of the segment membership (stay) an occurrence fired for, from the occurrence's text:
    ``enter:<id>``, ``event:<id>`` or ``remind:<id>:<k>`` (engine.rules.firing); NULL for another form."""

    inherit_cache = True
    name = "occurrence_stay"


@compiles(OccurrenceStay, "sqlite")
def _occurrence_stay_sqlite(element, compiler, **kw):
    occurrence = compiler.process(element.clauses, **kw)
    colon = f"instr({occurrence}, ':')"
    kind, rest = f"substr({occurrence}, 1, {colon} - 1)", f"substr({occurrence}, {colon} + 1)"
    stay = f"(CASE WHEN instr({rest}, ':') > 0 THEN substr({rest}, 1, instr({rest}, ':') - 1) ELSE {rest} END)"
    valid = f"{colon} > 1 AND {kind} NOT GLOB '*[^a-z]*' AND {stay} GLOB '[0-9]*' AND {stay} NOT GLOB '*[^0-9]*'"
    return f"(CASE WHEN {valid} THEN CAST({stay} AS INTEGER) END)"


@compiles(OccurrenceStay, "postgresql")
def _occurrence_stay_pg(element, compiler, **kw):
    occurrence = compiler.process(element.clauses, **kw)
    kind, stay = f"split_part({occurrence}, ':', 1)", f"split_part({occurrence}, ':', 2)"
    return f"(CASE WHEN {kind} ~ '^[a-z]+$' AND {stay} ~ '^[0-9]+$' THEN CAST({stay} AS BIGINT) END)"


def _pending(o):
    """Not converted yet, of a kind other than event: the partial index the two steps read
    (its predicate written out the same way, with the constant inline, so SQLite uses it)."""
    return and_(o.c.converted_at.is_(None), o.c.goal_kind != literal_column("'event'"))


def _convert_leaves(db: Database, report: PassReport, now: datetime, since: datetime | None) -> None:
    """Convert the leave outcomes whose occurrence's stay in the segment has ended: at the exit,
    or at the exposure for a stay that ended before it (a treated subject that left between the
    firing and the send). Incremental (``since``): the outcomes not converted whose window ends
    after it (the open ones, and those closed since, for an exit committed late); full
    (``since`` None): all of them, in ranges of CHUNK ids."""
    where = [O.c.goal_kind == "leave", _pending(O)]
    if since is not None:
        where.append(O.c.window_ends_at > since)
        parts: Any = [where]
    else:
        parts = ([*where, O.c.id >= start, O.c.id < stop] for start, stop in _ranges(db, O.c.id))
    reached = case((SM.c.exited_at < O.c.exposed_at, O.c.exposed_at), else_=SM.c.exited_at)
    for part in parts:
        with db.session() as session:
            report.converted += session.execute(
                update(O)
                .where(*part, SM.c.id == OccurrenceStay(O.c.occurrence), SM.c.rule_id == O.c.rule_id,
                       SM.c.exited_at.is_not(None), SM.c.exited_at < O.c.window_ends_at, SM.c.exited_at <= now,
                       O.c.exposed_at <= now)  # fmt: skip
                .values(converted_at=reached, state="converted", updated_at=now)
            ).rowcount


def _convert_conditions(db: Database, report: PassReport, now: datetime) -> None:
    """Convert, at ``now``, the condition outcomes whose window holds ``now`` and whose account
    meets their version's condition now: each condition is compiled as the cycle compiles rules
    (engine.rules.compiler.matching_sets), over the accounts with such outcomes only."""
    open_now = [O.c.goal_kind == "condition", _pending(O), O.c.exposed_at <= now, O.c.window_ends_at > now]
    with db.read_session() as session:
        waiting: dict[int, set[int]] = {}
        for version_id, account_id in session.execute(select(O.c.rule_version_id, O.c.account_id).where(*open_now).distinct()):
            waiting.setdefault(version_id, set()).add(account_id)
        if not waiting:
            return
        conditions = goal_conditions(session, waiting)
        # Versions with the same condition are evaluated once, for the accounts of all of them.
        same: dict[str, tuple[Condition, list[int]]] = {}
        for version_id, cond in conditions.items():
            same.setdefault(repr(cond), (cond, []))[1].append(version_id)
        accounts = set().union(*(waiting[v] for v in conditions))
        matched = matching_sets(session, {key: cond for key, (cond, _) in same.items()}, now, only=sorted(accounts))
    for key, (_cond, version_ids) in same.items():
        ids = sorted(matched[key] & set().union(*(waiting[v] for v in version_ids)))
        for part in chunks(ids, CONDITION_CHUNK):
            with db.session() as session:
                report.converted += session.execute(
                    update(O)
                    .where(*open_now, O.c.rule_version_id.in_(version_ids), O.c.account_id.in_(part))
                    .values(converted_at=now, state="converted", updated_at=now)
                ).rowcount


def aware(value: datetime | str | None) -> datetime | None:
    """A stored time read back timezone-aware (UTC); None stays None."""
    # An aggregate's value may come back untyped from SQLite (text); the UTC marker goes back on.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
