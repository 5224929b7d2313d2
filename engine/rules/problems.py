"""Problems found in a rule or segment file, each with where, what and a hint.

Validation never stops at the first problem: every check adds to a
``Problems`` list and carries on, so an operator fixes a file in one pass.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.rules.yamlload import Document, Path, YamlProblem

_DURATION = re.compile(r"^([0-9]{1,5})([dw])$")
MAX_DAYS = 3660  # ten years: far beyond any sensible window, small enough for date arithmetic


@dataclass(frozen=True)
class Problem:
    source: str
    line: int
    column: int
    path: str  # where in the rule, e.g. ``when.all[2].account.tier``; empty for the whole file
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}: "
        text = f"{self.path}: {self.message}" if self.path else self.message
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return where + text + hint


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def suggest(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def from_yaml(problem: YamlProblem) -> Problem:
    return Problem(problem.source, problem.line, problem.column, "", problem.message)


def describe(value: Any) -> str:
    """A value as an error message should show it: its kind and, if short, itself."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class Problems:
    """The problems of one document, positioned by path."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.items: list[Problem] = []

    def add(self, path: Path, message: str, suggestion: str | None = None) -> None:
        line, column = self.doc.where(path)
        self.items.append(Problem(self.doc.source, line, column, format_path(path), message, suggestion))

    def unknown_key(self, path: Path, key: str, allowed: Iterable[str], what: str = "key") -> None:
        allowed = list(allowed)
        self.add((*path, key), f"unknown {what} {key!r}; expected one of: {', '.join(allowed)}", suggest(key, allowed))

    def __len__(self) -> int:
        return len(self.items)

    # -- small typed readers: each returns None (and records why) on a wrong value

    def mapping(self, value: Any, path: Path, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(path, f"expected {what} (a mapping), got {describe(value)}")
        return None

    def text(self, value: Any, path: Path, what: str = "text", pattern: re.Pattern[str] | None = None, hint: str = "") -> str | None:
        if not isinstance(value, str) or not value.strip():
            extra = "; put it in quotes" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            self.add(path, f"expected {what}, got {describe(value)}{extra}")
            return None
        if pattern is not None and not pattern.match(value):
            self.add(path, f"{value!r} is not a valid {what}{'; ' + hint if hint else ''}")
            return None
        return value

    def number(self, value: Any, path: Path, what: str = "a number") -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
            self.add(path, f"expected {what}, got {describe(value)}")
            return None
        return float(value)

    def integer(self, value: Any, path: Path, low: int, high: int, what: str = "a whole number") -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"expected {what} from {low} to {high}, got {describe(value)}")
            return None
        if not low <= value <= high:
            self.add(path, f"{value} is out of range; expected {what} from {low} to {high}")
            return None
        return value

    def boolean(self, value: Any, path: Path) -> bool | None:
        if isinstance(value, bool):
            return value
        self.add(path, f"expected true or false, got {describe(value)}")
        return None

    def duration(self, value: Any, path: Path, minimum: int = 1) -> int | None:
        """``7d`` or ``2w`` as whole days."""
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            hint = f"; write {value}d for {value} days" if isinstance(value, int) and not isinstance(value, bool) else ""
            self.add(path, f"expected a duration in whole days or weeks such as 7d or 2w, got {describe(value)}{hint}")
            return None
        days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        if days < minimum or days > MAX_DAYS:
            self.add(path, f"{value} is out of range; expected {minimum}d to {MAX_DAYS}d")
            return None
        return days

    def keys(self, data: dict[str, Any], path: Path, allowed: Iterable[str], required: Iterable[str] = (), what: str = "key") -> bool:
        """Report unknown and missing keys; True when there were none."""
        allowed = list(allowed)
        ok = True
        suggested = set()
        for key in data:
            if key not in allowed:
                self.unknown_key(path, key, allowed, what)
                suggested.add(suggest(key, allowed))
                ok = False
        for key in required:
            # A misspelt required key was reported once already, with its fix.
            if key not in data and key not in suggested:
                self.add(path, f"missing required key {key!r}")
            ok = ok and key in data
        return ok
