"""`settings show|set` (Application Settings) and `notify show|set|test` (Notification Settings)."""
from __future__ import annotations

import argparse

from ic.cli.common import full_path, print_table, read_secret, store_from


def register(sub: argparse._SubParsersAction) -> None:
    from ic.services.app_settings import APP_SETTINGS

    settings = sub.add_parser("settings", help="application settings (log folder, log removal, ...)")
    ssub = settings.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    show = ssub.add_parser("show", help="list application settings and their values")
    show.set_defaults(func=_show)
    set_ = ssub.add_parser("set", help="change one setting", description="Settings: " + "; ".join(
        f"{k}: {s.help}" for k, s in APP_SETTINGS.items()))
    set_.add_argument("key", choices=sorted(APP_SETTINGS), metavar="KEY",
                      help="one of: " + ", ".join(sorted(APP_SETTINGS)) + " (see `settings show`)")
    set_.add_argument("value", help="new value (an empty string resets a folder to the default)")
    set_.set_defaults(func=_set)
    create = ssub.add_parser(
        "create", help="create the settings database named by --settings (or IC_SETTINGS): the SQLite file, or the "
                       "PostgreSQL / SQL Server database when the account may create one; then its tables")
    create.set_defaults(func=_create)

    notify = sub.add_parser("notify", help="e-mail notification settings (SMTP)")
    nsub = notify.add_subparsers(dest="notify_command", metavar="ACTION", required=True)
    nshow = nsub.add_parser("show", help="show the notification settings (the password is never shown)")
    nshow.set_defaults(func=_notify_show)
    nset = nsub.add_parser("set", help="change notification settings; omitted options keep their value")
    nset.add_argument("--host", help="SMTP server host name")
    nset.add_argument("--port", type=int, help="SMTP port (default follows --security: 25, 587 or 465)")
    nset.add_argument("--security", choices=("none", "starttls", "tls"),
                      help="starttls (port 587, default), tls (port 465) or none (port 25)")
    nset.add_argument("--user", dest="username", help="SMTP user name (empty string for none)")
    nset.add_argument("--password-env", metavar="VAR", help="read the SMTP password from this environment variable")
    nset.add_argument("--ask-password", action="store_true",
                      help="read the SMTP password from standard input (hidden prompt on a terminal)")
    nset.add_argument("--clear-password", action="store_true", help="forget the stored SMTP password")
    nset.add_argument("--from", dest="sender", metavar="ADDRESS", help="From address")
    nset.add_argument("--to", dest="recipients", metavar="ADDRESSES", help="To addresses, comma separated")
    nset.add_argument("--ca-bundle", metavar="FILE", type=full_path,
                      help='PEM file of a private CA for the SMTP server ("" = the system trust store)')
    nset.add_argument("--interval", dest="interval_minutes", type=int, metavar="MINUTES",
                      help="during a long run, mail at most once every this many minutes (default 15)")
    group = nset.add_mutually_exclusive_group()
    group.add_argument("--enable", dest="enabled", action="store_true", default=None, help="send notifications")
    group.add_argument("--disable", dest="enabled", action="store_false", help="stop sending notifications")
    nset.set_defaults(func=_notify_set)
    ntest = nsub.add_parser("test", help="send a test message with the stored settings")
    ntest.set_defaults(func=_notify_test)


def _create(args: argparse.Namespace) -> int:
    from ic.services.create_db import ensure_database
    from ic.settings import open_store
    from ic.settings.store import settings_url

    url = settings_url(getattr(args, "settings", None))
    message = ensure_database(url)
    if not message.startswith("An in-memory"):
        print(message)
    open_store(url).close()  # the tables (or a newer schema)
    print("The settings database is ready.")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ic.services.app_settings import APP_SETTINGS, get_app_settings

    values = get_app_settings(store_from(args))
    print_table(["SETTING", "VALUE", "MEANING"], [[k, values[k], APP_SETTINGS[k].help] for k in APP_SETTINGS])
    return 0


def _set(args: argparse.Namespace) -> int:
    from ic.services.app_settings import APP_SETTINGS, set_app_setting

    stored = set_app_setting(store_from(args), args.key, args.value)
    print(f"{APP_SETTINGS[args.key].label} set to {stored}.")
    return 0


def _notify_show(args: argparse.Namespace) -> int:
    from ic.services.app_settings import get_notification_settings

    s = get_notification_settings(store_from(args))
    rows = [
        ["enabled", "yes" if s.enabled else "no"],
        ["host", s.host],
        ["port", str(s.port)],
        ["security", s.security],
        ["user", s.username],
        ["password", "stored" if s.has_password else "none"],
        ["from", s.sender],
        ["to", ", ".join(s.recipients)],
        ["ca bundle", s.ca_bundle or "system trust store"],
        ["interval (minutes)", str(s.interval_minutes)],
    ]
    print_table(["SETTING", "VALUE"], rows)
    return 0


def _notify_set(args: argparse.Namespace) -> int:
    from ic.services.app_settings import update_notification_settings

    password = read_secret(args.password_env, "SMTP password: ", "the SMTP password",
                           required=bool(args.ask_password), option="--password-env")
    changes = {k: getattr(args, k) for k in ("host", "port", "security", "username", "sender", "recipients",
                                              "ca_bundle", "interval_minutes", "enabled")}
    saved = update_notification_settings(store_from(args), password=password, clear_password=args.clear_password,
                                         **{k: v for k, v in changes.items() if v is not None})
    state = "on" if saved.enabled else "off"
    print(f"Notification settings saved (notifications {state}).")
    from ic.notify import clear_text_warning

    warning = clear_text_warning(saved, bool(getattr(saved, "has_password", False)))
    if warning:
        import sys

        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _notify_test(args: argparse.Namespace) -> int:
    from ic.services.app_settings import send_test_notification

    result = send_test_notification(store_from(args))
    print(result.message)
    return 0 if result.ok else 1
