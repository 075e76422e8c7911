"""Linux with systemd: a user unit keeps the resident scheduler running (``Restart=always``).

    ~/.config/systemd/user/integration-client-scheduler.service

register = write the unit, ``systemctl --user daemon-reload`` and ``enable --now``; stop = ``disable --now`` (systemd
sends SIGTERM: the scheduler stops cleanly); start = ``enable --now``; unregister = stop + remove the unit. A user
unit starts at boot only when lingering is on for the account (``loginctl enable-linger USER``); register asks for
it and says so when it cannot.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ic.errors import ConfigError, TaskRegistrationError
from ic.logs import redact
from ic.scheduling.task import CommandRunner, PasswordCallback, TaskStatus, program_command, run_command, settings_arguments

log = logging.getLogger("ic.scheduling.task")

UNIT = "integration-client-scheduler.service"
ENV_PASSED = ("IC_HOME", "IC_KEY_FILE")


def systemd_available(runner: CommandRunner | None = None) -> bool:
    """systemd is PID 1 and this user has a service manager to talk to."""
    if os.environ.get("IC_TASK_BACKEND"):
        return os.environ["IC_TASK_BACKEND"] == "systemd"
    if not Path("/run/systemd/system").is_dir():
        return False
    result = (runner or run_command)(["systemctl", "--user", "is-system-running"])
    return result.stdout.strip() in ("running", "degraded", "starting", "initializing")


def unit_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT


def _quote(arg: str) -> str:
    """systemd's own quoting for ExecStart (double quotes, backslash escapes; % doubled)."""
    text = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{text}"' if any(c in text for c in ' \t"\'$;') or not text else text


def unit_text(settings_url: str | None = None) -> str:
    exe, lead, workdir = program_command()
    argv = [exe, *lead, *settings_arguments(settings_url), "scheduler"]
    env = [f'Environment={_quote(f"{k}={os.environ[k]}")}' for k in ENV_PASSED if os.environ.get(k)]
    lines = [
        "[Unit]",
        "Description=Integration Client scheduler (checks the schedules every minute)",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={_quote(workdir)}",
        *env,
        "ExecStart=" + " ".join(_quote(a) for a in argv),
        "Restart=always",
        "RestartSec=60",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=300",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    if any("\n" in line for line in lines[:-1]):
        raise ConfigError("The program path contains a line break, which a systemd unit cannot hold.")
    return "\n".join(lines)


class SystemdTask:
    def __init__(self, runner: CommandRunner | None = None, settings_url: str | None = None, **_ignored) -> None:
        self.runner = runner or run_command
        self.settings_url = settings_url

    def _systemctl(self, *args: str, ok: tuple[int, ...] = (0,)):
        result = self.runner(["systemctl", "--user", *args])
        if result.returncode not in ok:
            reason = (result.stderr or result.stdout or f"exit code {result.returncode}").strip().splitlines()[0]
            raise TaskRegistrationError(f"systemd could not {args[0]} {UNIT}: {redact(reason).rstrip('.')}.")
        return result

    def register(self, run_as_password_cb: PasswordCallback | None = None) -> str:
        text = unit_text(self.settings_url)
        path = unit_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        self._systemctl("daemon-reload")
        self._systemctl("enable", "--now", UNIT)
        linger = self.runner(["loginctl", "enable-linger"]).returncode == 0
        message = (f"Scheduler registered as the systemd user service {UNIT}: it checks the schedules every minute "
                   "and is restarted if it stops")
        if not linger:
            message += "; it starts at boot once lingering is on (loginctl enable-linger, as root)"
        log.info(message)
        return message + "."

    def unregister(self) -> str:
        path = unit_path()
        if not path.exists():
            return f"The systemd user service {UNIT} is not installed."
        self._systemctl("disable", "--now", UNIT, ok=(0, 1, 5))
        path.unlink()
        self._systemctl("daemon-reload")
        log.info("Scheduler service %s removed.", UNIT)
        return f"Scheduler service {UNIT} removed."

    def _require(self) -> None:
        if not unit_path().exists():
            raise ConfigError(f"The systemd user service {UNIT} is not installed; register it first.")

    def start(self) -> str:
        self._require()
        self._systemctl("enable", "--now", UNIT)
        return f"Scheduler started ({UNIT}): it checks the schedules every minute."

    def stop(self) -> str:
        self._require()
        self._systemctl("disable", "--now", UNIT)
        return "Scheduler stopped: no schedule runs until it is started again."

    def status(self) -> TaskStatus:
        if not unit_path().exists():
            return TaskStatus("not installed", f"The systemd user service {UNIT} is not installed.", "")
        active = self.runner(["systemctl", "--user", "is-active", UNIT]).stdout.strip()
        if active in ("active", "activating", "reloading"):
            return TaskStatus("running", f"The scheduler service {UNIT} is {active}.", active)
        return TaskStatus("stopped", f"The scheduler service {UNIT} is {active or 'inactive'}; start it to run "
                                     "schedules.", active or "inactive")


__all__ = ["SystemdTask", "systemd_available", "unit_text", "unit_path", "UNIT"]
