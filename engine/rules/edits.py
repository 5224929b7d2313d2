"""Changes made in the admin (or its CLI twins): save a rule's text, roll back to an old version.

Both store a new version through engine.rules.apply, the path ``touchline
apply`` takes, with origin ``admin``, the comment the user gave, and an audit
row. A rollback is itself a new version whose content is the old one's, so
history only ever grows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import RuleState, RuleVersion
from engine.rules.apply import apply_sources
from engine.rules.problems import Problem
from engine.rules.segments import SegmentLibrary
from engine.rules.validate import KnownTemplates, validate_text
from engine.rules.versions import (
    Applied, ContentError, ReasonRequired, RuleSource, Status, UnknownRule, bundle, segments_used, validate_content,
)  # fmt: skip

ID_LINE = re.compile(r"^id:", re.MULTILINE)


class UnknownVersion(LookupError):
    pass


class RollbackRefused(ValueError):
    """The old version cannot be made live again (it no longer passes the checker)."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class SaveOutcome:
    """What a save did: ``problems`` (nothing stored), or the version applied (maybe unchanged)."""

    problems: list[Problem] = field(default_factory=list)
    applied: Applied | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> Status | None:
        return self.applied.status if self.applied else None

    @property
    def rule_id(self) -> str | None:
        return self.applied.rule_id if self.applied else None


def source_name(rule_id: str | None) -> str:
    """The file name problems carry: where ``touchline rules export`` would write the rule."""
    return f"rules/{rule_id or 'new-rule'}.yaml"


def require_comment(comment: str | None, what: str) -> str:
    comment = (comment or "").strip()
    if not comment:
        raise ReasonRequired(f"a comment is required for {what}: say what changed and why (it is kept in the history)")
    return comment


def save_rule_text(
    session: Session,
    text: str,
    *,
    rule_id: str | None,
    actor: str,
    comment: str,
    segments: Mapping[str, str],
    templates: KnownTemplates | None = None,
    now: datetime | None = None,
) -> SaveOutcome:
    """Check ``text`` as ``touchline rules check`` does and store it as a new admin version.

    ``rule_id`` is the rule being edited (the text must keep its id), None
    for a new rule (its id comes from the text and must not be taken).
    ``segments`` are the segments' texts by name (engine.rules.live_segments
    .library_texts); those the rule uses are stored with it, as apply does. Problems come back in the outcome and nothing is stored; a
    text byte-identical to the active version is ``unchanged``. Line ends
    are stored as LF (a browser sends a textarea's lines with CRLF).

    Raises ReasonRequired without a comment, UnknownRule for a ``rule_id``
    that was never applied.
    """
    comment = require_comment(comment, f"saving {rule_id or 'a new rule'}")
    text = text.replace("\r\n", "\n")
    source = source_name(rule_id)
    if rule_id is not None and session.get(RuleState, rule_id) is None:
        raise UnknownRule(f"no applied rule {rule_id!r}; save it as a new rule instead")
    result = validate_text(
        text, source, segments=SegmentLibrary.from_texts(dict(segments)), expected_id=rule_id, templates=templates
    )
    if result.rule is None:
        return SaveOutcome(problems=result.problems)
    new_id = result.rule.id
    if rule_id is None:
        source = source_name(new_id)
        if session.scalar(select(RuleVersion.id).where(RuleVersion.rule_id == new_id).limit(1)) is not None:
            line = text.count("\n", 0, m.start()) + 1 if (m := ID_LINE.search(text)) else 1
            message = f"a rule with id {new_id!r} already exists; choose another id, or edit that rule"
            return SaveOutcome(problems=[Problem(source, line, 1, "id", message)])
    try:
        content = bundle(text, segments_used(text, segments))
    except ContentError as exc:
        return SaveOutcome(problems=[Problem(source, 1, 1, "", f"cannot store this rule: {exc}")])
    checked = validate_content(content, source, new_id)
    if checked.rule is None:
        return SaveOutcome(problems=checked.problems)
    (applied,) = apply_sources(
        session, [RuleSource(checked.rule, content)], actor=actor, origin="admin", comment=comment, now=now
    )
    return SaveOutcome(applied=applied)


def rollback_rule(
    session: Session, rule_id: str, to_version: int, *, actor: str, comment: str, now: datetime | None = None
) -> Applied:
    """Make version ``to_version``'s content live again, as a new version (audited ``rollback``).

    Unchanged (no new version) when that content is already the active one.
    Raises UnknownRule, UnknownVersion, ReasonRequired, or RollbackRefused
    when the old content no longer passes the checker.
    """
    comment = require_comment(comment, f"rolling back {rule_id}")
    state = session.get(RuleState, rule_id)
    if state is None:
        raise UnknownRule(f"no applied rule {rule_id!r}")
    old = session.scalar(select(RuleVersion).where(RuleVersion.rule_id == rule_id, RuleVersion.version == to_version))
    if old is None:
        known = session.scalars(select(RuleVersion.version).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version))
        raise UnknownVersion(f"{rule_id} has no version {to_version} (versions: {', '.join(map(str, known))})")
    checked = validate_content(old.content, f"{source_name(rule_id)} (version {to_version})", rule_id)
    if checked.rule is None:
        raise RollbackRefused(
            f"version {to_version} of {rule_id} no longer passes the checker, so it cannot go live again; "
            "edit the rule instead", checked.problems,
        )  # fmt: skip
    (applied,) = apply_sources(
        session, [RuleSource(checked.rule, old.content)], actor=actor, origin="admin", comment=comment, now=now,
        audit_action="rollback", restored_from=to_version,
    )  # fmt: skip
    return applied
