"""The audit trail: one append-only row per change, written in the caller's transaction.

Who (``user:<email>``, ``cli:<OS user>``, ``api_key:<prefix>``, ``recipient:<address>``,
``system``), when, what (object type and id, an action), and the object before and after.
A change rolled back takes its audit row with it; a committed change always has one.
There is no update or delete here, and the database refuses both (migration 0013).
"""

from __future__ import annotations

import difflib
import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.models import AUDIT_OBJECT_TYPES, AuditEntry

__all__ = [
    "AUDIT_OBJECT_TYPES",
    "AuditFilter",
    "AuditPage",
    "EntryDiff",
    "FieldChange",
    "SYSTEM_ACTOR",
    "cli_actor",
    "entry_diff",
    "format_cursor",
    "list_entries",
    "parse_cursor",
    "record",
    "user_actor",
]

# Changes made by code with no person behind them (first-run setup, fixtures, benches).
SYSTEM_ACTOR = "system"
MAX_LIMIT = 500
# Keys never written to the log, at any depth: the trail must not become a copy of the secrets.
SECRET_KEYS = frozenset({"password", "password_hash", "key_hash", "token", "secret", "api_key_secret"})


# -- actors ---------------------------------------------------------------------


def user_actor(email: str) -> str:
    return f"user:{email.strip().lower()}"


def cli_actor() -> str:
    """``cli:<OS user>``; getpass fails in containers whose uid has no passwd entry and no LOGNAME."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 (KeyError, OSError, ImportError on odd platforms)
        name = f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{name or 'unknown'}"


# -- writing --------------------------------------------------------------------


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    before: Any = None,
    after: Any = None,
    summary: str | None = None,
) -> AuditEntry:
    """Add an audit row in the caller's transaction (flushed, so a bad row fails here).

    ``before``/``after`` are a JSON-able dict or a text (None: the object did not
    exist before, or no longer exists after); secret keys are dropped.
    """
    if object_type not in AUDIT_OBJECT_TYPES:
        raise ValueError(f"audit object type {object_type!r} is not one of: {', '.join(AUDIT_OBJECT_TYPES)}")
    if not actor or not actor.strip():
        raise ValueError("an audit entry needs an actor (who made the change)")
    if not action or not action.strip():
        raise ValueError("an audit entry needs an action (what was done)")
    entry = AuditEntry(
        actor=actor.strip()[:400],
        action=action.strip()[:50],
        object_type=object_type,
        object_id=str(object_id)[:400],
        summary=summary[:1000] if summary else None,
        before=_clean(before),
        after=_clean(after),
    )
    session.add(entry)
    session.flush()
    return entry


def _clean(value: Any) -> Any:
    """A JSON-safe copy without secrets (dates as ISO text, sets as sorted lists)."""
    if value is None:
        return None
    return json.loads(json.dumps(_drop_secrets(value), default=_json_default, sort_keys=True))


def _drop_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _drop_secrets(v) for k, v in value.items() if str(k).lower() not in SECRET_KEYS}
    if isinstance(value, (list, tuple)):
        return [_drop_secrets(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


# -- reading --------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the page, the CLI and the tests filter on; every field optional.

    ``actor``: the whole actor (``user:ana@example.com``) matches exactly; text without
    a colon matches any actor containing it. ``since`` is inclusive, ``until`` exclusive;
    a date (not a datetime) means that whole UTC day, so ``until=2026-12-03`` includes the 3rd.
    """

    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | date | None = None
    until: datetime | date | None = None

    def __post_init__(self) -> None:
        if self.object_type and self.object_type not in AUDIT_OBJECT_TYPES:
            raise ValueError(f"object type {self.object_type!r} is not one of: {', '.join(AUDIT_OBJECT_TYPES)}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError(f"{name}: give a timezone-aware time (or a date)")
        since, until = self.since_at, self.until_at
        if since and until and since >= until:
            raise ValueError("since must be before until")

    @property
    def since_at(self) -> datetime | None:
        return _start(self.since, 0)

    @property
    def until_at(self) -> datetime | None:
        return _start(self.until, 1)

    def is_empty(self) -> bool:
        return not (self.actor or self.object_type or self.object_id or self.since or self.until)


def _start(value: datetime | date | None, days_after: int) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=days_after), time(), tzinfo=timezone.utc)


Cursor = tuple[datetime, int]


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: Cursor | None  # None: this is the last page


def list_entries(
    session: Session, f: AuditFilter | None = None, cursor: Cursor | None = None, limit: int = 50
) -> AuditPage:
    """Entries newest first, keyset-paged on (at, id): pass a page's ``next_cursor`` for the next one."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    f = f or AuditFilter()
    stmt = select(AuditEntry)
    if f.actor:
        actor = f.actor.strip()
        if ":" in actor:
            stmt = stmt.where(AuditEntry.actor == actor)
        else:
            pattern = actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(AuditEntry.actor.ilike(f"%{pattern}%", escape="\\"))
    if f.object_type:
        stmt = stmt.where(AuditEntry.object_type == f.object_type)
    if f.object_id:
        stmt = stmt.where(AuditEntry.object_id == f.object_id.strip())
    if f.since_at:
        stmt = stmt.where(AuditEntry.at >= f.since_at)
    if f.until_at:
        stmt = stmt.where(AuditEntry.at < f.until_at)
    if cursor is not None:
        at, entry_id = cursor
        stmt = stmt.where(or_(AuditEntry.at < at, and_(AuditEntry.at == at, AuditEntry.id < entry_id)))
    rows = list(session.scalars(stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1)))
    if len(rows) > limit:
        last = rows[limit - 1]
        return AuditPage(rows[:limit], (last.at, last.id))
    return AuditPage(rows, None)


def format_cursor(cursor: Cursor) -> str:
    """A cursor as text for a URL or a command line: ``<ISO time>~<id>``."""
    at, entry_id = cursor
    return f"{at.astimezone(timezone.utc).isoformat()}~{entry_id}"


def parse_cursor(text: str) -> Cursor:
    try:
        at_text, id_text = text.rsplit("~", 1)
        at = datetime.fromisoformat(at_text)
        entry_id = int(id_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a page cursor; use the link from the previous page") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at, entry_id


# -- display --------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted: "limits.per_account.max"
    before: Any  # None when added
    after: Any  # None when removed
    kind: str  # "added", "removed" or "changed"
    lines: tuple[str, ...] = ()  # a unified diff when both sides are multi-line text


@dataclass(frozen=True)
class EntryDiff:
    """What an entry changed: field by field for objects, a unified diff for texts."""

    fields: tuple[FieldChange, ...] = ()
    lines: tuple[str, ...] = ()
    created: bool = False
    deleted: bool = False
    changes: int = 0

    def __bool__(self) -> bool:
        return bool(self.fields or self.lines)


def entry_diff(entry: AuditEntry) -> EntryDiff:
    before, after = entry.before, entry.after
    created, deleted = before is None and after is not None, after is None and before is not None
    if isinstance(before, str) or isinstance(after, str):
        lines = _text_diff(_as_text(before), _as_text(after))
        return EntryDiff(lines=lines, created=created, deleted=deleted, changes=len(lines))
    fields = tuple(_dict_diff(before if isinstance(before, dict) else {}, after if isinstance(after, dict) else {}))
    return EntryDiff(fields=fields, created=created, deleted=deleted, changes=len(fields))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _text_diff(before: str, after: str) -> tuple[str, ...]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm="", n=2)
    return tuple(diff)


def _dict_diff(before: dict, after: dict, prefix: str = "") -> list[FieldChange]:
    changes: list[FieldChange] = []
    for key in sorted(set(before) | set(after), key=str):
        path = f"{prefix}{key}"
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(_dict_diff(old, new, f"{path}."))
        elif old is _MISSING:
            changes.append(FieldChange(path, None, new, "added"))
        elif new is _MISSING:
            changes.append(FieldChange(path, old, None, "removed"))
        else:
            lines: tuple[str, ...] = ()
            if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
                lines = _text_diff(old, new)
            changes.append(FieldChange(path, old, new, "changed", lines))
    return changes
