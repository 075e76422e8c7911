"""Windows: the Task Scheduler task \\IntegrationClient\\Scheduler that keeps the resident scheduler running.

The task starts ``IntegrationClient.exe scheduler`` (ic.scheduling.resident: one process that checks every minute)
at logon (and at start-up when it runs whether the user is logged on or not), and repeats a time trigger every
5 minutes with MultipleInstancesPolicy IgnoreNew: while the process runs nothing happens; if it died, it is started
again within 5 minutes (RestartOnFailure also restarts it a minute after a crash). No execution time limit: the
process is meant to stay. A one-file build therefore unpacks itself once per start, not once a minute.

Registered from an XML definition (schema 1.2, UTF-16 with BOM, as schtasks expects) so every setting is explicit:
logon (+ boot) triggers, a time trigger repeating every 5 minutes indefinitely, IgnoreNew (one scheduler process),
runs on battery, RestartOnFailure, no execution time limit. By default the task runs only while the user is logged on (InteractiveToken: no password needed). "Run
whether the user is logged on or not" needs the account's password: it is handed to Task Scheduler once, at
registration, through PowerShell's Register-ScheduledTask reading it from a pipe (stdin) — never on a command line,
where any process listing would show it (schtasks /RP would) — and it is never stored by this program or logged.
S4U ("do not store password") is not offered: an S4U task has no credentials, so DPAPI cannot unwrap the secrets key (ic.secrets) and network shares refuse it.

Schema notes (learn.microsoft.com, Task Scheduler Schema): Task, RegistrationInfo, Principal and Settings children
are ``xs:all`` (any order); trigger children are an ``xs:sequence`` (Enabled, StartBoundary, EndBoundary, Repetition,
ExecutionTimeLimit), as are Exec's (Command, Arguments, WorkingDirectory), so those are written in that order.

Status without localized text: schtasks prints the Status column in the Windows display language ("Wird
ausgeführt"), so "running" is read from the verbose listing's Last Result column, a number: 267009 (0x41301,
SCHED_S_TASK_RUNNING) while an instance runs; "disabled" comes from the task XML's Settings/Enabled.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import re
import subprocess
import tempfile
from datetime import datetime

from lxml import etree

from ic.errors import ConfigError, TaskRegistrationError
from ic.logs import redact
from ic.scheduling.task import (
    CommandRunner,
    PasswordCallback,
    RunResult,
    TaskStatus,
    current_user,
    program_command,
    run_command,
    settings_arguments,
)

log = logging.getLogger("ic.scheduling.task")

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
TASK_NAME = "\\IntegrationClient\\Scheduler"
SCHTASKS = "schtasks"
POWERSHELL = "powershell.exe"
EXECUTION_TIME_LIMIT = "PT0S"  # none: the resident scheduler stays up (a hung run is the scheduler's own business)
WATCHDOG_INTERVAL = "PT5M"  # the time trigger repeats this often; IgnoreNew while the scheduler runs
TASK_VERB = "scheduler"  # what the task runs (``tick`` stays for cron users and scripts)
SCHED_S_TASK_RUNNING = 267009  # 0x41301: "Last Result" while the task runs
_RUNNING_WORDS = frozenset({"running", "wird ausgeführt", "en cours d'exécution", "en ejecución", "in esecuzione",
                            "em execução", "wordt uitgevoerd"})  # Status column; the number above is what counts

SchtasksRunner = CommandRunner  # the injectable seam: (argv, input=None) -> RunResult


def build_task_xml(command: str, arguments: str, working_dir: str, user: str, *, logon_type: str = "InteractiveToken",
                   start: datetime | None = None) -> str:
    """The task definition as text (serialise with :func:`xml_bytes` for schtasks)."""
    if logon_type not in ("InteractiveToken", "Password"):
        raise ValueError("logon_type must be InteractiveToken or Password")
    E = lambda tag, text=None, **attrs: _el(tag, text, attrs)  # noqa: E731
    start = (start or datetime.now()).replace(second=0, microsecond=0)
    task = E("Task", version="1.2")
    reg = _add(task, E("RegistrationInfo"))
    _add(reg, E("Author", user))
    _add(reg, E("Description", "Integration Client scheduler: keeps the resident scheduler running; it checks the "
                                "schedules every minute and runs the ones that are due."))
    _add(reg, E("URI", TASK_NAME))
    triggers = _add(task, E("Triggers"))
    if logon_type == "Password":  # runs whether the user is logged on or not: from start-up
        boot = _add(triggers, E("BootTrigger"))
        _add(boot, E("Enabled", "true"))
    logon = _add(triggers, E("LogonTrigger"))  # sequence: Enabled, StartBoundary, ..., Delay, UserId
    _add(logon, E("Enabled", "true"))
    _add(logon, E("UserId", user))
    trigger = _add(triggers, E("TimeTrigger"))  # the watchdog
    _add(trigger, E("Enabled", "true"))  # triggerBaseType is a sequence: Enabled, StartBoundary, Repetition
    _add(trigger, E("StartBoundary", start.isoformat()))
    rep = _add(trigger, E("Repetition"))
    _add(rep, E("Interval", WATCHDOG_INTERVAL))  # no Duration: repeat indefinitely
    _add(rep, E("StopAtDurationEnd", "false"))
    principal = _add(_add(task, E("Principals")), E("Principal", id="Author"))
    _add(principal, E("UserId", user))
    _add(principal, E("LogonType", logon_type))
    _add(principal, E("RunLevel", "LeastPrivilege"))
    settings = _add(task, E("Settings"))
    for tag, value in (
        ("MultipleInstancesPolicy", "IgnoreNew"),
        ("DisallowStartIfOnBatteries", "false"),
        ("StopIfGoingOnBatteries", "false"),
        ("AllowHardTerminate", "true"),
        ("StartWhenAvailable", "true"),
        ("RunOnlyIfNetworkAvailable", "false"),
    ):
        _add(settings, E(tag, value))
    restart = _add(settings, E("RestartOnFailure"))  # sequence: Interval, Count
    _add(restart, E("Interval", "PT1M"))
    _add(restart, E("Count", "999"))
    idle = _add(settings, E("IdleSettings"))
    _add(idle, E("StopOnIdleEnd", "false"))
    _add(idle, E("RestartOnIdle", "false"))
    for tag, value in (
        ("AllowStartOnDemand", "true"),
        ("Enabled", "true"),
        ("Hidden", "false"),
        ("RunOnlyIfIdle", "false"),
        ("WakeToRun", "false"),
        ("ExecutionTimeLimit", EXECUTION_TIME_LIMIT),
        ("Priority", "7"),
    ):
        _add(settings, E(tag, value))
    exec_ = _add(_add(task, E("Actions", Context="Author")), E("Exec"))
    _add(exec_, E("Command", command))
    if arguments:
        _add(exec_, E("Arguments", arguments))
    _add(exec_, E("WorkingDirectory", working_dir))
    body = etree.tostring(task, pretty_print=True, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body


def _el(tag: str, text: str | None, attrs: dict) -> etree._Element:
    el = etree.Element(f"{{{TASK_NS}}}{tag}", nsmap={None: TASK_NS})
    for k, v in attrs.items():
        el.set(k, v)
    if text is not None:
        el.text = text
    return el


def _add(parent: etree._Element, child: etree._Element) -> etree._Element:
    parent.append(child)
    return child


def xml_bytes(xml_text: str) -> bytes:
    """UTF-16 little-endian with a BOM: what schtasks /XML reads reliably."""
    return "\ufeff".encode("utf-16-le") + xml_text.replace("\n", "\r\n").encode("utf-16-le")


class WindowsTask:
    def __init__(self, runner: CommandRunner | None = None, settings_url: str | None = None,
                 user: str | None = None, *, force_settings: bool = False) -> None:
        self.runner = runner or run_command
        self.settings_url = settings_url
        self.user = user or current_user()
        self.force_settings = force_settings  # run as another account (ic.services.run_as): always --settings URL

    # --- helpers -------------------------------------------------------------------------------------------------
    def _run(self, args: list[str], what: str, ok_codes: tuple[int, ...] = (0,), *, argv: list[str] | None = None,
             stdin: str | None = None) -> RunResult:
        argv = argv or [SCHTASKS, *args]
        log.debug("Running %s", subprocess.list2cmdline(argv))
        result = self.runner(argv, stdin) if stdin is not None else self.runner(argv)
        if result.returncode not in ok_codes:
            reason = _first_line(result.stderr or result.stdout) or f"exit code {result.returncode}"
            reason = redact(reason).rstrip(".")
            if "denied" in reason.lower():
                reason += " (start the Integration Client once with Run as administrator to change the task)"
            raise TaskRegistrationError(f"Windows Task Scheduler could not {what} the task {TASK_NAME}: {reason}.")
        return result

    def definition(self, logon_type: str = "InteractiveToken") -> str:
        command, lead, workdir = program_command()
        settings = settings_arguments(self.settings_url, force=self.force_settings)
        arguments = subprocess.list2cmdline([*lead, *settings, TASK_VERB])
        return build_task_xml(command, arguments, workdir, self.user, logon_type=logon_type)

    # --- operations ------------------------------------------------------------------------------------------------
    def register(self, run_as_password_cb: PasswordCallback | None = None) -> str:
        logon = "Password" if run_as_password_cb else "InteractiveToken"
        xml = self.definition(logon)  # raises ConfigError before anything is asked or changed
        password = None
        if run_as_password_cb:
            password = run_as_password_cb(self.user)
            if not password:
                raise ConfigError(f"Enter the Windows password of {self.user} to run the task when nobody is logged on.",
                                  field="password")
        fd, path = tempfile.mkstemp(prefix="ic-task-", suffix=".xml")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(xml_bytes(xml))
            if password:
                self._run([], "register", argv=register_with_password_argv(path, self.user), stdin=password + "\n")
            else:
                self._run(["/Create", "/TN", TASK_NAME, "/XML", path, "/F"], "register")
        finally:
            password = None
            try:
                os.unlink(path)
            except OSError:
                pass
        mode = "whether or not the user is logged on" if run_as_password_cb else "while the user is logged on"
        message = (f"Scheduler task {TASK_NAME} registered: it keeps the scheduler running as {self.user} {mode}; "
                   "the schedules are checked every minute.")
        log.info(message)
        return message

    def unregister(self) -> str:
        if self._query_xml() is None:
            return f"Scheduler task {TASK_NAME} is not installed."
        self._run(["/Delete", "/TN", TASK_NAME, "/F"], "remove")
        log.info("Scheduler task %s removed.", TASK_NAME)
        return f"Scheduler task {TASK_NAME} removed."

    def start(self) -> str:
        self._require_installed()
        self._run(["/Change", "/TN", TASK_NAME, "/ENABLE"], "enable")
        self._run(["/Run", "/TN", TASK_NAME], "start")
        log.info("Scheduler task %s enabled and started.", TASK_NAME)
        return f"Scheduler task {TASK_NAME} started: the scheduler checks the schedules every minute."

    def stop(self, end: bool = True) -> str:
        """Disable the task (nothing restarts the scheduler) and end its process; ``end`` False when the process was
        already asked to stop cleanly through the settings database (ic.scheduling.task.stop)."""
        self._require_installed()
        self._run(["/Change", "/TN", TASK_NAME, "/DISABLE"], "disable")
        if end:
            self._run(["/End", "/TN", TASK_NAME], "stop", ok_codes=(0, 1))  # 1: it was not running
        log.info("Scheduler task %s stopped and disabled.", TASK_NAME)
        return f"Scheduler task {TASK_NAME} stopped: no schedule runs until it is started again."

    def status(self) -> TaskStatus:
        xml = self._query_xml()
        if xml is None:
            return TaskStatus("not installed", f"The scheduler task {TASK_NAME} is not installed.", "")
        enabled = _task_enabled(xml)
        raw, busy = "Ready" if enabled else "Disabled", False
        result = self.runner([SCHTASKS, "/Query", "/TN", TASK_NAME, "/V", "/FO", "CSV", "/NH"])
        if result.returncode == 0:
            word, busy = parse_query_csv(result.stdout)
            raw = word or raw
        if not enabled:
            return TaskStatus("stopped", f"The scheduler task {TASK_NAME} is disabled; start it to run schedules.", raw)
        detail = f"The scheduler task {TASK_NAME} is " + (
            "running the scheduler." if busy else "ready: it starts the scheduler at logon and every 5 minutes.")
        return TaskStatus("running", detail, raw)

    def _query_xml(self) -> str | None:
        result = self.runner([SCHTASKS, "/Query", "/TN", TASK_NAME, "/XML", "ONE"])
        return result.stdout if result.returncode == 0 and "<Task" in result.stdout else None

    def _require_installed(self) -> None:
        if self._query_xml() is None:
            raise ConfigError(f"The scheduler task {TASK_NAME} is not installed; register it first.")


def parse_query_csv(text: str) -> tuple[str, bool]:
    """(Status word as Windows prints it, running?) from ``schtasks /Query /TN X [/V] /FO CSV /NH`` output.

    Verbose rows: HostName, TaskName, Next Run Time, Status, Logon Mode, Last Run Time, Last Result, ...; short rows:
    TaskName, Next Run Time, Status. Columns are found by position (headers are localized and left out with /NH).
    """
    for row in csv.reader(io.StringIO(text)):
        cells = [c.strip() for c in row]
        if len(cells) >= 7 and cells[1].lower() == TASK_NAME.lower():
            word, last = cells[3], cells[6]
            running = last in (str(SCHED_S_TASK_RUNNING), hex(SCHED_S_TASK_RUNNING))
            return word, running or word.casefold() in _RUNNING_WORDS
        if len(cells) >= 3 and cells[0].lower() == TASK_NAME.lower():
            return cells[2], cells[2].casefold() in _RUNNING_WORDS
    return "", False


def windows_account(secur32=None) -> str | None:
    """DOMAIN\\user (or AzureAD\\user) of this process from GetUserNameExW(NameSamCompatible): right even where
    USERDOMAIN/USERNAME are missing or stale. None when not on Windows or the call fails."""
    import ctypes

    try:
        secur32 = secur32 or ctypes.WinDLL("secur32", use_last_error=True)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    fn = secur32.GetUserNameExW
    # EXTENDED_NAME_FORMAT, LPWSTR, PULONG
    fn.argtypes = [ctypes.c_int, ctypes.c_wchar_p, ctypes.POINTER(ctypes.c_uint32)]
    fn.restype = ctypes.c_ubyte  # BOOLEAN
    size = ctypes.c_uint32(0)
    fn(2, None, ctypes.byref(size))  # NameSamCompatible = 2; fails with ERROR_MORE_DATA and sets the size
    if not size.value:
        return None
    buf = ctypes.create_unicode_buffer(size.value + 1)
    size.value = len(buf)
    if not fn(2, buf, ctypes.byref(size)):
        return None
    return buf.value or None


def _task_enabled(xml_text: str) -> bool:
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", xml_text.lstrip("\ufeff"))
    try:
        root = etree.fromstring(body.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return True
    values = root.xpath("/*[local-name()='Task']/*[local-name()='Settings']/*[local-name()='Enabled']/text()")
    return not values or values[0].strip().lower() != "false"


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return re.sub(r"^(ERROR|FEHLER|ERREUR):\s*", "", line)
    return ""


def _ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_with_password_script(xml_path: str, user: str) -> str:
    """PowerShell that registers the task XML for ``user`` with the password read from its standard input."""
    folder, _, name = TASK_NAME.rpartition("\\")
    return "\n".join([
        "$ErrorActionPreference = 'Stop'",
        "$password = [Console]::In.ReadLine()",
        f"$xml = [IO.File]::ReadAllText({_ps_quote(xml_path)})",
        f"Register-ScheduledTask -TaskName {_ps_quote(name)} -TaskPath {_ps_quote(folder + chr(92))} -Xml $xml "
        f"-User {_ps_quote(user)} -Password $password -Force | Out-Null",
    ])


def register_with_password_argv(xml_path: str, user: str) -> list[str]:
    """The script travels base64-encoded (-EncodedCommand, UTF-16LE) so no quoting can break it; it holds no secret."""
    import base64

    encoded = base64.b64encode(register_with_password_script(xml_path, user).encode("utf-16-le")).decode("ascii")
    return [POWERSHELL, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", encoded]
