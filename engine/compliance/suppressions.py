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
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.compliance.addresses import OPERATIONAL, InvalidAddress, check_category, normalise_address
from engine.models import ALL_CATEGORIES, SUPPRESSION_REASONS, CategoryRejoin, Suppression, utcnow
from engine.sqlutil import chunks, insert_for

STRENGTH = {"unsubscribed": 1, "bounced": 2, "complained": 3}
BATCH = 500


class UnsubscribeNotAllowed(ValueError):
    """Operational messages cannot be unsubscribed from."""


def _row_category(category: str | None) -> str:
    return ALL_CATEGORIES if category is None else check_category(category)


def suppress(session: Session, address: str, reason: str, category: str | None, source: str) -> Suppression:
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
    return row


def resubscribe(session: Session, address: str, category: str | None) -> str | None:
    """Undo the recipient's own unsubscribes from ``category`` (None: from everything).

    Bounces and complaints stay: they are about the address, not a choice made
    on the preference page. Returns what still suppresses ``address`` in
    ``category`` afterwards (for None: in ``general``), or None.
    """
    address = normalise_address(address)
    if category is None:
        session.execute(
            delete(Suppression).where(Suppression.address == address, Suppression.reason == "unsubscribed")
        )
        session.execute(delete(CategoryRejoin).where(CategoryRejoin.address == address))
        session.flush()
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
    return suppression_for(session, address, category)


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
