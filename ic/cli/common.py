"""Helpers shared by CLI subcommands."""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from ic.errors import ConfigError
from ic.settings import SettingsStore, open_store


def store_from(args: argparse.Namespace) -> SettingsStore:
    store = open_store(getattr(args, "settings", None))
    from ic.logs import apply_store_settings

    apply_store_settings(store)  # the log folder / removal days configured in this settings database
    return store


def read_secret(env_var: str | None, prompt: str, what: str, required: bool = True) -> str | None:
    """Secret from an environment variable, a pipe on stdin, or a hidden prompt; never from the command line."""
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise ConfigError(f"The environment variable {env_var} named for {what} is not set.")
        return value
    if not required:
        return None
    if sys.stdin is None:
        raise ConfigError(f"Give {what} with --client-secret-env or on standard input.")
    if sys.stdin.isatty():
        value = getpass.getpass(prompt)
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise ConfigError(f"Enter {what}.")
    return value


def log_hint() -> str:
    try:
        from ic.logs import log_dir

        return str(log_dir())
    except Exception:  # noqa: BLE001
        return "the application log"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*headers))
    for row in rows:
        print(fmt.format(*[str(x) for x in row]))
