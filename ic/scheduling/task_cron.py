"""Linux (and other Unix) without systemd: two lines in the user's crontab keep the resident scheduler running.

    @reboot cd /opt/ic && exec flock -n -o LOCK /opt/ic/IntegrationClient scheduler >/dev/null 2>&1 # IntegrationClient
    * * * * * cd /opt/ic && exec flock -n -o LOCK /opt/ic/IntegrationClient scheduler >/dev/null 2>&1 # IntegrationClient

The first starts it at boot, the second is a watchdog: ``flock -n`` on a lock file held for as long as the scheduler
runs makes it a no-op costing one tiny process a minute, and starts the scheduler again within a minute if it died.
Without flock(1) the watchdog runs every 5 minutes and the scheduler itself exits at once when one already runs.
(`tick` stays available for users who prefer their own one-line cron job.)

Other lines of the crontab are kept as they are; registering twice leaves the same lines; "stop" comments them out
(``#stopped# ...``), asks the running scheduler to end (SIGTERM) and "start" restores them. Output goes to the
service log, not to cron mail.
"""
from __future__ import annotations

import logging
import os
import shlex
import shutil
from pathlib import Path

from ic.errors import ConfigError, TaskRegistrationError
from ic.logs import redact
from ic.scheduling.task import CommandRunner, PasswordCallback, TaskStatus, program_command, run_command, settings_arguments

VERB = "scheduler"

log = logging.getLogger("ic.scheduling.task")

MARKER = "# IntegrationClient"
STOPPED = "#stopped# "
CRON_DAEMONS = ("cron", "crond")  # Debian/Ubuntu, RHEL/cronie and busybox
ENV_PASSED = ("IC_HOME", "IC_KEY_FILE")  # per-user overrides the job must see too


def watchdog_lock() -> Path:
    """The file flock(1) holds while the scheduler it started runs (not the scheduler's own lock file)."""
    from ic import paths

    folder = paths.data_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "scheduler-cron.lock"


def _cron_escape(text: str) -> str:
    return text.replace("%", "\\%")  # cron turns a bare % into a newline


class CronTask:
    def __init__(self, runner: CommandRunner | None = None, settings_url: str | None = None, user: str | None = None,
                 crontab: str = "crontab") -> None:
        self.runner = runner or run_command
        self.settings_url = settings_url
        self.user = user  # None = the current user; another user needs root (`crontab -u`)
        self.crontab = crontab

    # --- crontab I/O -----------------------------------------------------------------------------------------------
    def _argv(self, *args: str) -> list[str]:
        return [self.crontab, *(["-u", self.user] if self.user else []), *args]

    def read_lines(self) -> list[str]:
        result = self.runner(self._argv("-l"))
        if result.returncode == 0:
            return result.stdout.splitlines()
        if "no crontab" in (result.stderr + result.stdout).lower():
            return []
        raise TaskRegistrationError(f"Cannot read the crontab: {redact(_first_line(result))}.")

    def write_lines(self, lines: list[str]) -> None:
        text = "\n".join(lines) + "\n" if lines else ""
        result = self.runner(self._argv("-"), input=text)
        if result.returncode != 0:
            raise TaskRegistrationError(f"cron refused the new crontab: {redact(_first_line(result))}.")

    # --- the entry -------------------------------------------------------------------------------------------------
    def command(self) -> str:
        exe, lead, workdir = program_command()
        env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in ENV_PASSED if os.environ.get(k))
        argv = [exe, *lead, *settings_arguments(self.settings_url), VERB]
        flock = shutil.which("flock")
        if flock:
            argv = [flock, "-n", "-o", str(watchdog_lock()), *argv]
        run = " ".join(shlex.quote(a) for a in argv)
        return _cron_escape(f"cd {shlex.quote(workdir)} && {env + ' ' if env else ''}exec {run} >/dev/null 2>&1")

    def entries(self) -> list[str]:
        command = self.command()
        every = "* * * * *" if shutil.which("flock") else "*/5 * * * *"
        lines = [f"@reboot {command} {MARKER}", f"{every} {command} {MARKER}"]
        if any("\n" in line for line in lines):
            raise ConfigError("The program path contains a line break, which cron cannot run.")
        return lines

    def entry(self) -> str:
        """The watchdog line (the one that also starts the scheduler after `start`)."""
        return self.entries()[1]

    @staticmethod
    def is_ours(line: str) -> bool:
        return line.rstrip().endswith(MARKER)

    def our_lines(self, lines: list[str] | None = None) -> list[str]:
        return [line for line in (self.read_lines() if lines is None else lines) if self.is_ours(line)]

    # --- operations ------------------------------------------------------------------------------------------------
    def register(self, run_as_password_cb: PasswordCallback | None = None) -> str:
        """cron runs jobs whether or not the user is logged in: no password is ever needed here."""
        entries = self.entries()
        lines = self.read_lines()
        others = [line for line in lines if not self.is_ours(line)]
        if lines != [*others, *entries]:
            self.write_lines([*others, *entries])
        message = (f"Scheduler registered in the crontab of {self.user or 'this user'}: started at boot and kept "
                   "running (checked every minute); it checks the schedules every minute.")
        log.info(message)
        return message

    def unregister(self) -> str:
        lines = self.read_lines()
        kept = [line for line in lines if not self.is_ours(line)]
        if kept == lines:
            return "The scheduler is not installed in the crontab."
        self.write_lines(kept)
        log.info("Scheduler removed from the crontab.")
        return "Scheduler removed from the crontab."

    def _toggle(self, enable: bool) -> None:
        lines = self.read_lines()
        if not self.our_lines(lines):
            raise ConfigError("The scheduler is not installed in the crontab; register it first.")
        new = []
        for line in lines:
            if self.is_ours(line):
                bare = line[len(STOPPED):] if line.startswith(STOPPED) else line
                line = bare if enable else STOPPED + bare
            new.append(line)
        if new != lines:
            self.write_lines(new)

    def start(self) -> str:
        self._toggle(True)
        log.info("Scheduler started (crontab lines enabled).")
        if not self.daemon_running():
            return "Scheduler enabled in the crontab, but the cron daemon is not running: start it (service cron start)."
        return "Scheduler started: cron starts it within a minute and keeps it running."

    def stop(self) -> str:
        self._toggle(False)
        if self.user is None:  # our own scheduler process: ask it to end cleanly (another user's is not ours to end)
            from ic.scheduling.resident import signal_running_scheduler

            signal_running_scheduler()
        log.info("Scheduler stopped (crontab lines commented out).")
        return "Scheduler stopped: no schedule runs until it is started again."

    def daemon_running(self) -> bool:
        for name in CRON_DAEMONS:
            if self.runner(["pgrep", "-x", name]).returncode == 0:
                return True
        return False

    def status(self) -> TaskStatus:
        ours = self.our_lines()
        if not ours:
            return TaskStatus("not installed", "The scheduler is not installed in the crontab.", "")
        if all(line.startswith(STOPPED) for line in ours):
            return TaskStatus("stopped", "The scheduler is stopped (its crontab line is disabled).", "stopped")
        if not self.daemon_running():
            return TaskStatus("stopped", "The scheduler is in the crontab but the cron daemon is not running.",
                              "no daemon")
        return TaskStatus("running", "The scheduler is active: cron starts it at boot and keeps it running.", "active")


def _first_line(result) -> str:
    for line in (result.stderr or result.stdout or "").splitlines():
        if line.strip():
            return line.strip().rstrip(".")
    return f"exit code {result.returncode}"
