"""The import loop: read rows, store them in batches, report every rejected row.

Each batch is stored in its own transaction through the same ingest service
the HTTP API uses, so a crash loses at most the batch in flight and running
the same file again is harmless (events de-duplicate by id, accounts and
contacts are upserts).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from tqdm import tqdm

from engine.db import Database
from engine.importer.readers import Row, rows
from engine.importer.report import ErrorSink, ImportSummary, Rejection
from engine.importer.sources import STDIN, ImportInputError, detect_format, open_source
from engine.ingest import UPSERTS, IngestResult

DEFAULT_BATCH = 1000
TIMESTAMP_KEYS = ("timestamp", "occurred_at", "time")


def import_file(
    db: Database,
    kind: str,
    path: str | Path,
    *,
    fmt: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    errors_path: str | Path | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Import ``path`` (``-`` for stdin) as records of ``kind``.

    Raises ImportInputError when nothing can be imported (missing file, unknown
    format or CSV columns); otherwise returns a summary whose ``exit_code`` is
    0 (all stored), 1 (some rows rejected) or 2 (stopped early: ``stopped`` says why).
    """
    if kind not in UPSERTS:
        raise ImportInputError(f"cannot import {kind!r}: expected one of {', '.join(UPSERTS)}")
    if batch_size < 1:
        raise ImportInputError("batch size must be at least 1")
    name = str(path)
    if errors_path is not None and name != STDIN and _same_file(name, errors_path):
        raise ImportInputError(f"{errors_path}: the errors file is the input file; writing it would destroy the input")
    fmt = detect_format(name, fmt)
    started = time.perf_counter()
    summary = ImportSummary(kind=kind, source="<stdin>" if name == STDIN else name, format=fmt)
    sink: ErrorSink | None = None
    try:
        with open_source(name) as source:
            try:
                sink = ErrorSink(errors_path)
            except OSError as exc:
                raise ImportInputError(f"{errors_path}: cannot write the errors file: {exc.strerror}") from None
            with tqdm(
                total=source.size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"importing {kind}",
                disable=not progress,
                file=sys.stderr,
                dynamic_ncols=True,
            ) as bar:

                def advance() -> None:
                    bar.set_postfix_str(f"{summary.rows_read:,} rows", refresh=False)
                    bar.update(source.bytes_read - bar.n)

                _pump(db, kind, rows(source, fmt, kind), batch_size, summary, sink, advance)
    except _DatabaseStopped as exc:
        summary.stopped = str(exc)
    finally:
        if sink is not None:
            sink.close()
        summary.elapsed = time.perf_counter() - started
    assert sink is not None
    summary.rejected_rows = sink.rows
    summary.problems = sink.count
    summary.first_errors = list(sink.first)
    return summary


def _pump(
    db: Database,
    kind: str,
    source_rows: Iterator[Row],
    batch_size: int,
    summary: ImportSummary,
    sink: ErrorSink,
    advance: Callable[[], None],
) -> None:
    """Read rows into batches and store each; a reader error after the first row stops the import."""
    batch: list[Row] = []
    try:
        for row in source_rows:
            summary.rows_read += 1
            batch.append(row)
            if len(batch) >= batch_size:
                _flush(db, kind, batch, summary, sink)
                batch = []
                advance()
    except ImportInputError as exc:
        if summary.rows_read == 0:
            raise
        summary.stopped = str(exc)
    if batch:
        _flush(db, kind, batch, summary, sink)
    advance()


class _DatabaseStopped(Exception):
    """The database went away mid-import; earlier batches are committed."""


def _flush(db: Database, kind: str, batch: list[Row], summary: ImportSummary, sink: ErrorSink) -> None:
    rejections = [Rejection(r.line, r.field, r.reason, _row_id(r.record)) for r in batch if r.reason is not None]
    valid: list[Row] = []
    for row in batch:
        if row.reason is not None:
            continue
        problem = _ensure_event_id(row.record) if kind == "events" else None
        if problem:
            rejections.append(Rejection(row.line, "id", problem))
        else:
            valid.append(row)
    if valid:
        try:
            stored, duplicates, refused = _store(db, kind, valid)
        except (OperationalError, InterfaceError) as exc:
            raise _DatabaseStopped(
                f"database error while storing lines {valid[0].line}-{valid[-1].line}: {_first_line(exc)}; "
                f"rows before line {valid[0].line} are stored, and running the import again is safe"
            ) from None
        summary.stored += stored
        summary.duplicates += duplicates
        rejections.extend(refused)
    rejections.sort(key=lambda r: r.line)
    sink.add(rejections)


def _store(db: Database, kind: str, batch: list[Row]) -> tuple[int, int, list[Rejection]]:
    """Store one batch in one transaction: (stored, duplicates, rejections)."""
    records = [row.record for row in batch]
    try:
        with db.session() as session:
            result: IngestResult = (
                UPSERTS[kind](session, records) if kind == "events" else UPSERTS[kind](session, records, source="import")
            )
    except (OperationalError, InterfaceError):
        raise
    except StatementError as exc:
        # A value the field parsers let through but the database refused
        # (a PostgreSQL length or encoding limit, say): halve the batch until
        # the offending row is alone, so every good row is still stored.
        if len(batch) == 1:
            row = batch[0]
            return 0, 0, [Rejection(row.line, None, f"the database refused this row: {_first_line(exc)}", _row_id(row.record))]
        middle = len(batch) // 2
        left = _store(db, kind, batch[:middle])
        right = _store(db, kind, batch[middle:])
        return left[0] + right[0], left[1] + right[1], left[2] + right[2]
    rejections = [Rejection(batch[e.index].line, e.field, e.reason, e.id) for e in result.rejected]
    bad = len({e.index for e in result.rejected})
    return len(batch) - bad - result.duplicates, result.duplicates, rejections


def _ensure_event_id(record: dict[str, Any] | None) -> str | None:
    """Give an id-less event one derived from its content, so a re-import is a no-op."""
    if record is None or record.get("id") is not None:
        return None
    if not any(record.get(k) not in (None, "") for k in TIMESTAMP_KEYS):
        return "an event without an id needs a timestamp, so that importing the file again cannot count it twice"
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    record["id"] = "import-" + hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()
    return None


def _row_id(record: dict[str, Any] | None) -> str | None:
    value = record.get("id") if isinstance(record, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False
