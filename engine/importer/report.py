"""What an import did: rejected rows (streamed to a file) and the final summary."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SHOWN_ERRORS = 20
ERROR_COLUMNS = ("line", "id", "field", "reason")


@dataclass(frozen=True, slots=True)
class Rejection:
    """One problem with one row: where it is in the file, the field and the reason."""

    line: int
    field: str | None
    reason: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "field": self.field, "reason": self.reason}

    def describe(self, source: str) -> str:
        where = f"field {self.field!r}: " if self.field else ""
        return f"{source}:{self.line}: {where}{self.reason}"


class ErrorSink:
    """Keeps the first few rejections for display and streams every one to a file if asked.

    Nothing else is kept, so a file with millions of bad rows does not grow memory.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.first: list[Rejection] = []
        self.count = 0
        self.rows = 0
        self._file: IO[str] | None = None
        self._csv: Any = None
        if path is not None:
            path = Path(path)
            self._file = path.open("w", encoding="utf-8", newline="")
            if path.suffix.lower() == ".csv":
                self._csv = csv.writer(self._file)
                self._csv.writerow(ERROR_COLUMNS)

    def add(self, rejections: list[Rejection]) -> None:
        if not rejections:
            return
        self.rows += len({r.line for r in rejections})
        self.count += len(rejections)
        room = SHOWN_ERRORS - len(self.first)
        if room > 0:
            self.first.extend(rejections[:room])
        if self._file is not None:
            for r in rejections:
                if self._csv is not None:
                    self._csv.writerow([r.line, r.id or "", r.field or "", r.reason])
                else:
                    self._file.write(json.dumps(r.as_dict(), ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class ImportSummary:
    kind: str
    source: str
    format: str
    rows_read: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected_rows: int = 0
    problems: int = 0
    elapsed: float = 0.0
    first_errors: list[Rejection] = field(default_factory=list)
    # Why the import stopped before the end of the input, if it did.
    stopped: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: every row stored (or already there); 1: some rows rejected; 2: input unusable."""
        if self.stopped:
            return 2
        return 1 if self.rejected_rows else 0

    def lines(self) -> list[str]:
        text = (
            f"{self.kind} from {self.source} ({self.format}): {self.rows_read} rows read, "
            f"{self.stored} stored, {self.duplicates} duplicates, {self.rejected_rows} rejected"
        )
        if self.problems > self.rejected_rows:
            text += f" ({self.problems} problems)"
        out = [text, f"elapsed {self.elapsed:.1f} s, {self.rows_per_second:,.0f} rows/s"]
        return out
