"""Segments as the admin sees and edits them.

A rule version stores the segments it uses with it (engine.rules.versions.bundle),
so a segment is live through the rules that carry it: its live text is the one
the live rules (paused ones too) carry, and a segment no live rule uses is read
from the segments folder. The admin's rule editor checks and bundles drafts
against these texts, so a rule saved there takes the segment as it is live,
the same text ``touchline rules export`` writes.

Saving a segment stores a new version of every live rule that uses it (directly
or through another segment) with the segment's new text, through the path
``touchline apply`` takes (engine.rules.apply: same hash, diff, plan and
circuit-breaker ceiling), audited once as the segment's change. Applying an
older segment file afterwards is drift, as for any admin edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from engine.audit import record
from engine.models import RuleVersion
from engine.rules.apply import apply_sources
from engine.rules.plan import RulePlan, plan
from engine.rules.problems import Problem
from engine.rules.segments import SegmentLibrary
from engine.rules.versions import (
    Applied, ContentError, RuleSource, active_versions, bundle, segments_used, unbundle, validate_content,
)  # fmt: skip
from engine.rules.yamlload import YamlProblem, load

FOLDER = "rules/segments"  # where problems say a segment lives: where `touchline rules export` writes it


class UnknownSegment(LookupError):
    pass


@dataclass
class LiveSegment:
    name: str
    text: str
    description: str
    rules: list[str]  # live rules that carry it, directly or through another segment
    conflict: bool = False  # live rules carry different texts of it: the newest is ``text``

    @property
    def live(self) -> bool:
        """False for a segment only in the folder: no live rule uses it, so nothing stores an edit."""
        return bool(self.rules)


def segment_source(name: str) -> str:
    return f"{FOLDER}/{name}.yaml"


def folder_texts(folder: Path | str) -> dict[str, str]:
    """The segment files of ``folder`` by name (undecodable bytes become U+FFFD, for the checker to report)."""
    folder = Path(folder)
    texts: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.y*ml")):
            if path.suffix in (".yaml", ".yml") and path.stem not in texts:
                texts[path.stem] = path.read_bytes().decode("utf-8-sig", errors="replace")
    return texts


def live_segments(session: Session, folder: Path | str) -> dict[str, LiveSegment]:
    """Every segment by name: those the live rules carry, then the folder's others."""
    carried: dict[str, list[tuple[RuleVersion, str]]] = {}
    for rule_id, (_, version) in active_versions(session).items():
        for name, text in unbundle(version.content)[1].items():
            carried.setdefault(name, []).append((version, text))
    found: dict[str, LiveSegment] = {}
    for name, carriers in carried.items():
        newest = max(carriers, key=lambda c: (c[0].created_at, c[0].id))[1]
        rules = sorted(v.rule_id for v, _ in carriers)
        found[name] = LiveSegment(name, newest, _description(newest), rules, len({t for _, t in carriers}) > 1)
    for name, text in folder_texts(folder).items():
        found.setdefault(name, LiveSegment(name, text, _description(text), []))
    return dict(sorted(found.items()))


def library_texts(session: Session, folder: Path | str) -> dict[str, str]:
    """Texts to check and bundle a draft rule against: the live ones, else the folder's."""
    return {name: segment.text for name, segment in live_segments(session, folder).items()}


def _description(text: str) -> str:
    try:
        data = load(text).data
    except YamlProblem:
        return ""
    value = data.get("description") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


@dataclass
class SegmentDraft:
    """A segment's edited text checked against every live rule that uses it."""

    name: str
    problems: list[Problem] = field(default_factory=list)
    sources: list[RuleSource] = field(default_factory=list)  # each dependent rule bundled with the draft
    before: str = ""  # the segment's live text the draft would replace

    @property
    def ok(self) -> bool:
        return not self.problems


def check_segment(session: Session, name: str, text: str, folder: Path | str) -> SegmentDraft:
    """Check ``text`` as segment ``name`` (the id must stay) and each live rule that uses it with it.

    The segment's own problems carry its file and line; a rule that would no
    longer pass the checker is a problem at line 1 naming the rule and its own line.
    Raises UnknownSegment for a name neither live nor in the folder.
    """
    segments = live_segments(session, folder)
    if name not in segments:
        raise UnknownSegment(f"no segment {name!r}; the segments list shows those there are")
    text = text.replace("\r\n", "\n")
    draft = SegmentDraft(name, before=segments[name].text)
    texts = {n: s.text for n, s in segments.items()} | {name: text}
    library = SegmentLibrary.from_texts(texts, folder=FOLDER)
    library.resolve(name)
    draft.problems = list(library.problems)
    if draft.problems:
        return draft
    for rule_id, (_, version) in sorted(active_versions(session).items()):
        rule_text, own = unbundle(version.content)
        if name not in own:
            continue
        # The rule keeps its other segments as it carries them; a segment the draft newly names comes from the library.
        own[name] = text
        try:
            content = bundle(rule_text, segments_used(rule_text, lambda n: own.get(n, texts.get(n))))
        except ContentError as exc:
            draft.problems.append(Problem(segment_source(name), 1, 1, "", f"cannot store rule {rule_id} with this segment: {exc}"))
            continue
        checked = validate_content(content, f"rules/{rule_id}.yaml", rule_id)
        if checked.rule is None:
            draft.problems += [_in_rule(name, rule_id, p) for p in checked.problems]
        else:
            draft.sources.append(RuleSource(checked.rule, content))
    return draft


def _in_rule(name: str, rule_id: str, problem: Problem) -> Problem:
    if problem.source == segment_source(name):
        return problem
    where = f"{problem.source} line {problem.line}"
    message = f"rule {rule_id} uses this segment and would not pass the checker ({where}): {problem.message}"
    return Problem(segment_source(name), 1, 1, problem.path, message, problem.suggestion)


def plan_segment(session: Session, name: str, text: str, folder: Path | str, now: datetime) -> tuple[SegmentDraft, list[RulePlan]]:
    """What saving the segment would do now: each dependent rule's plan with the draft (nothing is written)."""
    draft = check_segment(session, name, text, folder)
    if not draft.ok or not draft.sources:
        return draft, []
    return draft, plan(session, draft.sources, now, include_unchanged=True)


@dataclass
class SegmentSaved:
    problems: list[Problem] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)

    @property
    def changed(self) -> list[Applied]:
        return [a for a in self.applied if a.status != "unchanged"]


def save_segment_text(
    session: Session, name: str, text: str, *, actor: str, comment: str, folder: Path | str, now: datetime | None = None
) -> SegmentSaved:
    """Store the segment's new text as a new version of each live rule that uses it, with ``comment``.

    Nothing is stored when there are problems, or when no live rule uses the
    segment (a problem: edit its file and apply a rule that uses it). Raises
    ReasonRequired without a comment, UnknownSegment for an unknown name.
    """
    from engine.rules.edits import require_comment

    comment = require_comment(comment, f"saving segment {name}")
    draft = check_segment(session, name, text, folder)
    if not draft.ok:
        return SegmentSaved(problems=draft.problems)
    if not draft.sources:
        message = (f"no live rule uses segment {name}, so there is nothing to store it with; edit "
                   f"{segment_source(name)} and apply a rule that uses it")  # fmt: skip
        return SegmentSaved(problems=[Problem(segment_source(name), 1, 1, "", message)])
    applied = apply_sources(session, draft.sources, actor=actor, origin="admin", comment=f"segment {name}: {comment}", now=now)
    changed = [a.rule_id for a in applied if a.status != "unchanged"]
    if changed:
        record(
            session, actor=actor, action="update", object_type="segment", object_id=name,
            before={"text": draft.before}, after={"text": text.replace("\r\n", "\n"), "rules": changed},
            summary=f"{comment} (new versions of {', '.join(changed)})",
        )  # fmt: skip
    return SegmentSaved(applied=applied)

