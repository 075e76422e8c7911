"""`task register|unregister|status|start|stop`: the OS task that keeps the resident scheduler running
(`IntegrationClient scheduler`: Windows Task Scheduler, a systemd user unit, or cron @reboot + a watchdog line)."""
from __future__ import annotations

import argparse
import getpass
import sys

from ic.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    task = sub.add_parser("task", help="the OS task (Task Scheduler / systemd / cron) that keeps the scheduler running")
    tsub = task.add_subparsers(dest="task_command", metavar="ACTION", required=True)
    reg = tsub.add_parser("register", help="install or replace the task (starts `scheduler` at start-up/logon and "
                                           "restarts it if it stops)")
    reg.add_argument("--whether-logged-on", action="store_true",
                     help="Windows: run whether the user is logged on or not (asks for the account's password once; "
                          "it is handed to Task Scheduler and never stored)")
    reg.add_argument("--run-as", metavar="ACCOUNT",
                     help="Windows: run the task as this account, e.g. DOMAIN\\svc-ic (the account with rights on "
                          "the destination share); its password is asked once (or read from a pipe) and never "
                          "stored, and the secrets key becomes readable by that account, SYSTEM and Administrators "
                          "only")
    reg.set_defaults(func=_register)
    for name, helptext, func in (
        ("unregister", "remove the task", _unregister),
        ("status", "show whether the scheduler is running, stopped or not installed", _status),
        ("start", "enable the task and start the scheduler", _start),
        ("stop", "disable the task and stop the running scheduler; schedules stop running", _stop),
    ):
        p = tsub.add_parser(name, help=helptext)
        p.set_defaults(func=func)


def _ask_password(user: str) -> str | None:
    if sys.stdin is None or not sys.stdin.isatty():
        raise ConfigError(f"Run `task register --whether-logged-on` in a console to type the password of {user}.")
    return getpass.getpass(f"Windows password of {user} (handed to Task Scheduler, not stored): ")


def _settings_url(args: argparse.Namespace) -> str:
    from ic.settings.store import settings_url

    return settings_url(getattr(args, "settings", None))


def _read_run_as_password(user: str) -> str | None:
    """A console prompt, or one line from a pipe (`echo ... |` is the admin's choice); never an argument."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"Windows password of {user} (handed to Task Scheduler, not stored): ")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n") or None


def _register(args: argparse.Namespace) -> int:
    from ic.scheduling import task

    if getattr(args, "run_as", None):
        from ic.services.run_as import register_run_as

        print(register_run_as(args.run_as, _read_run_as_password, settings_url=_settings_url(args)))
        return 0

    callback = _ask_password if args.whether_logged_on and sys.platform == "win32" else None
    print(task.register(callback, settings_url=_settings_url(args)))
    if args.whether_logged_on and sys.platform != "win32":
        print("note: --whether-logged-on only applies on Windows; cron runs the task whether you are logged on or not.")
    return 0


def _unregister(args: argparse.Namespace) -> int:
    from ic.scheduling import task

    print(task.unregister())
    return 0


def _status(args: argparse.Namespace) -> int:
    from ic.scheduling import task

    st = task.status()
    print(f"Scheduler: {st.state}. {st.detail}")
    try:  # the process the task keeps up, from its heartbeat in the settings database
        from ic.cli.common import store_from
        from ic.services.runs import scheduler_status

        print(f"Scheduler process: {scheduler_status(store_from(args)).describe()}.")
    except Exception:  # noqa: BLE001 - the task state above is the answer; the settings database may be away
        pass
    return 0 if st.state == "running" else 1


def _start(args: argparse.Namespace) -> int:
    from ic.scheduling import task

    print(task.start())
    return 0


def _stop(args: argparse.Namespace) -> int:
    from ic.cli.common import store_from
    from ic.scheduling import task

    try:
        store = store_from(args)
    except Exception:  # noqa: BLE001 - stop the OS side even when the settings database is away
        store = None
    print(task.stop(store=store))
    return 0
