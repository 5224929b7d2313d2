"""The suppression list: who must not be mailed in which category, checked at send time.

Rules (``docs/compliance.md``):

- a row is (address, category or ``'*'`` for all, reason, source);
- ``bounced`` and ``complained`` suppress every category they cover,
  ``operational`` included;
- ``unsubscribed`` never suppresses ``operational`` (account and security
  messages are not marketing), and an unsubscribe from all does not cover a
  category the recipient re-joined afterwards (``CategoryRejoin``);
- when several rows apply, the strongest reason is reported:
  complained > bounced > unsubscribed.

A change made with an ``actor`` (the CLI, the API, a recipient on the public pages)
writes one audit row of the address's suppressions before and after, in the same
transaction; automatic ones (a bounce seen by a send job) pass none.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.audit import record
from engine.compliance.addresses import OPERATIONAL, InvalidAddress, check_category, normalise_address
from engine.models import ALL_CATEGORIES, SUPPRESSION_REASONS, CategoryRejoin, Suppression, utcnow
from engine.sqlutil import chunks, insert_for

STRENGTH = {"unsubscribed": 1, "bounced": 2, "complained": 3}
BATCH = 500


class UnsubscribeNotAllowed(ValueError):
    """Operational messages cannot be unsubscribed from."""


def _row_category(category: str | None) -> str:
    return ALL_CATEGORIES if category is None else check_category(category)


def _audit_state(session: Session, address: str) -> dict:
    """An address's suppressions as the audit trail shows them: category -> reason, and re-joins."""
    rows = session.execute(
        select(Suppression.category, Suppression.reason).where(Suppression.address == address)
    ).all()
    return {
        "suppressed": {category: reason for category, reason in sorted(rows)},
        "rejoined": sorted(session.scalars(select(CategoryRejoin.category).where(CategoryRejoin.address == address))),
    }


def _audit_change(session: Session, actor: str | None, action: str, address: str, before: dict | None, summary: str) -> None:
    if actor is None:
        return
    after = _audit_state(session, address)
    if after != before:  # idempotent repeats change nothing and leave no row
        record(session, actor=actor, action=action, object_type="suppression", object_id=address,
               before=before, after=after, summary=summary)  # fmt: skip


def suppress(
    session: Session, address: str, reason: str, category: str | None, source: str, *, actor: str | None = None
) -> Suppression:
    """Record that ``address`` must not get ``category`` (None: any category) because of ``reason``.

    Idempotent; a weaker reason never replaces a stronger one. Safe against a
    concurrent call for the same address and category (INSERT .. ON CONFLICT).
    Returns the row as it stands.
    """
    if reason not in SUPPRESSION_REASONS:
        raise ValueError(f"reason {reason!r}: expected one of {', '.join(SUPPRESSION_REASONS)}")
    if not isinstance(source, str) or not source.strip() or len(source) > 100:
        raise ValueError(f"source {source!r}: say where the suppression came from, in at most 100 characters")
    address = normalise_address(address)
    row_category = _row_category(category)
    if reason == "unsubscribed" and row_category == OPERATIONAL:
        raise UnsubscribeNotAllowed(
            "category 'operational': account and security messages cannot be unsubscribed from"
        )
    before = _audit_state(session, address) if actor else None
    now = utcnow()
    session.execute(
        insert_for(session, Suppression.__table__)
        .values(address=address, category=row_category, reason=reason, source=source, created_at=now)
        .on_conflict_do_nothing(index_elements=["address", "category"])
    )
    row = session.scalars(
        select(Suppression)
        .where(Suppression.address == address, Suppression.category == row_category)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if STRENGTH[reason] > STRENGTH[row.reason]:
        row.reason, row.source, row.created_at = reason, source, now
    if reason == "unsubscribed":
        # Leaving a category (or all) undoes an earlier re-join of it (or of any).
        rejoined = delete(CategoryRejoin).where(CategoryRejoin.address == address)
        if row_category != ALL_CATEGORIES:
            rejoined = rejoined.where(CategoryRejoin.category == row_category)
        session.execute(rejoined)
    session.flush()
    where = "all categories" if row_category == ALL_CATEGORIES else row_category
    _audit_change(session, actor, "add", address, before, f"{address}: {reason} in {where} (source {source})")
    return row


def resubscribe(session: Session, address: str, category: str | None, *, actor: str | None = None) -> str | None:
    """Undo the recipient's own unsubscribes from ``category`` (None: from everything).

    Bounces and complaints stay: they are about the address, not a choice made
    on the preference page. Returns what still suppresses ``address`` in
    ``category`` afterwards (for None: in ``general``), or None.
    """
    address = normalise_address(address)
    before = _audit_state(session, address) if actor else None
    if category is None:
        session.execute(
            delete(Suppression).where(Suppression.address == address, Suppression.reason == "unsubscribed")
        )
        session.execute(delete(CategoryRejoin).where(CategoryRejoin.address == address))
        session.flush()
        _audit_change(session, actor, "remove", address, before, f"{address}: unsubscribes lifted in every category")
        return suppression_for(session, address, "general")
    category = check_category(category)
    if category == OPERATIONAL:
        return suppression_for(session, address, category)
    session.execute(
        delete(Suppression).where(
            Suppression.address == address, Suppression.category == category, Suppression.reason == "unsubscribed"
        )
    )
    left_all = session.scalar(
        select(Suppression.id).where(
            Suppression.address == address,
            Suppression.category == ALL_CATEGORIES,
            Suppression.reason == "unsubscribed",
        )
    )
    if left_all is not None:
        session.execute(
            insert_for(session, CategoryRejoin.__table__)
            .values(address=address, category=category, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["address", "category"])
        )
    session.flush()
    _audit_change(session, actor, "remove", address, before, f"{address}: re-joined {category}")
    return suppression_for(session, address, category)


def remove_suppressions(session: Session, address: str, category: str | None, *, actor: str) -> list[Suppression]:
    """Remove bounces and complaints of ``address`` (in ``category``; None: every one) on an
    operator's say-so, e.g. after a mailbox is fixed; unsubscribes go through resubscribe.
    Returns the rows removed."""
    address = normalise_address(address)
    query = select(Suppression).where(Suppression.address == address, Suppression.reason != "unsubscribed")
    if category is not None:
        query = query.where(Suppression.category == _row_category(category))
    rows = list(session.scalars(query))
    if rows:
        before = _audit_state(session, address)
        session.execute(delete(Suppression).where(Suppression.id.in_([r.id for r in rows])))
        session.flush()
        _audit_change(session, actor, "remove", address, before,
                      f"{address}: removed {', '.join(f'{r.reason} in {r.category}' for r in rows)}")  # fmt: skip
    return rows


def suppression_for(session: Session, address: str, category: str) -> str | None:
    """Why a send to ``address`` in ``category`` is suppressed, or None if it may go."""
    found = suppressed_addresses(session, [address], category)
    return next(iter(found.values()), None)


def suppressed_addresses(session: Session, addresses: Iterable[str], category: str) -> dict[str, str]:
    """For a batch: ``{address: reason}`` for each suppressed address in ``category``.

    Keys are the addresses as given (so a caller can look up its own strings);
    addresses that may be sent to are absent. Two queries per 500 addresses.
    A string that is not an email address (an in-app ``contact:<id>``) cannot
    be on the list and is never reported.
    """
    category = check_category(category)
    by_normal: dict[str, list[str]] = {}
    for address in dict.fromkeys(addresses):
        try:
            normal = normalise_address(address)
        except InvalidAddress:
            continue
        by_normal.setdefault(normal, []).append(address)
    reasons: dict[str, str] = {}
    for chunk in chunks(list(by_normal), BATCH):
        rows = session.execute(
            select(Suppression.address, Suppression.category, Suppression.reason).where(
                Suppression.address.in_(chunk), Suppression.category.in_((category, ALL_CATEGORIES))
            )
        ).all()
        rejoined = set(
            session.scalars(
                select(CategoryRejoin.address).where(
                    CategoryRejoin.address.in_(chunk), CategoryRejoin.category == category
                )
            )
        )
        for address, row_category, reason in rows:
            if reason == "unsubscribed" and (
                category == OPERATIONAL or (row_category == ALL_CATEGORIES and address in rejoined)
            ):
                continue
            current = reasons.get(address)
            if current is None or STRENGTH[reason] > STRENGTH[current]:
                reasons[address] = reason
    found: dict[str, str] = {}
    for normal, reason in reasons.items():
        for original in by_normal[normal]:
            found[original] = reason
    return found


def suppressions_of(session: Session, address: str) -> list[Suppression]:
    """Every suppression row of one address, for the preference page and the admin."""
    address = normalise_address(address)
    return list(
        session.scalars(select(Suppression).where(Suppression.address == address).order_by(Suppression.category))
    )


def rejoined_categories(session: Session, address: str) -> set[str]:
    address = normalise_address(address)
    return set(session.scalars(select(CategoryRejoin.category).where(CategoryRejoin.address == address)))
