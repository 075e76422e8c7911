"""Running schedules and one-off exports: what `run`, `tick`, `export` and the GUI's Run Now / API Tester call.

Last-run rule (product guide, "Set the Integration Client Schedule"): when the appliance or the destination cannot
be reached — or any other expected, one-sentence failure (``ICError``: bad settings, malformed appliance XML,
unreadable secret) — the run still counts as complete: last_run is set, status "failed: ...", the error is logged
(which triggers the e-mail notification). An internal error (an unexpected exception, i.e. a bug) leaves last_run
unchanged so the next tick tries again. A cancelled run also leaves last_run unchanged.

Times stored in last_run are naive UTC (as everything in the settings database).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ic.errors import Cancelled, ConfigError, ICError, ScheduleBusy
from ic.scheduling.due import is_due
from ic.settings.models import DATA_TYPES, TransferConfig
from ic.transfer.engine import ExportRequest, TransferEngine, TransferResult
from ic.transfer.lock import ScheduleLock
from ic.transfer.progress import Listener

log = logging.getLogger("ic.transfer")

OK, FAILED, CANCELLED, INTERNAL, BUSY = "ok", "failed", "cancelled", "internal error", "busy"


@dataclass
class RunOutcome:
    schedule: str
    status: str  # ok | failed | cancelled | internal error | busy
    results: list[TransferResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def message(self) -> str:
        if self.status == BUSY:
            return f"Schedule {self.schedule} is already running; skipped."
        done = "; ".join(f"{r.transfer}: {r.summary()}" for r in self.results) or "nothing to transfer"
        if self.status == OK:
            return f"Schedule {self.schedule} finished: {done}."
        if self.status == CANCELLED:
            return f"Schedule {self.schedule} was cancelled; the next run continues where it stopped."
        return f"Schedule {self.schedule} {self.status}: {' '.join(self.errors)}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def run_schedule(
    store,
    name: str,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    *,
    engine_factory=TransferEngine,
    raise_internal: bool = False,
) -> RunOutcome:
    """Run every transfer of schedule ``name`` now (due or not). Raises ScheduleBusy when it is already running.

    Expected failures of one transfer are logged and the other transfers still run. ``raise_internal``: re-raise
    an unexpected exception after recording it (the CLI exits non-zero; tests see the traceback).
    """
    sched = store.get_schedule(name)
    lock = ScheduleLock(sched.name)
    lock.acquire()  # ScheduleBusy propagates: the caller decides what "busy" means
    started = utcnow()
    outcome = RunOutcome(sched.name, OK, started=started)
    try:
        log.info("Schedule %s started (%d transfer(s)).", sched.name, len(sched.transfers))
        engine = engine_factory(store, listener=listener, cancel=cancel, schedule=sched.name)
        if not sched.transfers:
            log.warning("Schedule %s has no transfers; add one under Schedule Configuration.", sched.name)
        with engine:
            _run_transfers(sched, engine, outcome)
        status = "ok" if outcome.status == OK else "failed: " + " ".join(outcome.errors)
        store.mark_schedule_run(sched.name, started, status[:1000])
        log.info("%s", outcome.message())
        return outcome
    except (Cancelled, KeyboardInterrupt):
        outcome.status = CANCELLED
        log.warning("Schedule %s was cancelled; it continues where it stopped next time.", sched.name)
        _mark_quietly(store, sched.name, None, "cancelled")
        return outcome
    except ICError as exc:  # outside the transfers (e.g. an unusable app setting): still an expected failure
        outcome.status = FAILED
        outcome.errors.append(str(exc))
        log.error("Schedule %s failed: %s", sched.name, exc)
        _mark_quietly(store, sched.name, started, f"failed: {exc}"[:1000])
        return outcome
    except Exception as exc:  # noqa: BLE001 - a bug: keep last_run so the next tick retries
        outcome.status = INTERNAL
        outcome.errors.append(f"{type(exc).__name__} (see the log)")
        log.exception("Schedule %s stopped with an internal error; it will be retried at the next tick.", sched.name)
        _mark_quietly(store, sched.name, None, f"internal error: {type(exc).__name__}")
        if raise_internal:
            raise
        return outcome
    finally:
        lock.release()


def _run_transfers(sched, engine: TransferEngine, outcome: RunOutcome) -> None:
    for transfer in sched.transfers:
        label = f"{transfer.site} -> {transfer.destination}"
        try:
            outcome.results.append(engine.run_transfer(transfer))
            log.info("Schedule %s, %s: %s.", sched.name, label, outcome.results[-1].summary())
        except (Cancelled, KeyboardInterrupt):
            raise
        except ICError as exc:
            # expected outside failure: logged as an error (notification), the other transfers still run
            log.error("Schedule %s, transfer %s failed: %s", sched.name, label, exc)
            outcome.status = FAILED
            outcome.errors.append(f"{label}: {exc}")


def _mark_quietly(store, name: str, when, status: str) -> None:
    try:
        store.mark_schedule_run(name, when, status)
    except ICError as exc:
        log.error("Could not record the status of schedule %s: %s", name, exc)


def due_schedules(store, now: datetime | None = None) -> list[str]:
    """Names of enabled schedules due at ``now`` (naive or aware UTC; default: now)."""
    now = now or utcnow()
    return [s.name for s in store.list_schedules() if s.enabled and is_due(s.last_run, s.every_seconds, s.at_time, now)]


def tick(
    store,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    *,
    now: datetime | None = None,
    engine_factory=TransferEngine,
) -> list[RunOutcome]:
    """What the OS scheduler calls every minute: record Last Program Run, then run each due schedule once."""
    now = now or utcnow()
    store.set_setting("last_program_run", now.replace(microsecond=0).isoformat() + "Z")
    outcomes: list[RunOutcome] = []
    for name in due_schedules(store, now):
        if cancel is not None and cancel.is_set():
            break
        try:
            outcomes.append(run_schedule(store, name, listener, cancel, engine_factory=engine_factory))
        except ScheduleBusy:
            log.info("Schedule %s is already running; skipped.", name)
            outcomes.append(RunOutcome(name, BUSY))
    return outcomes


def export(
    store,
    site: str,
    destination: str,
    data_types: list[str] | None = None,
    *,
    start: datetime | None = None,
    duration_seconds: int = 0,
    lsid: str | None = None,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    engine_factory=TransferEngine,
) -> TransferResult:
    """One-off export (the API Tester): sessions that started in [start, start + duration] or one lsid.

    No cursor state is read or written, so it never disturbs the schedules. Expected errors propagate (ICError).
    """
    types = parse_data_types(data_types or ["session"])
    if lsid is None and start is None:
        raise ConfigError("Give a start date and duration, or a session ID (LSID), to export.")
    if lsid is not None and not lsid.strip():
        raise ConfigError("The session ID (LSID) to export is empty.")
    request = ExportRequest(lsid=lsid.strip() if lsid else None, duration=max(0, int(duration_seconds)))
    if start is not None:
        aware = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        request.start_time = int(aware.timestamp())
    with engine_factory(store, listener=listener, cancel=cancel) as engine:
        return engine.run_transfer(TransferConfig(site=site, destination=destination, data_types=types), export=request)


_ALIASES = {"session-data": "session", "sessions": "session", "recording": "recordings", "backups": "backup"}


def parse_data_types(values: list[str] | str) -> list[str]:
    """'session,recordings' or ['session', 'shell'] -> validated list in canonical order."""
    items = values.split(",") if isinstance(values, str) else [v for x in values for v in str(x).split(",")]
    out: list[str] = []
    for raw in items:
        name = _ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if not name:
            continue
        if name not in DATA_TYPES:
            raise ConfigError(f"Unknown data type '{raw.strip()}'; use one of {', '.join(DATA_TYPES)}.", field="data")
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError(f"Choose at least one data type: {', '.join(DATA_TYPES)}.", field="data")
    return [t for t in DATA_TYPES if t in out]
