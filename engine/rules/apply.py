"""Applying rules: the one path from a checked rule to a new active version.

``touchline apply`` (rule files) and the admin (a save, a rollback) both go
through ``apply_sources``, so a version stored either way has the same
content, hash and diff, and the same predicted messages (the plan's count,
the circuit breaker's yardstick). Only files are checked for drift: an
admin edit is itself what drift warns about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from engine.models import utcnow
from engine.rules.drift import AdminEditsDrift, find_drift
from engine.rules.plan import plan
from engine.rules.versions import Applied, Origin, RuleSource, apply_rules


def author_of(actor: str) -> str:
    """The version's author from an audit actor: ``user:ann@example.com`` -> ``ann@example.com``."""
    kind, _, name = actor.partition(":")
    return name if kind in ("user", "cli") and name else actor


def apply_sources(
    session: Session,
    sources: Sequence[RuleSource],
    *,
    actor: str,
    origin: Origin,
    author: str | None = None,
    git_commit: str | None = None,
    comment: str | None = None,
    now: datetime | None = None,
    overwrite_admin_edits: bool = False,
    audit_action: str | None = None,
    restored_from: int | None = None,
) -> list[Applied]:
    """Plan the sources, then store a new version of each changed one.

    From files (``origin='file'``) a rule whose live version was edited in
    the admin is refused with AdminEditsDrift (nothing is stored) unless
    ``overwrite_admin_edits``. A file apply without ``comment`` records
    "applied from <file>".
    """
    if origin == "file" and not overwrite_admin_edits:
        drifts = find_drift(session, sources)
        if drifts:
            raise AdminEditsDrift(drifts)
    # What each changed rule would send now: stored with its version as the
    # circuit breaker's yardstick for the cycles that follow.
    predicted = {p.rule_id: sum(p.messages.values()) for p in plan(session, sources, now or utcnow()) if p.planned}
    comments = {s.rule.id: comment or f"applied from {s.rule.source}" for s in sources} if origin == "file" or comment else None
    return apply_rules(
        session, sources, author or author_of(actor), git_commit, predicted,
        origin=origin, comments=comments, actor=actor, audit_action=audit_action, restored_from=restored_from,
    )  # fmt: skip
