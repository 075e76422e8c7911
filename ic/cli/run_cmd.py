"""`run NAME` (one schedule now), `tick` (every due schedule: what the OS scheduler calls each minute) and
`export` (one-off export, the API Tester)."""
from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime

from ic import notify
from ic.cli.common import LiveLine, store_from
from ic.errors import ConfigError, ScheduleBusy
from ic.transfer.progress import CANCELLED, DONE, FAILED, ProgressEvent

EXIT_OK, EXIT_FAILED, EXIT_INTERNAL, EXIT_BUSY = 0, 1, 3, 4


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run one schedule now, whether it is due or not")
    run.add_argument("name", help="schedule name (see `schedule list`)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    run.set_defaults(func=_run)

    tick = sub.add_parser("tick", help="one check: run every schedule that owes a slot, then exit (for your own cron job or a "
                                      "script; the OS task runs `scheduler`)")
    tick.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    tick.set_defaults(func=_tick)

    sch = sub.add_parser(
        "scheduler", help="the resident scheduler: stays up, checks every minute, runs due schedules (what the OS "
                          "task starts at start-up and logon)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="It stops on Ctrl+C, SIGTERM, `scheduler --stop`, `task stop` or the window's Stop.\n"
               "Only one runs per machine; a second one exits at once (exit code 4).",
    )
    sch.add_argument("--stop", action="store_true", help="ask the scheduler running on this machine to stop, and exit")
    sch.add_argument("--progress", action="store_true", help="print progress lines of the runs")
    sch.set_defaults(func=_scheduler)

    exp = sub.add_parser(
        "export", help="one-off export of a time window or one session (no schedule state changes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  export --site demo --destination files --start 2026-11-24 --duration 1d "
               "--data session,recordings\n  export --site demo --destination files --lsid SESSION_ID",
    )
    exp.add_argument("--site", required=True, help="site to copy from")
    exp.add_argument("--destination", required=True, help="destination to copy to")
    exp.add_argument("--start", help="start of the window: 2026-11-24 or 2026-11-24T08:00 (local time) or with +00:00")
    exp.add_argument("--duration", default="1d", help="window length: 30m, 12h, 1d, 0 = until now (default 1d)")
    exp.add_argument("--lsid", help="export just this session ID instead of a window")
    exp.add_argument("--data", default="session", help="session, recordings, smsr, shell, backup (comma separated)")
    exp.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    exp.set_defaults(func=_export)


def _logging(store, kind: str) -> None:
    """run_cli already logs to the right file and store_from() moved it to the configured folder; only a process
    that has not set up logging yet (a direct call) does it here, so warnings are not printed twice."""
    from ic import logs

    if getattr(logs, "_last_setup", None) and logs._last_setup[0] == kind:
        return
    logs.setup_logging(store, kind, console=True)


def _run(args: argparse.Namespace) -> int:
    from ic.services.runs import INTERNAL, OK, note_program_run, run_schedule

    store = store_from(args)
    note_program_run(store)  # Run Now counts as a program run, as in the window
    _logging(store, "app")
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        with notify.error_mail(store, f"schedule {args.name}"):  # errors logged during the run -> one mail
            outcome = run_schedule(store, args.name, progress)
    except ScheduleBusy:
        print(f"Schedule {args.name} is already running; skipped.", file=sys.stderr)
        return EXIT_BUSY
    finally:
        progress.close()
    print(outcome.message())
    if outcome.status == OK:
        return EXIT_OK
    if outcome.status == INTERNAL:
        from ic.cli.common import log_hint

        print(f"error: internal error; details are in {log_hint()}.", file=sys.stderr)
        return EXIT_INTERNAL
    return 130 if outcome.status == "cancelled" else EXIT_FAILED


def _tick(args: argparse.Namespace) -> int:
    from ic.services.runs import BUSY, INTERNAL, OK, SERVED, tick

    store = store_from(args)
    _logging(store, "service")
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        with notify.error_mail(store, "tick"):
            outcomes = tick(store, progress)
    finally:
        progress.close()
    code = EXIT_OK
    for outcome in outcomes:
        print(outcome.message())
        if outcome.status == INTERNAL:
            code = EXIT_INTERNAL
        elif outcome.status not in (OK, BUSY, SERVED) and code == EXIT_OK:
            code = EXIT_FAILED
    return code


def _scheduler(args: argparse.Namespace) -> int:
    from ic.scheduling import heartbeat
    from ic.scheduling.resident import ResidentScheduler

    store = store_from(args)
    if args.stop:
        if heartbeat.request_stop(store):
            print("Stop requested: the scheduler on this machine ends at its next check (within seconds).")
        else:
            print("No scheduler has run on this machine with this settings database.")
        return EXIT_OK
    _logging(store, "service")
    progress = TerminalProgress(enabled=args.progress) if args.progress else None
    if progress is not None:
        progress.tty = False  # several runs at once: plain lines, not one redrawn bar
    code = ResidentScheduler(store, listener=progress).run()
    if code == EXIT_BUSY:
        print("The scheduler is already running on this machine.", file=sys.stderr)
    return code


def _export(args: argparse.Namespace) -> int:
    from ic.services.runs import export

    store = store_from(args)
    _logging(store, "app")
    if not args.lsid and not args.start:
        raise ConfigError("Give --start (with --duration) or --lsid for the export.")
    if args.lsid and args.start:
        raise ConfigError("Give either --start (with --duration) or --lsid for the export, not both.")
    start = parse_start(args.start) if args.start else None
    duration = parse_duration(args.duration)  # checked before connecting, like --start
    progress = TerminalProgress(enabled=not args.quiet)
    try:
        with notify.error_mail(store, "export"):
            result = export(
                store,
                args.site,
                args.destination,
                [args.data],
                start=start,
                duration_seconds=duration,
                lsid=args.lsid,
                listener=progress,
            )
    finally:
        progress.close()
    print(f"Export {result.transfer} finished: {result.summary()}.")
    if start is not None and not result.sessions_stored and not getattr(result, "in_progress_stored", 0):
        from ic.services.appliance_range import nothing_found_hint  # say where the sessions are

        print(nothing_found_hint(store, args.site, start, duration))
    return EXIT_OK


def parse_start(text: str) -> datetime:
    """ISO date or date-time; without an offset it is local time (what the user sees on the wall clock)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--start '{text}' must look like 2026-11-24 or 2026-11-24T08:00.") from None
    if value.tzinfo is None:
        value = value.astimezone()  # naive = local time
    return value


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text or "")
    if not match:
        raise ConfigError(f"--duration '{text}' must look like 30m, 12h, 1d or 0.")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


class TerminalProgress(LiveLine):
    """Listener: a one-line progress bar on a terminal (stderr), plain lines at phase changes otherwise."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        super().__init__(enabled, stream)
        self._last = 0.0
        self._phase: tuple[str, str] | None = None
        self._seen: set[tuple[str, str]] = set()

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.enabled:
            return
        key = (ev.transfer, ev.phase)
        changed = key != self._phase
        self._phase = key
        if not self.tty:  # one plain line per phase of each transfer (sessions/files alternate per batch)
            if changed and key not in self._seen:
                self._seen.add(key)
                message = "" if ev.phase in (FAILED, CANCELLED) else ev.message  # the error sentence follows once
                self.stream.write(f"{ev.transfer}: {ev.phase}" + (f" - {message}" if message else "") + "\n")
                self.stream.flush()
            return
        now = time.monotonic()
        final = ev.phase in (DONE, FAILED, CANCELLED)
        if not (changed or final) and now - self._last < 0.1:
            return
        self._last = now
        self.show(self.format(ev))
        if final:
            self.close()

    @staticmethod
    def format(ev: ProgressEvent) -> str:
        total = ev.sessions_found + ev.files_found
        done = ev.sessions_done + ev.files_done
        frac = done / total if total else (1.0 if ev.phase == DONE else 0.0)
        from ic.services.progress_text import describe_progress, transfer_words

        bar = "#" * int(frac * 20)
        if ev.phase in (FAILED, CANCELLED):  # a failure's sentence is printed once, after the bar
            words = "Failed." if ev.phase == FAILED else "Cancelled."
        else:  # in words, as in the window: "Copied 50 of 200 sessions, 11 of 30 recordings"
            words = describe_progress(ev, with_eta=False)
        parts = [f"{transfer_words(ev.transfer)} [{bar:<20}] {words}"]
        if ev.files_found:
            parts.append(f"{ev.bytes / 1048576:.1f} MB")
        if ev.eta_seconds is not None and ev.phase not in (DONE, FAILED, CANCELLED):
            parts.append(f"ETA {int(ev.eta_seconds) // 60}:{int(ev.eta_seconds) % 60:02d}")
        return " | ".join(parts)[:160]
