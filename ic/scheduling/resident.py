"""The resident scheduler: `IntegrationClient scheduler` stays up, checks every minute and runs due schedules.

Like the vendor's scheduler service: one process per machine (an OS lock; a second one exits at once), started by
the OS task at start-up and logon and restarted by it if it dies (Windows Task Scheduler repeats its trigger every
few minutes with "do not start a new instance"; Linux: a systemd user unit, or cron @reboot plus a watchdog line).

Each check (on the minute): heartbeat + Last Program Run in the settings database, then every schedule that owes a
slot starts in its own thread (a long run never delays another schedule's slot; a schedule still running is
caught up after it ends). Between checks it only reads the stop flag every few seconds.

It stops cleanly on SIGTERM, Ctrl+C (SIGINT), SIGBREAK, or a stop request in the settings database (`task stop`,
the GUI's Stop): running transfers are cancelled at a safe point and continue where they stopped next time.
Clock and sleep are injectable, so tests run days of checks in a second.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections import deque
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable

from ic.errors import ScheduleBusy
from ic.scheduling import heartbeat
from ic.scheduling.lease import DEFAULT_TTL, host_id as default_host_id
from ic.transfer.lock import ScheduleLock

log = logging.getLogger("ic.scheduling.scheduler")

CHECK_SECONDS = 60
POLL_SECONDS = 10.0  # how often the stop flag is read between checks (Stop takes effect within this)
VERIFY_EVERY = 10  # checks between looks for a due periodic verify (their periods are hours or days)
MAINTENANCE_EVERY = 60  # checks between reloads of log/notification settings and old-log removal
LOCK_NAME = "~scheduler"  # the per-machine OS lock of the resident process (lock file in <data>/locks)
EXIT_OK, EXIT_BUSY = 0, 4


CheckHook = Callable[[object, datetime], None]  # (store, now) at every check, after the due schedules started
_check_hooks: list[CheckHook] = []


def add_check_hook(hook: CheckHook) -> None:
    """Call ``hook(store, now)`` at every check of the resident scheduler (e.g. a periodic verify that keeps its
    own slots with ic.scheduling.due). Runs in the scheduler's thread: start a thread for anything long. A hook's
    exception is logged and the scheduler goes on."""
    if hook not in _check_hooks:
        _check_hooks.append(hook)


def remove_check_hook(hook: CheckHook) -> None:
    if hook in _check_hooks:
        _check_hooks.remove(hook)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ResidentScheduler:
    def __init__(
        self,
        store,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        check_seconds: float = CHECK_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        tz: tzinfo | None = None,
        host_id: str | None = None,
        engine_factory=None,
        listener=None,
        lease_ttl: float = DEFAULT_TTL,
        concurrent: bool = True,
        lock_dir=None,
        on_check: Callable[[int], None] | None = None,
        lease_uses_clock: bool | None = None,
    ) -> None:
        self.store = store
        self._real_clock = clock is None
        self.clock = clock or _utc_now
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait  # real sleep wakes up at once on stop
        self.check_seconds, self.poll_seconds = check_seconds, poll_seconds
        self.tz, self.listener, self.lease_ttl = tz, listener, lease_ttl
        self.host_id = host_id or default_host_id()
        self.engine_factory = engine_factory
        self.concurrent = concurrent
        self.lock_dir = lock_dir
        self.on_check = on_check
        # leases expire on the database's clock unless told otherwise; an injected (frozen, fake) clock is used for
        # them too by default so tests that jump days stay consistent
        self.lease_uses_clock = (clock is not None) if lease_uses_clock is None else lease_uses_clock
        self.cancel = threading.Event()  # handed to every run: set when the scheduler stops
        self.runs: dict[str, threading.Thread] = {}
        self.outcomes: deque = deque(maxlen=200)  # the newest RunOutcomes, in finishing order (tests, bench)
        self.checks = 0
        self._mail = None
        self._verify: threading.Thread | None = None

    # --- control -------------------------------------------------------------------------------------------------
    def stop(self, *_args) -> None:
        """Ask the loop to end (signal handlers, tests). Safe from any thread."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _install_signals(self) -> list[tuple[int, object]]:
        if threading.current_thread() is not threading.main_thread():
            return []
        saved = []
        for name in ("SIGTERM", "SIGINT", "SIGBREAK", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:
                saved.append((sig, signal.signal(sig, self.stop)))
            except (ValueError, OSError):  # pragma: no cover - not allowed here
                pass
        return saved

    # --- the loop ------------------------------------------------------------------------------------------------
    def run(self, max_checks: int | None = None) -> int:
        """Check every minute until stopped; returns the exit code (4: another scheduler runs on this machine)."""
        lock = ScheduleLock(LOCK_NAME, self.lock_dir)
        try:
            lock.acquire()
        except ScheduleBusy:
            log.info("The scheduler is already running on this machine; this one exits.")
            return EXIT_BUSY
        saved = self._install_signals()
        try:
            from ic import notify

            self._mail = notify.install_error_mail(self.store, "scheduler")
        except Exception:  # noqa: BLE001 - notifications are optional; the log keeps every error
            self._mail = None
        started = self.clock()
        try:
            try:
                heartbeat.beat(self.store, self.host_id, now=started, started=started, pid=os.getpid())
            except Exception as exc:  # noqa: BLE001 - settings database away at start-up: the checks retry
                log.error("The scheduler could not write to the settings database: %s", exc)
            log.info("Scheduler started on %s (process %d); it checks the schedules every %s.", self.host_id,
                     os.getpid(), _every(self.check_seconds))
            while not self.stopping:
                self.check()
                if max_checks is not None and self.checks >= max_checks:
                    break
                self._wait_next_check()
        finally:
            self._shutdown()
            for sig, handler in saved:
                try:
                    signal.signal(sig, handler)
                except (ValueError, OSError):  # pragma: no cover
                    pass
            lock.release()
        return EXIT_OK

    def check(self) -> None:
        """One check: heartbeat (which also reads the stop request), Last Program Run, start each due schedule."""
        from ic.services.runs import due_runs

        now = self.clock()
        self.checks += 1
        try:
            if heartbeat.beat(self.store, self.host_id, now=now, program_run=True):
                log.info("Stop requested through the settings database.")
                self.stop()
                return
            due = due_runs(self.store, now, self.tz)
        except Exception as exc:  # noqa: BLE001 - settings database away (restart, network): try again next minute
            log.error("The scheduler could not read the settings database: %s", exc)
            return
        finally:
            if self.on_check:
                self.on_check(self.checks)
        self._reap()
        for name, owed in due:
            if self.stopping:
                break
            if name in self.runs:  # still running: its missed slots become one catch-up run when it ends
                continue
            if self.concurrent:
                thread = threading.Thread(target=self._serve, args=(name, owed, now), name=f"schedule {name}",
                                          daemon=True)
                self.runs[name] = thread
                thread.start()
            else:
                self._serve(name, owed, now)
        if self.checks % VERIFY_EVERY == 1 or VERIFY_EVERY == 1:
            self._start_verifies(now)
        if self._real_clock and self.checks % MAINTENANCE_EVERY == 0:
            self._maintenance()
        for hook in list(_check_hooks):
            try:
                hook(self.store, now)
            except Exception:  # noqa: BLE001
                log.exception("A scheduler check hook failed; the scheduler goes on.")

    def _serve(self, name: str, owed, now: datetime) -> None:
        from ic.services.runs import serve
        from ic.transfer.engine import TransferEngine

        try:
            outcome = serve(self.store, name, owed, now, self.tz, self.listener, self.cancel,
                            engine_factory=self.engine_factory or TransferEngine, holder=self.host_id,
                            clock=self.clock if self.lease_uses_clock else None, lease_ttl=self.lease_ttl)
            self.outcomes.append(outcome)
        except Exception:  # noqa: BLE001 - a deleted schedule, a database hiccup: logged, tried again next check
            log.exception("Schedule %s could not be started; it is tried again at the next check.", name)
        finally:
            if self._mail is not None:
                try:
                    self._mail.flush()
                except Exception:  # noqa: BLE001
                    pass

    def _maintenance(self) -> None:
        """Hourly, for a process that runs for weeks: settings changed in the window since (log folder, Log File
        Removal, notification settings) take effect, and old log files are removed as a fresh start would."""
        from ic import logs, notify

        try:
            logs.apply_store_settings(self.store)
            logs.remove_old_logs(logs.log_dir(self.store), logs.removal_days(self.store))
        except Exception as exc:  # noqa: BLE001
            log.warning("Log maintenance failed: %s", exc)
        if any(t.is_alive() for t in self.runs.values()):
            return  # the mail handler collects a running schedule's errors: swap it later
        try:
            if self._mail is not None:
                notify.remove_error_mail(self._mail)  # sends what is pending
            self._mail = notify.install_error_mail(self.store, "scheduler")
        except Exception as exc:  # noqa: BLE001
            log.warning("Could not reload the notification settings: %s", exc)

    def _start_verifies(self, now: datetime) -> None:
        """The periodic verifies `tick` runs after the schedules (ic.services.verify), here in their own thread so
        a long verify never delays a check; one at a time."""
        from ic.services.runs import verify_after_tick

        if self.stopping or (self._verify is not None and self._verify.is_alive()):
            return
        if not self.concurrent:
            verify_after_tick(self.store, now, self.cancel)
            return
        self._verify = threading.Thread(target=verify_after_tick, args=(self.store, now, self.cancel),
                                        name="periodic verify", daemon=True)
        self._verify.start()

    def _reap(self) -> None:
        for name, thread in list(self.runs.items()):
            if not thread.is_alive():
                del self.runs[name]

    def _wait_next_check(self) -> None:
        now = self.clock()
        stamp = now.timestamp()
        target = (stamp // self.check_seconds + 1) * self.check_seconds
        polled = stamp
        while not self.stopping:
            remaining = target - self.clock().timestamp()
            if remaining <= 0:
                return
            self.sleep(min(self.poll_seconds, remaining))
            current = self.clock().timestamp()
            if current < polled - 120:  # the host clock went back: check now instead of waiting for it
                log.warning("The host clock went back by %d s; checking the schedules now.", polled - current)
                return
            if current - polled >= self.poll_seconds and current < target:
                polled = current
                try:
                    if heartbeat.stop_requested(self.store, self.host_id):
                        log.info("Stop requested through the settings database.")
                        self.stop()
                except Exception:  # noqa: BLE001 - read again at the next poll
                    pass

    def _shutdown(self) -> None:
        running = [t for t in [*self.runs.values(), self._verify] if t is not None and t.is_alive()]
        if running:
            log.info("Scheduler stopping: cancelling %d running schedule(s) at a safe point.", len(running))
            self.cancel.set()
        for thread in running:
            thread.join()
        self.runs.clear()
        try:
            heartbeat.beat(self.store, self.host_id, now=self.clock(), state="stopped")
            heartbeat.clear_stop(self.store, self.host_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("Could not record that the scheduler stopped: %s", exc)
        if self._mail is not None:
            from ic import notify

            notify.remove_error_mail(self._mail)
            self._mail = None
        log.info("Scheduler stopped.")


def signal_running_scheduler(sig: int | None = None, lock_dir=None) -> int | None:
    """Send SIGTERM (clean stop) to the scheduler running on this machine for this user; returns its pid or None.

    The scheduler's lock file holds its pid; the pid is only trusted while the lock is actually held.
    """
    if not hasattr(signal, "SIGTERM") or os.name != "posix":
        return None
    lock = ScheduleLock(LOCK_NAME, lock_dir)
    try:
        lock.acquire()
    except ScheduleBusy:
        try:
            pid = int(lock.path.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return None
        if pid > 0 and pid != os.getpid():
            try:
                os.kill(pid, sig or signal.SIGTERM)
                return pid
            except OSError:
                return None
        return None
    lock.release()  # nobody held it: no scheduler runs
    return None


def _every(seconds: float) -> str:
    return "minute" if seconds == 60 else f"{seconds:g} seconds"


class FakeClock:
    """A clock for tests and the bench: ``sleep`` advances it instead of waiting."""

    def __init__(self, start: datetime) -> None:
        self.now = start if start.tzinfo else start.replace(tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set(self, value: datetime) -> None:
        self.now = value if value.tzinfo else value.replace(tzinfo=timezone.utc)


__all__ = ["ResidentScheduler", "FakeClock", "CHECK_SECONDS", "EXIT_OK", "EXIT_BUSY"]
