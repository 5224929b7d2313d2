"""Send windows in local time, across daylight saving time changes, and which zone is used."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.delivery import windows
from engine.delivery.windows import (
    ResolvedZone,
    describe_window,
    is_open,
    next_opening,
    resolve_timezone,
    zone_or_none,
)
from engine.rules.schema import SendWindow

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")
SYDNEY = ZoneInfo("Australia/Sydney")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
WEEKDAYS = frozenset({MON, TUE, WED, THU, FRI})


def window(days=range(7), hours="09:00-18:00", timezone="recipient") -> SendWindow:
    start, end = hours.split("-")
    minute = lambda hm: int(hm[:2]) * 60 + int(hm[3:])
    return SendWindow(frozenset(days), minute(start), minute(end), timezone)


def local(tz: ZoneInfo, *parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=tz, fold=fold)  # type: ignore[misc]


def test_open_now_returns_now():
    now = local(TOKYO, 2026, 11, 24, 10, 15, 30)  # a Tuesday
    assert next_opening(window(WEEKDAYS), TOKYO, now) == now
    assert next_opening(window(WEEKDAYS), TOKYO, now).tzinfo is UTC


def test_tokyo_has_no_dst_and_friday_evening_waits_for_monday():
    fri_evening = local(TOKYO, 2026, 3, 6, 19, 0)
    opening = next_opening(window(WEEKDAYS), TOKYO, fri_evening)
    assert opening == local(TOKYO, 2026, 3, 9, 9, 0)
    assert opening == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # +09:00 all year
    assert opening.tzinfo is UTC


def test_a_west_of_utc_evening_counts_the_recipients_day_not_utcs():
    # 21:00 EDT on Friday is already Saturday in UTC; the window is Friday's, so it opens an hour later.
    late_friday = window({FRI}, "22:00-23:00")
    now = local(NY, 2026, 6, 5, 21, 0)
    assert now.astimezone(UTC).weekday() == SAT
    assert next_opening(late_friday, NY, now) == local(NY, 2026, 6, 5, 22, 0)
    assert not is_open(late_friday, NY, datetime(2026, 6, 6, 22, 30, tzinfo=UTC))  # Saturday 22:30 UTC is 18:30 EDT
    assert is_open(late_friday, NY, datetime(2026, 6, 6, 2, 30, tzinfo=UTC))  # Saturday 02:30 UTC is Friday 22:30 EDT


def test_before_the_start_waits_for_the_start_of_the_same_day():
    assert next_opening(window(), TOKYO, local(TOKYO, 2026, 3, 6, 8, 59, 59)) == local(TOKYO, 2026, 3, 6, 9, 0)


def test_the_end_is_exclusive():
    w = window(hours="09:00-18:00")
    assert is_open(w, TOKYO, local(TOKYO, 2026, 3, 6, 17, 59, 59))
    assert not is_open(w, TOKYO, local(TOKYO, 2026, 3, 6, 18, 0))
    assert next_opening(w, TOKYO, local(TOKYO, 2026, 3, 6, 18, 0)) == local(TOKYO, 2026, 3, 7, 9, 0)


def test_a_closed_rest_of_the_week_defers_to_the_next_matching_day():
    only_monday = window({MON}, "10:00-11:00")
    tuesday = local(PARIS, 2026, 6, 2, 12, 0)
    assert next_opening(only_monday, PARIS, tuesday) == local(PARIS, 2026, 6, 8, 10, 0)
    # Monday after the window: a whole week later, never dropped.
    assert next_opening(only_monday, PARIS, local(PARIS, 2026, 6, 8, 11, 0)) == local(PARIS, 2026, 6, 15, 10, 0)


def test_days_wrapping_the_week_fri_to_mon():
    fri_mon = window({FRI, SAT, SUN, MON})
    assert next_opening(fri_mon, PARIS, local(PARIS, 2026, 6, 2, 10, 0)) == local(PARIS, 2026, 6, 5, 9, 0)  # Tue -> Fri
    assert next_opening(fri_mon, PARIS, local(PARIS, 2026, 6, 7, 20, 0)) == local(PARIS, 2026, 6, 8, 9, 0)  # Sun -> Mon
    assert next_opening(fri_mon, PARIS, local(PARIS, 2026, 6, 8, 19, 0)) == local(PARIS, 2026, 6, 12, 9, 0)  # Mon -> Fri
    sat_noon = local(PARIS, 2026, 6, 6, 12, 0)
    assert next_opening(fri_mon, PARIS, sat_noon) == sat_noon


def test_end_at_24_00_is_open_to_the_last_second_of_the_day():
    late = window({FRI}, "22:00-24:00")
    assert is_open(late, PARIS, local(PARIS, 2026, 6, 5, 23, 59, 59))
    assert not is_open(late, PARIS, local(PARIS, 2026, 6, 6, 0, 0))  # Saturday
    assert next_opening(late, PARIS, local(PARIS, 2026, 6, 6, 0, 0)) == local(PARIS, 2026, 6, 12, 22, 0)
    whole_day = window({SAT}, "00:00-24:00")
    assert next_opening(whole_day, PARIS, local(PARIS, 2026, 6, 5, 23, 0)) == local(PARIS, 2026, 6, 6, 0, 0)


# -- daylight saving time --------------------------------------------------------
# New York 2025: clocks skip 02:00-03:00 on Sunday 9 March, repeat 01:00-02:00 on Sunday 2 November.


def test_spring_forward_a_window_starting_in_the_skipped_hour_opens_when_clocks_resume():
    w = window({SUN}, "02:30-05:00")
    opening = next_opening(w, NY, local(NY, 2025, 3, 9, 1, 0))
    # 02:30 never happens that night: the first real instant past it is 03:00 EDT.
    assert opening == datetime(2025, 3, 9, 7, 0, tzinfo=UTC)
    assert opening.astimezone(NY).strftime("%H:%M %Z") == "03:00 EDT"
    assert not is_open(w, NY, opening - timedelta(seconds=1))  # 01:59:59 EST


def test_spring_forward_a_window_inside_the_skipped_hour_does_not_open_that_day():
    w = window({SUN}, "02:00-02:30")
    opening = next_opening(w, NY, local(NY, 2025, 3, 9, 0, 0))
    assert opening == local(NY, 2025, 3, 16, 2, 0)  # the next Sunday, deferred not dropped


def test_spring_forward_a_daily_window_keeps_its_local_hour():
    w = window(hours="09:00-17:00")
    assert next_opening(w, NY, local(NY, 2025, 3, 8, 18, 0)) == datetime(2025, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert next_opening(w, NY, local(NY, 2025, 3, 7, 18, 0)) == datetime(2025, 3, 8, 14, 0, tzinfo=UTC)  # 09:00 EST


def test_fall_back_a_window_in_the_repeated_hour_opens_at_its_first_occurrence():
    w = window({SUN}, "01:30-03:00")
    assert next_opening(w, NY, local(NY, 2025, 11, 2, 0, 0)) == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_fall_back_the_repeated_hour_is_open_both_times():
    w = window({SUN}, "01:00-01:45")
    first = local(NY, 2025, 11, 2, 1, 20, fold=0)
    second = local(NY, 2025, 11, 2, 1, 20, fold=1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    assert is_open(w, NY, first) and is_open(w, NY, second)
    # Closed at 01:50 EDT; the clocks go back to 01:00 EST ten minutes later, inside the window.
    after_first = datetime(2025, 11, 2, 5, 50, tzinfo=UTC)
    assert not is_open(w, NY, after_first)
    assert next_opening(w, NY, after_first) == datetime(2025, 11, 2, 6, 0, tzinfo=UTC)


def test_fall_back_a_window_starting_late_in_the_repeated_hour_opens_at_both_occurrences():
    w = window({SUN}, "01:30-01:45")
    assert next_opening(w, NY, local(NY, 2025, 11, 2, 0, 0)) == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT
    # Closed at 01:50 EDT; the clocks go back to 01:00 EST, before the start, and reach 01:30 again at 06:30 UTC.
    after_first = datetime(2025, 11, 2, 5, 50, tzinfo=UTC)
    assert next_opening(w, NY, after_first) == datetime(2025, 11, 2, 6, 30, tzinfo=UTC)
    assert not is_open(w, NY, datetime(2025, 11, 2, 6, 0, tzinfo=UTC))  # 01:00 EST
    assert is_open(w, NY, local(NY, 2025, 11, 2, 1, 40, fold=1))  # 01:40 EST
    assert next_opening(w, NY, datetime(2025, 11, 2, 6, 50, tzinfo=UTC)) == local(NY, 2025, 11, 9, 1, 30)


def test_fall_back_a_window_whose_start_passed_is_reentered_by_the_clock_change():
    w = window({SUN}, "00:30-01:30")
    after = datetime(2025, 11, 2, 5, 40, tzinfo=UTC)  # 01:40 EDT: past the window
    # At 06:00 UTC the clocks read 01:00 EST: inside the window again, not at its start.
    assert next_opening(w, NY, after) == datetime(2025, 11, 2, 6, 0, tzinfo=UTC)


def test_paris_transitions_keep_local_hours():
    w = window(hours="09:00-18:00")
    # Sunday 30 March 2025: 02:00 CET -> 03:00 CEST.
    assert next_opening(w, PARIS, local(PARIS, 2025, 3, 29, 18, 30)) == datetime(2025, 3, 30, 7, 0, tzinfo=UTC)
    # Sunday 26 October 2025: 03:00 CEST -> 02:00 CET.
    assert next_opening(w, PARIS, local(PARIS, 2025, 10, 25, 19, 0)) == datetime(2025, 10, 26, 8, 0, tzinfo=UTC)
    # A window in Paris's skipped hour opens at 03:00 CEST.
    night = window({SUN}, "02:15-04:00")
    assert next_opening(night, PARIS, local(PARIS, 2025, 3, 30, 0, 0)) == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    # Paris repeats 02:00-03:00: a window late in that hour opens again in its second run, at 02:30 CET.
    repeated = window({SUN}, "02:30-02:45")
    assert next_opening(repeated, PARIS, datetime(2025, 10, 26, 0, 50, tzinfo=UTC)) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)


# Sydney 2025: 03:00 AEDT -> 02:00 AEST on Sunday 6 April and 02:00 AEST -> 03:00 AEDT on
# Sunday 5 October, both at 16:00 UTC on the Saturday: the change falls on the previous UTC day.


def test_sydney_spring_forward_opens_at_03_00_when_clocks_resume():
    w = window({SUN}, "02:30-05:00")
    opening = next_opening(w, SYDNEY, local(SYDNEY, 2025, 10, 4, 20, 0))
    assert opening == datetime(2025, 10, 4, 16, 0, tzinfo=UTC)
    assert opening.astimezone(SYDNEY).strftime("%a %H:%M %Z") == "Sun 03:00 AEDT"
    assert not is_open(w, SYDNEY, opening - timedelta(seconds=1))  # 01:59:59 AEST


def test_sydney_fall_back_the_repeated_hour_is_open_both_times():
    w = window({SUN}, "02:30-02:45")
    assert next_opening(w, SYDNEY, local(SYDNEY, 2025, 4, 5, 20, 0)) == datetime(2025, 4, 5, 15, 30, tzinfo=UTC)  # AEDT
    after_first = datetime(2025, 4, 5, 15, 50, tzinfo=UTC)  # 02:50 AEDT
    assert next_opening(w, SYDNEY, after_first) == datetime(2025, 4, 5, 16, 30, tzinfo=UTC)  # 02:30 AEST


def test_sydney_a_daily_window_keeps_its_local_hour_across_both_changes():
    w = window(hours="09:00-17:00")
    assert next_opening(w, SYDNEY, local(SYDNEY, 2025, 10, 4, 18, 0)) == datetime(2025, 10, 4, 22, 0, tzinfo=UTC)  # AEDT
    assert next_opening(w, SYDNEY, local(SYDNEY, 2025, 4, 5, 18, 0)) == datetime(2025, 4, 5, 23, 0, tzinfo=UTC)  # AEST


ZONES = ["America/New_York", "Europe/Paris", "Asia/Tokyo", "Australia/Sydney", "Australia/Lord_Howe",
         "Asia/Kathmandu", "America/Santiago", "Pacific/Chatham", "America/St_Johns", "UTC"]  # fmt: skip


def offset_changes(tz: ZoneInfo, year: int) -> list[datetime]:
    """The instants in ``year`` when ``tz`` changes its UTC offset, to the minute."""
    changes = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        offset = day.astimezone(tz).utcoffset()
        if (day + timedelta(days=1)).astimezone(tz).utcoffset() != offset:
            minute = day
            while minute.astimezone(tz).utcoffset() == offset:
                minute += timedelta(minutes=1)
            changes.append(minute)
        day += timedelta(days=1)
    return changes


# Every clock change of 2025 in the zones above: both directions, whole and half hours, either side of UTC.
CHANGES = [(zone, instant) for zone in ZONES for instant in offset_changes(ZoneInfo(zone), 2025)]


def assert_first_open_instant(w: SendWindow, tz: ZoneInfo, now: datetime) -> None:
    # Quarter-hour windows, so stepping a quarter of an hour cannot miss one
    # (every zone here changes and offsets on quarter hours).
    opening = next_opening(w, tz, now)
    assert opening >= now and is_open(w, tz, opening)
    probe = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)
    while probe < opening:
        assert not is_open(w, tz, probe), f"open at {probe} before {opening}"
        probe += timedelta(minutes=15)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.integers(0, 95),
    length=st.integers(1, 96),
    now=st.datetimes(datetime(2024, 1, 1), datetime(2027, 12, 31)),
)
def test_next_opening_is_the_first_open_instant(zone, days, start, length, now):
    w = SendWindow(days, start * 15, min(start + length, 96) * 15)
    assert_first_open_instant(w, ZoneInfo(zone), now.replace(tzinfo=UTC))


@settings(max_examples=150, deadline=None)
@given(
    change=st.sampled_from(CHANGES),
    other_days=st.frozensets(st.integers(0, 6)),
    start_shift=st.integers(-8, 8),
    length=st.integers(1, 16),
    seconds_before=st.integers(-12 * 3600, 36 * 3600),
)
def test_next_opening_is_the_first_open_instant_around_clock_changes(change, other_days, start_shift, length, seconds_before):
    # Uniform draws over four years almost never land on a change night; these
    # do: a window on the change's local day starting within two hours of the
    # change's local time, looked for from a day and a half before to half a day after.
    zone, instant = change
    tz = ZoneInfo(zone)
    local_after = instant.astimezone(tz)
    start = min(max((local_after.hour * 60 + local_after.minute) // 15 + start_shift, 0), 95)
    w = SendWindow(frozenset({local_after.weekday()}) | other_days, start * 15, min(start + length, 96) * 15)
    assert_first_open_instant(w, tz, instant - timedelta(seconds=seconds_before))


def test_the_clock_changes_drawn_from_cover_both_directions_and_both_hemispheres():
    assert len(CHANGES) == 14  # seven zones with DST, two changes each
    assert {zone for zone, _ in CHANGES} == set(ZONES) - {"Asia/Tokyo", "Asia/Kathmandu", "UTC"}
    assert ("America/New_York", datetime(2025, 3, 9, 7, 0, tzinfo=UTC)) in CHANGES
    assert ("Australia/Sydney", datetime(2025, 4, 5, 16, 0, tzinfo=UTC)) in CHANGES


def test_a_window_that_never_opens_and_naive_times_are_refused():
    with pytest.raises(ValueError, match="never opens"):
        next_opening(SendWindow(frozenset()), PARIS, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        next_opening(window(), PARIS, datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "never",
    [
        SendWindow(frozenset()),  # no days, all hours
        SendWindow(frozenset({MON}), 600, 600),  # start not before end
        SendWindow(frozenset({MON}), 600, 24 * 60 + 1),  # past the end of the day
    ],
    ids=describe_window,
)
def test_windows_that_never_open_are_refused_before_searching(never):
    with pytest.raises(ValueError, match=rf"^send window {describe_window(never)} never opens$"):
        next_opening(never, PARIS, datetime(2026, 1, 1, tzinfo=UTC))


def test_an_instant_without_an_offset_is_refused():
    class NoOffset(tzinfo):
        def utcoffset(self, dt):
            return None

    with pytest.raises(ValueError, match="naive"):
        is_open(window(), PARIS, datetime(2026, 1, 1, tzinfo=NoOffset()))


def test_a_window_that_does_not_open_within_the_search_says_which(monkeypatch):
    monkeypatch.setattr(windows, "_HORIZON_DAYS", 1)  # today only
    saturday = local(TOKYO, 2026, 11, 21, 21, 0)
    with pytest.raises(ValueError, match=r"^send window mon-fri 09:00-10:00 never opens in Asia/Tokyo within 1 days$"):
        next_opening(window(WEEKDAYS, "09:00-10:00"), TOKYO, saturday)


def test_describe_window_writes_it_as_a_rule_does():
    assert describe_window(window()) == "mon-sun 09:00-18:00"
    assert describe_window(window({FRI, SAT, SUN, MON}, "00:00-24:00")) == "mon,fri-sun 00:00-24:00"
    assert describe_window(window({WED}, "08:30-09:05")) == "wed 08:30-09:05"
    assert describe_window(SendWindow(frozenset())) == "no days 00:00-24:00"


# -- which zone ------------------------------------------------------------------


def test_recipient_prefers_the_contact_then_the_account_then_the_default():
    w = window(timezone="recipient")
    assert resolve_timezone(w, "Asia/Tokyo", "Europe/Paris", "UTC") == ResolvedZone(TOKYO, "contact")
    assert resolve_timezone(w, None, "Europe/Paris", "UTC") == ResolvedZone(PARIS, "account")
    assert resolve_timezone(w, "", " ", "America/New_York") == ResolvedZone(NY, "default")
    assert resolve_timezone(None, None, "Europe/Paris") == ResolvedZone(PARIS, "account")  # no window: as recipient
    assert resolve_timezone(w, None, None, NY).name == "America/New_York"


def test_the_default_default_is_utc():
    assert resolve_timezone(window(), None, None) == ResolvedZone(ZoneInfo("UTC"), "default")


def test_account_and_fixed_zones_ignore_the_contact():
    assert resolve_timezone(window(timezone="account"), "Asia/Tokyo", "Europe/Paris", "UTC") == ResolvedZone(PARIS, "account")
    assert resolve_timezone(window(timezone="account"), "Asia/Tokyo", None, "UTC").source == "default"
    fixed = resolve_timezone(window(timezone="America/New_York"), "Asia/Tokyo", "Europe/Paris", "UTC")
    assert (fixed.zone, fixed.source, fixed.note) == (NY, "window", None)


def test_unknown_zones_fall_back_with_a_reason():
    got = resolve_timezone(window(), "Mars/Olympus_Mons", "Europe/Paris", "UTC")
    assert (got.zone, got.source) == (PARIS, "account")
    assert got.note == "contact time zone 'Mars/Olympus_Mons' is unknown"
    got = resolve_timezone(window(), "../../etc/passwd", "GMT+25", "Asia/Tokyo")
    assert (got.zone, got.source) == (TOKYO, "default")
    assert got.note == ("contact time zone '../../etc/passwd' is unknown; account time zone 'GMT+25' is unknown; "
                        "used the default Asia/Tokyo")  # fmt: skip
    got = resolve_timezone(window(timezone="Europe/Nowhere"), None, None, "Nowhere/Either")
    assert (got.zone.key, got.source) == ("UTC", "utc")
    assert got.note == "window time zone 'Europe/Nowhere' is unknown; default time zone 'Nowhere/Either' is unknown; used UTC"
    got = resolve_timezone(window(), "Mars/Olympus_Mons", None, NY)  # a zone given as the default
    assert got == ResolvedZone(NY, "default", "contact time zone 'Mars/Olympus_Mons' is unknown; used the default America/New_York")


def test_zone_or_none_takes_only_known_names():
    assert zone_or_none(" Europe/Paris ") == PARIS
    for not_a_zone in (None, "", 42, "Europe/Nowhere", "/etc/passwd"):
        assert zone_or_none(not_a_zone) is None  # type: ignore[arg-type]


# -- the server's own clock --------------------------------------------------------
# Windows are read on the recipient's clock only: the zone the server runs in
# (TZ, which datetime.astimezone() and naive datetimes follow) must change nothing.


# (window, zone, now, the opening): evenings west of UTC, both DST directions, in New York and Sydney.
SERVER_CLOCK_CASES = [
    (window({FRI}, "22:00-23:00"), NY, local(NY, 2026, 6, 5, 21, 0), datetime(2026, 6, 6, 2, 0, tzinfo=UTC)),
    (window({FRI}, "14:00-15:00"), NY, local(NY, 2026, 6, 5, 12, 0), datetime(2026, 6, 5, 18, 0, tzinfo=UTC)),
    (window(WEEKDAYS), TOKYO, local(TOKYO, 2026, 11, 24, 10, 15), datetime(2026, 11, 24, 1, 15, tzinfo=UTC)),
    (window({SUN}, "02:30-05:00"), NY, local(NY, 2025, 3, 9, 1, 0), datetime(2025, 3, 9, 7, 0, tzinfo=UTC)),
    (window({SUN}, "01:30-01:45"), NY, datetime(2025, 11, 2, 5, 50, tzinfo=UTC), datetime(2025, 11, 2, 6, 30, tzinfo=UTC)),
    (window({SUN}, "02:30-05:00"), SYDNEY, local(SYDNEY, 2025, 10, 4, 20, 0), datetime(2025, 10, 4, 16, 0, tzinfo=UTC)),
    (window({SUN}, "02:30-02:45"), SYDNEY, datetime(2025, 4, 5, 15, 50, tzinfo=UTC), datetime(2025, 4, 5, 16, 30, tzinfo=UTC)),
]  # fmt: skip


@pytest.mark.parametrize("server_zone", ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney"])
def test_openings_do_not_depend_on_the_servers_clock(server_clock, server_zone):
    server_clock(server_zone)
    # The clock really is the one named.
    new_year = datetime(2026, 1, 1, tzinfo=UTC)
    assert new_year.astimezone().utcoffset() == new_year.astimezone(ZoneInfo(server_zone)).utcoffset()
    for w, tz, now, expected in SERVER_CLOCK_CASES:
        opening = next_opening(w, tz, now)
        assert opening == expected, f"{describe_window(w)} in {tz.key} from {now}"
        assert opening.tzinfo is UTC
        assert is_open(w, tz, opening)
        assert opening == now or not is_open(w, tz, opening - timedelta(seconds=1))
