"""Account search: by id, name, contact address or domain, within tier, plan and owner.

Pages are keyset pages on ``external_id`` (unique), so page 1,000 costs what page 1 does.
What each part of a search costs:

- the filters (tier, plan, owner) walk an index on (filter, external_id) in page order;
- ``q`` matches the id, the name, a contact's address and an address's domain by prefix,
  case-insensitively, each through its own index on the lower-cased value
  (migration 0017), so the matching accounts are found without a scan;
- ``q`` of ``CONTAINS_MIN`` characters or more also matches *inside* names (``さくら``
  finds 株式会社さくら商事), which no b-tree index serves: that part reads the accounts
  table in page order (the external_id index, within the filters) until the page is
  full: one row per account, never the contacts or events. Shorter text matches by
  prefix only. A name that starts with the text also contains it, so from
  ``CONTAINS_MIN`` characters the name prefix needs no branch of its own.

Each kind of match is its own branch (id prefix, name prefix, address prefix, domain
prefix, inner name), and each branch stops at the page size + 1 in external_id order,
after the cursor and within the filters, before the branches are combined.

A prefix index is in another order than the page, so a branch read through it reads and
sorts *every* match of the prefix before it can stop: nothing for a rare prefix, but a
short common one (``co``: most names, and every address at ``company….example``) would
read most accounts or contacts for one page. PostgreSQL weighs that against reading the
accounts in page order from its statistics and picks the cheaper plan. SQLite keeps no
statistics on these expressions and always takes the prefix index, so there the search
first decides (``walked_kinds``), in two bounded reads: a probe counts each kind's index
entries up to ``PROBE_CAP``; the kinds that reach it are tried on the first
``WALK_PAGES`` pages' worth of accounts in page order. If those hold a full page of their
matches (or are all the accounts left), those kinds join the inner-name walk, which
then stops within that many accounts; otherwise (matches far apart in page order, such as
many contacts of one account) they are read from their indexes as before. Either way the
rows are the same; only the plan differs. See docs/admin.md for the measured times
(bench/accounts_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, and_, exists, func, literal, or_, select, text, union
from sqlalchemy.orm import Session

from engine.models import TIERS, Account, Contact
from engine.models.contact import email_domain

# Shortest search text also matched inside names (a scan); shorter is prefix-only (indexed).
CONTAINS_MIN = 3
# SQLite: a kind of prefix match with fewer index entries than this (accounts; contacts for
# address and domain) is read whole from its index: at most this many entries, sorted.
PROBE_CAP = 5000
# SQLite: a kind with more is found in page order if the first WALK_PAGES pages' worth of
# accounts hold a page of its matches (one account in WALK_PAGES or more matches).
WALK_PAGES = 40
MAX_LIMIT = 200
MAX_QUERY = 200


class SearchError(ValueError):
    """A search the engine refuses, with a message naming the problem."""


@dataclass(frozen=True)
class AccountFilter:
    """What the admin list, the CLI and the API ask for; empty fields do not filter."""

    q: str = ""
    tier: str | None = None
    plan: str | None = None
    owner: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "q", (self.q or "").strip())
        for name in ("tier", "plan", "owner"):
            value = getattr(self, name)
            object.__setattr__(self, name, value.strip() or None if isinstance(value, str) else value)
        if len(self.q) > MAX_QUERY:
            raise SearchError(f"search text too long: {len(self.q)} characters; at most {MAX_QUERY}")
        if self.tier is not None and self.tier not in TIERS:
            raise SearchError(f"unknown tier {self.tier!r}; expected one of {', '.join(TIERS)}")

    @property
    def active(self) -> bool:
        return bool(self.q or self.tier or self.plan or self.owner)


@dataclass(frozen=True)
class AccountRow:
    external_id: str
    name: str
    tier: str
    plan: str | None
    owner: str | None
    mrr: Decimal | None
    signup_at: datetime | None
    contacts: int


@dataclass(frozen=True)
class AccountPage:
    rows: list[AccountRow]
    # The cursor of the next page (its last row's external_id), None on the last page.
    next_cursor: str | None


def _like_prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _prefix(expr, q: str, dialect: str):
    """``expr`` starts with q (lower-cased). SQLite's LIKE never uses an index on an expression,
    so there the same prefix is also given as a range on it, which does; PostgreSQL derives the
    range from LIKE itself (text_pattern_ops), under any collation."""
    pattern = _like_prefix(q)
    match = expr.like(pattern, escape="\\")
    if dialect == "sqlite":
        low = q.lower()
        match = and_(expr >= low, expr < low + "\U0010ffff", match)
    return match


def _kinds(q: str, dialect: str, acct=Account, walk: bool = False) -> dict[str, object]:
    """Each kind of prefix match of ``q`` as a condition on ``acct`` (the accounts table, or a
    subquery of its id, external_id and name). The name prefix only below ``CONTAINS_MIN``
    characters; from there the inner-name match includes it.

    ``walk``: as tested row by row on accounts read in page order: contacts by a correlated
    EXISTS, and on SQLite no range beside the LIKE, which would make its planner take the
    prefix index instead of the page order."""

    def prefix(expr):
        return expr.like(_like_prefix(q), escape="\\") if walk else _prefix(expr, q, dialect)

    def contact(expr):
        if walk:
            return exists().where(Contact.account_id == acct.id, prefix(expr))
        return acct.id.in_(select(Contact.account_id).where(prefix(expr)))

    kinds = {"id": prefix(func.lower(acct.external_id))}
    if len(q) < CONTAINS_MIN:
        kinds["name"] = prefix(func.lower(acct.name))
    kinds["address"] = contact(func.lower(Contact.email))
    kinds["domain"] = contact(email_domain(Contact.email))
    return kinds


def _where(flt: AccountFilter, cursor: str | None) -> list:
    """The cursor and the filters, on accounts."""
    where = []
    if cursor:
        where.append(Account.external_id > cursor)
    if flt.tier:
        where.append(Account.tier == flt.tier)
    if flt.plan:
        where.append(Account.plan == flt.plan)
    if flt.owner:
        where.append(Account.owner == flt.owner)
    return where


def _count(stmt: Select):
    return select(func.count()).select_from(stmt.subquery()).scalar_subquery()


def walked_kinds(session: Session, flt: AccountFilter, cursor: str | None, limit: int) -> frozenset[str]:
    """The kinds of prefix match that ``search_query`` should find by reading accounts in page
    order rather than through their prefix index: on SQLite, those whose matches are common and
    close together in page order (see the module's docstring); none on PostgreSQL, whose
    planner chooses this itself, or without search text."""
    if session.get_bind().dialect.name != "sqlite" or not flt.q:
        return frozenset()
    q, low = flt.q, flt.q.lower()
    # 1. Index entries per kind, up to PROBE_CAP: range counts on the prefix indexes alone.
    probes = {}
    for kind, expr, table in [
        ("id", func.lower(Account.external_id), Account),
        ("name", func.lower(Account.name), Account),
        ("address", func.lower(Contact.email), Contact),
        ("domain", email_domain(Contact.email), Contact),
    ]:
        if kind != "name" or len(q) < CONTAINS_MIN:
            within = and_(expr >= low, expr < low + "\U0010ffff")
            probes[kind] = _count(select(literal(1)).select_from(table).where(within).limit(PROBE_CAP))
    counts = session.execute(select(*probes.values())).one()
    common = [kind for kind, n in zip(probes, counts, strict=True) if n >= PROBE_CAP]
    if not common:
        return frozenset()
    # 2. Do the first WALK_PAGES pages' worth of accounts in page order hold a page of their
    #    matches, or are they all the accounts left? Then the walk stops within them.
    size, span = limit + 1, WALK_PAGES * (limit + 1)
    where = _where(flt, cursor)
    window = select(Account.id, Account.external_id, Account.name).where(*where).order_by(Account.external_id).limit(span).subquery()
    kinds = _kinds(q, "sqlite", window.c, walk=True)
    hits = select(literal(1)).select_from(window).where(or_(*(kinds[k] for k in common))).limit(size)
    left = select(Account.external_id).where(*where).order_by(Account.external_id).limit(span)
    found, accounts = session.execute(select(_count(hits), _count(left))).one()
    return frozenset(common) if found >= size or accounts < span else frozenset()


def _branches(q: str, where: list, size: int, dialect: str, walked: frozenset[str]) -> list:
    """One select of (id, external_id) per kind of match, each cut at ``size`` rows in page order.

    ``where`` (cursor and filters) applies inside every branch, so each branch's first
    ``size`` rows are all it can add to the page. The kinds in ``walked`` and the inner-name
    match are one branch, which reads accounts in page order until it has ``size`` rows."""
    matches = [match for kind, match in _kinds(q, dialect).items() if kind not in walked]
    in_order = [match for kind, match in _kinds(q, dialect, walk=True).items() if kind in walked]
    if len(q) >= CONTAINS_MIN:
        in_order.insert(0, func.lower(Account.name).like("%" + _like_prefix(q), escape="\\"))
    if in_order:
        matches.append(or_(*in_order))
    branches = []
    for match in matches:
        limited = select(Account.id, Account.external_id).where(match, *where).order_by(Account.external_id).limit(size).subquery()
        # Wrapped, because SQLite refuses ORDER BY / LIMIT on the members of a compound select.
        branches.append(select(limited.c.id, limited.c.external_id))
    return branches


def search_query(
    flt: AccountFilter, cursor: str | None, limit: int, dialect: str = "postgresql", walked: frozenset[str] = frozenset()
) -> Select:
    """The select of up to ``limit`` + 1 rows of a page (alone, for EXPLAIN in bench/accounts_bench.py).

    ``walked``: the kinds of prefix match to find in page order (``walked_kinds``); the rows
    are the same whatever it holds, only the plan differs."""
    where = _where(flt, cursor)
    if flt.q:
        # The union of limited branches, cut again: the same rows as one OR over every match.
        found = union(*_branches(flt.q, where, limit + 1, dialect, walked)).subquery()
        where = [Account.id.in_(select(found.c.id))]
    contacts = select(func.count()).where(Contact.account_id == Account.id).correlate(Account).scalar_subquery()
    return (
        select(
            Account.external_id, Account.name, Account.tier, Account.plan, Account.owner,
            Account.mrr, Account.signup_at, contacts,
        )
        .where(*where)
        .order_by(Account.external_id)
        .limit(limit + 1)
    )  # fmt: skip


def search_accounts(
    session: Session, flt: AccountFilter, cursor: str | None = None, limit: int = 50
) -> AccountPage:
    """One page of accounts matching ``flt``, in external_id order, after ``cursor``.

    Args:
        cursor: the ``next_cursor`` of the previous page (an external id), or None for the first.
        limit: rows per page, 1 to 200.
    Returns:
        the page; ``next_cursor`` is None when nothing follows.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    walked = walked_kinds(session, flt, cursor, limit)
    stmt = search_query(flt, cursor, limit, session.get_bind().dialect.name, walked)
    found = [AccountRow(*row) for row in session.execute(stmt)]
    rows = found[:limit]
    return AccountPage(rows, rows[-1].external_id if len(found) > limit else None)


@dataclass(frozen=True)
class FilterChoices:
    plans: list[str]
    owners: list[str]


def filter_choices(session: Session) -> FilterChoices:
    """The plans and owners accounts have, for the filter menus: a skip scan of each
    (column, external_id) index, one probe per distinct value, not a pass over accounts."""
    return FilterChoices(_distinct(session, "plan"), _distinct(session, "owner"))


def _distinct(session: Session, column: str) -> list[str]:
    assert column in ("plan", "owner")  # a fixed name, never user input
    rows = session.execute(
        text(
            f"WITH RECURSIVE v(x) AS ("
            f" SELECT min({column}) FROM accounts"
            f" UNION ALL SELECT (SELECT min({column}) FROM accounts WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL"
            f") SELECT x FROM v WHERE x IS NOT NULL"
        )
    )
    return [value for (value,) in rows]
