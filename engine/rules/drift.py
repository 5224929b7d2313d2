"""Drift: the live version of a rule was edited in the admin after its files were last applied.

Rules live in two places: files in git, and live versions in the database that
the admin can edit. When the active version's origin is ``admin`` and a rule
file differs from it, applying the file would silently replace the admin's
edit (and the admin's next save would replace the file's). Finding that case,
with the diff from the live version to the file, lets ``plan`` warn and
``apply`` refuse unless told to overwrite.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from engine.rules.versions import RuleSource, active_versions


@dataclass(frozen=True)
class Drift:
    rule_id: str
    source: str  # the rule file that would replace the live version
    live_version: int
    live_author: str
    live_at: datetime
    live_comment: str | None
    diff: str  # unified: the live admin version (---) to the file (+++)

    def describe(self) -> str:
        why = f" ({self.live_comment})" if self.live_comment else ""
        return (
            f"{self.rule_id}: the live version {self.live_version} was edited in the admin by {self.live_author} "
            f"at {self.live_at:%Y-%m-%d %H:%M:%S}Z{why}, after the files were last applied; "
            f"applying {self.source} would replace it"
        )


class AdminEditsDrift(RuntimeError):
    """Applying files would overwrite live versions edited in the admin."""

    def __init__(self, drifts: list[Drift]) -> None:
        self.drifts = drifts
        ids = ", ".join(d.rule_id for d in drifts)
        super().__init__(
            f"not applied: {ids} {'was' if len(drifts) == 1 else 'were'} edited in the admin after the files were "
            "last applied. To keep the admin's version, write it to the files (touchline rules export DIR) and commit "
            "it; to replace it with the files, apply with --overwrite-admin-edits"
        )


def find_drift(session: Session, sources: Iterable[RuleSource]) -> list[Drift]:
    """Rules whose active version came from the admin and whose file differs from it."""
    active = active_versions(session)
    found: list[Drift] = []
    for source in sources:
        live = active.get(source.rule.id)
        if live is None:
            continue
        version = live[1]
        if version.origin != "admin" or version.content_hash == source.content_hash:
            continue
        diff = "".join(
            difflib.unified_diff(
                version.content.splitlines(keepends=True),
                source.content.splitlines(keepends=True),
                fromfile=f"{source.rule.id} version {version.version} (live, edited in the admin)",
                tofile=source.rule.source,
            )
        )
        found.append(
            Drift(source.rule.id, source.rule.source, version.version, version.author, version.created_at, version.comment, diff)
        )
    return found
