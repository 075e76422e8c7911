"""Running schedules and one-off exports: what `run`, `tick`, `scheduler`, `export` and the GUI's Run Now / API
Tester call.

Last-run rule (product guide, "Set the Integration Client Schedule"): when the appliance or the destination cannot
be reached — or any other expected, one-sentence failure (``ICError``: bad settings, malformed appliance XML,
unreadable secret) — the run still counts as complete: last_run is set, status "failed: ...", the error is logged
(which triggers the e-mail notification). An internal error (an unexpected exception, i.e. a bug) leaves last_run
unchanged so the next tick tries again. A cancelled run also leaves last_run unchanged.

Slots (ic.scheduling.due): a scheduled run serves a slot; when it completes (ok or failed, as above) the schedule's
last_slot becomes that slot. Run Now and exports never move it. Every run is recorded in the run history
(ic.services.history), whatever its outcome.

One run at a time: a per-machine OS lock (ic.transfer.lock) AND a lease in the settings database
(ic.scheduling.lease) so hosts sharing one settings database never run a schedule at once; a scheduled run checks
again, holding both, that its slot is still unserved (another host may have served it a moment ago).

The transfers of one schedule run simultaneously, one thread each (the guide: "add multiple transfer instances to
one schedule if you wish the transfers to occur simultaneously"); transfers from one site share one appliance
client, hence one token and one rate limit.

Times stored in last_run / last_slot are naive UTC (as everything in the settings database).
"""
from __future__ import annotations

import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Callable

from ic.errors import Cancelled, ConfigError, ICError, ScheduleBusy
from ic.scheduling.due import FUTURE_TOLERANCE, Due, due_for
from ic.scheduling.lease import DEFAULT_TTL, Lease, LeaseKeeper, holders
from ic.services.history import RunRecord, record_run
from ic.settings.models import DATA_TYPES, DataType, TransferConfig
from ic.transfer.engine import ExportRequest, TransferEngine, TransferResult
from ic.transfer.lock import ScheduleLock
from ic.transfer.progress import Listener

log = logging.getLogger("ic.transfer")

OK, FAILED, CANCELLED, INTERNAL, BUSY = "ok", "failed", "cancelled", "internal error", "busy"
SERVED = "served"  # a scheduled run found its slot served meanwhile (by another host): nothing to do
MAX_PARALLEL_TRANSFERS = 8


@dataclass
class RunOutcome:
    schedule: str
    status: str  # ok | failed | cancelled | internal error | busy | served
    results: list[TransferResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: datetime | None = None
    trigger: str = "run now"  # slot | catch-up | run now
    slot: datetime | None = None
    finished: datetime | None = None
    failed_transfers: int = 0

    @property
    def ok(self) -> bool:
        return self.status == OK

    def message(self) -> str:
        if self.status == BUSY:
            where = self.errors[0] if self.errors and " running on " in self.errors[0] else None
            return f"{where}; skipped." if where else f"Schedule {self.schedule} is already running; skipped."
        if self.status == SERVED:
            return f"Schedule {self.schedule}: its slot was served meanwhile by another run; skipped."
        done = "; ".join(f"{r.transfer}: {r.summary()}" for r in self.results) or "nothing to transfer"
        if self.status == OK:
            return f"Schedule {self.schedule} finished: {done}."
        if self.status == CANCELLED:
            return f"Schedule {self.schedule} was cancelled; the next run continues where it stopped."
        return f"Schedule {self.schedule} {self.status}: {' '.join(self.errors)}"


RunHook = Callable[[object, RunOutcome], None]  # (store, outcome) after every schedule run, whatever its outcome
_run_hooks: list[RunHook] = []


def add_run_hook(hook: RunHook) -> None:
    """Call ``hook(store, outcome)`` after every schedule run (slot, catch-up, Run Now), e.g. a verify after the
    transfers. A hook's exception is logged and never changes the run's outcome."""
    if hook not in _run_hooks:
        _run_hooks.append(hook)


def remove_run_hook(hook: RunHook) -> None:
    if hook in _run_hooks:
        _run_hooks.remove(hook)


def _call_run_hooks(store, outcome: RunOutcome) -> None:
    for hook in list(_run_hooks):
        try:
            hook(store, outcome)
        except Exception:  # noqa: BLE001
            log.exception("A post-run hook failed after schedule %s (the run itself is recorded).", outcome.schedule)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


class _SerialListener:
    """Progress from several transfer threads reaches the listener one event at a time."""

    def __init__(self, listener: Listener) -> None:
        self.listener, self._lock = listener, threading.Lock()

    def __call__(self, event) -> None:
        with self._lock:
            self.listener(event)


def run_schedule(
    store,
    name: str,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    *,
    engine_factory=TransferEngine,
    raise_internal: bool = False,
    trigger: str = "run now",
    slot: datetime | None = None,
    still_due: Callable[[object], Due | None] | None = None,
    holder: str | None = None,
    lease_ttl: float = DEFAULT_TTL,
    clock: Callable[[], datetime] | None = None,
) -> RunOutcome:
    """Run every transfer of schedule ``name`` now. Raises ScheduleBusy when it is already running (here, in another
    process, or on another host sharing the settings database: the message names that host).

    ``trigger``/``slot``: a scheduled run ("slot" or "catch-up") serving ``slot``; Run Now leaves both default and
    never moves the slots. ``still_due(schedule)`` is asked again once the locks are held; None -> status "served".
    Expected failures of one transfer are logged and the other transfers still run. ``raise_internal``: re-raise
    an unexpected exception after recording it (the CLI exits non-zero; tests see the traceback). ``clock``: naive
    or aware UTC now (tests); the lease uses the database clock unless ``clock`` is given.
    """
    sched = store.get_schedule(name)
    now = (lambda: _naive(clock())) if clock else utcnow
    lock = ScheduleLock(sched.name)
    lock.acquire()  # ScheduleBusy propagates: the caller decides what "busy" means
    lease = Lease(store, f"schedule:{sched.name}", holder, ttl=lease_ttl, clock=clock)
    try:
        if not lease.acquire():
            where = holders(store).get(sched.name)
            raise ScheduleBusy(f"Schedule {sched.name} is already running" + (f" on {where[0]}." if where else "."))
        if still_due is not None:
            sched = store.get_schedule(name)
            again = still_due(sched)
            if again is None:
                return RunOutcome(sched.name, SERVED, trigger=trigger, slot=slot)
            slot, trigger = again.slot, again.trigger  # as things are now that the locks are held
        cancel = cancel or threading.Event()
        with LeaseKeeper(lease, on_lost=cancel.set):
            return _run_locked(store, sched, listener, cancel, engine_factory, raise_internal, trigger, slot, now)
    finally:
        lease.release()
        lock.release()


def _run_locked(store, sched, listener, cancel, engine_factory, raise_internal, trigger, slot, now) -> RunOutcome:
    started = now()
    outcome = RunOutcome(sched.name, OK, started=started, trigger=trigger, slot=slot)
    mark_slot = slot if trigger in ("slot", "catch-up") else None
    try:
        log.info("Schedule %s started (%d transfer(s), %s).", sched.name, len(sched.transfers), trigger)
        shared = _SerialListener(listener) if listener is not None else None
        engine = engine_factory(store, listener=shared, cancel=cancel, schedule=sched.name)
        if not sched.transfers:
            log.warning("Schedule %s has no transfers; add one under Schedule Configuration.", sched.name)
        with engine:
            _run_transfers(sched, engine, outcome, cancel)
        if cancel.is_set():  # a lost lease (or a stop) after the last transfer finished: the slot is still served
            log.info("Schedule %s finished while a stop was requested.", sched.name)
        status = "ok" if outcome.status == OK else "failed: " + " ".join(outcome.errors)
        store.mark_schedule_run(sched.name, started, status[:1000], slot=mark_slot)
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
        _mark_quietly(store, sched.name, started, f"failed: {exc}"[:1000], slot=mark_slot)
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
        outcome.finished = now()
        record_run(store, _record(outcome))
        _call_run_hooks(store, outcome)


def _record(outcome: RunOutcome) -> RunRecord:
    results = outcome.results
    return RunRecord(
        schedule=outcome.schedule, started=outcome.started or utcnow(), finished=outcome.finished,
        status=outcome.status, trigger=outcome.trigger, slot=outcome.slot,
        sessions=sum(r.sessions_stored for r in results), in_progress=sum(r.in_progress_stored for r in results),
        recordings=sum(r.files_stored for r in results), backups=sum(r.backups for r in results),
        failed=outcome.failed_transfers, bytes=sum(r.bytes for r in results), host=socket.gethostname(),
        message=" ".join(outcome.errors)[:4000],
    )


def _run_transfers(sched, engine: TransferEngine, outcome: RunOutcome, cancel: threading.Event) -> None:
    """All transfers at once (one thread each), results kept in the schedule's order."""
    transfers = list(sched.transfers)
    if len(transfers) <= 1:
        for transfer in transfers:
            _one_transfer(sched, engine, transfer, outcome, outcome.results)
        return
    slots: list[list[TransferResult]] = [[] for _ in transfers]
    errors: list[BaseException | None] = [None] * len(transfers)
    sub_outcomes = [RunOutcome(sched.name, OK) for _ in transfers]

    def work(index: int) -> None:
        try:
            _one_transfer(sched, engine, transfers[index], sub_outcomes[index], slots[index])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread below
            errors[index] = exc
            if isinstance(exc, Cancelled):
                cancel.set()  # one transfer cancelled: the run is cancelled

    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_TRANSFERS, len(transfers)),
                              thread_name_prefix=f"transfer {sched.name}")
    try:
        futures = [pool.submit(work, i) for i in range(len(transfers))]
        pending = set(futures)
        try:
            while pending:
                _, pending = wait_futures(pending, timeout=0.5)
        except KeyboardInterrupt:
            cancel.set()
            wait_futures(futures)
            raise
    finally:
        pool.shutdown(wait=True)
    for index in range(len(transfers)):
        outcome.results.extend(slots[index])
        outcome.errors.extend(sub_outcomes[index].errors)
        outcome.failed_transfers += sub_outcomes[index].failed_transfers
        if sub_outcomes[index].status != OK:
            outcome.status = FAILED
    internal = next((e for e in errors if e is not None and not isinstance(e, ICError)), None)
    if internal is not None:
        raise internal
    cancelled = next((e for e in errors if isinstance(e, Cancelled)), None)
    if cancelled is not None:
        raise cancelled


def _one_transfer(sched, engine: TransferEngine, transfer, outcome: RunOutcome, results: list) -> None:
    label = f"{transfer.site} -> {transfer.destination}"
    try:
        results.append(engine.run_transfer(transfer))
        log.info("Schedule %s, %s: %s.", sched.name, label, results[-1].summary())
    except (Cancelled, KeyboardInterrupt):
        raise
    except ICError as exc:
        # expected outside failure: logged as an error (notification), the other transfers still run
        log.error("Schedule %s, transfer %s failed: %s", sched.name, label, exc)
        outcome.status = FAILED
        outcome.failed_transfers += 1
        outcome.errors.append(f"{label}: {exc}")


def _mark_quietly(store, name: str, when, status: str, *, slot=None) -> None:
    try:
        store.mark_schedule_run(name, when, status, slot=slot)
    except ICError as exc:
        log.error("Could not record the status of schedule %s: %s", name, exc)


def due_runs(store, now: datetime | None = None, tz: tzinfo | None = None) -> list[tuple[str, Due]]:
    """(name, Due) of the enabled schedules that owe a run at ``now`` (naive or aware UTC; default: now)."""
    now = now or utcnow()
    out = []
    for sched in store.list_schedules():
        created = sched.created
        if sched.last_slot is None and created is not None and sched.at_time and \
                _naive(created) > _naive(now) + FUTURE_TOLERANCE:
            # saved while the clock said later than it says now: it waits for the first slot from now on
            log.warning("Schedule %s was saved at %s UTC, later than the clock says now (it was corrected); it "
                        "waits for its first slot from now.", sched.name, f"{created:%Y-%m-%d %H:%M}")
            store.set_schedule_created(sched.name, now)
            sched.created = _naive(now)
        owed = due_for(sched, now, tz)
        if owed is not None:
            last_run = sched.last_run
            if owed.warning is None and last_run is not None and \
                    _naive(last_run) > _naive(now) + FUTURE_TOLERANCE:
                owed.warning = (f"its Last Run {last_run:%Y-%m-%d %H:%M} UTC is in the future (the host clock was "
                                "corrected); it runs as its slots say")
            out.append((sched.name, owed))
    return out


def due_schedules(store, now: datetime | None = None, tz: tzinfo | None = None) -> list[str]:
    """Names of enabled schedules due at ``now`` (naive or aware UTC; default: now)."""
    return [name for name, _ in due_runs(store, now, tz)]


def announce(name: str, owed: Due) -> None:
    """Log why a scheduled run starts when it is not a plain on-time slot."""
    if owed.warning:
        log.warning("Schedule %s: %s.", name, owed.warning)
    elif owed.trigger == "catch-up":
        missed = f"{owed.missed} slots" if owed.missed > 1 else "its slot"
        log.info("Schedule %s missed %s (the newest %s UTC): one catch-up run now.", name, missed,
                 f"{owed.slot:%Y-%m-%d %H:%M}")


def serve(store, name: str, owed: Due, now: datetime, tz: tzinfo | None = None, listener: Listener | None = None,
          cancel: threading.Event | None = None, *, engine_factory=TransferEngine, holder: str | None = None,
          clock: Callable[[], datetime] | None = None, lease_ttl: float = DEFAULT_TTL) -> RunOutcome:
    """Run schedule ``name`` for the slot ``owed`` (tick and the resident scheduler); busy -> status "busy"."""
    announce(name, owed)
    try:
        return run_schedule(store, name, listener, cancel, engine_factory=engine_factory, trigger=owed.trigger,
                            slot=owed.slot, still_due=lambda sched: due_for(sched, now, tz), holder=holder,
                            clock=clock, lease_ttl=lease_ttl)
    except ScheduleBusy as exc:
        log.info("%s Skipped.", str(exc).rstrip("."))
        return RunOutcome(name, BUSY, errors=[str(exc).rstrip(".")], trigger=owed.trigger, slot=owed.slot)


def note_program_run(store, now: datetime | None = None) -> None:
    """Record Last Program Run: each check of the scheduler and each Run Now (window or `run`)."""
    store.set_setting("last_program_run", (_naive(now) if now else utcnow()).replace(microsecond=0).isoformat() + "Z")


def tick(
    store,
    listener: Listener | None = None,
    cancel: threading.Event | None = None,
    *,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    engine_factory=TransferEngine,
    holder: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[RunOutcome]:
    """One check (what cron's `tick` and each minute of the resident scheduler do): record Last Program Run, then
    run each schedule that owes a slot, once, one after another."""
    now = _naive(now) if now else utcnow()
    note_program_run(store, now)
    outcomes: list[RunOutcome] = []
    for name, owed in due_runs(store, now, tz):
        if cancel is not None and cancel.is_set():
            break
        outcomes.append(serve(store, name, owed, now, tz, listener, cancel, engine_factory=engine_factory,
                              holder=holder, clock=clock))
    verify_after_tick(store, now, cancel)
    return outcomes


def verify_after_tick(store, now: datetime, cancel: threading.Event | None) -> None:
    """Periodic verifies (`verify --schedule NAME --every 7d`, ic.services.verify) run after the due schedules;
    they never fail the tick."""
    try:
        from ic.services.verify import tick_verifications
    except ImportError:
        return
    try:
        for line in tick_verifications(store, now=now, cancel=cancel):
            log.info("%s", line)
    except Exception:  # noqa: BLE001 - a verify problem must not stop the scheduler
        log.exception("The periodic verify failed; the next tick tries again.")


def scheduler_status(store, now: datetime | None = None):
    """SchedulerStatus(running, host, pid, since, last_check) of the resident scheduler (this host's, else one
    running on another host sharing the settings database)."""
    from ic.scheduling import heartbeat

    return heartbeat.status(store, now=now)


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
    types = parse_data_types(data_types or [DataType.SESSION])
    if lsid is None and start is None:
        raise ConfigError("Give a start date and duration, or a session ID (LSID), to export.")
    if lsid is not None and not lsid.strip():
        raise ConfigError("The session ID (LSID) to export is empty.")
    request = ExportRequest(lsid=lsid.strip() if lsid else None, duration=max(0, int(duration_seconds)))
    if start is not None:
        aware = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        request.start_time = int(aware.timestamp())
    started, label = utcnow(), f"{site} -> {destination}"
    record = RunRecord(schedule=label, started=started, trigger="export", status=INTERNAL)
    try:
        with engine_factory(store, listener=listener, cancel=cancel) as engine:
            result = engine.run_transfer(TransferConfig(site=site, destination=destination, data_types=types),
                                         export=request)
        record.status = OK
        record.sessions, record.in_progress = result.sessions_stored, result.in_progress_stored
        record.recordings, record.backups, record.bytes = result.files_stored, result.backups, result.bytes
        return result
    except Cancelled:
        record.status = CANCELLED
        raise
    except ICError as exc:
        record.status, record.failed, record.message = FAILED, 1, str(exc)
        raise
    finally:
        record.finished = utcnow()
        record_run(store, record)


_ALIASES = {"session-data": DataType.SESSION, "sessions": DataType.SESSION, "recording": DataType.RECORDINGS,
            "backups": DataType.BACKUP}


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
