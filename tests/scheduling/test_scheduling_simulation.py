"""Think in days: a faked clock ticking every minute across 10 days (DST changes included) serves each slot of every
schedule exactly once; then the real resident scheduler over a real SQLite settings database through a
spring-forward night, a host that was off, a host clock set back and forward."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ic.scheduling.due import due_for
from ic.scheduling.resident import FakeClock, ResidentScheduler
from ic.services.history import recent_runs
from ic.settings.models import ScheduleConfig

UTC = timezone.utc
MIN = timedelta(minutes=1)

SCHEDULES = [  # name, every seconds, time of day
    ("Nightly 02:30", 86400, "02:30"),  # does not exist on the spring-forward night in Berlin; twice in autumn in NY
    ("Early 02:00", 86400, "02:00"),
    ("Late 23:45", 86400, "23:45"),
    ("Alternate 01:30", 2 * 86400, "01:30"),
    ("Weekly 03:00", 7 * 86400, "03:00"),
    ("Midnight", 86400, None),
    ("Quarter", 900, None),
    ("Two hours", 7200, None),
    ("Every 7 min", 420, None),
]


def oracle(every: int, at: str | None, tz, start: datetime, end: datetime) -> list[datetime]:
    """Expected slots in (start, end], found by scanning the minutes: an independent definition of the rule
    (a day's slot is the first minute whose local time is at or after the time of day on that local date)."""
    out = []
    if every % 86400:
        minute = start + MIN
        while minute <= end:
            if int(minute.timestamp()) % every == 0:
                out.append(minute)
            minute += MIN
        return out
    hh, mm = (int(x) for x in (at or "00:00").split(":"))
    days = every // 86400
    seen: set[date] = set()
    minute = start + MIN
    while minute <= end:
        local, before = minute.astimezone(tz), (minute - MIN).astimezone(tz)
        d = local.date()
        crossed = (local.hour, local.minute) >= (hh, mm) and (
            before.date() != d or (before.hour, before.minute) < (hh, mm))
        if crossed and d not in seen and d.toordinal() % days == 0:
            seen.add(d)
            out.append(minute)
        minute += MIN
    return out


@pytest.mark.parametrize("zone,start", [
    ("Europe/Berlin", datetime(2026, 3, 24, 12, 3, tzinfo=UTC)),  # spring forward on 29 March
    ("America/New_York", datetime(2026, 10, 27, 17, 41, tzinfo=UTC)),  # fall back on 1 November
], ids=["berlin-spring", "new-york-fall"])
def test_ten_days_every_minute_each_slot_served_once(zone, start):
    tz = ZoneInfo(zone)
    end = start + timedelta(days=10)
    schedules = []
    for name, every, at in SCHEDULES:  # created at `start`; a time of day waits for its first slot
        schedules.append(ScheduleConfig(name, every, at_time=at, created=start.replace(tzinfo=None) if at else None))
    served: dict[str, list[datetime]] = {name: [] for name, _, _ in SCHEDULES}
    triggers: set[str] = set()
    now = start
    while now <= end:
        for sched in schedules:
            owed = due_for(sched, now, tz)
            if owed is not None:
                served[sched.name].append(owed.slot)
                triggers.add(owed.trigger)
                sched.last_slot = owed.slot.replace(tzinfo=None)
        now += MIN
    assert triggers == {"slot"}  # a check every minute never has to catch up
    for name, every, at in SCHEDULES:
        expected = oracle(every, at, tz, start, end)
        if not at:  # no time of day: runs at once at its creation, serving the current grid slot
            first = datetime.fromtimestamp(int(start.timestamp()) // every * every, UTC) if every % 86400 else \
                datetime.combine(start.astimezone(tz).date(), datetime.min.time(), tz).astimezone(UTC)
            expected = [first, *expected]
        assert served[name] == expected, name
        assert len(set(served[name])) == len(served[name])
    assert len(served["Nightly 02:30"]) == 10 and len(served["Weekly 03:00"]) in (1, 2)


def test_resident_scheduler_across_a_spring_night_a_dead_host_and_clock_corrections(fast_store, tmp_path, caplog):
    """15 hours of checks through the real scheduler and settings database. Berlin, 28-29 March 2026."""
    tz = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 28, 17, 0, tzinfo=UTC)
    for name, every, at in (("Nightly 02:30", 86400, "02:30"), ("Quarter", 900, None)):
        fast_store.save_schedule(ScheduleConfig(name, every, at_time=at), now=start)
    clock = FakeClock(start)
    off_from, off_to = datetime(2026, 3, 28, 18, 0, 30, tzinfo=UTC), datetime(2026, 3, 28, 21, 10, tzinfo=UTC)
    back_at, back_to = datetime(2026, 3, 29, 6, 0, tzinfo=UTC), datetime(2026, 3, 29, 4, 30, tzinfo=UTC)
    events = []

    end = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)

    def on_check(_n):  # the host goes off for 3 hours; later its clock is set back 90 minutes (and runs on)
        if clock.now >= end:
            scheduler.stop()
        elif clock.now == off_from.replace(second=0) + MIN and "off" not in events:
            events.append("off")
            clock.set(off_to)
        elif clock.now >= back_at and "back" not in events:
            events.append("back")
            clock.set(back_to)

    scheduler = ResidentScheduler(fast_store, clock=clock, sleep=clock.sleep, concurrent=False, poll_seconds=60,
                                  tz=tz, host_id="host-a/1", lock_dir=tmp_path, on_check=on_check)
    caplog.set_level(logging.INFO, logger="ic")
    assert scheduler.run() == 0
    assert events == ["off", "back"]
    runs = {name: sorted(recent_runs(fast_store, name, 1000), key=lambda r: r.id)
            for name in ("Nightly 02:30", "Quarter")}
    nightly = runs["Nightly 02:30"]
    # 02:30 does not exist that night: served once, at 03:00 CEST (01:00 UTC); the clock set back to 04:30 UTC
    # (06:30 CEST, after the slot) does not serve it again
    assert [(r.slot, r.trigger, r.status) for r in nightly] == [(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "slot", "ok")]
    quarter = runs["Quarter"]
    slots = [r.slot for r in quarter]
    triggers = [r.trigger for r in quarter]
    assert slots[0] == start and triggers[0] == "slot"  # a new schedule without a time of day runs at once
    # the host was off 18:01-21:10: ONE catch-up run for the 12 missed slots, logged as such
    catch_up = [r for r in quarter if r.trigger == "catch-up"]
    assert catch_up[0].slot == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    assert "missed 12 slots" in caplog.text
    # the clock set back 90 minutes: the future served slot does not stop the schedule; it runs once with a warning
    assert catch_up[1].slot == back_to and "in the future" in caplog.text
    assert len(catch_up) == 2
    # between these events every 15-minute slot is served exactly once, on time
    back_index = quarter.index(catch_up[1])
    before_back = [r.slot for r in quarter[:back_index] if r.trigger == "slot"]
    assert len(before_back) == len(set(before_back))
    assert before_back[:5] == [start + timedelta(minutes=15 * i) for i in range(5)]  # 17:00 .. 18:00
    after_off = before_back[5:]
    assert after_off == [datetime(2026, 3, 28, 21, 15, tzinfo=UTC) + timedelta(minutes=15 * i)
                         for i in range(len(after_off))]
    assert after_off[-1] == back_at
    # after the clock was set back the schedule goes on every 15 minutes of the (new) clock, never stuck
    after_back = [r.slot for r in quarter[back_index + 1:]]
    assert after_back == [back_to + timedelta(minutes=15 * (i + 1)) for i in range(len(after_back))]
    assert after_back[-1] >= datetime(2026, 3, 29, 7, 45, tzinfo=UTC)
    assert fast_store.get_setting("last_program_run").startswith("2026-03-29T")
    assert all(r.status == "ok" and r.host for r in quarter)


def test_two_schedules_due_in_one_tick_both_run_every_night_and_run_now_moves_nothing(store, tmp_path):
    """The old rule stamped each schedule with its own start time, so the second of two 02:00 schedules skipped every
    other night once the first took over 30 s; a Run Now in the evening made the next night wait a day."""
    from ic.services.runs import run_schedule, tick

    tz = ZoneInfo("America/New_York")
    created = datetime(2026, 10, 28, 15, 0, tzinfo=UTC)
    for name in ("First", "Second"):
        store.save_schedule(ScheduleConfig(name, 86400, at_time="02:00"), now=created)
    served: dict[str, list[datetime]] = {"First": [], "Second": []}
    for night in range(6):  # across the fall-back night of 1 November
        day = (created + timedelta(days=night + 1)).astimezone(tz).date()
        slot = datetime(day.year, day.month, day.day, 2, 0, tzinfo=tz).astimezone(UTC)
        if night == 2:  # a Run Now the evening before, and one a minute before the slot
            run_schedule(store, "First")
            assert store.get_schedule("First").last_slot == served["First"][-1].replace(tzinfo=None)
        for offset in (timedelta(0), timedelta(seconds=45), timedelta(minutes=1, seconds=30), timedelta(hours=8)):
            for outcome in tick(store, now=slot + offset, tz=tz):  # the first run "took" 45 s: the next tick
                served[outcome.schedule].append(outcome.slot)      # still finds the second schedule's slot
    expected = [datetime.combine((created + timedelta(days=n + 1)).astimezone(tz).date(), datetime.min.time())
                .replace(hour=2, tzinfo=tz).astimezone(UTC) for n in range(6)]
    assert served["First"] == expected and served["Second"] == expected
    assert {r.trigger for r in recent_runs(store, "First", 100)} == {"slot", "run now"}


@pytest.mark.slow
def test_a_schedule_saved_today_serves_the_slots_of_a_faked_spring_night(fast_store):
    """A test (or a host) whose clock says an earlier date than when the schedule was saved: the schedule waits for
    its first slot on that clock, then serves every night."""
    from ic.services.runs import tick

    store = fast_store  # ticks every 5 minutes over four days: a settings file on tmpfs when the machine has one
    tz = ZoneInfo("Europe/Berlin")
    store.save_schedule(ScheduleConfig("Nightly", 86400, at_time="02:30"))  # saved now (the real clock)
    served, now = [], datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    while now < datetime(2026, 3, 31, 12, 0, tzinfo=UTC):
        served += [o.slot for o in tick(store, now=now, tz=tz)]
        now += timedelta(minutes=5)
    assert served == [datetime(2026, 3, 28, 1, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
                      datetime(2026, 3, 30, 0, 30, tzinfo=UTC), datetime(2026, 3, 31, 0, 30, tzinfo=UTC)]
