"""The send log: deliveries filtered, in keyset pages, with capped counts by status and a
streamed export. One filter (``LogFilter``) serves the admin page, its CSV and the CLI.

Every query walks an index on (filter column, created_at, id) newest first, so a page
costs the same at the top of ten rows or a million; nothing counts past ``COUNT_CAP``.
The reason text has no index: it is searched within at most ``REASON_SCAN`` rows of the
other filters per page (``LogPage.searched``), and the next page resumes where that
search stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement, Executable

from engine.inapp.nudges import engagement_of
from engine.models import DELIVERY_STATUSES, Account, Contact, Delivery, Nudge, RuleState, RuleVersion

if TYPE_CHECKING:
    from engine.db import Database

# Statuses that need someone's attention first, then the ones still moving.
ATTENTION_FIRST = ("unknown", "failed", "deferred", "pending", "queued", "sending")
STATUS_ORDER = ATTENTION_FIRST + tuple(s for s in DELIVERY_STATUSES if s not in ATTENTION_FIRST)
CHANNELS = ("email", "in_app", "webhook")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 10_000
COUNT_CAP = 10_000  # counts above this show as "10,000+": exact counts over millions are full scans
REASON_SCAN = 20_000  # rows the reason text is searched in, per page
EXPORT_CHUNK = 1_000  # rows per read session when exporting
MAX_TEXT = {"rule": 100, "account": 255, "recipient": 320, "reason": 200}


class FilterError(ValueError):
    """A filter value that cannot be used; ``field`` names it (a form field, a CLI option)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Key(NamedTuple):
    """A row's place in the log: newest first by created_at, then id."""

    at: datetime
    id: int


@dataclass(frozen=True)
class LogFilter:
    """What to show. Empty fields do not filter; ``since``/``until`` are whole UTC days, both included."""

    rule: str | None = None
    statuses: tuple[str, ...] = ()
    channel: str | None = None
    account: str | None = None  # the account's external id
    recipient: str | None = None  # an address, matched exactly (case aside)
    since: date | None = None
    until: date | None = None
    reason: str | None = None  # text within the reason, case aside

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> LogFilter:
        """From form or command-line strings (``status`` may be a list); FilterError names the bad one."""

        def text(name: str) -> str | None:
            raw = values.get(name)
            if isinstance(raw, list | tuple):
                raw = raw[0] if raw else None
            value = (raw or "").strip()
            if not value:
                return None
            if len(value) > MAX_TEXT[name]:
                raise FilterError(name, f"at most {MAX_TEXT[name]} characters")
            if any(ord(c) < 32 for c in value):
                raise FilterError(name, "control characters are not allowed")
            return value

        raw_status = values.get("status") or ()
        statuses = tuple(dict.fromkeys(s.strip() for s in ([raw_status] if isinstance(raw_status, str) else raw_status) if s.strip()))
        for s in statuses:
            if s not in DELIVERY_STATUSES:
                raise FilterError("status", f"unknown status {s!r}: expected one of {', '.join(DELIVERY_STATUSES)}")
        channel = _text_or_none(values.get("channel"))
        if channel is not None and channel not in CHANNELS:
            raise FilterError("channel", f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")
        since, until = _day(values, "since"), _day(values, "until")
        if since and until and until < since:
            raise FilterError("until", f"{until.isoformat()} is before since ({since.isoformat()})")
        return cls(rule=text("rule"), statuses=statuses, channel=channel, account=text("account"),
                   recipient=text("recipient"), since=since, until=until, reason=text("reason"))  # fmt: skip

    def params(self) -> dict[str, str | list[str]]:
        """The filter as query arguments (the inverse of ``parse``), empty fields left out."""
        out: dict[str, str | list[str]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "statuses":
                if value:
                    out["status"] = list(value)
            elif value is not None:
                out[f.name] = value.isoformat() if isinstance(value, date) else value
        return out

    @property
    def is_empty(self) -> bool:
        return not self.params()


def _text_or_none(raw: Any) -> str | None:
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    return (raw or "").strip() or None


def _day(values: Mapping[str, Any], name: str) -> date | None:
    raw = _text_or_none(values.get(name))
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FilterError(name, f"{raw!r} is not a date: expected YYYY-MM-DD") from None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One delivery as the log shows it: the recipient as a person, the account by its own id and name."""

    id: int
    created_at: datetime
    sent_at: datetime | None
    status: str
    rule_id: str
    channel: str
    account: str  # external id
    account_name: str
    recipient: str
    contact_name: str | None
    reason: str | None
    # An in-app message: how far the person went with its nudge (seen, clicked, dismissed), else None.
    nudge: str | None = None

    @property
    def key(self) -> Key:
        return Key(self.created_at, self.id)


@dataclass(frozen=True)
class LogPage:
    """One page, newest first. ``older``/``newer`` are the keys to pass as ``before``/``after``
    for the neighbouring pages, None where there is none. With a reason filter, ``searched``
    is how many rows were searched for it and ``searched_to`` the oldest of them."""

    rows: list[LogEntry]
    older: Key | None
    newer: Key | None
    searched: int | None = None
    searched_to: datetime | None = None


@dataclass(frozen=True)
class StatusCounts:
    """Deliveries per status (STATUS_ORDER, zeros left out) for a filter, each counted up to ``cap``
    (a count above ``cap`` means "more than cap"). With a reason filter, ``searched`` is the
    number of newest rows of the other filters the reason was looked for in."""

    by_status: dict[str, int]
    cap: int
    searched: int | None = None

    def is_capped(self, status: str) -> bool:
        return self.by_status.get(status, 0) > self.cap

    @property
    def total(self) -> int:
        return sum(min(n, self.cap) for n in self.by_status.values())

    @property
    def total_capped(self) -> bool:
        return any(self.is_capped(s) for s in self.by_status)


# -- queries -----------------------------------------------------------------------------

_KEY = tuple_(Delivery.created_at, Delivery.id)
_NEWEST = (Delivery.created_at.desc(), Delivery.id.desc())
_OLDEST = (Delivery.created_at.asc(), Delivery.id.asc())


def _conditions(session: Session, f: LogFilter, *, with_status: bool = True) -> list:
    """WHERE clauses for every filter but the reason text; unknown rule or account is a FilterError."""
    where: list = []
    if f.rule:
        known = session.scalar(select(RuleVersion.id).where(RuleVersion.rule_id == f.rule).limit(1))
        if known is None:
            raise FilterError("rule", f"no rule {f.rule!r} has been applied")
        where.append(Delivery.rule_id == f.rule)
    if f.account:
        account_id = session.scalar(select(Account.id).where(Account.external_id == f.account))
        if account_id is None:
            raise FilterError("account", f"no account with id {f.account!r}")
        where.append(Delivery.account_id == account_id)
    if with_status and f.statuses:
        where.append(Delivery.status == f.statuses[0] if len(f.statuses) == 1 else Delivery.status.in_(f.statuses))
    if f.channel:
        where.append(Delivery.channel == f.channel)
    if f.recipient:
        # Addresses are stored as the rule resolved them: usually lower case, not always.
        where.append(Delivery.recipient.in_(sorted({f.recipient, f.recipient.lower()})))
    if f.since:
        where.append(Delivery.created_at >= datetime.combine(f.since, time.min, UTC))
    if f.until:
        where.append(Delivery.created_at < datetime.combine(f.until + timedelta(days=1), time.min, UTC))
    return where


def _reason_matches(column, text: str):
    return func.lower(column).contains(text.lower(), autoescape=True)


def _entries(session: Session, ids_in_order: Sequence[int]) -> list[LogEntry]:
    if not ids_in_order:
        return []
    stmt = (
        select(Delivery.id, Delivery.created_at, Delivery.sent_at, Delivery.status, Delivery.rule_id, Delivery.channel,
               Account.external_id, Account.name, Delivery.recipient, Contact.name, Delivery.reason,
               Nudge.seen_at, Nudge.clicked_at, Nudge.dismissed_at)  # fmt: skip
        .join(Account, Account.id == Delivery.account_id)
        .outerjoin(Contact, Contact.id == Delivery.contact_id)
        .outerjoin(Nudge, Nudge.delivery_id == Delivery.id)
        .where(Delivery.id.in_(ids_in_order))
    )
    by_id = {row[0]: LogEntry(*row[:11], nudge=engagement_of(*row[11:])) for row in session.execute(stmt)}
    return [by_id[i] for i in ids_in_order if i in by_id]


def _after(key: Key):
    return _KEY > tuple_(literal(key.at, Delivery.created_at.type), literal(key.id))


def _before(key: Key):
    return _KEY < tuple_(literal(key.at, Delivery.created_at.type), literal(key.id))


def _walk(where: list, *, before: Key | None, after: Key | None):
    """The rows of ``where`` from the cursor on, in walking order: newest first, or oldest first after ``after``."""
    stmt = select(Delivery.created_at, Delivery.id, Delivery.reason).where(*where)
    if after is not None:
        return stmt.where(_after(after)).order_by(*_OLDEST), True
    if before is not None:
        stmt = stmt.where(_before(before))
    return stmt.order_by(*_NEWEST), False


def _exists(session: Session, where: list, beyond: Key, *, newer: bool) -> bool:
    stmt = select(Delivery.id).where(*where, _after(beyond) if newer else _before(beyond))
    return session.scalar(stmt.limit(1)) is not None


def page(session: Session, f: LogFilter = LogFilter(), *, before: Key | None = None, after: Key | None = None,
         limit: int = PAGE_SIZE) -> LogPage:  # fmt: skip
    """The ``limit`` newest deliveries matching ``f`` older than ``before`` (or the oldest ones
    newer than ``after``), shown newest first, with the keys of the neighbouring pages.

    Raises FilterError for a rule never applied or an account that does not exist."""
    if before is not None and after is not None:
        raise ValueError("page: give before or after, not both")
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    where = _conditions(session, f)
    walk, forward = _walk(where, before=before, after=after)
    searched = searched_to = None
    if f.reason:
        keys, searched, last = _search_reason(session, walk, f.reason, forward=forward, limit=limit)
        if len(keys) > limit:
            keys = keys[:limit]
            resume: Key | None = keys[-1]
        else:  # the search ran out of matches: resume where it stopped, if it stopped short of the end
            resume = last if searched == REASON_SCAN else None
        searched_to = last.at if last else None
    else:
        keys = [Key(at, i) for at, i, _reason in session.execute(walk.limit(limit + 1))]
        resume = keys[limit - 1] if len(keys) > limit else None
        keys = keys[:limit]
    if forward:
        keys.reverse()
        newer = resume
        older = keys[-1] if keys and _exists(session, where, keys[-1], newer=False) else None
    else:
        older = resume
        newer = keys[0] if keys and before is not None and _exists(session, where, keys[0], newer=True) else None
    return LogPage(_entries(session, [k.id for k in keys]), older=older, newer=newer,
                   searched=searched, searched_to=searched_to)  # fmt: skip


def _search_reason(session: Session, walk, text: str, *, forward: bool, limit: int) -> tuple[list[Key], int | None, Key | None]:
    """Keys whose reason contains ``text`` among the next REASON_SCAN rows of ``walk``, in
    walking order: (up to limit + 1 matches, rows searched, the last row searched)."""
    w = walk.limit(REASON_SCAN).subquery()
    walking = (w.c.created_at.asc(), w.c.id.asc()) if forward else (w.c.created_at.desc(), w.c.id.desc())
    backwards = (w.c.created_at.desc(), w.c.id.desc()) if forward else (w.c.created_at.asc(), w.c.id.asc())
    matches = [Key(at, i) for at, i in session.execute(
        select(w.c.created_at, w.c.id).where(_reason_matches(w.c.reason, text)).order_by(*walking).limit(limit + 1)
    )]  # fmt: skip
    if len(matches) > limit:
        return matches, None, None  # a full page: the next one resumes after its last match
    searched = session.scalar(select(func.count()).select_from(w)) or 0
    last = session.execute(select(w.c.created_at, w.c.id).order_by(*backwards).limit(1)).first()
    return matches, searched, Key(*last) if last else None


def count_by_status(session: Session, f: LogFilter = LogFilter(), *, cap: int | None = None) -> StatusCounts:
    """Deliveries per status for ``f`` (its own statuses aside, so every status can be chosen),
    each counted up to ``cap`` + 1: one bounded index range per status. With a reason filter,
    among the newest REASON_SCAN rows of the other filters."""
    cap = COUNT_CAP if cap is None else cap
    where = _conditions(session, f, with_status=False)
    if f.reason:
        walk, _forward = _walk(where, before=None, after=None)
        w = walk.add_columns(Delivery.status).limit(REASON_SCAN).subquery()
        rows = session.execute(
            select(w.c.status, func.count()).where(_reason_matches(w.c.reason, f.reason)).group_by(w.c.status)
        ).all()  # fmt: skip
        found = dict(rows)
        searched = session.scalar(select(func.count()).select_from(w)) or 0
        return StatusCounts({s: found[s] for s in STATUS_ORDER if found.get(s)}, cap, searched)
    counts: dict[str, int] = {}
    for status in STATUS_ORDER:
        bounded = _count_query(status, f, where).limit(cap + 1).subquery()
        n = session.scalar(select(func.count()).select_from(bounded)) or 0
        if n:
            counts[status] = n
    return StatusCounts(counts, cap)


def _count_query(status: str, f: LogFilter, where: list):
    # One account's or address's rows are few: walk those and test the status, rather than a
    # whole status's rows (SQLite without ANALYZE statistics rates both equally selective).
    # `status || ''` is the same value with no index of its own.
    column = Delivery.status + "" if f.account or f.recipient else Delivery.status
    return select(literal(1)).where(column == status, *where)


def export_rows(db: Database, f: LogFilter = LogFilter(), *, chunk: int = EXPORT_CHUNK) -> Iterator[LogEntry]:
    """Every delivery matching ``f``, newest first, read ``chunk`` rows per short read session
    so that memory stays flat and no transaction stays open while a slow reader downloads.
    FilterError is raised before the first row."""
    before: Key | None = None
    while True:
        with db.read_session() as session:
            got = page(session, f, before=before, limit=chunk)
        yield from got.rows
        if got.older is None:
            return
        before = got.older


EXPORT_HEADER = ("id", "created_at_utc", "sent_at_utc", "status", "rule", "channel", "account", "account_name",
                 "recipient", "contact_name", "reason")  # fmt: skip


def export_record(row: LogEntry) -> tuple[str, ...]:
    """A row as CSV cells (EXPORT_HEADER), times in UTC ISO 8601."""
    return (str(row.id), _iso(row.created_at), _iso(row.sent_at), row.status, row.rule_id, row.channel, row.account,
            row.account_name, row.recipient, row.contact_name or "", row.reason or "")  # fmt: skip


def _iso(at: datetime | None) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if at else ""


class _Explain(Executable, ClauseElement):
    inherit_cache = False

    def __init__(self, statement) -> None:
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler, **kw) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


def query_plan(session: Session, f: LogFilter = LogFilter(), *, count_status: str | None = None) -> str:
    """The database's plan for a page of ``f`` past a cursor (or, with ``count_status``, for
    that status's bounded count), one line per step: what the index tests and benchmark check."""
    if count_status is not None:
        inner = _count_query(count_status, f, _conditions(session, f, with_status=False))
        stmt = select(func.count()).select_from(inner.limit(COUNT_CAP + 1).subquery())
    else:
        cursor = Key(datetime(9999, 1, 1, tzinfo=UTC), 0)
        stmt = _walk(_conditions(session, f), before=cursor, after=None)[0].limit(PAGE_SIZE + 1)
    return "\n".join(str(row[-1]) for row in session.execute(_Explain(stmt)))


# -- rule-level summaries (CLI summary; the paused-rule notice) --------------------------


@dataclass(frozen=True)
class LogRow:
    """The older row shape of ``latest``, kept for its callers."""

    id: int
    at: datetime  # sent_at, else due_at
    status: str
    rule_id: str
    channel: str
    account: str  # external id
    recipient: str
    reason: str | None


def rule_choices(session: Session) -> list[str]:
    """The ids of every applied rule, for a filter's choices."""
    return list(session.scalars(select(RuleState.rule_id).order_by(RuleState.rule_id)))


def paused_rules(session: Session) -> list[tuple[str, str | None]]:
    """(rule id, why) of the paused rules: their messages wait (a tripped circuit breaker says so here)."""
    return [(r, why) for r, why in session.execute(
        select(RuleState.rule_id, RuleState.paused_reason).where(RuleState.paused.is_(True)).order_by(RuleState.rule_id)
    )]  # fmt: skip


def status_counts(session: Session) -> dict[str, dict[str, int]]:
    """rule id -> status -> deliveries, statuses in ATTENTION_FIRST order then the rest.

    Exact, so it reads every row (the rule index only): for the CLI summary, not for pages."""
    rows = session.execute(
        select(Delivery.rule_id, Delivery.status, func.count()).group_by(Delivery.rule_id, Delivery.status)
    ).all()
    by_rule: dict[str, dict[str, int]] = {}
    for rule_id, status, n in rows:
        by_rule.setdefault(rule_id, {})[status] = n
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    return {r: dict(sorted(c.items(), key=lambda kv: order.get(kv[0], 99))) for r, c in sorted(by_rule.items())}


def latest(session: Session, statuses: Sequence[str] = (), rule_id: str | None = None, limit: int = 50) -> list[LogRow]:
    """The newest deliveries first, optionally of some statuses and one rule (``page`` does more)."""
    unknown = [s for s in statuses if s not in DELIVERY_STATUSES]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: expected one of {', '.join(DELIVERY_STATUSES)}")
    stmt = select(Delivery, Account.external_id).join(Account, Account.id == Delivery.account_id)
    if statuses:
        stmt = stmt.where(Delivery.status.in_(statuses))
    if rule_id:
        stmt = stmt.where(Delivery.rule_id == rule_id)
    rows = session.execute(stmt.order_by(*_NEWEST).limit(limit)).all()
    return [LogRow(d.id, d.sent_at or d.due_at, d.status, d.rule_id, d.channel, account, d.recipient, d.reason)
            for d, account in rows]  # fmt: skip
