"""Is a schedule due? A pure function of (last_run, every_seconds, at_time, now) so it is trivially testable.

Times: ``last_run`` and ``now`` are UTC — aware datetimes, or naive ones meaning UTC (what the settings store keeps).
``at_time`` ("HH:MM") is wall-clock time in ``tz`` (default: this machine's local zone, DST-aware).

The OS scheduler calls ``tick`` once a minute, so a schedule that ran at 10:00:20 must be due again at the 10:15:05
tick: SLACK (30 s) is taken off every period so tick jitter never skips a whole period.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo

SLACK = timedelta(seconds=30)
DAY = 86400


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _at_local(day: date, at: time, tz: tzinfo | None) -> datetime:
    naive = datetime.combine(day, at)
    # naive.astimezone() interprets a naive datetime as system local time, honouring DST on that date.
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def _parse_at(at_time: str) -> time:
    hours, _, minutes = at_time.strip().partition(":")
    return time(int(hours), int(minutes))


def next_due(
    last_run: datetime | None, every_seconds: int, at_time: str | None = None, tz: tzinfo | None = None
) -> datetime | None:
    """The UTC instant from which the schedule is due; None when it never ran (due at once)."""
    if last_run is None:
        return None
    earliest = _utc(last_run) + timedelta(seconds=every_seconds) - SLACK
    if not at_time or every_seconds % DAY:
        return earliest
    at = _parse_at(at_time)
    local = earliest.astimezone(tz) if tz is not None else earliest.astimezone()
    candidate = _at_local(local.date(), at, tz)
    if candidate < earliest:
        candidate = _at_local(local.date() + timedelta(days=1), at, tz)
    return candidate.astimezone(timezone.utc)


def is_due(
    last_run: datetime | None,
    every_seconds: int,
    at_time: str | None,
    now: datetime,
    tz: tzinfo | None = None,
) -> bool:
    """True when a tick at ``now`` should start the schedule."""
    due = next_due(last_run, every_seconds, at_time, tz)
    return due is None or _utc(now) >= due
