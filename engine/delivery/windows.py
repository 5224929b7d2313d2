"""Send windows: the local days and hours a message may go out.

A window (engine.rules.schema.SendWindow: ``days``, ``start_minute``,
``end_minute``, ``timezone``) is read in one time zone, chosen by
``resolve_timezone``. It is open at an instant when, on the local clock of
that zone at that instant, the weekday is one of ``days`` and the time of day
is in ``[start, end)``. Everything here follows from that definition, which is
about real instants rather than wall-clock labels, so daylight saving time
needs no special rules:

- spring forward: local times that never happen are never open. A window
  starting at 02:30 on the night New York skips 02:00-03:00 opens at 03:00 EDT,
  the first real instant whose local time is past 02:30; a window lying
  wholly inside the skipped hour does not open that day at all;
- fall back: the repeated hour is open both times it happens, and a window
  starting inside it opens at its first occurrence;
- ``end`` 24:00 means to the end of the local day.

A delivery outside its window is deferred to ``next_opening``, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.rules.schema import WEEKDAYS, SendWindow

# Two weeks: every weekday of the window comes round twice, so even a window
# lost to a DST gap one week is found the next.
_HORIZON_DAYS = 15

ZoneSource = Literal["window", "contact", "account", "default", "utc"]


@dataclass(frozen=True)
class ResolvedZone:
    """The zone a window is read in, where it came from, and any fallback taken."""

    zone: ZoneInfo
    source: ZoneSource
    note: str | None = None  # why a preferred zone was passed over, e.g. an unknown name

    @property
    def name(self) -> str:
        return self.zone.key


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone named ``name`` (an IANA name such as Europe/Paris), or None if unknown."""
    if not name or not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a zone key at all (absolute paths, "..", empty).
        return None


def resolve_timezone(
    window: SendWindow | None,
    contact_tz: str | None,
    account_tz: str | None,
    default: str | ZoneInfo = "UTC",
) -> ResolvedZone:
    """The zone to read ``window`` in for one recipient.

    ``window.timezone`` decides the order tried: ``recipient`` (and no window)
    tries the contact's zone, then the account's, then ``default``;
    ``account`` skips the contact; an IANA name is used as it is. Empty zones
    are passed over silently; unknown names are passed over with a ``note``
    saying which one and what was used instead. If ``default`` itself is
    unknown, UTC is used (with a note).
    """
    preference = window.timezone if window is not None else "recipient"
    tried: list[tuple[ZoneSource, str | None]]
    if preference == "recipient":
        tried = [("contact", contact_tz), ("account", account_tz)]
    elif preference == "account":
        tried = [("account", account_tz)]
    else:
        tried = [("window", preference)]
    notes: list[str] = []
    for source, name in tried:
        if name is None or (isinstance(name, str) and not name.strip()):
            continue
        zone = zone_or_none(name)
        if zone is not None:
            return ResolvedZone(zone, source, _joined(notes))
        notes.append(f"{source} time zone {name!r} is unknown")
    if isinstance(default, ZoneInfo):
        return ResolvedZone(default, "default", _joined(notes, f"used the default {default.key}"))
    zone = zone_or_none(default)
    if zone is not None:
        return ResolvedZone(zone, "default", _joined(notes, f"used the default {zone.key}"))
    notes.append(f"default time zone {default!r} is unknown")
    return ResolvedZone(ZoneInfo("UTC"), "utc", _joined(notes, "used UTC"))


def _joined(notes: list[str], then: str | None = None) -> str | None:
    if not notes:
        return None
    return "; ".join(notes) + (f"; {then}" if then else "")


def is_open(window: SendWindow, tz: ZoneInfo, at: datetime) -> bool:
    """Whether the window is open at the instant ``at`` (timezone-aware)."""
    local = _aware(at).astimezone(tz)
    minute = local.hour * 60 + local.minute
    return local.weekday() in window.days and window.start_minute <= minute < window.end_minute


def next_opening(window: SendWindow, tz: ZoneInfo, now: datetime) -> datetime:
    """The first instant at or after ``now`` when the window is open: ``now``
    itself if it is open now. Returned in UTC (timezone-aware).

    Raises ValueError, naming the window, for one that never opens (no days,
    or start not before end: rule validation refuses those) or does not open
    within the days searched.
    """
    now = _aware(now)
    if not window.days or not 0 <= window.start_minute < window.end_minute <= 24 * 60:
        raise ValueError(f"send window {describe_window(window)} never opens")
    if is_open(window, tz, now):
        return now.astimezone(UTC)
    today = now.astimezone(tz).date()
    for offset in range(_HORIZON_DAYS):
        day = today + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        # The window opens either when the local clock reaches its start, or
        # when a clock change lands the local time inside it.
        found = [
            c for c in _candidates(window, tz, day)
            if c > now and c.astimezone(tz).date() == day and is_open(window, tz, c)
        ]  # fmt: skip
        if found:
            return min(found).astimezone(UTC)
    raise ValueError(f"send window {describe_window(window)} never opens in {tz.key} within {_HORIZON_DAYS} days")


def describe_window(window: SendWindow) -> str:
    """As a rule file writes it, e.g. ``mon-fri 09:00-18:00``."""
    runs: list[list[int]] = []
    for day in sorted(window.days):
        if runs and runs[-1][1] == day - 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    days = ",".join(WEEKDAYS[a] if a == b else f"{WEEKDAYS[a]}-{WEEKDAYS[b]}" for a, b in runs) or "no days"
    return f"{days} {_clock(window.start_minute)}-{_clock(window.end_minute)}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _candidates(window: SendWindow, tz: ZoneInfo, day: date) -> list[datetime]:
    wall = datetime.combine(day, time(window.start_minute // 60, window.start_minute % 60))
    found = [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    return found + _transitions(tz, day)


def _transitions(tz: ZoneInfo, day: date) -> list[datetime]:
    """The instants during local ``day`` (give or take its edges) when the UTC offset changes."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC) - timedelta(hours=3)
    end = start + timedelta(hours=30)
    if start.astimezone(tz).utcoffset() == end.astimezone(tz).utcoffset():
        return []  # at most one change a day in every zone in use; none here
    low, high = start, end
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
            low = middle
        else:
            high = middle
    # The change is in (low, high], at most a second wide, and zones change
    # offset on a whole second: the first whole second after ``low``.
    return [low.replace(microsecond=0) + timedelta(seconds=1)]


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at!r}: pass a timezone-aware instant")
    return at
