"""Turning CSV and NDJSON input into raw records, each with its line number.

A reader yields one ``Row`` per record: either a raw record for the ingest
service to validate, or the reason the line could not become a record at all
(malformed JSON, wrong number of CSV values, bytes that are not UTF-8).
Problems with the file as a whole (unknown CSV columns, a JSON array instead
of NDJSON, unreadable gzip) raise ``ImportInputError``.
"""

from __future__ import annotations

import csv
import difflib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.importer.sources import ImportInputError, Source
from engine.ingest import KINDS
from engine.ingest.fields import json_type
from engine.ingest.records import Kind

# A line this long is not a record anyone meant to write; it is skipped
# without ever being held in memory whole.
MAX_LINE = 4 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
# Fields whose CSV columns may be split as ``traits.<key>`` / ``properties.<key>``.
NESTED_FIELDS = ("traits", "properties")


@dataclass(slots=True)
class Row:
    """One record from the file, or why its line could not be read as one."""

    line: int
    record: dict[str, Any] | None = None
    field: str | None = None
    reason: str | None = None


def _lines(source: Source) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each physical line; None for a line longer than MAX_LINE."""
    stream = source.stream
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while True:  # skip the rest of the over-long line
                    rest = stream.readline(MAX_LINE)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield number, None
                continue
        except (OSError, EOFError, zlib.error) as exc:
            # Truncated or corrupt gzip, or a read error: nothing after this point is trustworthy.
            raise ImportInputError(f"{source.name}: line {number + 1}: cannot read further: {exc}") from None
        yield number, line


def ndjson_rows(source: Source) -> Iterator[Row]:
    first = True
    for number, raw in _lines(source):
        if raw is None:
            yield Row(number, reason=f"line is longer than {MAX_LINE // (1024 * 1024)} MiB")
            continue
        if number == 1:
            raw = raw.removeprefix(BOM)
        text = raw.strip()
        if not text:
            continue
        if first:
            first = False
            if text.startswith(b"["):
                raise ImportInputError(
                    f"{source.name}: line {number}: this looks like a JSON array; NDJSON needs one "
                    "JSON object per line (convert with: jq -c '.[]' FILE)"
                )
        try:
            value = json.loads(text)
        except UnicodeDecodeError:
            yield Row(number, reason="line is not valid UTF-8 text")
            continue
        except json.JSONDecodeError as exc:
            yield Row(number, reason=f"malformed JSON: {_json_problem(exc)}")
            continue
        except RecursionError:
            yield Row(number, reason="malformed JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            yield Row(number, reason=f"expected a JSON object, got {json_type(value)}")
            continue
        yield Row(number, value)


def _json_problem(exc: json.JSONDecodeError) -> str:
    # The decoder's own "line 1 column 5" would be read as a line of the file.
    return f"{exc.msg} at column {exc.colno}"



class ColumnPlan:
    """How the CSV header maps onto record fields; raises on columns no row could satisfy."""

    def __init__(self, kind_key: str, header: list[str], source_name: str) -> None:
        kind: Kind = KINDS[kind_key]
        self.nested = next((n for n in NESTED_FIELDS if n in kind.parsers), None)
        known = [*kind.parsers, *kind.aliases]
        self.columns: list[tuple[str, str | None]] = []
        problems: list[str] = []
        meaning: dict[str, str] = {}
        for position, raw in enumerate(header, 1):
            name = raw.strip()
            if not name:
                problems.append(f"column {position} has no name")
                continue
            if name in kind.parsers or name in kind.aliases:
                field = kind.aliases.get(name, name)
                if field in meaning:
                    problems.append(f"columns {meaning[field]!r} and {name!r} both give {field!r}")
                meaning[field] = name
                self.columns.append((name, None))
            elif self.nested and name.startswith(self.nested + ".") and len(name) > len(self.nested) + 1:
                if name in meaning:
                    problems.append(f"column {name!r} appears twice")
                meaning[name] = name
                self.columns.append((self.nested, name[len(self.nested) + 1 :]))
            else:
                problems.append(f"unknown column {name!r}{_suggest(name, known, self.nested)}")
        for field in kind.required:
            if field not in meaning:
                problems.append(f"missing required column {field!r}")
        if problems:
            listed = "\n  ".join(problems)
            raise ImportInputError(f"{source_name}: line 1 (header): nothing imported:\n  {listed}")
        self.width = len(header)

    def record(self, values: list[str]) -> tuple[dict[str, Any] | None, str | None, str | None]:
        """(record, None, None), or (None, field, reason) when the nested JSON column is unusable."""
        record: dict[str, Any] = {}
        nested: dict[str, Any] | None = None
        for (field, key), value in zip(self.columns, values):
            if not value.strip():
                continue  # an empty cell is an absent field, never an empty value
            if key is None:
                record[field] = value
            else:
                if nested is None:
                    nested = {}
                nested[key] = value
        if nested is not None:
            assert self.nested is not None
            base: Any = record.get(self.nested)
            if base is not None:
                try:
                    base = json.loads(base)
                except json.JSONDecodeError as exc:
                    return None, self.nested, f"not valid JSON: {_json_problem(exc)}"
                if not isinstance(base, dict):
                    return None, self.nested, f"expected a JSON object, got {json_type(base)}"
                nested = {**base, **nested}
            record[self.nested] = nested
        return record, None, None


def _suggest(name: str, known: list[str], nested: str | None) -> str:
    if nested and "." in name:
        prefix, rest = name.split(".", 1)
        if rest and difflib.get_close_matches(prefix.lower(), [nested], n=1, cutoff=0.6):
            return f" (did you mean '{nested}.{rest}'?)"
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {lowered[close[0]]!r}?)"
    extra = f", or {nested}.<key>" if nested else ""
    return f" (known columns: {', '.join(sorted(known))}{extra})"


def csv_rows(source: Source, kind_key: str) -> Iterator[Row]:
    # csv.reader over our own line iterator (rather than a TextIOWrapper) so
    # that every record's first physical line is known exactly, and a line that
    # is not UTF-8 rejects its record instead of ending the import.
    consumed = 0
    bad_lines: set[int] = set()

    def text_lines() -> Iterator[str]:
        nonlocal consumed
        for number, raw in _lines(source):
            consumed = number
            if raw is None:
                raise ImportInputError(
                    f"{source.name}: line {number}: longer than {MAX_LINE // (1024 * 1024)} MiB; is this a CSV file?"
                )
            if number == 1:
                raw = raw.removeprefix(BOM)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_lines.add(number)
                yield raw.decode("utf-8", "replace")

    reader = csv.reader(text_lines())
    header: list[str] = []
    try:
        while not header:
            header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportInputError(f"{source.name}: line {consumed} (header): not readable as CSV: {exc}") from None
    if bad_lines:
        raise ImportInputError(f"{source.name}: line {consumed} (header): not UTF-8 text; save the file as UTF-8")
    plan = ColumnPlan(kind_key, header, source.name)

    while True:
        start = consumed + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad_lines.clear()
            yield Row(start, reason=f"not readable as CSV ({exc}); look for an unclosed quote")
            continue
        if not values or (len(values) == 1 and not values[0].strip() and plan.width > 1):
            continue  # a blank line
        if bad_lines:
            bad_lines.clear()
            yield Row(start, reason="not valid UTF-8 text")
            continue
        if len(values) != plan.width:
            yield Row(start, reason=f"has {len(values)} values but the header has {plan.width} columns")
            continue
        record, field, reason = plan.record(values)
        yield Row(start, record, field, reason)


def rows(source: Source, fmt: str, kind_key: str) -> Iterator[Row]:
    if fmt == "csv":
        return csv_rows(source, kind_key)
    return ndjson_rows(source)
