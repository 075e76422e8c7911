"""Integration Client entry point: no arguments opens the window; arguments run the command line."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if sys.stdout is None or sys.stderr is None:  # windowed Windows .exe: console or log file (ic.logs)
        from ic.logs import ensure_std_streams

        # the GUI (also `--settings URL` alone) never attaches: closing that console would kill it
        ensure_std_streams(attach_console=bool(argv) and not _window_settings(argv))
    if argv in (["--version"], ["-V"]):
        from ic import __version__

        print(f"Integration Client {__version__}")
        return 0
    window_settings = _window_settings(argv)
    if not argv or window_settings:
        from ic.gui.app import run_gui  # imported only here so the CLI never loads Tk

        return run_gui(settings_url=window_settings) if window_settings else run_gui()
    from ic.cli import run_cli

    return run_cli(argv)


def _window_settings(argv: list[str]) -> str | None:
    """``--settings URL`` and nothing else opens the window on that settings database ("without a command it
    opens the window")."""
    if len(argv) == 2 and argv[0] == "--settings" and argv[1] and not argv[1].startswith("-"):
        return argv[1]
    if len(argv) == 1 and argv[0].startswith("--settings=") and len(argv[0]) > len("--settings="):
        return argv[0].split("=", 1)[1]
    return None


def run(argv: list[str] | None = None) -> int:
    """Process entry. In the windowed Windows exe (no stdout/stderr) an exception escaping main() on the command
    line would make PyInstaller show a modal "Unhandled exception" box; under Task Scheduler nobody clicks it, so
    that `tick` hangs and IgnoreNew skips every later tick until the 12-hour limit. Log it and exit 3 instead."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (sys.stdout is not None and sys.stderr is not None):
        return main(argv)  # GUI, or a console: the traceback is visible where it belongs
    try:
        return main(argv)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:  # noqa: BLE001 - the last line of defence
        _log_crash(argv)
        return 3


def _log_crash(argv: list[str]) -> None:
    import logging

    try:
        from ic import logs

        if not logs._installed:
            logs.setup_logging(None, "service" if argv[:1] == ["tick"] else "app")
        logging.getLogger("ic.main").error("Internal error before the command could run.", exc_info=True)
    except Exception:  # noqa: BLE001 - not even logging works: a file in the temp folder, else nothing
        import tempfile
        import traceback

        try:
            with open(f"{tempfile.gettempdir()}/IntegrationClient-error.txt", "a", encoding="utf-8") as fh:
                traceback.print_exc(file=fh)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(run())
