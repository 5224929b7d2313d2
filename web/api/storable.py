"""Text JSON can carry but no database will store: NUL characters and unpaired
UTF-16 surrogates (``\\u0000``, ``\\ud800``). Records holding them are rejected
one by one, like any other invalid record, instead of failing the whole batch."""

from __future__ import annotations

import re
from typing import Any

from engine.ingest import IngestResult, RecordError

# The only ways such text gets into parsed JSON are these escapes, so a body
# without them (nearly every body) is not walked at all.
SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def unstorable_records(records: list[Any], body_text: str) -> dict[int, RecordError]:
    if not SUSPECT_ESCAPE.search(body_text):
        return {}
    found: dict[int, RecordError] = {}
    for index, record in enumerate(records):
        problem = _first_problem(record)
        if problem is not None:
            path, reason = problem
            field = path.split(".", 1)[0].split("[", 1)[0] or None
            rid = record.get("id") if isinstance(record, dict) else None
            rid = _safe(str(rid)) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None
            where = f" (at {path})" if path and path != field else ""
            found[index] = RecordError(index, field, f"{reason}{where}", rid)
    return found


def without(records: list[Any], bad: dict[int, RecordError]) -> list[Any]:
    """The batch with bad records blanked, so the others keep their indexes."""
    return [None if i in bad else r for i, r in enumerate(records)]


def report(result: IngestResult, bad: dict[int, RecordError]) -> IngestResult:
    """Replace the engine's verdict on the blanked records with the real reason."""
    if bad:
        kept = [e for e in result.rejected if e.index not in bad]
        result.rejected = sorted([*kept, *bad.values()], key=lambda e: e.index)
    return result


def _first_problem(value: Any) -> tuple[str, str] | None:
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{_safe(key)}" if path else _safe(key)
                reason = _text_problem(key)
                if reason:
                    return where, f"a key {reason}"
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str):
            reason = _text_problem(item)
            if reason:
                return path, f"value {reason}"
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate, which is not valid Unicode"
    return None


def _safe(text: str) -> str:
    """Printable in any error message: NUL and surrogates shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
