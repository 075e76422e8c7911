"""Integration Client entry point: no arguments opens the window; arguments run the command line."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if sys.stdout is None or sys.stderr is None:  # windowed Windows .exe: console or log file (ic.logs)
        from ic.logs import ensure_std_streams

        ensure_std_streams(attach_console=bool(argv))  # the GUI never attaches: closing that console would kill it
    if argv in (["--version"], ["-V"]):
        from ic import __version__

        print(f"Integration Client {__version__}")
        return 0
    if not argv:
        from ic.gui.app import run_gui  # imported only here so the CLI never loads Tk

        return run_gui()
    from ic.cli import run_cli

    return run_cli(argv)


if __name__ == "__main__":
    sys.exit(main())
