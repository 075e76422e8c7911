"""The resident scheduler's row in the settings database: who runs, since when, last check, and a stop request.

`task stop`, the GUI's Stop and `scheduler --stop` write ``stop_requested`` for this host; the scheduler process
reads it between checks and exits cleanly, so Stop means exactly that process (on this host).
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, desc, insert, select, update

from ic.scheduling.lease import host_id as this_host_id, host_name
from ic.settings import schema as s

STALE_AFTER = timedelta(minutes=3)  # no heartbeat for this long: the process is gone (it beats every minute)


@dataclass
class SchedulerStatus:
    running: bool
    host: str | None = None  # hostname of the scheduler process described
    pid: int | None = None
    since: datetime | None = None  # aware UTC
    last_check: datetime | None = None  # aware UTC
    host_id: str | None = None
    stop_requested: bool = False

    def describe(self, now: datetime | None = None, tz=None) -> str:
        from ic.services.history import when_words

        if self.running:
            since = f" since {when_words(self.since, now, tz)}" if self.since else ""
            last = f", last check {when_words(self.last_check, now, tz)}" if self.last_check else ""
            return f"running on {self.host} (process {self.pid}){since}{last}"
        if self.last_check:
            return f"not running (last seen on {self.host} {when_words(self.last_check, now, tz)})"
        return "not running"


def _naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def beat(store, hid: str, *, now: datetime | None = None, started: datetime | None = None, pid: int | None = None,
         state: str = "running", program_run: bool = False) -> bool:
    """Write the heartbeat (and with ``program_run`` the Last Program Run setting) in one transaction; returns True
    when a stop was requested for this host."""
    t = s.scheduler_hosts
    now = _naive(now) if now else _now()
    values = {"host": (host_name(hid) or socket.gethostname())[:200], "last_check": now, "state": state}
    if started is not None:
        values.update(started=_naive(started), pid=pid or os.getpid(), stop_requested=False)
    with store.engine.begin() as conn:
        if program_run:
            _set_program_run(conn, now)
        row = conn.execute(_STOP_QUERY, {"hid": hid}).first()
        if row is None:
            conn.execute(insert(t).values(host_id=hid, **{"stop_requested": False, **values}))
            return False
        conn.execute(update(t).where(t.c.host_id == hid).values(**values))
        return bool(row[0]) and started is None


def _set_program_run(conn, now: datetime) -> None:
    """The guide's Last Program Run (app setting last_program_run, ISO UTC + "Z"), as `tick` writes it."""
    a = s.app_settings
    value = now.replace(microsecond=0).isoformat() + "Z"
    if conn.execute(update(a).where(a.c.key == "last_program_run").values(value=value)).rowcount != 1:
        if conn.execute(select(a.c.key).where(a.c.key == "last_program_run")).first() is None:
            conn.execute(insert(a).values(key="last_program_run", value=value))


_STOP_QUERY = select(s.scheduler_hosts.c.stop_requested).where(s.scheduler_hosts.c.host_id == bindparam("hid"))


def stop_requested(store, hid: str) -> bool:
    """Read between checks (every few seconds): one prepared SELECT."""
    with store.engine.connect() as conn:
        return bool(conn.execute(_STOP_QUERY, {"hid": hid}).scalar())


def request_stop(store, hid: str | None = None) -> bool:
    """Ask the scheduler of this host (or ``hid``) to stop; False when none is registered."""
    t = s.scheduler_hosts
    hid = hid or this_host_id()
    with store.engine.begin() as conn:
        return conn.execute(update(t).where(t.c.host_id == hid).values(stop_requested=True)).rowcount != 0


def clear_stop(store, hid: str | None = None) -> None:
    t = s.scheduler_hosts
    with store.engine.begin() as conn:
        conn.execute(update(t).where(t.c.host_id == (hid or this_host_id())).values(stop_requested=False))


def all_statuses(store, now: datetime | None = None) -> list[SchedulerStatus]:
    t = s.scheduler_hosts
    now = _naive(now) if now else _now()
    with store.engine.connect() as conn:
        rows = conn.execute(select(t).order_by(desc(t.c.last_check))).mappings().all()
    out = []
    for r in rows:
        fresh = r["last_check"] is not None and now - r["last_check"] <= STALE_AFTER
        out.append(SchedulerStatus(running=r["state"] == "running" and fresh, host=r["host"], pid=r["pid"],
                                   since=_aware(r["started"]), last_check=_aware(r["last_check"]),
                                   host_id=r["host_id"], stop_requested=bool(r["stop_requested"])))
    return out


def status(store, hid: str | None = None, now: datetime | None = None) -> SchedulerStatus:
    """This host's scheduler if it runs, else one running on another host, else this host's last known state."""
    hid = hid or this_host_id()
    rows = all_statuses(store, now)
    mine = next((r for r in rows if r.host_id == hid), None)
    if mine is not None and mine.running:
        return mine
    other = next((r for r in rows if r.running), None)
    return other or mine or (rows[0] if rows else SchedulerStatus(False))
