"""Command line: every GUI action has a subcommand here. Each module registers one group of subcommands."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ic import __version__
from ic.errors import ICError

__all__ = ["COMMAND_MODULES", "build_parser", "run_cli", "verify_cmd"]

# module name -> registers its subcommands with register(subparsers)
COMMAND_MODULES = ("site", "destination", "schedule", "run", "simulate", "task", "settings", "verify", "status")

log = logging.getLogger("ic.cli")

EXAMPLES = """examples:
  IntegrationClient site add demo --host support.example.com --client-id ID    (then type the client secret)
  IntegrationClient destination add files --type folder --dir D:\\IC\\Sessions
  IntegrationClient schedule add Nightly --site demo --destination files --data session,recordings --every 1d --at 02:00
  IntegrationClient run Nightly
  IntegrationClient task register

Each command has its own help: IntegrationClient COMMAND --help (for example: site add --help)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="IntegrationClient",
        description="BeyondTrust Integration Client. Without a command it opens the window.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"Integration Client {__version__}")
    parser.add_argument(
        "--settings", metavar="URL", help="settings database: SQLAlchemy URL (default: IC_SETTINGS or a per-user SQLite file)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"ic.cli.{name}_cmd")
        module.register(sub)
    return parser


def run_cli(argv: list[str]) -> int:
    _tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _start_logging(args)
    try:
        return int(args.func(args) or 0)
    except ICError as exc:
        from ic.cli.wording import for_command_line  # the command that fixes it, not a window menu

        print(f"error: {for_command_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Cancelled.", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a traceback is for the log, the user gets one sentence
        log.exception("Internal error running %s", args.command, extra={"ic_file_only": True})
        from ic.cli.common import log_hint

        print(f"error: the Integration Client hit an internal error; details are in {log_hint()}.", file=sys.stderr)
        return 3


def _tolerant_output() -> None:
    """A name the console's code page cannot show (日本語 on cp1252, output redirected to a file on Windows) is
    written as \\uXXXX instead of failing the command after half its output."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and getattr(stream, "errors", "strict") == "strict":
                stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (tests' capsys) or already closed
            pass


def _start_logging(args: argparse.Namespace) -> None:
    """IC log (service log for `tick`) from the first line; store_from() then moves it to the configured folder."""
    try:
        from ic.logs import setup_logging

        setup_logging(None, "service" if args.command == "tick" else "app", console=True)
    except Exception:  # noqa: BLE001 - a command must run even when no log file can be written
        pass
