"""`status` (the main window's header and schedule list in words) and `history [SCHEDULE]` (recent runs)."""
from __future__ import annotations

import argparse
from datetime import datetime, timezone

from ic.cli.common import print_table, store_from


def register(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("status", help="the scheduler's state, Last Program Run, and each schedule's last and next run")
    st.add_argument("--history", action="store_true", help="also list the recent runs of every schedule")
    st.add_argument("--limit", type=int, default=10, help="runs listed with --history (default 10)")
    st.set_defaults(func=_status)

    hist = sub.add_parser("history", help="recent runs (scheduled, catch-up, Run Now, exports), newest first")
    hist.add_argument("schedule", nargs="?", help="only this schedule (default: all)")
    hist.add_argument("--limit", type=int, default=30, help="how many runs (default 30)")
    hist.set_defaults(func=_history)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _program_run(value: str | None, now: datetime, tz=None) -> str:
    from ic.services.history import when_words

    if not value:
        return "never"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return when_words(when if when.tzinfo else when.replace(tzinfo=timezone.utc), now, tz)


def _task_line() -> str | None:
    try:
        from ic.scheduling import task

        st = task.status()
        return f"{st.state}. {st.detail}"
    except Exception:  # noqa: BLE001 - the OS task is optional information here
        return None


def status_lines(store, now: datetime | None = None, tz=None, *, task_line: str | None = None) -> list[str]:
    """The header lines of `status` (also what the tests read)."""
    from ic.services.runs import scheduler_status

    now = now or _now()
    sched = scheduler_status(store, now)
    lines = [f"Scheduler: {sched.describe(now, tz)}."]
    if task_line:
        lines.append(f"Scheduler task: {task_line}")
    lines.append(f"Last Program Run: {_program_run(store.get_setting('last_program_run'), now, tz)}")
    return lines


def schedule_rows(store, now: datetime | None = None, tz=None) -> list[list[str]]:
    """[name, period, last run in words, next run, runs on] per schedule."""
    from ic.scheduling.due import next_run
    from ic.scheduling.lease import holders
    from ic.services.history import describe_run, last_run_record, when_words
    from ic.settings.validation import format_period

    now = now or _now()
    running = holders(store, now=now)
    rows = []
    for s in store.list_schedules():
        period = format_period(s.every_seconds) + (f" at {s.at_time}" if s.at_time else "")
        record = last_run_record(store, s.name)
        if record is not None:
            last = describe_run(record, now, tz)
        elif s.last_run is not None:
            last = when_words(s.last_run.replace(tzinfo=timezone.utc), now, tz) + f": {s.last_status or ''}".rstrip(": ")
        else:
            last = "never"
        if not s.enabled:
            upcoming = "disabled"
        else:
            nxt = next_run(s, now, tz)
            upcoming = "now (due)" if nxt is not None and nxt <= now else when_words(nxt, now, tz) if nxt else "-"
        where = running.get(s.name)
        rows.append([s.name, period, last, upcoming, f"running on {where[0]}" if where else "-"])
    return rows


def _status(args: argparse.Namespace) -> int:
    store = store_from(args)
    now = _now()
    for line in status_lines(store, now, task_line=_task_line()):
        print(line)
    rows = schedule_rows(store, now)
    if not rows:
        print("No schedules yet: add one with `schedule add NAME --site S --destination D --every 15m`.")
        return 0
    print()
    print_table(["SCHEDULE", "PERIOD", "LAST RUN", "NEXT RUN", "HOST"], rows)
    if args.history:
        print()
        _print_history(store, None, args.limit, now)
    return 0


def _print_history(store, schedule: str | None, limit: int, now: datetime) -> None:
    from ic.services.history import describe_run, recent_runs

    runs = recent_runs(store, schedule, limit)
    if not runs:
        print("No runs recorded yet." if schedule is None else f"No runs of {schedule} recorded yet.")
        return
    rows = [[r.schedule, r.host, describe_run(r, now)] for r in runs]
    print_table(["SCHEDULE", "HOST", "RUN"], rows)


def _history(args: argparse.Namespace) -> int:
    store = store_from(args)
    if args.schedule:
        store.get_schedule(args.schedule)  # NotFound names it
    _print_history(store, args.schedule, max(1, args.limit), _now())
    return 0
