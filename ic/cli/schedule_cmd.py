"""`schedule add|edit|add-transfer|remove-transfer|list|remove`: the Schedule Configuration dialog on the command
line, over ic.services.schedules (the same service the window calls)."""
from __future__ import annotations

import argparse

from ic.cli.common import add_action, print_table, remove_named, store_from
from ic.errors import ConfigError
from ic.services.schedules import KEEP, edit_schedule, remove_schedule, remove_transfer, save_schedule
from ic.settings.models import DataType, ScheduleConfig, TransferConfig
from ic.settings.validation import format_period, parse_period

DATA_HELP = "data types, comma separated: session, recordings, smsr, shell, backup"
START_HELP = ("where a new transfer's first run starts: all (everything the appliance still holds), today, or a date "
              "YYYY-MM-DD; prints an estimate from one listing (asked on a terminal when omitted)")


def register(sub: argparse._SubParsersAction) -> None:
    sched = sub.add_parser("schedule", help="schedules: which site goes to which destination, and how often")
    ssub = sched.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)

    add = add_action(ssub, "add", "add a schedule (repeat --site/--destination/--data for more transfers, paired by "
                     "position)", examples=("schedule add Nightly --site demo --destination files --data "
                                            "session,recordings --every 1d --at 02:00",
                                            "schedule add Often --site demo --destination warehouse --every 15m"))
    add.add_argument("name", help="schedule name (your choice)")
    add.add_argument("--site", action="append", required=True, help="site to copy from (repeatable)")
    add.add_argument("--destination", action="append", required=True, help="destination to copy to (repeatable)")
    add.add_argument("--data", action="append", help=DATA_HELP + " (repeatable; default session)")
    add.add_argument("--every", required=True, help="Run Every: 15m, 2h, 1d ... (1 minute to 7 days)")
    add.add_argument("--at", metavar="HH:MM", help="time of day, only when --every is whole days (local time)")
    add.add_argument("--disabled", action="store_true", help="save it but do not run it from tick")
    add.add_argument("--run-now", action="store_true",
                     help="also run it once now (the slots stay as they are: a time of day still waits for its slot)")
    add.add_argument("--start", metavar="WHEN", help=START_HELP)
    add.set_defaults(func=_add)

    ed = add_action(ssub, "edit", "change a schedule's name, period, time of day or enabled state (its transfers "
                    "stay)", examples=("schedule edit Nightly --at 03:30", 'schedule edit Often --every 30m --at ""',
                                       "schedule edit Nightly --disable"))
    ed.add_argument("name", help="schedule name (see `schedule list`)")
    ed.add_argument("--rename", metavar="NEW", help="new schedule name")
    ed.add_argument("--every", help="Run Every: 15m, 2h, 1d ... (1 minute to 7 days)")
    ed.add_argument("--at", metavar="HH:MM", help='time of day for whole-day periods (local time); "" removes it')
    onoff = ed.add_mutually_exclusive_group()
    onoff.add_argument("--enable", dest="enabled", action="store_const", const=True, help="run it from the scheduler")
    onoff.add_argument("--disable", dest="enabled", action="store_const", const=False,
                       help="keep it but do not run it from the scheduler")
    ed.set_defaults(func=_edit, enabled=None)

    at = ssub.add_parser("add-transfer", help="add a transfer (site -> destination) to an existing schedule")
    at.add_argument("name", help="schedule name (see `schedule list`)")
    at.add_argument("--site", required=True, help="site to copy from")
    at.add_argument("--destination", required=True, help="destination to copy to")
    at.add_argument("--data", default="session", help=DATA_HELP)
    at.add_argument("--start", metavar="WHEN", help=START_HELP)
    at.set_defaults(func=_add_transfer)

    rt = ssub.add_parser("remove-transfer", help="remove one transfer (site -> destination) from a schedule")
    rt.add_argument("name", help="schedule name (see `schedule list -v`)")
    rt.add_argument("--site", required=True, help="site of the transfer to remove")
    rt.add_argument("--destination", required=True, help="destination of the transfer to remove")
    rt.set_defaults(func=_remove_transfer)

    lst = ssub.add_parser("list", help="list schedules: name, transfers, period, last run")
    lst.add_argument("--verbose", "-v", action="store_true", help="also show each transfer and the last status")
    lst.set_defaults(func=_list)

    rm = ssub.add_parser("remove", help="delete a schedule (its sites and destinations stay)")
    rm.add_argument("name", help="schedule name (see `schedule list`)")
    rm.set_defaults(func=_remove)


def _transfers(sites: list[str], dests: list[str], datas: list[str] | None) -> list[TransferConfig]:
    from ic.services.runs import parse_data_types

    if len(sites) != len(dests):
        raise ConfigError(
            f"Give as many --destination as --site options (got {len(sites)} site(s), {len(dests)} destination(s))."
        )
    datas = datas or [DataType.SESSION]
    if len(datas) == 1 and len(sites) > 1:
        datas = datas * len(sites)
    if len(datas) != len(sites):
        raise ConfigError("Give one --data per --site, or a single --data for all transfers.")
    return [
        TransferConfig(site=s, destination=d, data_types=parse_data_types(t)) for s, d, t in zip(sites, dests, datas)
    ]


def _add(args: argparse.Namespace) -> int:
    store = store_from(args)
    start = _ask_start(args)
    sched = ScheduleConfig(
        name=args.name,
        every_seconds=parse_period(args.every),
        transfers=_transfers(args.site, args.destination, args.data),
        at_time=args.at,
        enabled=not args.disabled,
    )
    saved = save_schedule(store, sched)  # ic.services.schedules: plugin checks too
    when = f" at {saved.at_time}" if saved.at_time else ""
    print(f"Schedule {saved.name} saved: {len(saved.transfers)} transfer(s) every {format_period(saved.every_seconds)}{when}.")
    _start(store, saved.transfers, start)
    return _first_slot(args, store, saved)


def _first_slot(args: argparse.Namespace, store, saved) -> int:
    """Say when the schedule runs first; run it once now if asked (Run Now never moves its slots)."""
    from datetime import datetime, timezone

    from ic.scheduling.due import next_run
    from ic.services.history import when_words

    now = datetime.now(timezone.utc)
    first = next_run(saved, now)
    if first is None:
        print("It is disabled: it runs when you enable it.")
    elif first <= now:
        print("Its first run starts at the scheduler's next check (within a minute).")
    else:
        print(f"Its first run: {when_words(first, now)}."
              + ("" if args.run_now else f" To copy once now as well: `run {saved.name}` (or --run-now)."))
    if not args.run_now:
        return 0
    from ic.cli.run_cmd import EXIT_BUSY, EXIT_FAILED, EXIT_OK, TerminalProgress
    from ic.errors import ScheduleBusy
    from ic.services.runs import OK, run_schedule

    progress = TerminalProgress()
    try:
        outcome = run_schedule(store, saved.name, progress)
    except ScheduleBusy as exc:
        print(f"{exc} Skipped.")
        return EXIT_BUSY
    finally:
        progress.close()
    print(outcome.message())
    return EXIT_OK if outcome.status == OK else EXIT_FAILED


def _edit(args: argparse.Namespace) -> int:
    if args.rename is None and args.every is None and args.at is None and args.enabled is None:
        raise ConfigError("Say what to change: --rename, --every, --at or --enable/--disable (see `schedule edit --help`).")
    saved = edit_schedule(
        store_from(args),
        args.name,
        rename=args.rename,
        every_seconds=parse_period(args.every) if args.every is not None else None,
        at_time=KEEP if args.at is None else args.at,
        enabled=args.enabled,
    )
    when = f" at {saved.at_time}" if saved.at_time else ""
    state = "" if saved.enabled else " (disabled)"
    print(f"Schedule {saved.name} saved: every {format_period(saved.every_seconds)}{when}{state}.")
    return 0


def _add_transfer(args: argparse.Namespace) -> int:
    store = store_from(args)
    start = _ask_start(args)
    sched = store.get_schedule(args.name)
    sched.transfers.append(_transfers([args.site], [args.destination], [args.data])[0])
    saved = save_schedule(store, sched)  # ic.services.schedules: plugin checks too
    print(f"Schedule {saved.name} now has {len(saved.transfers)} transfer(s).")
    _start(store, saved.transfers[-1:], start)
    return 0


def _remove_transfer(args: argparse.Namespace) -> int:
    saved = remove_transfer(store_from(args), args.name, args.site, args.destination)
    print(f"Schedule {saved.name} now has {len(saved.transfers)} transfer(s).")
    return 0


def _list(args: argparse.Namespace) -> int:
    schedules = store_from(args).list_schedules()
    from datetime import datetime, timezone

    from ic.scheduling.due import next_run
    from ic.services.history import when_words

    now = datetime.now(timezone.utc)
    rows = []
    for s in schedules:
        period = format_period(s.every_seconds) + (f" at {s.at_time}" if s.at_time else "")
        if not s.enabled:
            period += " (disabled)"
        last = _local(s.last_run) if s.last_run else "never"
        upcoming = next_run(s, now)
        upcoming_text = "-" if upcoming is None else "now (due)" if upcoming <= now else when_words(upcoming, now)
        row = [s.name, str(len(s.transfers)), period, last, upcoming_text]
        if args.verbose:
            row.append(s.last_status or "")
        rows.append(row)
    headers = ["SCHEDULE NAME", "TRANSFERS", "PERIOD", "LAST RUN", "NEXT RUN"] + (["LAST STATUS"] if args.verbose else [])
    print_table(headers, rows,
                empty="No schedules yet: add one with `schedule add NAME --site S --destination D --every 15m`.")
    if args.verbose:
        for s in schedules:
            for t in s.transfers:
                print(f"  {s.name}: {t.site} -> {t.destination} [{', '.join(t.data_types)}]")
    return 0


def _local(utc_naive) -> str:
    from datetime import timezone

    return utc_naive.replace(tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")


def _remove(args: argparse.Namespace) -> int:
    return remove_named(args, "Schedule", remove_schedule)


def _ask_start(args: argparse.Namespace):
    """--start, checked before anything is saved; asked on a terminal when omitted (VENDOR: first pull)."""
    import sys

    from ic.services.first_pull import parse_start

    raw = getattr(args, "start", None)
    if raw is None and sys.stdin.isatty() and sys.stdout.isatty():
        raw = input("Where does the first run start? all (everything the appliance still holds), today, or "
                    "YYYY-MM-DD [all]: ").strip() or "all"
    return None if raw is None else parse_start(raw)


def _start(store, transfers: list[TransferConfig], start) -> None:
    if start is None:
        print("The first run takes what the initial look-back setting allows (everything by default); "
              "use --start today or --start YYYY-MM-DD to start later.")
        return
    from ic.services.first_pull import start_transfers

    for line in start_transfers(store, transfers, start):
        print(line)
