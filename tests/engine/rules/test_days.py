"""Whole UTC days: today, windows of days, the start of a day, trend windows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.rules.ast import Window
from engine.rules.days import day_start, trend_windows, utc_today, window_days

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_today_is_the_utc_date_of_now_whatever_zone_now_is_given_in():
    assert utc_today(datetime(2026, 3, 6, 21, 0, tzinfo=NY)) == date(2026, 3, 7)  # 02:00 UTC on the 7th
    assert utc_today(datetime(2026, 3, 7, 8, 0, tzinfo=TOKYO)) == date(2026, 3, 6)  # 23:00 UTC on the 6th
    assert utc_today(datetime(2026, 3, 6, 23, 59, 59, tzinfo=UTC)) == date(2026, 3, 6)


@pytest.mark.parametrize("server_zone", ["Asia/Tokyo", "America/Los_Angeles"])
def test_today_does_not_follow_the_servers_clock(server_clock, server_zone):
    late = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # already the 7th in Tokyo
    early = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)  # still the 6th in Los Angeles
    server_clock(server_zone)
    # On this clock both instants fall on one local date, which UTC splits.
    assert late.astimezone().date() == early.astimezone().date()
    assert utc_today(late) == date(2026, 3, 6)
    assert utc_today(early) == date(2026, 3, 7)


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match=r"^naive datetime .*: rules are evaluated against a timezone-aware now$"):
        utc_today(datetime(2026, 3, 6, 12, 0))


def test_a_window_holds_the_days_after_its_first_bound_up_to_its_second():
    today = date(2026, 3, 6)
    assert window_days(Window(7), today) == (date(2026, 2, 27), date(2026, 3, 6))  # in_last: 7d, today included
    assert window_days(Window(60, 30), today) == (date(2026, 1, 5), date(2026, 2, 4))


def test_a_day_starts_at_midnight_utc():
    start = day_start(date(2026, 3, 29))
    assert start == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert start.utcoffset() is not None and start.utcoffset().total_seconds() == 0


def test_trend_windows_are_the_last_days_and_as_many_before_them():
    assert trend_windows(7) == (Window(7, 0), Window(14, 7))
    assert trend_windows(30) == (Window(30, 0), Window(60, 30))
