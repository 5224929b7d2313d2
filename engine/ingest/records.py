"""Record schemas: which fields each kind of record takes and how they parse.

One table per kind, used by the HTTP API and the file importer alike, so a
record means the same thing whichever way it arrives.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.ingest import fields as f
from engine.models import ROLES, TIERS

Parser = Callable[[Any], Any]


@dataclass(frozen=True)
class RecordError:
    """Why one record was rejected: its position, the field and the reason."""

    index: int
    field: str | None
    reason: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason, "id": self.id}

    def __str__(self) -> str:
        where = f"field {self.field!r}: " if self.field else ""
        return f"{where}{self.reason}"


@dataclass
class IngestResult:
    """What happened to a batch: stored, already known, rejected (with reasons)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[RecordError] = field(default_factory=list)
    # Event names newly stored per account id (events only): what on_event rules re-check.
    new_events: dict[int, set[str]] = field(default_factory=dict)

    def merge(self, other: IngestResult, offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        for account_id, names in other.new_events.items():
            self.new_events.setdefault(account_id, set()).update(names)
        self.rejected.extend(
            RecordError(e.index + offset, e.field, e.reason, e.id) for e in other.rejected
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [e.as_dict() for e in self.rejected],
        }


@dataclass(frozen=True)
class Kind:
    name: str
    required: tuple[str, ...]
    parsers: Mapping[str, Parser]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def parse(self, index: int, raw: Any) -> tuple[dict[str, Any] | None, list[RecordError]]:
        """Parse one raw record; return (clean record, []) or (None, errors)."""
        if not isinstance(raw, Mapping):
            return None, [RecordError(index, None, f"expected an object, got {f.json_type(raw)}")]
        rid = raw.get("id")
        rid = f.printable(str(rid)) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
        errors: list[RecordError] = []
        clean: dict[str, Any] = {}
        for key, value in raw.items():
            name = self.aliases.get(key, key)
            parser = self.parsers.get(name)
            if parser is None:
                errors.append(RecordError(index, key, _unknown(key, self.parsers), rid))
                continue
            try:
                clean[name] = parser(value)
            except f.FieldError as exc:
                where = f" (at {f.printable(key)}.{exc.path})" if exc.path else ""
                errors.append(RecordError(index, key, f"{exc}{where}", rid))
        for name in self.required:
            if name not in raw and not any(a in raw for a, n in self.aliases.items() if n == name):
                errors.append(RecordError(index, name, "required field is missing", rid))
        return (None, errors) if errors else (clean, [])


def _unknown(key: str, known: Mapping[str, Parser]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(sorted(known))}"
    return f"unknown field{hint}"


def effective_time(value: Any) -> datetime | None:
    """When an account record's values took effect: ISO 8601 with a timezone, as a CRM exports it.

    Stricter than event timestamps: a history is only as good as its dates, and
    a time without a zone could be off by a day.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise f.FieldError(
            f"expected an ISO 8601 time with a timezone such as 2025-03-01T09:00:00Z, got {f.json_type(value)}"
        )
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise f.FieldError(f"{f.printable(raw)!r} is not an ISO 8601 time such as 2025-03-01T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise f.FieldError(f"{raw!r} has no timezone; add Z for UTC or an offset such as +09:00")
    return f.timestamp(raw)


ACCOUNT = Kind(
    name="account",
    required=("id",),
    parsers={
        "id": f.identifier,
        "name": f.text,
        "plan": lambda v: f.optional_text(v, max_len=100),
        "mrr": f.money,
        "arr": f.money,
        "tier": lambda v: f.choice(v, TIERS),
        "signup_at": f.optional_timestamp,
        "renewal_at": f.optional_timestamp,
        "owner": f.optional_text,
        "timezone": f.tz_name,
        "locale": f.locale,
        "traits": f.mapping,
        "changed_at": effective_time,
    },
)

CONTACT = Kind(
    name="contact",
    required=("id", "account_id"),
    parsers={
        "id": f.identifier,
        "account_id": f.identifier,
        "email": f.email,
        "name": f.optional_text,
        "role": lambda v: f.choice(v, ROLES),
        "locale": f.locale,
        "timezone": f.tz_name,
        "traits": f.mapping,
        "last_seen_at": f.optional_timestamp,
    },
)

EVENT = Kind(
    name="event",
    required=("account_id", "name"),
    parsers={
        "id": f.identifier,
        "account_id": f.identifier,
        "contact_id": lambda v: None if v in (None, "") else f.identifier(v),
        "name": f.event_name,
        "timestamp": f.timestamp,
        "properties": f.mapping,
    },
    aliases={"event": "name", "occurred_at": "timestamp", "time": "timestamp"},
)

KINDS = {"accounts": ACCOUNT, "contacts": CONTACT, "events": EVENT}
