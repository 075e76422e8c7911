"""Log files: the IC log (GUI and command-line actions) and the service log (what the OS scheduler's `tick` does).

Both live in one folder (app setting ``log_dir``, default ``ic.paths.default_log_dir()``), rotate at midnight
(``ic.log.2026-11-25``) and files older than ``log_removal_days`` (default 30, 0 = keep forever) are deleted when a
process starts logging. Every handler carries :class:`RedactingFilter`, so a client secret, token or password cannot
reach a log line even when someone logs a URL, a header or a request body by mistake. Expected errors (``ICError``)
are logged as one sentence; unexpected ones get a full traceback, in the file only.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from ic import paths
from ic.errors import ICError

LOGGER_NAME = "ic"
KINDS = ("app", "service")
FILE_NAMES = {"app": "ic.log", "service": "service.log"}
DEFAULT_REMOVAL_DAYS = 30
FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s"

# Records carrying this attribute (``extra={FILE_ONLY: True}``) go to the log file only: not to the console and
# never to the e-mail notifier (used for "could not send the notification" so it cannot loop).
FILE_ONLY = "ic_file_only"

_current_dir: Path | None = None
_installed: list[logging.Handler] = []
_last_setup: tuple[str, bool, int] | None = None  # (kind, console, level) of the last setup_logging call

# --- redaction ---------------------------------------------------------------------------------------------------
_MASK = "***"
_SECRET_KEYS = (
    r"client_secret|access_token|refresh_token|id_token|password|passwd|pwd|secret|api_key|apikey|"
    r"smtp_password|backup_password|x-api-key|token|secret_key"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer abc / Authorization: Basic abc= / "Authorization": "Bearer abc" / Proxy-Authorization
    (
        re.compile(r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(basic|bearer|digest|negotiate|ntlm)\s+)?"
                   r"[^\s\"',;}]+"),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{_MASK}",  # type: ignore[misc]
    ),
    # bare "Bearer <token>" / "Basic <base64>" anywhere
    # (a token has a digit, capital or symbol: "bearer expires_in" stays readable)
    (
        re.compile(r"\b([Bb]earer|[Bb]asic|BEARER|BASIC)\s+(?!\*\*\*)(?=[a-z]*[A-Z0-9.~+/=-])[A-Za-z0-9._~+/=-]{4,}"),
        lambda m: f"{m.group(1)} {_MASK}",
    ),
    # key=value, key: value, "key": "value", 'key': 'value'  (query strings, form bodies, JSON, repr of dicts)
    (
        re.compile(rf"(?i)(?<![A-Za-z0-9_])((?:{_SECRET_KEYS})[\"']?\s*(?:=|:)\s*[\"']?)(?!\*\*\*)([^\s&\"',;}}\]]+)"),
        lambda m: f"{m.group(1)}{_MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)(?!\*\*\*@)([^@\s/]+)(@)"), lambda m: f"{m.group(1)}{_MASK}@"),
]


def redact(text: str) -> str:
    """Mask anything that looks like a credential. Idempotent."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites the record's message, arguments and traceback text with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text and not _is_expected(record.exc_info[1]):
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _is_expected(exc: BaseException | None) -> bool:
    return isinstance(exc, ICError)


class FileFormatter(logging.Formatter):
    """Full traceback for unexpected errors; one line ``(ErrorClass: sentence)`` for expected ICErrors."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and _is_expected(record.exc_info[1]):
            exc = record.exc_info[1]
            saved = record.exc_info, record.exc_text
            record.exc_info, record.exc_text = None, None
            try:
                return f"{super().format(record)} ({type(exc).__name__}: {redact(str(exc))})"
            finally:
                record.exc_info, record.exc_text = saved
        return super().format(record)


class ConsoleFormatter(logging.Formatter):
    """One line per record, never a traceback (the CLI prints its own one-sentence error)."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and _is_expected(record.exc_info[1]):
            text += f" ({record.exc_info[1]})"
        return redact(text)


class _NotFileOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, FILE_ONLY, False)


class SafeTimedRotatingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """Daily rotation that is safe with several processes writing the same file.

    The standard handler deletes an existing ``ic.log.<date>`` before renaming, which loses the day's log when two
    processes (the GUI and a CLI command) both roll over. Here the first process renames and the others just reopen
    the new file; a rename that fails (Windows: another process holds the file open) keeps appending and retries at
    the next period.
    """

    def doRollover(self) -> None:  # noqa: N802 - logging's API name
        if self.stream:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]
        now = int(time.time())
        then = self.rolloverAt - self.interval
        stamp = time.gmtime(then) if self.utc else time.localtime(then)
        if not self.utc and time.localtime(now)[-1] != stamp[-1]:
            stamp = time.localtime(then + (3600 if time.localtime(now)[-1] else -3600))
        target = self.rotation_filename(f"{self.baseFilename}.{time.strftime(self.suffix, stamp)}")
        try:
            if os.path.exists(self.baseFilename) and not os.path.exists(target):
                os.rename(self.baseFilename, target)
        except OSError:
            pass  # in use by another process: keep writing to the current file
        self.rolloverAt = self.computeRollover(now)
        while self.rolloverAt <= now:
            self.rolloverAt += self.interval
        if not self.delay:
            self.stream = self._open()


# --- folder, files, removal -----------------------------------------------------------------------------------------
def _settings(store: Any):
    """The application settings (ic.settings.app, the one typed reader); a broken settings DB must not stop logging."""
    from ic.settings.app import load_app_settings

    return load_app_settings(store, quiet=True)


def log_dir(store: Any = None) -> Path:
    """The log folder: the store's ``log_dir`` setting, else the folder last configured, else the default."""
    configured = _settings(store).path("log_dir")
    if configured:
        return configured
    if store is None and _current_dir is not None:
        return _current_dir
    return paths.default_log_dir()


def log_files(store: Any = None) -> dict[str, Path]:
    """``{"app": .../ic.log, "service": .../service.log}`` (the current files; rotated ones carry a date suffix)."""
    folder = log_dir(store)
    return {kind: folder / name for kind, name in FILE_NAMES.items()}


def removal_days(store: Any = None) -> int:
    return max(0, _settings(store).number("log_removal_days", DEFAULT_REMOVAL_DAYS))


def _is_our_file(name: str) -> bool:
    return any(name == base or name.startswith(base + ".") for base in FILE_NAMES.values())


def remove_old_logs(folder: Path, days: int, now: float | None = None) -> list[Path]:
    """Delete our log files (``ic.log*``, ``service.log*``) last written more than ``days`` days ago; 0 = never."""
    if days <= 0 or not folder.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    removed = []
    for entry in folder.iterdir():
        try:
            if entry.is_file() and _is_our_file(entry.name) and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue  # in use or already gone: try again next start
    return removed


# --- setup -------------------------------------------------------------------------------------------------------------
def setup_logging(
    store: Any = None,
    kind: str = "app",
    *,
    console: bool = False,
    level: int = logging.INFO,
    folder: str | os.PathLike[str] | None = None,
) -> Path:
    """Configure the ``ic`` logger for this process: a rotating file for ``kind`` (+ optional stderr, WARNING+).

    Calling it again replaces the handlers it installed earlier (e.g. after the user changes the log folder).
    Records still propagate to the root logger, which has no handlers in the program (tests' caplog sees them).
    Returns the log file path. Never raises for an unwritable folder: falls back to the default folder, then to
    no file at all (a scheduled job must still run).
    """
    global _current_dir
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    logger = logging.getLogger(LOGGER_NAME)
    for handler in _installed:
        logger.removeHandler(handler)
        handler.close()
    _installed.clear()
    logger.setLevel(level)
    global _last_setup
    _last_setup = (kind, console, level)

    candidates = [Path(folder)] if folder else [log_dir(store)]
    if paths.default_log_dir() not in candidates:
        candidates.append(paths.default_log_dir())
    path: Path | None = None
    problem = None
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            handler = SafeTimedRotatingFileHandler(
                candidate / FILE_NAMES[kind], when="midnight", backupCount=0, encoding="utf-8", delay=True
            )
            with open(candidate / FILE_NAMES[kind], "a", encoding="utf-8"):
                pass  # prove we can write here now rather than at the first record
        except OSError as exc:
            problem = problem or f"The log folder {candidate} is not writable ({exc.strerror or exc}); using the default."
            continue
        handler.setFormatter(FileFormatter(FORMAT))
        handler.addFilter(RedactingFilter())
        _add(logger, handler)
        path = candidate / FILE_NAMES[kind]
        _current_dir = candidate
        remove_old_logs(candidate, removal_days(store))
        break

    if console and sys.stderr is not None:
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(logging.WARNING)
        stream.setFormatter(ConsoleFormatter())
        stream.addFilter(_NotFileOnly())
        stream.addFilter(RedactingFilter())
        _add(logger, stream)
    if problem:
        logger.warning(problem)
    return path if path is not None else log_files(store)[kind]


def apply_store_settings(store: Any) -> None:
    """Re-run setup_logging with the same kind/console/level once the settings store is known (its log folder and
    removal days). Does nothing when this process has not set up logging."""
    if _last_setup is None:
        return
    kind, console, level = _last_setup
    setup_logging(store, kind, console=console, level=level)


def _add(logger: logging.Logger, handler: logging.Handler) -> None:
    logger.addHandler(handler)
    _installed.append(handler)


def add_handler(handler: logging.Handler) -> logging.Handler:
    """Attach an extra handler (the e-mail notifier) to the ``ic`` logger with the redaction filter."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    logging.getLogger(LOGGER_NAME).addHandler(handler)
    return handler


def shutdown_logging() -> None:
    """Flush and close what setup_logging installed (tests, and the GUI when it quits)."""
    global _current_dir, _last_setup
    _current_dir = None
    _last_setup = None
    logger = logging.getLogger(LOGGER_NAME)
    for handler in _installed:
        logger.removeHandler(handler)
        handler.close()
    _installed.clear()


# --- viewer ------------------------------------------------------------------------------------------------------------
def read_log_tail(kind: str, max_bytes: int = 256_000, store: Any = None) -> str:
    """The last ``max_bytes`` of the current log of ``kind`` ("app" = IC Log tab, "service" = Service Log tab).

    Starts at a line boundary; returns "" when the file does not exist yet. Redacted again on the way out, in case
    an older version or another program wrote the file.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = log_files(store)[kind]
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read()
    except FileNotFoundError:
        return ""
    if start > 0:
        cut = data.find(b"\n")
        data = data[cut + 1:] if cut >= 0 else data
    return redact(data.decode("utf-8", errors="replace"))


# --- windowed executable -----------------------------------------------------------------------------------------------
class _LogWriter:
    """A text stream that turns each printed line into a log record (stdout -> INFO, stderr -> WARNING)."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._buffer = ""
        self._busy = False
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text: str) -> int:
        if self._busy:  # logging itself wrote to stderr: drop it rather than loop
            return len(text)
        self._busy = True
        try:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
            lines = [line.rstrip("\r") for line in lines if line.strip()]
            if lines:
                if not _installed:
                    setup_logging(None, "app")
                for line in lines:
                    logging.getLogger("ic.console").log(self.level, "%s", line.rstrip("\r"))
        finally:
            self._busy = False
        return len(text)

    def flush(self) -> None:
        if self._buffer.strip():
            self.write("\n")

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


ATTACH_PARENT_PROCESS = 0xFFFFFFFF  # (DWORD)-1
_open_console = open  # replaced in tests: on Windows "CONOUT$" opens the console (UTF-8 in, WriteConsoleW out)


def _attach_parent_console() -> bool:  # pragma: no cover - Windows only
    """AttachConsole(ATTACH_PARENT_PROCESS) with its prototype (BOOL AttachConsole(DWORD)) on a private WinDLL."""
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    attach = kernel32.AttachConsole
    attach.argtypes = [ctypes.c_uint32]
    attach.restype = ctypes.c_int
    return bool(attach(ATTACH_PARENT_PROCESS))


def _use_console_streams() -> None:
    """After attaching: console streams for the std streams that are MISSING; a redirected one (``> out.txt``) stays."""
    if sys.stdout is None:
        sys.stdout = _open_console("CONOUT$", "w", encoding="utf-8", errors="replace", buffering=1)
    if sys.stderr is None:
        sys.stderr = _open_console("CONOUT$", "w", encoding="utf-8", errors="replace", buffering=1)
    if sys.stdin is None:  # prompts (task register --whether-logged-on) read the same console
        sys.stdin = _open_console("CONIN$", encoding="utf-8", errors="replace")


def ensure_std_streams(attach_console: bool = True) -> None:
    """Give a windowed executable (Windows build, console=False) somewhere to print.

    Started from cmd/PowerShell it attaches to that console; started by Task Scheduler or Explorer there is none, so
    what the command line prints goes to the log file (the service log for ``tick``) instead of nowhere. With
    redirected output (``> out.txt``, pipes) Python already has working streams and nothing changes; with only one
    of them redirected, only the missing one goes to the console. cmd.exe does not wait for a windowed program: use
    ``start /wait "" IntegrationClient.exe COMMAND`` (PowerShell: ``Start-Process -Wait -NoNewWindow``) so its
    prompt does not interleave with the output.

    ``attach_console=False`` (the GUI): never attach. A GUI attached to the console of the cmd.exe that started it
    would be killed when that console window is closed or gets Ctrl+C.
    """
    if sys.stdout is not None and sys.stderr is not None:
        return
    if attach_console and sys.platform == "win32" and _attach_parent_console():
        _use_console_streams()
        return
    if sys.stdout is None:
        sys.stdout = _LogWriter(logging.INFO)  # type: ignore[assignment]
    if sys.stderr is None:
        sys.stderr = _LogWriter(logging.WARNING)  # type: ignore[assignment]
