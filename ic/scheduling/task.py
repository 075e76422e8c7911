"""The OS scheduler task that keeps the resident scheduler (``IntegrationClient scheduler``) running: Windows Task
Scheduler, a systemd user unit, or the user's crontab (@reboot + a watchdog line).

The GUI main window shows :func:`status` ("running", "stopped" or "not installed", as the guide words it);
Application Settings and the `task` command call :func:`register`, :func:`unregister`, :func:`start`, :func:`stop`.

Every external command goes through one injectable runner (``CommandRunner``): tests on Linux run the real
``crontab``; Windows' ``schtasks.exe`` is replaced by a stand-in that checks the exact argv and the task XML.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy.engine import make_url

import ic
from ic import paths
from ic.errors import ConfigError

log = logging.getLogger("ic.scheduling.task")

STATES = ("running", "stopped", "not installed")
PasswordCallback = Callable[[str], str | None]  # (account name) -> password, asked only at registration time


@dataclass
class TaskStatus:
    state: str  # "running" | "stopped" | "not installed"
    detail: str  # one sentence for the status bar / `task status`
    raw: str = ""  # the platform's own word (Windows: Ready/Running/Disabled; cron: active/stopped/no daemon)


@dataclass
class RunResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class CommandRunner(Protocol):
    """Runs one external command; ``input`` is written to its stdin. Must not log the argv (it may hold a password)."""

    def __call__(self, argv: list[str], input: str | None = None) -> RunResult: ...


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) > 1 and data[1:2] == b"\x00"):
        return data.decode("utf-16", errors="replace")
    if sys.platform == "win32":  # pragma: no cover - console code page
        import locale

        return data.decode(locale.getpreferredencoding(False), errors="replace")
    return data.decode("utf-8", errors="replace")


def run_command(argv: list[str], input: str | None = None) -> RunResult:
    """The real runner: no console window on Windows, 2-minute timeout, never raises for a missing program."""
    # stdin: never the caller's. A windowed exe has no console to read from, and a command that unexpectedly
    # prompts (schtasks asking for a password) must get EOF at once instead of waiting for the 2-minute timeout.
    kwargs: dict = {} if input is not None else {"stdin": subprocess.DEVNULL}
    if sys.platform == "win32":  # pragma: no cover
        kwargs["creationflags"] = 0x08000000  # CREATE_NO_WINDOW: no console window flashes from the windowed exe
    try:
        proc = subprocess.run(argv, input=input.encode() if input is not None else None, capture_output=True,
                              timeout=120, check=False, **kwargs)
    except FileNotFoundError:
        return RunResult(127, "", f"{argv[0]} is not installed or not on PATH")
    except subprocess.TimeoutExpired:
        return RunResult(124, "", f"{argv[0]} did not finish within 2 minutes")
    return RunResult(proc.returncode, _decode(proc.stdout), _decode(proc.stderr))


# --- what the task runs --------------------------------------------------------------------------------------------------
def program_command() -> tuple[str, list[str], str]:
    """(executable, leading arguments, working directory) that start this program without a console.

    Frozen: the executable itself. From source: the Python interpreter (pythonw.exe on Windows, so no console window
    flashes every minute) with the absolute path of main.py.
    """
    if getattr(sys, "frozen", False):
        exe = Path(os.path.abspath(sys.executable))  # abspath: keep the name the user installed it under
        return str(exe), [], str(exe.parent)
    root = Path(ic.__file__).resolve().parent.parent
    python = Path(sys.executable)
    if sys.platform == "win32":
        windowless = python.with_name("pythonw.exe")
        if windowless.exists():
            python = windowless
    return str(python), [str(root / "main.py")], str(root)


def task_default_settings_url() -> str:
    """The settings URL a task started without ``--settings`` resolves by itself: the one saved by the Settings
    Database dialog (bootstrap.json, encrypted when it holds a password) or the per-user default. IC_SETTINGS is
    ignored: the task's environment does not have it."""
    try:
        from ic.settings import bootstrap

        return bootstrap.read_url() or paths.default_settings_url()
    except Exception:  # noqa: BLE001 - unreadable bootstrap file: the task would fail the same way; say it there
        return paths.default_settings_url()


def settings_arguments(settings_url: str | None, *, force: bool = False) -> list[str]:
    """``["--settings", URL]`` when the task must use another settings database than it would find by itself.

    A URL holding a password is refused: it would be readable in the task definition / crontab and in process
    listings. Choose that database in Setup > Settings Database instead (saved encrypted in bootstrap.json, which
    the task reads), or use Windows authentication (SQL Server ``Trusted_Connection=yes``) or a PostgreSQL password
    file (pgpass) for the account the task runs as.
    """
    if not settings_url or (not force and settings_url == task_default_settings_url()):
        return []  # force: a task running as another account finds another bootstrap file / default
    try:
        url = make_url(settings_url)
    except Exception:  # noqa: BLE001
        raise ConfigError("The settings database URL is not a valid SQLAlchemy URL.", field="settings") from None
    from urllib.parse import unquote_plus

    flat = unquote_plus(unquote_plus(settings_url)).lower().replace(" ", "")
    if url.password or "pwd=" in flat or "password=" in flat:
        raise ConfigError(
            "The settings database URL contains a password, which the scheduler task would keep in clear text; "
            "choose that database in Setup > Settings Database (saved encrypted) or use Windows authentication "
            "or a PostgreSQL password file (pgpass).",
            field="settings",
        )
    return ["--settings", settings_url]


# --- facade ------------------------------------------------------------------------------------------------------------------
def backend(runner: CommandRunner | None = None, settings_url: str | None = None, **kwargs):
    """The platform's task backend: WindowsTask, a systemd user unit where systemd runs, else CronTask."""
    if sys.platform == "win32":
        from ic.scheduling.task_windows import WindowsTask

        return WindowsTask(runner=runner, settings_url=settings_url, **kwargs)
    from ic.scheduling.task_systemd import SystemdTask, systemd_available

    if not kwargs and systemd_available(runner):
        return SystemdTask(runner=runner, settings_url=settings_url)
    from ic.scheduling.task_cron import CronTask

    return CronTask(runner=runner, settings_url=settings_url, **kwargs)


def register(run_as_password_cb: PasswordCallback | None = None, *, settings_url: str | None = None,
             runner: CommandRunner | None = None) -> str:
    """Install (or replace) the task. With ``run_as_password_cb`` on Windows the task runs whether the user is
    logged on or not; the callback is asked for the account's password, which goes to schtasks once and is never
    stored or logged. Returns one sentence."""
    return backend(runner, settings_url).register(run_as_password_cb)


def unregister(*, runner: CommandRunner | None = None) -> str:
    return backend(runner).unregister()


def status(*, runner: CommandRunner | None = None) -> TaskStatus:
    return backend(runner).status()


def start(*, runner: CommandRunner | None = None) -> str:
    return backend(runner).start()


def stop(*, runner: CommandRunner | None = None, store=None, wait_seconds: float = 20.0) -> str:
    """Stop the scheduler: the task no longer (re)starts it, and the running scheduler process of this host ends.

    With ``store`` (the settings database) the process is first asked to stop there (it ends cleanly at its next
    check, cancelling a run at a safe point); on Windows the task's process is ended by force only if it is still
    up after ``wait_seconds``."""
    requested = False
    if store is not None:
        from ic.scheduling import heartbeat

        try:
            requested = heartbeat.request_stop(store)
        except Exception:  # noqa: BLE001 - the OS side below still stops it
            log.warning("Could not write the stop request to the settings database.", exc_info=True)
    task = backend(runner)
    if not (requested and sys.platform == "win32"):
        return task.stop()
    message = task.stop(end=False)
    import time

    from ic.scheduling import heartbeat

    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        mine = heartbeat.this_host_id()
        if not any(r.running and r.host_id == mine for r in heartbeat.all_statuses(store)):
            return message
        time.sleep(0.5)
    return task.stop(end=True)


def current_user() -> str:
    """DOMAIN\\user on Windows (GetUserNameExW, else USERDOMAIN\\USERNAME), the login name elsewhere."""
    import getpass

    if sys.platform == "win32":
        from ic.scheduling.task_windows import windows_account

        account = windows_account()
        if account:
            return account
    user = os.environ.get("USERNAME") if sys.platform == "win32" else None
    user = user or getpass.getuser()
    domain = os.environ.get("USERDOMAIN") if sys.platform == "win32" else None
    return f"{domain}\\{user}" if domain else user
