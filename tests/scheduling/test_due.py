"""Slots, not intervals: table-driven checks of ic.scheduling.due over days, DST changes (Europe/Berlin and
America/New_York, injected with zoneinfo), late starts, long runs, missed nights and host clock corrections."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ic.scheduling.due import count_slots, due, local_slot, next_run, slot_after, slot_at_or_before
from ic.settings.models import ScheduleConfig

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
DAY, HOUR, MIN = 86400, 3600, 60


def L(tz, y, mo, d, h, mi=0, s=0, fold=0) -> datetime:
    """A local wall-clock time as an aware UTC instant."""
    return datetime(y, mo, d, h, mi, s, tzinfo=tz, fold=fold).astimezone(UTC)


def U(y, mo, d, h=0, mi=0, s=0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


# (name, every, at, tz, last served slot, now, expected slot or None, expected trigger, expected missed)
CASES = [
    ("daily: not yet", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 9, 2), L(BERLIN, 2026, 6, 10, 1, 59, 59), None, None, 0),
    ("daily: on time", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 9, 2), L(BERLIN, 2026, 6, 10, 2), L(BERLIN, 2026, 6, 10, 2), "slot", 1),
    ("daily: tick 45 s late", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 9, 2), L(BERLIN, 2026, 6, 10, 2, 0, 45), L(BERLIN, 2026, 6, 10, 2), "slot", 1),
    ("daily: served, same night", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 10, 2), L(BERLIN, 2026, 6, 10, 23, 59), None, None, 0),
    ("daily: long run ended 05:00", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 10, 2), L(BERLIN, 2026, 6, 11, 2), L(BERLIN, 2026, 6, 11, 2), "slot", 1),
    ("daily: host was off at 02:00 (late start)", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 9, 2), L(BERLIN, 2026, 6, 10, 9, 30), L(BERLIN, 2026, 6, 10, 2), "catch-up", 1),
    ("daily: three missed nights, one run", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 7, 2), L(BERLIN, 2026, 6, 10, 8), L(BERLIN, 2026, 6, 10, 2), "catch-up", 3),
    ("daily: new schedule waits for its first slot", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 10, 13, 7), L(BERLIN, 2026, 6, 10, 13, 8), None, None, 0),
    ("daily: new schedule's first slot", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 10, 13, 7), L(BERLIN, 2026, 6, 11, 2), L(BERLIN, 2026, 6, 11, 2), "slot", 1),
    ("daily: never served, no time to wait for", DAY, "02:00", BERLIN, None, L(BERLIN, 2026, 6, 10, 13), L(BERLIN, 2026, 6, 10, 2), "slot", 1),
    # spring forward in Berlin (29 Mar 2026, 02:00 CET -> 03:00 CEST): 02:30 does not exist, served once at 03:00
    ("Berlin spring: 02:30 waits for the gap", DAY, "02:30", BERLIN, L(BERLIN, 2026, 3, 28, 2, 30), U(2026, 3, 29, 0, 59), None, None, 0),
    ("Berlin spring: 02:30 runs at 03:00 CEST", DAY, "02:30", BERLIN, L(BERLIN, 2026, 3, 28, 2, 30), U(2026, 3, 29, 1, 0), U(2026, 3, 29, 1, 0), "slot", 1),
    ("Berlin spring: once only", DAY, "02:30", BERLIN, U(2026, 3, 29, 1, 0), L(BERLIN, 2026, 3, 29, 3, 31), None, None, 0),
    ("Berlin spring: 03:00 slot is one hour earlier in UTC", DAY, "03:00", BERLIN, L(BERLIN, 2026, 3, 28, 3), U(2026, 3, 29, 1, 0), U(2026, 3, 29, 1, 0), "slot", 1),
    # fall back in Berlin (25 Oct 2026, 03:00 CEST -> 02:00 CET): 02:30 happens twice, served at the first
    ("Berlin fall: first 02:30", DAY, "02:30", BERLIN, L(BERLIN, 2026, 10, 24, 2, 30), U(2026, 10, 25, 0, 30), U(2026, 10, 25, 0, 30), "slot", 1),
    ("Berlin fall: not again at the second 02:30", DAY, "02:30", BERLIN, U(2026, 10, 25, 0, 30), U(2026, 10, 25, 1, 30), None, None, 0),
    ("Berlin fall: next night in CET", DAY, "02:30", BERLIN, U(2026, 10, 25, 0, 30), U(2026, 10, 26, 1, 30), U(2026, 10, 26, 1, 30), "slot", 1),
    # New York: 8 Mar 2026 02:00 EST -> 03:00 EDT; 1 Nov 2026 02:00 EDT -> 01:00 EST
    ("NY spring: 02:15 runs at 03:00 EDT", DAY, "02:15", NY, L(NY, 2026, 3, 7, 2, 15), U(2026, 3, 8, 7, 0), U(2026, 3, 8, 7, 0), "slot", 1),
    ("NY fall: 01:30 first (EDT)", DAY, "01:30", NY, L(NY, 2026, 10, 31, 1, 30), U(2026, 11, 1, 5, 30), U(2026, 11, 1, 5, 30), "slot", 1),
    ("NY fall: not at 01:30 EST", DAY, "01:30", NY, U(2026, 11, 1, 5, 30), U(2026, 11, 1, 6, 45), None, None, 0),
    ("NY fall: missed over the change", DAY, "01:30", NY, L(NY, 2026, 10, 30, 1, 30), U(2026, 11, 2, 12, 0), L(NY, 2026, 11, 2, 1, 30), "catch-up", 3),
    # grid periods
    ("15 min: not yet", 15 * MIN, None, BERLIN, U(2026, 6, 10, 10, 0), U(2026, 6, 10, 10, 14, 59), None, None, 0),
    ("15 min: on the grid", 15 * MIN, None, BERLIN, U(2026, 6, 10, 10, 0), U(2026, 6, 10, 10, 15, 3), U(2026, 6, 10, 10, 15), "slot", 1),
    ("15 min: a run longer than the period", 15 * MIN, None, BERLIN, U(2026, 6, 10, 10, 0), U(2026, 6, 10, 10, 47), U(2026, 6, 10, 10, 45), "catch-up", 3),
    ("15 min: grid ignores DST", 15 * MIN, None, BERLIN, U(2026, 3, 29, 0, 45), U(2026, 3, 29, 1, 0), U(2026, 3, 29, 1, 0), "slot", 1),
    ("1 min: long run", MIN, None, NY, U(2026, 6, 10, 10, 0), U(2026, 6, 10, 10, 6, 10), U(2026, 6, 10, 10, 6), "catch-up", 6),
    ("2 h: grid", 2 * HOUR, None, UTC, U(2026, 6, 10, 10, 0), U(2026, 6, 10, 12, 0), U(2026, 6, 10, 12, 0), "slot", 1),
    ("36 h: grid of a non-day period", 36 * HOUR, None, UTC, U(2026, 6, 9, 0), U(2026, 6, 10, 12, 1), U(2026, 6, 10, 12), "slot", 1),
    # host clock corrections
    ("clock went back 2 days: served slot in the future", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 12, 2), L(BERLIN, 2026, 6, 10, 9), L(BERLIN, 2026, 6, 10, 2), "catch-up", 1),
    ("clock went back 1 hour", 15 * MIN, None, UTC, U(2026, 6, 10, 11, 0), U(2026, 6, 10, 10, 2), U(2026, 6, 10, 10, 0), "catch-up", 1),
    ("two hosts 90 s apart: not a correction", 15 * MIN, None, UTC, U(2026, 6, 10, 10, 15), U(2026, 6, 10, 10, 13, 30), None, None, 0),
    ("clock jumped forward 5 days", DAY, "02:00", BERLIN, L(BERLIN, 2026, 6, 10, 2), L(BERLIN, 2026, 6, 15, 14), L(BERLIN, 2026, 6, 15, 2), "catch-up", 5),
    # several days
    ("every 2 days: on a slot day", 2 * DAY, "02:00", UTC, U(2026, 6, 9, 2), U(2026, 6, 11, 2), U(2026, 6, 11, 2), "slot", 1),
    ("every 2 days: off day", 2 * DAY, "02:00", UTC, U(2026, 6, 11, 2), U(2026, 6, 12, 23), None, None, 0),
    ("every 1 day without a time: midnight", DAY, None, BERLIN, L(BERLIN, 2026, 6, 9, 0), L(BERLIN, 2026, 6, 10, 0, 0, 30), L(BERLIN, 2026, 6, 10, 0), "slot", 1),
]


@pytest.mark.parametrize("name,every,at,tz,last,now,slot,trigger,missed", CASES, ids=[c[0] for c in CASES])
def test_due_table(name, every, at, tz, last, now, slot, trigger, missed):
    owed = due(every, at, last, now, tz)
    if slot is None:
        assert owed is None
        return
    assert owed is not None
    assert (owed.slot, owed.trigger, owed.missed) == (slot, trigger, missed)
    assert (owed.warning is not None) == ("future" in name or "went back" in name)


def test_naive_datetimes_are_utc():
    owed = due(HOUR, None, datetime(2026, 3, 10, 10, 0), datetime(2026, 3, 10, 11, 0), UTC)
    assert owed.slot == U(2026, 3, 10, 11)
    assert due(HOUR, None, datetime(2026, 3, 10, 10, 0), datetime(2026, 3, 10, 10, 59), UTC) is None


def test_disabled_never_due_and_has_no_next_run():
    sched = ScheduleConfig("N", DAY, at_time="02:00", enabled=False, last_slot=datetime(2026, 1, 1))
    assert due(DAY, "02:00", None, U(2026, 6, 10, 5), UTC, enabled=False) is None
    assert next_run(sched, U(2026, 6, 10, 5), UTC) is None


def test_next_run_after_served_slot_and_when_owed():
    sched = ScheduleConfig("N", DAY, at_time="02:00", last_slot=L(BERLIN, 2026, 6, 10, 2).replace(tzinfo=None))
    assert next_run(sched, L(BERLIN, 2026, 6, 10, 10), BERLIN) == L(BERLIN, 2026, 6, 11, 2)
    assert next_run(sched, L(BERLIN, 2026, 6, 12, 10), BERLIN) == L(BERLIN, 2026, 6, 12, 2)  # owed: runs at once
    created = ScheduleConfig("New", DAY, at_time="02:00", last_slot=L(BERLIN, 2026, 6, 10, 13).replace(tzinfo=None))
    assert next_run(created, L(BERLIN, 2026, 6, 10, 13, 1), BERLIN) == L(BERLIN, 2026, 6, 11, 2)
    grid = ScheduleConfig("Q", 15 * MIN, last_slot=datetime(2026, 6, 10, 10, 15))
    assert next_run(grid, U(2026, 6, 10, 10, 16), UTC) == U(2026, 6, 10, 10, 30)
    assert next_run(ScheduleConfig("Fresh", 15 * MIN), U(2026, 6, 10, 10, 16), UTC) == U(2026, 6, 10, 10, 15)


def test_local_slot_gap_and_overlap():
    assert local_slot(datetime(2026, 3, 29).date(), datetime(2000, 1, 1, 2, 30).time(), BERLIN) == U(2026, 3, 29, 1)
    assert local_slot(datetime(2026, 10, 25).date(), datetime(2000, 1, 1, 2, 30).time(), BERLIN) == U(2026, 10, 25, 0, 30)
    assert local_slot(datetime(2026, 3, 8).date(), datetime(2000, 1, 1, 2, 0).time(), NY) == U(2026, 3, 8, 7)


def test_every_seven_days_is_one_weekday_and_every_two_alternates():
    slots, cursor = [], U(2026, 6, 1)
    for _ in range(6):
        cursor = slot_after(7 * DAY, "02:00", cursor, BERLIN)
        slots.append(cursor)
    assert len({s.astimezone(BERLIN).weekday() for s in slots}) == 1
    assert all(b - a == timedelta(days=7) for a, b in zip(slots, slots[1:]))
    two = [slot_after(2 * DAY, "23:00", U(2026, 6, d), UTC) for d in range(1, 8)]
    assert all((b - a) in (timedelta(0), timedelta(days=2)) for a, b in zip(two, two[1:]))


def test_slot_helpers_agree():
    for when in (U(2026, 3, 29, 0, 59), U(2026, 3, 29, 1, 0), U(2026, 10, 25, 1, 30), U(2026, 6, 10, 2, 0)):
        before, after = slot_at_or_before(DAY, "02:30", when, BERLIN), slot_after(DAY, "02:30", when, BERLIN)
        assert before <= when < after
        assert count_slots(DAY, "02:30", before, after, BERLIN) == 1
    assert count_slots(MIN, None, U(2020, 1, 1), U(2026, 1, 1), UTC) == 10_000  # capped


def test_a_new_schedule_saved_on_a_clock_ahead_waits_for_its_first_slot_not_runs():
    """Saved when the host clock (or a test's) said December; checked with a clock that says March: it waits for
    the next 02:00, it neither runs at once nor waits until December."""
    created = U(2026, 12, 3, 8, 30)
    assert due(DAY, "02:00", None, L(BERLIN, 2026, 3, 28, 12), BERLIN, created=created) is None
    created = L(BERLIN, 2026, 3, 28, 12)  # what tick does then: it waits from now (ic.services.runs.due_runs)
    owed = due(DAY, "02:00", None, L(BERLIN, 2026, 3, 29, 2, 0, 30), BERLIN, created=created)
    assert owed is not None and (owed.slot, owed.trigger, owed.warning) == (L(BERLIN, 2026, 3, 29, 2), "slot", None)
    sched = ScheduleConfig("N", DAY, at_time="02:00", created=datetime(2026, 12, 3, 8, 30))
    assert next_run(sched, L(BERLIN, 2026, 3, 28, 12), BERLIN) == L(BERLIN, 2026, 3, 29, 2)
    # created in the past: the slots since then are owed (one catch-up run)
    owed = due(DAY, "02:00", None, L(BERLIN, 2026, 6, 12, 9), BERLIN, created=L(BERLIN, 2026, 6, 10, 13))
    assert (owed.slot, owed.trigger, owed.missed) == (L(BERLIN, 2026, 6, 12, 2), "catch-up", 2)
    assert due(DAY, "02:00", None, L(BERLIN, 2026, 6, 10, 14), BERLIN, created=L(BERLIN, 2026, 6, 10, 13)) is None
