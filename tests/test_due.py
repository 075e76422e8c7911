"""The due rule: never-run, minute/hour periods with tick slack, day periods at a time of day (local zone)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ic.scheduling.due import is_due, next_due

UTC = timezone.utc


def t(h, m, s=0, day=10):
    return datetime(2026, 3, day, h, m, s, tzinfo=UTC)


def test_never_run_is_due():
    assert is_due(None, 900, None, t(0, 0))
    assert is_due(None, 86400, "02:00", t(13, 0))


def test_minute_period_tolerates_tick_jitter():
    last = t(10, 0, 20)
    assert not is_due(last, 900, None, t(10, 14, 0))
    assert is_due(last, 900, None, t(10, 14, 55))  # tick a bit early: still this period
    assert is_due(last, 900, None, t(10, 15, 5))
    assert is_due(last, 60, None, t(10, 1, 0))


def test_naive_datetimes_are_utc():
    last = datetime(2026, 3, 10, 10, 0)
    assert not is_due(last, 3600, None, datetime(2026, 3, 10, 10, 30))
    assert is_due(last, 3600, None, datetime(2026, 3, 10, 11, 0))


def test_hour_period_not_due_before():
    assert not is_due(t(10, 0), 7200, None, t(11, 59))
    assert is_due(t(10, 0), 7200, None, t(12, 0))


def test_day_period_at_time_in_utc_zone():
    last = t(2, 0, 10)  # ran at 02:00:10 on day 10
    assert next_due(last, 86400, "02:00", UTC) == t(2, 0, day=11)
    assert not is_due(last, 86400, "02:00", t(1, 59, day=11), UTC)
    assert is_due(last, 86400, "02:00", t(2, 0, day=11), UTC)


def test_day_period_run_by_hand_waits_for_next_slot():
    last = t(10, 0)  # a manual run at 10:00 on day 10
    assert next_due(last, 86400, "02:00", UTC) == t(2, 0, day=12)
    assert next_due(last, 2 * 86400, "23:00", UTC) == t(23, 0, day=12)


def test_day_period_without_time_is_plain_period():
    assert next_due(t(10, 0), 86400, None, UTC) == t(10, 0, day=11) - timedelta(seconds=30)


def test_at_time_is_local_wall_clock_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-03-29: CET -> CEST. 02:30 local on 28 Mar is 01:30 UTC; the next day 03:00 local is 01:00 UTC.
    last = datetime(2026, 3, 28, 2, 0, tzinfo=berlin)
    due = next_due(last, 86400, "03:00", berlin)
    assert due == datetime(2026, 3, 29, 3, 0, tzinfo=berlin).astimezone(UTC)
    assert due.hour == 1


def test_at_time_ignored_for_non_day_period():
    assert next_due(t(10, 0), 3600, "02:00", UTC) == t(11, 0) - timedelta(seconds=30)
