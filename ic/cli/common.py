"""Helpers shared by CLI subcommands."""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from ic.errors import ConfigError
from ic.settings import SettingsStore


def store_from(args: argparse.Namespace) -> SettingsStore:
    explicit = getattr(args, "settings", None)
    try:
        from ic.services.settings import open_existing_settings

        store = open_existing_settings(explicit)  # a typo never creates an empty database (the window's rule too)
    except ConfigError as exc:
        import logging

        from ic.logs import FILE_ONLY

        # the scheduler's `tick` has no console anyone reads: the refusal must be in the (service) log file too
        logging.getLogger("ic.cli").error(str(exc), extra={FILE_ONLY: True})
        raise
    from ic.logs import apply_store_settings

    apply_store_settings(store)  # the log folder / removal days configured in this settings database
    return store


def settings_source(explicit: str | None) -> str:
    """Where the settings database URL comes from, in words (empty for the per-user default)."""
    from ic.services.settings import settings_source as source

    return source(explicit)


def full_path(path: str | None) -> str | None:
    """A file named relative to the current folder, made absolute: the scheduled task runs in another folder.
    None and "" (= reset to the default) pass through."""
    if not path:
        return path
    return os.path.abspath(os.path.expanduser(path))


MAX_SECRET_CHARS = 65536  # a pipe that never ends a line (e.g. /dev/zero) must not hang or fill memory


def read_secret(env_var: str | None, prompt: str, what: str, required: bool = True,
                option: str = "--client-secret-env") -> str | None:
    """Secret from an environment variable, a pipe on stdin, or a hidden prompt; never from the command line.

    ``option`` names the ``--...-env`` option that would have given it, for the error sentence."""
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise ConfigError(f"The environment variable {env_var} named for {what} is not set.")
        return value
    if not required:
        return None
    hint = f"Give {what} with {option} VAR or on standard input"
    if sys.stdin is None or sys.stdin.closed:
        raise ConfigError(f"{hint}.")
    try:
        if sys.stdin.isatty():
            value = getpass.getpass(prompt)
        else:
            value = sys.stdin.readline(MAX_SECRET_CHARS).rstrip("\r\n")
    except EOFError:
        value = ""
    except (OSError, ValueError, UnicodeDecodeError):
        raise ConfigError(f"{hint}: standard input cannot be read.") from None
    if not value:
        raise ConfigError(f"{hint}; standard input was empty.")
    if "\x00" in value:
        raise ConfigError(f"{hint}; standard input held binary data, not text.")
    return value


def log_hint() -> str:
    try:
        from ic.logs import log_dir

        return str(log_dir())
    except Exception:  # noqa: BLE001
        return "the application log"


def display_width(text: str) -> int:
    """Columns a terminal uses for ``text``: East Asian wide characters take two, combining marks none."""
    import unicodedata

    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def print_table(headers: list[str], rows: list[list[str]], empty: str | None = None) -> None:
    """Columns aligned for a terminal; ``empty``: the sentence printed instead when there are no rows."""
    if not rows and empty is not None:
        print(empty)
        return
    table = [[str(x) for x in row] for row in [headers, *rows]]
    widths = [max(display_width(x) for x in col) for col in zip(*table)]
    for row in table:
        cells = [cell + " " * (width - display_width(cell)) for cell, width in zip(row, widths)]
        print("  ".join(cells).rstrip())


def add_action(actions: argparse._SubParsersAction, name: str, helptext: str, *, examples: tuple[str, ...] = (),
               description: str | None = None) -> argparse.ArgumentParser:
    """One ACTION of a command group; ``examples`` are shown under its --help, a line each."""
    if not examples:
        return actions.add_parser(name, help=helptext, description=description)
    return actions.add_parser(name, help=helptext, description=description,
                              epilog="examples:\n  " + "\n  ".join(examples),
                              formatter_class=argparse.RawDescriptionHelpFormatter)


def remove_named(args: argparse.Namespace, noun: str, remove) -> int:
    """`NOUN remove NAME`: the service's ``remove(store, name)``, then one line saying so."""
    remove(store_from(args), args.name)
    print(f"{noun} {args.name} removed.")
    return 0


class LiveLine:
    """One line rewritten in place on a terminal (stderr by default). Not a terminal (``tty`` False): the caller
    prints plain lines, or nothing; ``enabled`` False (--quiet): nothing at all."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream is not None
        self.tty = bool(self.enabled and hasattr(self.stream, "isatty") and self.stream.isatty())
        self._width = 0

    def show(self, line: str) -> None:
        self.stream.write("\r" + line + " " * max(0, self._width - len(line)))
        self._width = len(line)
        self.stream.flush()

    def close(self) -> None:
        """End the line (the next output starts on its own line)."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
