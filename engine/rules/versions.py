"""Applied rule versions: what ``touchline apply`` stores and what the cycle runs.

A stored version's ``content`` is the rule file's text followed by the text of
every segment file it uses (directly or through other segments), each after a
marker line ``# --- segment <id> ---``. Storing the segments with the rule
means an applied rule runs exactly as it was checked, even after a segment
file changes on disk, and a segment edit shows up as a new version (with its
diff) of every rule that uses it. ``content_hash`` is the SHA-256 of that
content, so "unchanged" means the rule and its segments are byte-identical.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.audit import SYSTEM_ACTOR, record
from engine.models import RuleState, RuleVersion, utcnow
from engine.rules.problems import Problem
from engine.rules.schema import Rule
from engine.rules.segments import SegmentLibrary
from engine.rules.validate import KnownTemplates, Result, check_paths, validate_text
from engine.rules.yamlload import YamlProblem, load

log = logging.getLogger(__name__)

MARK = re.compile(r"^# --- segment ([a-z0-9][a-z0-9_-]{0,99}) ---$", re.MULTILINE)
Status = Literal["new", "changed", "unchanged"]
Origin = Literal["file", "admin"]
ORIGINS: tuple[Origin, ...] = ("file", "admin")


class RuleSource(NamedTuple):
    """A validated rule and the content a version of it stores."""

    rule: Rule
    content: str

    @property
    def content_hash(self) -> str:
        return content_hash(self.content)


@dataclass(frozen=True)
class Applied:
    rule_id: str
    version: int
    status: Status
    version_id: int


@dataclass
class Loaded:
    """Rules read from files: ``rules`` holds only those without problems."""

    rules: list[RuleSource]
    problems: list[Problem]
    files: int = 0
    segments: int = 0


class UnknownRule(LookupError):
    pass


class ContentError(ValueError):
    pass


class ReasonRequired(ValueError):
    """A change that must say why (a pause's reason, an admin edit's comment) was given none."""


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# -- content: a rule with its segments


def bundle(rule_text: str, segment_texts: dict[str, str]) -> str:
    """The stored content: the rule's text, then each segment's under its marker."""
    parts = [_ends_with_newline(rule_text)]
    for name in sorted(segment_texts):
        parts.append(f"# --- segment {name} ---\n")
        parts.append(_ends_with_newline(segment_texts[name]))
    content = "".join(parts)
    # A marker line inside a file would split the content in the wrong place.
    found = [m.group(1) for m in MARK.finditer(content)]
    if found != sorted(segment_texts):
        raise ContentError("a rule or segment file contains a line of the form '# --- segment <id> ---'; change that comment")
    return content


def unbundle(content: str) -> tuple[str, dict[str, str]]:
    """Split stored content back into the rule's text and its segments' texts."""
    marks = list(MARK.finditer(content))
    if not marks:
        return content, {}
    rule_text = content[: marks[0].start()]
    segments: dict[str, str] = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(content)
        segments[mark.group(1)] = content[mark.end() + 1 : end]
    return rule_text, segments


def validate_content(content: str, source: str, rule_id: str | None = None) -> Result:
    """Validate stored (or about to be stored) content as ``validate_file`` would."""
    rule_text, segment_texts = unbundle(content)
    library = SegmentLibrary.from_texts(segment_texts, folder=str(FsPath(source).parent / "segments"))
    return validate_text(rule_text, source, segments=library, expected_id=rule_id)


def used_segments(rule_text: str, segment_dir: FsPath) -> dict[str, str]:
    """Texts of the segment files a rule uses, following segments that use segments."""

    def read(name: str) -> str:
        path = segment_dir / f"{name}.yaml"
        if not path.is_file():
            path = segment_dir / f"{name}.yml"
        return path.read_bytes().decode("utf-8-sig")

    return segments_used(rule_text, read)


def segments_used(rule_text: str, lookup: Callable[[str], str | None] | Mapping[str, str]) -> dict[str, str]:
    """The texts of the segments a rule uses (and the segments those use), by name.

    ``lookup`` gives a segment's text by name (a mapping, or a function); a name
    it does not know is left out, for the checker to report.
    """
    get = lookup.get if isinstance(lookup, Mapping) else lookup
    found: dict[str, str] = {}
    todo = _segment_names(rule_text)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        text = get(name)
        if text is None:
            continue
        found[name] = text
        todo |= _segment_names(text)
    return found


def _segment_names(text: str) -> set[str]:
    try:
        data = load(text).data
    except YamlProblem:
        return set()
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "segment" and isinstance(item, str):
                    names.add(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return names


def _ends_with_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def read_rules(paths: list[str], templates: KnownTemplates | None = None) -> Loaded:
    """Validate rule files and folders and bundle each good rule with its segments.

    The returned Rule is validated from the bundled content itself, so what is
    stored is exactly what was checked. With ``templates``, a rule naming a
    template not among them is a problem (at the template's line).
    """
    check = check_paths(paths, templates)
    loaded = Loaded([], list(check.problems), check.files, check.segments)
    for rule in check.rules:
        path = FsPath(rule.source)
        try:
            text = path.read_bytes().decode("utf-8-sig")
            content = bundle(text, used_segments(text, path.parent / "segments"))
        except (OSError, UnicodeDecodeError, ContentError) as exc:
            loaded.problems.append(Problem(rule.source, 1, 1, "", f"cannot store this rule: {exc}"))
            continue
        result = validate_content(content, rule.source, rule.id)
        if result.rule is None:  # the files changed while being read
            loaded.problems += result.problems
            continue
        loaded.rules.append(RuleSource(result.rule, content))
    return loaded


# -- versions


def active_versions(session: Session) -> dict[str, tuple[RuleState, RuleVersion]]:
    rows = session.execute(
        select(RuleState, RuleVersion).join(RuleVersion, RuleVersion.id == RuleState.active_version_id)
    ).all()
    return {state.rule_id: (state, version) for state, version in rows}


def status_of(source: RuleSource, active: dict[str, tuple[RuleState, RuleVersion]]) -> Status:
    current = active.get(source.rule.id)
    if current is None:
        return "new"
    return "unchanged" if current[1].content_hash == source.content_hash else "changed"


def apply_rules(
    session: Session,
    rules_with_text: Iterable[RuleSource | tuple[Rule, str]],
    author: str,
    git_commit: str | None = None,
    predicted_messages: dict[str, int] | None = None,
    *,
    origin: Origin = "file",
    comments: dict[str, str] | None = None,
    actor: str = SYSTEM_ACTOR,
    audit_action: str | None = None,
    restored_from: int | None = None,
) -> list[Applied]:
    """Store a new version of each rule whose content differs from its active
    version and make it active; report unchanged rules without versioning them.

    ``predicted_messages`` (from a plan) is kept with each new version: the
    circuit breaker's default ceiling is measured against it. Each new version
    records its ``origin`` and comment (``comments`` by rule id) and gets an
    audit row by ``actor`` (action ``create`` or ``update``, or ``audit_action``).

    This stores what it is given: the drift check (files over an admin edit)
    and the plan are engine.rules.apply's, which ``touchline apply`` and the
    admin both go through.
    """
    if origin not in ORIGINS:
        raise ValueError(f"origin {origin!r} is not one of: {', '.join(ORIGINS)}")
    applied: list[Applied] = []
    for rule, content in rules_with_text:
        digest = content_hash(content)
        # Locks the state row on PostgreSQL so two applies of one rule queue up.
        state = session.scalar(select(RuleState).where(RuleState.rule_id == rule.id).with_for_update())
        active = session.get(RuleVersion, state.active_version_id) if state is not None else None
        if active is not None and active.content_hash == digest:
            applied.append(Applied(rule.id, active.version, "unchanged", active.id))
            continue
        latest = session.scalar(select(func.max(RuleVersion.version)).where(RuleVersion.rule_id == rule.id)) or 0
        number = latest + 1
        diff = None
        if active is not None:
            diff = "".join(
                difflib.unified_diff(
                    active.content.splitlines(keepends=True),
                    content.splitlines(keepends=True),
                    fromfile=f"{rule.id} version {active.version}",
                    tofile=f"{rule.id} version {number}",
                )
            )
        comment = (comments or {}).get(rule.id)
        version = RuleVersion(
            rule_id=rule.id,
            version=number,
            content=content,
            content_hash=digest,
            author=author[:255],
            git_commit=git_commit,
            origin=origin,
            comment=comment,
            restored_from=restored_from,
            diff=diff,
            predicted_messages=(predicted_messages or {}).get(rule.id),
        )
        session.add(version)
        session.flush()
        if state is None:
            session.add(RuleState(rule_id=rule.id, active_version_id=version.id))
        else:
            state.active_version_id = version.id
            state.updated_at = utcnow()
        session.flush()
        action = audit_action or ("create" if active is None else "update")
        record(
            session, actor=actor, action=action, object_type="rule", object_id=rule.id,
            before=_audited(active), after=_audited(version),
            summary=f"version {number} ({origin})" + (f": {comment}" if comment else ""),
        )  # fmt: skip
        applied.append(Applied(rule.id, number, "new" if active is None else "changed", version.id))
    return applied


def _audited(version: RuleVersion | None) -> dict[str, Any] | None:
    """A version as the audit trail keeps it: the content too, so the entry shows the diff."""
    if version is None:
        return None
    return {
        "version": version.version, "origin": version.origin, "author": version.author, "comment": version.comment,
        "git_commit": version.git_commit, "restored_from": version.restored_from, "content": version.content,
    }  # fmt: skip


def active_rules(session: Session, include_paused: bool = False) -> list[tuple[RuleState, RuleVersion, Rule]]:
    """Every applied rule's state, active version and Rule, by rule id.

    Paused rules are left out unless ``include_paused``. A stored version that
    no longer validates (the checker became stricter) is logged and left out
    rather than stopping every other rule.
    """
    found: list[tuple[RuleState, RuleVersion, Rule]] = []
    for rule_id, (state, version) in sorted(active_versions(session).items()):
        if state.paused and not include_paused:
            continue
        result = validate_content(version.content, f"{rule_id}.yaml (version {version.version})", rule_id)
        if result.rule is None:
            log.error(
                "applied rule %s version %d no longer validates; skipped: %s",
                rule_id, version.version, "; ".join(str(p) for p in result.problems),
            )  # fmt: skip
            continue
        found.append((state, version, result.rule))
    return found


def pause_rule(session: Session, rule_id: str, reason: str, *, actor: str = SYSTEM_ACTOR) -> RuleState:
    """Stop the evaluation cycle from running a rule; ``reason`` (required) is shown with it.

    Audited as ``pause`` with the state before and after (the circuit breaker
    pauses as the default actor, ``system``)."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(f"say why {rule_id} is paused: a reason is required (it is shown in the rule list)")
    return _set_paused(session, rule_id, True, reason, actor)


def resume_rule(session: Session, rule_id: str, *, actor: str = SYSTEM_ACTOR) -> RuleState:
    """Let the evaluation cycle run a paused rule again; audited as ``resume``."""
    return _set_paused(session, rule_id, False, None, actor)


def _set_paused(session: Session, rule_id: str, paused: bool, reason: str | None, actor: str) -> RuleState:
    state = _state(session, rule_id)
    before = {"paused": state.paused, "reason": state.paused_reason}
    state.paused = paused
    state.paused_reason = reason
    session.flush()  # updated_at follows through the column's onupdate
    after = {"paused": paused, "reason": reason}
    if after != before:  # pausing a paused rule for the same reason changes nothing worth a row
        summary = f"paused: {reason}" if paused else "resumed"
        record(session, actor=actor, action="pause" if paused else "resume", object_type="rule", object_id=rule_id,
               before=before, after=after, summary=summary)  # fmt: skip
    return state


def _state(session: Session, rule_id: str) -> RuleState:
    state = session.scalar(select(RuleState).where(RuleState.rule_id == rule_id).with_for_update())
    if state is None:
        known = sorted(session.scalars(select(RuleState.rule_id)))
        listing = f"applied rules: {', '.join(known)}" if known else "no rules are applied yet; run touchline apply"
        raise UnknownRule(f"no applied rule {rule_id!r} ({listing})")
    return state


def current_git_commit(path: str | FsPath) -> str | None:
    """The HEAD commit of the git repository holding ``path``, or None."""
    folder = FsPath(path)
    if not folder.is_dir():
        folder = folder.parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None
