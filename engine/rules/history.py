"""A rule's versions, newest first, and two versions side by side.

What the admin's history and diff pages show and ``touchline rules history``
and ``touchline rules diff`` print.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import RuleState, RuleVersion
from engine.rules.edits import UnknownVersion
from engine.rules.versions import UnknownRule

Kind = Literal["equal", "changed", "added", "removed"]


@dataclass(frozen=True)
class VersionInfo:
    version: int
    origin: str  # 'file' or 'admin'
    author: str
    comment: str | None
    created_at: datetime
    git_commit: str | None
    active: bool
    restored_from: int | None = None  # a rollback: the version whose content it restored
    predicted_messages: int | None = None


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side view; a side without a line has None for both its number and text."""

    kind: Kind
    left_no: int | None
    left_text: str | None
    right_no: int | None
    right_text: str | None


@dataclass(frozen=True)
class SideBySide:
    rule_id: str
    old: VersionInfo
    new: VersionInfo
    rows: list[DiffRow]
    unified: str  # the same change as a unified diff, for the command line

    @property
    def identical(self) -> bool:
        return all(row.kind == "equal" for row in self.rows)

    @property
    def counts(self) -> dict[Kind, int]:
        found: dict[Kind, int] = {"changed": 0, "added": 0, "removed": 0}
        for row in self.rows:
            if row.kind != "equal":
                found[row.kind] += 1
        return found


@dataclass(frozen=True)
class RuleStatus:
    """Whether a rule runs: what the pause and resume forms need."""

    rule_id: str
    paused: bool
    paused_reason: str | None
    version: int  # the active version

    @property
    def state(self) -> Literal["active", "paused"]:
        return "paused" if self.paused else "active"


def rule_status(session: Session, rule_id: str) -> RuleStatus:
    """The rule's paused state and active version. Raises UnknownRule for a rule never applied."""
    state = session.get(RuleState, rule_id)
    if state is None:
        raise UnknownRule(f"no applied rule {rule_id!r}")
    version = session.get(RuleVersion, state.active_version_id)
    return RuleStatus(rule_id, state.paused, state.paused_reason, version.version if version else 0)


def rule_history(session: Session, rule_id: str) -> list[VersionInfo]:
    """Every version of a rule, newest first. Raises UnknownRule if it has none."""
    versions = list(
        session.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version.desc()))
    )
    if not versions:
        known = sorted(session.scalars(select(RuleState.rule_id)))
        listing = f"applied rules: {', '.join(known)}" if known else "no rules are applied yet"
        raise UnknownRule(f"no rule {rule_id!r} has versions ({listing})")
    state = session.get(RuleState, rule_id)
    active_id = state.active_version_id if state else None
    return [_info(v, v.id == active_id) for v in versions]


def version_diff(session: Session, rule_id: str, old: int, new: int) -> SideBySide:
    """Versions ``old`` and ``new`` of a rule line by line (difflib), for a side-by-side view.

    Raises UnknownRule or UnknownVersion (naming the versions there are)."""
    history = {v.version: v for v in rule_history(session, rule_id)}
    missing = [n for n in (old, new) if n not in history]
    if missing:
        known = ", ".join(str(n) for n in sorted(history))
        raise UnknownVersion(f"{rule_id} has no version {missing[0]} (versions: {known})")
    rows = session.execute(
        select(RuleVersion.version, RuleVersion.content).where(RuleVersion.rule_id == rule_id, RuleVersion.version.in_(sorted({old, new})))
    )
    texts = {number: content for number, content in rows}
    left, right = texts[old].splitlines(), texts[new].splitlines()
    unified = "\n".join(
        difflib.unified_diff(left, right, f"{rule_id} version {old}", f"{rule_id} version {new}", lineterm="")
    )
    return SideBySide(rule_id, history[old], history[new], side_by_side(left, right), unified + "\n" if unified else "")


def side_by_side(left: list[str], right: list[str]) -> list[DiffRow]:
    """Pair the lines of two texts: a replaced block pairs line for line, the longer side's rest is added or removed."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [DiffRow("equal", i + 1, left[i], j + 1, right[j]) for i, j in zip(range(i1, i2), range(j1, j2))]
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        rows += [DiffRow("changed", i1 + k + 1, left[i1 + k], j1 + k + 1, right[j1 + k]) for k in range(paired)]
        rows += [DiffRow("removed", i + 1, left[i], None, None) for i in range(i1 + paired, i2)]
        rows += [DiffRow("added", None, None, j + 1, right[j]) for j in range(j1 + paired, j2)]
    return rows


def _info(version: RuleVersion, active: bool) -> VersionInfo:
    return VersionInfo(
        version.version, version.origin, version.author, version.comment, version.created_at, version.git_commit,
        active, version.restored_from, version.predicted_messages,
    )  # fmt: skip
