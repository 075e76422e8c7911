"""Run history: every run (slot, catch-up, Run Now, export) is one row of ic_run_history, newest kept per schedule.

Read by `status`/`history` on the command line and by the GUI's schedule list ("Today 02:00: 412 sessions ...").
Times are naive UTC in the database and aware UTC in a RunRecord.
"""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import delete, desc, insert, select

from ic.settings import schema as s

log = logging.getLogger("ic.services.history")

KEEP_PER_SCHEDULE = 500
TRIGGERS = ("slot", "catch-up", "run now", "export")


@dataclass
class RunRecord:
    schedule: str  # schedule name; an export: "site -> destination"
    started: datetime
    finished: datetime | None = None
    status: str = "ok"  # ok | failed | cancelled | internal error
    trigger: str = "run now"  # slot | catch-up | run now | export
    sessions: int = 0
    in_progress: int = 0
    recordings: int = 0  # recording files of every kind (session, Show My Screen, command shell)
    backups: int = 0
    failed: int = 0  # transfers that failed
    bytes: int = 0
    host: str = field(default_factory=socket.gethostname)
    message: str = ""
    slot: datetime | None = None  # the slot a scheduled run served (None for Run Now / export)
    id: int | None = None


def _naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def record_run(store, record: RunRecord, keep: int = KEEP_PER_SCHEDULE) -> None:
    """Append one run and drop the oldest ones of that schedule beyond ``keep``. Never raises: history is a record,
    not a reason to fail a run (a failure is logged)."""
    values = dict(
        schedule=record.schedule[:200], started=_naive(record.started), finished=_naive(record.finished),
        status=record.status[:30], trigger=record.trigger[:20], slot=_naive(record.slot),
        sessions=int(record.sessions), in_progress=int(record.in_progress), recordings=int(record.recordings),
        backups=int(record.backups), failed=int(record.failed), bytes=int(record.bytes), host=(record.host or "")[:200],
        message=(record.message or "")[:4000],
    )
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(s.run_history).values(**values))
            h = s.run_history
            cutoff = conn.execute(select(h.c.id).where(h.c.schedule == values["schedule"]).order_by(desc(h.c.id))
                                  .offset(keep).limit(1)).scalar()
            if cutoff is not None:
                conn.execute(delete(h).where(h.c.schedule == values["schedule"], h.c.id <= cutoff))
    except Exception as exc:  # noqa: BLE001
        log.error("Could not record the run of %s in the run history: %s", record.schedule, exc)


def recent_runs(store, schedule: str | None = None, limit: int = 30) -> list[RunRecord]:
    """Newest first; all schedules (and exports) when ``schedule`` is None."""
    h = s.run_history
    query = select(h).order_by(desc(h.c.started), desc(h.c.id)).limit(max(1, int(limit)))
    if schedule is not None:
        query = query.where(h.c.schedule == schedule)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        RunRecord(schedule=r["schedule"], started=_aware(r["started"]), finished=_aware(r["finished"]),
                  status=r["status"], trigger=r["trigger"], sessions=r["sessions"], in_progress=r["in_progress"],
                  recordings=r["recordings"], backups=r["backups"], failed=r["failed"], bytes=r["bytes"] or 0,
                  host=r["host"] or "", message=r["message"] or "", slot=_aware(r["slot"]), id=r["id"])
        for r in rows
    ]


def last_run_record(store, schedule: str) -> RunRecord | None:
    runs = recent_runs(store, schedule, 1)
    return runs[0] if runs else None


# --- words ------------------------------------------------------------------------------------------------------------
def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def when_words(instant: datetime, now: datetime | None = None, tz=None) -> str:
    """'Today 02:00', 'Yesterday 23:15', 'Tomorrow 02:00', 'Monday 02:00' (within a week), else '2026-11-24 02:00'
    — local wall-clock time (``tz`` None: this machine's zone)."""
    now = now or datetime.now(timezone.utc)
    local = _aware(instant).astimezone(tz)
    today = _aware(now).astimezone(tz).date()
    days = (local.date() - today).days
    clock = local.strftime("%H:%M")
    if days == 0:
        return f"Today {clock}"
    if days == -1:
        return f"Yesterday {clock}"
    if days == 1:
        return f"Tomorrow {clock}"
    if -6 <= days <= 6:
        return f"{local.strftime('%A')} {clock}"
    return local.strftime("%Y-%m-%d %H:%M")


def describe_run(record: RunRecord, now: datetime | None = None, tz=None) -> str:
    """One line: "Today 02:00: 412 sessions, 37 recordings and 1 backup copied; nothing failed"."""
    head = when_words(record.started, now, tz)
    if record.trigger in ("catch-up", "run now", "export"):
        head += f" ({record.trigger})"
    if record.status == "cancelled":
        return f"{head}: cancelled; the next run continues where it stopped"
    if record.status == "internal error":
        return f"{head}: stopped with an internal error (see the log); it is tried again at the next check"
    copied = [_plural(record.sessions, "session")]
    if record.in_progress:
        copied.append(f"{record.in_progress} in progress")
    if record.recordings:
        copied.append(_plural(record.recordings, "recording"))
    if record.backups:
        copied.append(_plural(record.backups, "backup"))
    text = f"{head}: {_join(copied)} copied"
    if record.status == "ok" and not record.failed:
        return text + "; nothing failed"
    failed = _plural(record.failed, "transfer") + " failed" if record.failed else "failed"
    reason = f": {record.message}" if record.message else ""
    return f"{text}; {failed}{reason}"


def describe_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return _plural(seconds, "second")
    if seconds < 3600:
        return _plural(seconds // 60, "minute")
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


__all__ = ["RunRecord", "record_run", "recent_runs", "last_run_record", "describe_run", "when_words",
           "KEEP_PER_SCHEDULE", "TRIGGERS"]
