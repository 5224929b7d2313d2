"""The history of an account's owner, tier and plan (``account_changes``).

Each tracked field is a timeline: its initial value, holding since the
account was first described (``described_at``), then its changes in order of
``changed_at``. An account record says "at time t this field is v" (t is its
``changed_at``, or now); v goes into the timeline at t:

- equal to the value the timeline gives at t: nothing to record;
- otherwise a change (value at t -> v) at t; the next later change, if any,
  now starts from v (and is dropped when it too sets v: the change happened
  earlier than first recorded); with no later change, v is the current value;
- t before the timeline starts: v was the value before the initial one, so
  a change (v -> initial value) is recorded where the timeline started, and
  the field's timeline now starts at t (``history_starts``).

So the current value is always the newest by effective time, the old value of
each change is the new value of the one before, and loading a dated history
in any order gives the same rows. A stub's first description (an account made
by an event or contact, then described by an account record) only sets the
initial state; that is for the caller (service.upsert_accounts) to decide.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import TRACKED_FIELDS, Account, AccountChange
from engine.sqlutil import chunks

IN_CHUNK = 500


def as_text(value: Any) -> str | None:
    return None if value is None else str(value)


class History:
    """Writes one batch's changes of tracked fields; the accounts must be locked by the caller."""

    def __init__(self, session: Session, source: str, now: datetime, dated_accounts: Iterable[int] = ()) -> None:
        self.session = session
        self.source = source
        self.now = now
        # The whole history of the accounts with dated records, read once per
        # batch and kept in order here as rows are added, relinked or dropped.
        self.loaded = set(dated_accounts)
        self.timelines: dict[tuple[int, str], list[AccountChange]] = {}
        for part in chunks(sorted(self.loaded), IN_CHUNK):
            stmt = (
                select(AccountChange)
                .where(AccountChange.account_id.in_(part))
                .order_by(AccountChange.account_id, AccountChange.field, AccountChange.changed_at, AccountChange.id)
            )
            for row in session.scalars(stmt):
                self.timelines.setdefault((row.account_id, row.field), []).append(row)

    def apply(self, account: Account, values: dict[str, Any], at: datetime, dated: bool) -> None:
        """Put the tracked fields of ``values`` into the account's history at ``at``.

        An undated record is the latest news (``at`` is now): it is compared
        with the current value only. A dated one may land anywhere in the history.
        """
        assert account.described_at is not None, "a stub's first description is its initial state"
        for name in TRACKED_FIELDS:
            if name not in values:
                continue
            if dated:
                self._insert(account, name, values[name], at)
                continue
            old, new = as_text(getattr(account, name)), as_text(values[name])
            if old != new:
                self._add(account, name, old, new, at, None)
                setattr(account, name, values[name])

    def _add(
        self, account: Account, name: str, old: str | None, new: str | None, at: datetime, position: int | None
    ) -> None:
        """A new change; ``position`` in the loaded timeline (None: at its end)."""
        row = AccountChange(
            account_id=account.id, field=name, old_value=old, new_value=new, changed_at=at, source=self.source
        )
        self.session.add(row)
        if account.id in self.loaded:
            rows = self.timelines.setdefault((account.id, name), [])
            rows.insert(len(rows) if position is None else position, row)

    def _insert(self, account: Account, name: str, value: Any, at: datetime) -> None:
        rows = self.timelines.setdefault((account.id, name), [])
        new = as_text(value)
        initial = rows[0].old_value if rows else as_text(getattr(account, name))
        start = self._start(account, name, rows)
        if at < start:
            if new != initial:
                if rows and rows[0].changed_at == start:
                    self._relink(rows, 0, new)
                else:
                    self._add(account, name, new, initial, start, 0)
            # Known for this field only: the others' first values still hold from their own start.
            account.history_starts = {**account.history_starts, name: at.isoformat()}
        else:
            # Rows at the same time stay first: a database reads them in id order too.
            before = bisect_right([row.changed_at for row in rows], at)
            previous = rows[before - 1].new_value if before else initial
            if new == previous:
                return
            self._add(account, name, previous, new, at, before)
            if before + 1 < len(rows):
                self._relink(rows, before + 1, new)
            else:
                setattr(account, name, value)
        # When only the history moved, the incremental cycle must still look at this account again.
        account.updated_at = self.now

    @staticmethod
    def _start(account: Account, name: str, rows: list[AccountChange]) -> datetime:
        """Since when the field's first known value holds."""
        assert account.described_at is not None
        starts = [account.described_at]
        if name in account.history_starts:
            starts.append(datetime.fromisoformat(account.history_starts[name]))
        if rows:
            starts.append(rows[0].changed_at)
        return min(starts)

    def _relink(self, rows: list[AccountChange], index: int, new: str | None) -> None:
        """The change at ``index`` now starts from ``new``; it is no change if it sets the same."""
        later = rows[index]
        if later.new_value != new:
            later.old_value = new
            return
        del rows[index]
        if later in self.session.new:
            self.session.expunge(later)
        else:
            self.session.delete(later)
