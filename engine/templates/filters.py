"""Locale-aware filters templates use for dates and numbers.

Both read ``locale`` (the locale being rendered) and ``timezone`` (the
recipient's) from the render context, so one template line reads right in
every language.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2.runtime import Context, Undefined
from jinja2.utils import pass_context

EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
DATE_STYLES = ("long", "short", "datetime")


def _zone(name: Any) -> Any:
    if isinstance(name, str):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


@pass_context
def format_date(context: Context, value: date | datetime, style: str = "long") -> str:
    """``{{ account.renewal_at|date }}``: March 2, 2026 / 2026年3月2日.

    Styles: ``long`` (default), ``short`` (2026-03-02 / 2026/03/02) and
    ``datetime`` (long plus the local time). Aware datetimes are shown in
    the recipient's timezone.
    """
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # names what is missing, like printing it would
    if style not in DATE_STYLES:
        raise ValueError(f"date style {style!r}: expected one of {', '.join(DATE_STYLES)}")
    if not isinstance(value, date):
        raise TypeError(f"the date filter needs a date or datetime, not {type(value).__name__}")
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(_zone(context.get("timezone")))
    ja = str(context.get("locale") or "en").split("-")[0] == "ja"
    if style == "short":
        return value.strftime("%Y/%m/%d" if ja else "%Y-%m-%d")
    text = f"{value.year}年{value.month}月{value.day}日" if ja else f"{EN_MONTHS[value.month - 1]} {value.day}, {value.year}"
    if style == "datetime" and isinstance(value, datetime):
        text += f" {value.hour}:{value.minute:02d}" if ja else f", {value.hour:02d}:{value.minute:02d}"
    return text


def format_number(value: float | Decimal, decimals: int = 0) -> str:
    """``{{ 12345|number }}`` -> 12,345; ``{{ account.mrr|number(2) }}`` -> 1,234.50."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"the number filter needs a number, not {type(value).__name__}")
    if not 0 <= decimals <= 6:
        raise ValueError(f"number(decimals={decimals}): expected 0 to 6")
    return format(value, f",.{decimals}f")


FILTERS = {"date": format_date, "number": format_number}
