"""Whole-UTC-day arithmetic shared by the SQL compiler and the Python evaluator."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from engine.rules.ast import Window


def utc_today(now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: rules are evaluated against a timezone-aware now")
    return now.astimezone(timezone.utc).date()


def window_days(window: Window, today: date) -> tuple[date, date]:
    """(after, upto): the window holds the days with ``after < day <= upto``."""
    return today - timedelta(days=window.start), today - timedelta(days=window.end)


def day_start(day: date) -> datetime:
    """Midnight UTC opening ``day``; a timestamp is on ``day`` when start(day) <= t < start(day + 1)."""
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def trend_windows(days: int) -> tuple[Window, Window]:
    """(current, previous): the last ``days`` days and the ``days`` before them."""
    return Window(days, 0), Window(2 * days, days)
