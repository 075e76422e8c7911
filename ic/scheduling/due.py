"""When does a schedule run? Slots, not intervals: pure functions of (period, time of day, last served slot, now).

* "Every N days at HH:MM" has one slot per N local days at HH:MM wall-clock time (``tz``; default: this machine's
  zone, DST-aware). The days are those whose proleptic ordinal is a multiple of N (so every 7 days is a fixed
  weekday, every 2 days alternates, whatever day the schedule was saved). Whole-day periods without a time of day
  use 00:00. A time that does not exist on a spring-forward night (02:30 in Berlin on the last Sunday of March) is
  served once at the first valid instant after the gap (03:00); a time that happens twice on the fall-back night is
  served once, at its first occurrence.
* Any other period ("every 15 minutes", "every 2 hours", "every 36 hours") has slots on a fixed grid: multiples of
  the period since the Unix epoch (UTC), so they never drift with run times or DST.

A schedule is due when a slot has passed that is not served: ``last_slot`` (what the settings database keeps) is the
newest slot served; a new schedule with a time of day waits for the first slot after its creation (``created``).
Several missed slots give ONE run (a "catch-up"). Run Now and exports never move ``last_slot``. A ``last_slot`` in
the future (a host clock that was ahead and was corrected) never stops a schedule: it is due at once, with a warning.

Times in and out: aware datetimes or naive ones meaning UTC (what the settings store keeps); results are aware UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone, tzinfo

UTC = timezone.utc
DAY = 86400
FUTURE_TOLERANCE = timedelta(minutes=2)  # a served slot this far ahead of now is two hosts' clock skew, not a jump
CATCH_UP_AFTER = timedelta(minutes=5)  # a single slot served later than this (host was off) is logged as catch-up
MAX_COUNT = 10_000  # counting missed slots stops here ("more than ...")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_at(at_time: str | None) -> time:
    if not at_time:
        return time(0, 0)
    hours, _, minutes = at_time.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def is_day_period(every_seconds: int) -> bool:
    return every_seconds >= DAY and every_seconds % DAY == 0


# --- local wall clock <-> UTC (tz None = the system zone, through the C library, DST-aware) ----------------------------
def _local_naive(instant: datetime, tz: tzinfo | None) -> datetime:
    return (instant.astimezone(tz) if tz is not None else instant.astimezone()).replace(tzinfo=None)


def _wall_to_utc(naive: datetime, fold: int, tz: tzinfo | None) -> datetime:
    value = naive.replace(fold=fold)
    return (value.replace(tzinfo=tz) if tz is not None else value.astimezone()).astimezone(UTC)


def _offset(instant: datetime, tz: tzinfo | None) -> timedelta:
    return _local_naive(instant, tz) - instant.replace(tzinfo=None)


@lru_cache(maxsize=4096)  # pure for a given zone: a resident scheduler asks for the same few days every minute
def local_slot(day: date, at: time, tz: tzinfo | None = None) -> datetime:
    """The instant (aware UTC) of wall-clock ``at`` on local ``day``: the first occurrence when it happens twice,
    the end of the gap (the first valid instant) when it does not exist."""
    naive = datetime.combine(day, at)
    first = _wall_to_utc(naive, 0, tz)
    if _local_naive(first, tz) == naive:
        return first
    # In a gap: fold=1 gives an instant before the transition, fold=0 one after it; find the transition.
    lo, hi = sorted((_wall_to_utc(naive, 1, tz), first))
    base = _offset(lo, tz)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if _offset(mid, tz) == base:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


# --- slots ---------------------------------------------------------------------------------------------------------------
def _is_slot_day(day: date, days: int) -> bool:
    return day.toordinal() % days == 0


def slot_at_or_before(every_seconds: int, at_time: str | None, when: datetime, tz: tzinfo | None = None) -> datetime:
    """The newest slot at or before ``when``."""
    when = _utc(when)
    if not is_day_period(every_seconds):
        stamp = int(when.timestamp()) // every_seconds * every_seconds
        return datetime.fromtimestamp(stamp, UTC)
    days, at = every_seconds // DAY, _parse_at(at_time)
    today = _local_naive(when, tz).date()
    for back in range(-1, days + 3):
        day = today - timedelta(days=back)
        if _is_slot_day(day, days):
            slot = local_slot(day, at, tz)
            if slot <= when:
                return slot
    raise AssertionError("no slot found")  # pragma: no cover - a slot day comes every `days` days


def slot_after(every_seconds: int, at_time: str | None, when: datetime, tz: tzinfo | None = None) -> datetime:
    """The first slot strictly after ``when``."""
    when = _utc(when)
    if not is_day_period(every_seconds):
        stamp = (int(when.timestamp()) // every_seconds + 1) * every_seconds
        return datetime.fromtimestamp(stamp, UTC)
    days, at = every_seconds // DAY, _parse_at(at_time)
    today = _local_naive(when, tz).date()
    for ahead in range(-1, days + 3):
        day = today + timedelta(days=ahead)
        if _is_slot_day(day, days):
            slot = local_slot(day, at, tz)
            if slot > when:
                return slot
    raise AssertionError("no slot found")  # pragma: no cover


@lru_cache(maxsize=1024)
def _next_slot(every_seconds: int, at_time: str | None, after: datetime, tz: tzinfo | None) -> datetime:
    return slot_after(every_seconds, at_time, after, tz)


def count_slots(every_seconds: int, at_time: str | None, after: datetime, until: datetime,
                tz: tzinfo | None = None) -> int:
    """Slots in (after, until], at most MAX_COUNT."""
    after, until = _utc(after), _utc(until)
    if until <= after:
        return 0
    if not is_day_period(every_seconds):
        return min(MAX_COUNT, int(until.timestamp()) // every_seconds - int(after.timestamp()) // every_seconds)
    count, cursor = 0, after
    while count < MAX_COUNT:
        cursor = slot_after(every_seconds, at_time, cursor, tz)
        if cursor > until:
            break
        count += 1
    return count


@dataclass
class Due:
    """A schedule owes a run: ``slot`` is what it serves (the newest slot passed); ``missed`` how many slots passed
    unserved (``MAX_COUNT`` means at least that many); ``warning`` says why a future last slot was overruled."""

    slot: datetime
    missed: int
    trigger: str  # "slot" | "catch-up"
    warning: str | None = None


def due(every_seconds: int, at_time: str | None, last_slot: datetime | None, now: datetime,
        tz: tzinfo | None = None, *, enabled: bool = True, created: datetime | None = None) -> Due | None:
    """The run a check at ``now`` owes this schedule, or None. ``created``: for a schedule with a time of day that
    has served no slot yet, when it was saved (it waits for the first slot after that)."""
    if not enabled:
        return None
    now = _utc(now)
    if last_slot is not None:
        floor = _utc(last_slot)
    elif created is not None and at_time:
        floor = _utc(created)
        if floor > now + FUTURE_TOLERANCE:
            return None  # saved on a clock that was ahead: it waits (the caller moves ``created`` to now)
    else:  # never ran and nothing to wait for: run now, serving the newest slot
        return Due(slot_at_or_before(every_seconds, at_time, now, tz), 1, "slot")
    if now + FUTURE_TOLERANCE >= floor and now < _next_slot(every_seconds, at_time, floor, tz):
        return None  # the common case, every minute: the next slot is still ahead
    latest = slot_at_or_before(every_seconds, at_time, now, tz)
    if floor > now + FUTURE_TOLERANCE:
        return Due(latest, 1, "catch-up", warning=(
            f"its last served slot {floor:%Y-%m-%d %H:%M} UTC is in the future (the host clock was corrected); "
            "running it now"))
    if latest <= floor:
        return None
    missed = count_slots(every_seconds, at_time, floor, latest, tz)
    trigger = "catch-up" if missed > 1 or now - latest > CATCH_UP_AFTER else "slot"
    return Due(latest, max(1, missed), trigger)


def due_for(schedule, now: datetime, tz: tzinfo | None = None) -> Due | None:
    """:func:`due` for a ScheduleConfig."""
    return due(schedule.every_seconds, schedule.at_time, schedule.last_slot, now, tz, enabled=schedule.enabled,
               created=getattr(schedule, "created", None))


def next_run(schedule, now: datetime, tz: tzinfo | None = None) -> datetime | None:
    """When the schedule runs next (aware UTC); None when it is disabled.

    A slot that is owed already (the scheduler runs it at its next check) is returned as it is, so the result can be
    at or before ``now``: show it as "now" / "due since ...".
    """
    owed = due_for(schedule, now, tz)
    if owed is not None:
        return owed.slot if schedule.enabled else None
    if not schedule.enabled:
        return None
    now = _utc(now)
    floor = _utc(schedule.last_slot) if schedule.last_slot is not None else now  # (a created one: due said wait)
    return slot_after(schedule.every_seconds, schedule.at_time, max(now, floor), tz)


def is_due(schedule, *args, **kwargs) -> bool:
    """``is_due(schedule, now, tz=None)``; the older form ``is_due(last_run, every_seconds, at_time, now, tz=None)``
    is still understood (``last_run`` then counts as the last served slot)."""
    if hasattr(schedule, "every_seconds"):
        return due_for(schedule, *args, **kwargs) is not None
    every_seconds, at_time, now, *rest = args
    tz = rest[0] if rest else kwargs.get("tz")
    return due(every_seconds, at_time, schedule, now, tz) is not None


def next_due(last_run: datetime | None, every_seconds: int, at_time: str | None = None,
             tz: tzinfo | None = None) -> datetime | None:
    """Older helper: the first slot after ``last_run`` (aware UTC); None when it never ran (due at once)."""
    if last_run is None:
        return None
    return slot_after(every_seconds, at_time, last_run, tz)
