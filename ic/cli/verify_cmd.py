"""`verify`: is every session the appliance holds in the archive? (and `--repair` to fetch what is not)."""
from __future__ import annotations

import argparse
import sys

from ic.cli.common import store_from
from ic.errors import ConfigError, ScheduleBusy

EXIT_COMPLETE, EXIT_FAILED, EXIT_INCOMPLETE = 0, 1, 4

EPILOG = """examples:
  verify --site demo --destination files                       everything the appliance still holds
  verify --site demo --destination db --start 2026-03-01 --end 2026-03-31 --csv march.csv
  verify --site demo --destination files --repair              fetch what is missing, then check again
  verify --schedule Nightly                                    each transfer of a schedule, its data types
  verify --schedule Nightly --every 7d [--repair]              verify it weekly from `tick` and mail the summary
  verify --schedule Nightly --every 7d --start 2026-01-01      ... only sessions from the day the transfer began
  verify --schedule Nightly --every 0                          stop verifying it on a schedule

findings: present, missing, partial (e.g. without a recording, or stored in progress and ended since), pending
(newer than the last transfer: its next run stores it), quarantined, extra (gone from the appliance: normal after its
retention), unavailable (the appliance can no longer serve that recording), expired (set aside, then gone from the
appliance before it could be stored: its XML is kept in the quarantine's expired folder).
exit code: 0 the archive is complete (pending sessions allowed), 4 it is not (missing, partial or quarantined
sessions, no backup), 1 the check failed."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify", help="compare what the appliance holds with a destination; --repair fetches what is missing",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
    )
    p.add_argument("--site", help="site to compare (with --destination)")
    p.add_argument("--destination", help="destination to compare (with --site)")
    p.add_argument("--schedule", help="verify every transfer of this schedule instead")
    p.add_argument("--start", help="only sessions that started from this date: 2026-03-01 or 2026-03-01T08:00 "
                                   "(local time) or with +00:00; default: everything the appliance still holds")
    p.add_argument("--end", help="only sessions that started before this; a date alone includes that whole day")
    p.add_argument("--data", help="data types to verify: session, recordings, smsr, shell, backup (comma separated; "
                                  "default: what the schedules copy to this destination)")
    p.add_argument("--csv", metavar="FILE", help="write every session's finding to this CSV file (- = standard output)")
    p.add_argument("--repair", action="store_true",
                   help="fetch what is missing or partial (one-off exports; schedules are not disturbed), then verify again")
    p.add_argument("--every", metavar="PERIOD",
                   help="with --schedule: verify it every PERIOD (e.g. 7d, at least 1h; 0 = never) when `tick` runs "
                        "and mail the summary; saves the setting and does not verify now")
    p.add_argument("--no-mail", action="store_true", help="do not mail the summary (it is mailed when notifications are on)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from ic.services import verify as V

    if args.schedule and (args.site or args.destination):
        raise ConfigError("Give either --schedule or --site with --destination, not both.")
    if not args.schedule and not (args.site and args.destination):
        raise ConfigError("Give --site and --destination (or --schedule) to verify.")
    if args.schedule and args.data:
        raise ConfigError("--data goes with --site and --destination; a schedule's transfers are verified with the "
                          "data types each one copies.")
    if args.every is not None and not args.schedule:
        raise ConfigError("--every needs --schedule: it verifies that schedule's transfers periodically.")
    from ic.services.verify import parse_when

    start = parse_when(args.start, "--start") if args.start else None
    end = parse_when(args.end, "--end", end=True) if args.end else None
    types = None
    if args.data:
        from ic.services.runs import parse_data_types

        types = parse_data_types(args.data)
    store = store_from(args)
    _logging(store)
    if args.every is not None:
        seconds = _parse_every(args.every)
        if end is not None:
            raise ConfigError("--every takes --start (sessions from a date on) but not --end: a periodic verify "
                              "checks everything up to its run.")
        plan = V.set_verify_plan(store, args.schedule, seconds, args.repair, start)
        if plan.every_seconds:
            from ic.settings.validation import format_period

            since = f" (sessions from {plan.start:%Y-%m-%d %H:%M} UTC on)" if plan.start else ""
            print(f"Schedule {plan.schedule} will be verified every {format_period(plan.every_seconds)}{since}"
                  f"{' and repaired' if plan.repair else ''} when the scheduler runs; the summary is mailed.")
        else:
            print(f"Schedule {plan.schedule} is no longer verified on a schedule.")
        return EXIT_COMPLETE
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if not args.quiet else None
    try:
        if args.schedule:
            reports = V.verify_schedule(store, args.schedule, do_repair=args.repair, start=start, end=end, progress=say,
                                        keep_going=True)  # one destination down: the others are still verified
            title = f"schedule {args.schedule}"
        else:
            reports = [V.verify_and_repair(store, args.site, args.destination, types, start=start, end=end,
                                           do_repair=args.repair, progress=say)]
            title = f"{args.site} -> {args.destination}"
    except ScheduleBusy:
        print(f"Schedule {args.schedule} is running now; verify it when the run has finished.", file=sys.stderr)
        return EXIT_FAILED
    print(V.summary_text(reports, details=50), end="")
    if args.csv:
        if args.csv == "-":
            V.write_csv(reports, sys.stdout)
        else:
            from ic.cli.common import full_path

            path = full_path(args.csv)
            try:
                V.write_csv(reports, path)
            except OSError as exc:
                raise ConfigError(f"The CSV file {path} could not be written ({exc.strerror or exc}).") from None
            print(f"Findings written to {path}.")
    if not args.no_mail:
        V.mail_summary(store, reports, title)
    if any(r.error is not None for r in reports):
        return EXIT_FAILED
    return EXIT_COMPLETE if all(r.complete for r in reports) else EXIT_INCOMPLETE


def _logging(store) -> None:
    from ic import logs

    if getattr(logs, "_last_setup", None) and logs._last_setup[0] == "app":
        return
    logs.setup_logging(store, "app", console=True)


def _parse_every(text: str) -> int:
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([hdw]?)\s*", text or "")
    if not match:
        raise ConfigError(f"--every '{text}' must look like 7d, 1w, 12h or 0.")
    n, unit = int(match.group(1)), match.group(2) or ("d" if text.strip() != "0" else "h")
    return n * {"h": 3600, "d": 86400, "w": 7 * 86400}[unit]
