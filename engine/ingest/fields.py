"""Field parsers shared by the API, CSV and NDJSON ingest paths.

Each parser takes the raw value and returns the clean one or raises
``FieldError`` with a reason a person can act on.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

MAX_ID = 255
MAX_NAME = 255
LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TRAITS_BYTES = 16 * 1024
# Far beyond any real traits object, and far below Python's recursion limit, so a
# stored value can be serialised and read back by any code path.
MAX_TRAITS_DEPTH = 32
UNIX_TIME_RE = re.compile(r"^\d{9,11}(?:\.\d+)?$")


class FieldError(ValueError):
    """A value that cannot be stored; the message says why, ``path`` where inside it."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _unstorable(text: str) -> str | None:
    """Why JSON can carry this text but no database will store it, if so."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate, which is not valid Unicode"
    return None


def _first_unstorable(value: Any) -> tuple[str, str] | None:
    """(path, reason) of the first key or string inside ``value`` that cannot be stored."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{printable(key)}" if path else printable(key)
                reason = _unstorable(key)
                if reason:
                    return where, f"a key {reason}"
                stack.append((where, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, str):
            reason = _unstorable(item)
            if reason:
                return path, f"value {reason}"
    return None


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[int, Any]] = [(1, value)]
    while stack:
        depth, item = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((depth + 1, child) for child in children)
    return False


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages ("got an array")."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def printable(text: str) -> str:
    """``text`` safe for any error message: NUL and lone surrogates shown as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def text(value: Any, *, max_len: int = MAX_NAME, allow_empty: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldError(f"expected a string, got {type(value).__name__}")
    value = str(value).strip()
    reason = _unstorable(value)
    if reason:
        raise FieldError(reason)
    if not value and not allow_empty:
        raise FieldError("must not be empty")
    if len(value) > max_len:
        raise FieldError(f"longer than {max_len} characters")
    return value


def identifier(value: Any) -> str:
    return text(value, max_len=MAX_ID)


def optional_text(value: Any, *, max_len: int = MAX_NAME) -> str | None:
    if value is None or value == "":
        return None
    return text(value, max_len=max_len)


def timestamp(value: Any) -> datetime:
    """ISO 8601 date or datetime, or a Unix time in seconds; naive means UTC."""
    if isinstance(value, bool):
        raise FieldError("expected an ISO 8601 timestamp, got a boolean")
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise FieldError(f"Unix time {value} is out of range") from None
    if not isinstance(value, str) or not value.strip():
        raise FieldError("expected an ISO 8601 timestamp such as 2026-05-01T09:30:00Z")
    raw = value.strip()
    if UNIX_TIME_RE.match(raw):
        # CSV cells are always text: "1777627800" is Unix seconds, as the number would be.
        return timestamp(float(raw))
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise FieldError(f"{raw!r} is not an ISO 8601 date or timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise FieldError(f"{raw!r} is out of range in UTC") from None


def optional_timestamp(value: Any) -> datetime | None:
    return None if value is None or value == "" else timestamp(value)


def money(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("expected a number, got a boolean")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise FieldError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise FieldError("must be a finite number of at least 0")
    if amount >= Decimal("1e12"):
        raise FieldError("too large")
    return amount.quantize(Decimal("0.01"))


def choice(value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in options:
        raise FieldError(f"{value!r} is not one of: {', '.join(options)}")
    return value.strip().lower()


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def tz_name(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in _zones():
        raise FieldError(f"{value!r} is not an IANA timezone such as Europe/Paris or Asia/Tokyo")
    return value


def locale(value: Any) -> str | None:
    if value is None or value == "":
        return None
    # 16 is the column width; a longer tag is valid BCP 47 but not storable.
    if not isinstance(value, str) or len(value.strip()) > 16 or not LOCALE_RE.match(value.strip()):
        raise FieldError(f"{value!r} is not a locale such as en, ja or en-GB")
    return value.strip().replace("_", "-")


def email(value: Any) -> str | None:
    if value is None or value == "":
        return None
    value = text(value, max_len=320)
    if not EMAIL_RE.match(value):
        raise FieldError(f"{value!r} is not an email address")
    return value


def event_name(value: Any) -> str:
    if not isinstance(value, str) or not EVENT_NAME_RE.match(value):
        raise FieldError("expected 1-100 characters of letters, digits, '_', '.', ':' or '-'")
    return value


def mapping(value: Any) -> dict[str, Any]:
    import json

    if value is None or value == "":
        return {}
    if isinstance(value, str):
        # CSV cells carry traits and properties as JSON text.
        try:
            value = json.loads(value)
        except RecursionError:
            raise FieldError(f"JSON nested deeper than {MAX_TRAITS_DEPTH} levels") from None
        except ValueError as exc:
            raise FieldError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FieldError(f"expected an object, got {type(value).__name__}")
    # Before json.dumps below, which recurses: a value the request parser could
    # just read may still be too deep to write, or to read back in a worker.
    if _deeper_than(value, MAX_TRAITS_DEPTH):
        raise FieldError(f"JSON nested deeper than {MAX_TRAITS_DEPTH} levels")
    try:
        dumped = json.dumps(value, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise FieldError("holds a number that is not finite (Infinity or NaN), which JSON cannot store") from None
    try:
        size = len(dumped.encode("utf-8"))
    except UnicodeEncodeError:
        size = None
    # The walk runs only when a cheap look at the serialised text finds a suspect.
    if size is None or "\\u0000" in dumped:
        problem = _first_unstorable(value)
        if problem:
            path, reason = problem
            raise FieldError(reason, path=path or None)
    if size is not None and size > MAX_TRAITS_BYTES:
        raise FieldError(f"larger than {MAX_TRAITS_BYTES} bytes")
    return value


def day_of(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date()
