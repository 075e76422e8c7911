"""The GUI's single doorway to the services layer.

Each function imports its service lazily, so a missing or not-yet-built service shows a readable
"not available yet" message in the window instead of crashing the program. No Tk code here.
"""
from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ic.errors import ICError

Listener = Callable[[Any], None]


class NotAvailable(ICError):
    """A feature whose service is not part of this build yet."""


def _module(name: str, feature: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise NotAvailable(f"{feature} is not available yet in this build.") from None
        raise


def _function(module: str, attr: str, feature: str) -> Callable:
    fn = getattr(_module(module, feature), attr, None)
    if fn is None:
        raise NotAvailable(f"{feature} is not available yet in this build.")
    return fn


# --- sites ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    ok: bool
    message: str


def check_site(store, site, client_secret: str | None, stored_name: str | None = None) -> Outcome:
    """Test the values typed in the Site dialog without saving them (ic.services.sites.test_site_config).

    An empty ``client_secret`` means "the one saved for ``stored_name``".
    """
    from ic.settings import SiteConfig

    if not client_secret and stored_name:
        client_secret = store.site_credentials(stored_name).client_secret
    fn = _function("ic.services.sites", "test_site_config", "Testing a site")
    result = fn(SiteConfig(site.name, site.host, site.client_id, site.ca_bundle, site.product), client_secret, store)
    return Outcome(bool(result.ok), str(result.message))


# --- destinations ---------------------------------------------------------------------------
def destination_types() -> dict[str, type]:
    from ic.destinations.registry import available_types

    return available_types()


def check_destination(name: str, type_name: str, config: dict) -> str:
    """The destination's own test(): writable, reachable; one sentence back."""
    from ic.destinations.registry import create_destination

    dest = create_destination(name, type_name, config)
    try:
        return dest.test()
    finally:
        dest.close()


# --- connection strings ---------------------------------------------------------------------
def connection_module():
    """ic.destinations.connection_string: ConnectionParams, build_url, parse_url, mask_url, KIND_LABELS."""
    return _module("ic.destinations.connection_string", "The connection string builder")


def save_settings_location(url: str | None) -> Path:
    from ic.settings import bootstrap

    return bootstrap.write_url(url)


def open_settings(url: str | None = None):
    from ic.settings import open_store

    return open_store(url)


def default_settings_url() -> str:
    from ic import paths

    return paths.default_settings_url()


def settings_db_exists() -> bool:
    """False on a first run: no bootstrap, no IC_SETTINGS and no default SQLite file."""
    import os

    from ic import paths
    from ic.settings import bootstrap

    if os.environ.get("IC_SETTINGS") or bootstrap.bootstrap_path().is_file():
        return True
    return (paths.data_dir() / "settings.db").is_file()


# --- scheduler (OS task) ---------------------------------------------------------------------
def scheduler_state() -> tuple[str, str]:
    """("running" | "stopped" | "not installed" | "unknown", one sentence of detail)."""
    try:
        result = _function("ic.scheduling.task", "status", "The scheduler")()
    except NotAvailable as exc:
        return "unknown", str(exc)
    except ICError as exc:
        return "unknown", str(exc)
    except ImportError:
        return "unknown", "Scheduler control is not available yet in this build."
    state = getattr(result, "state", result)
    return str(state), str(getattr(result, "detail", "") or "")


def current_user() -> str:
    try:
        return str(_function("ic.scheduling.task", "current_user", "The scheduler")())
    except NotAvailable:
        import getpass

        return getpass.getuser()


def scheduler_status() -> str:
    return scheduler_state()[0]


def scheduler_action(action: str, settings_url: str | None = None, password: str | None = None) -> str:
    """action: register | unregister | start | stop. Returns a sentence to show.

    ``password`` (Windows, register only): the account's password so the task runs whether or not the user is
    logged on; it goes to the scheduler once and is never stored.
    """
    fn = _function("ic.scheduling.task", action, "Controlling the scheduler")
    if action == "register":
        callback = (lambda _user: password) if password else None
        result = fn(callback, settings_url=settings_url)
    else:
        result = fn()
    return result if isinstance(result, str) and result else f"Scheduler: {action} done."


# --- runs ------------------------------------------------------------------------------------
def _error_mail(store, source: str):
    """Errors logged during a run from the window are mailed like the CLI's (Notification Settings)."""
    try:
        return _function("ic.notify", "error_mail", "Notifications")(store, source)
    except NotAvailable:
        import contextlib

        return contextlib.nullcontext()


def run_schedule(store, name: str, progress: Listener, cancel: threading.Event):
    fn = _function("ic.services.runs", "run_schedule", "Running a schedule")
    with _error_mail(store, f"schedule {name}"):
        return fn(store, name, listener=progress, cancel=cancel)


@dataclass
class JobLine:
    """A line for the API Tester's log (from the worker thread to the window)."""

    message: str
    fraction: float | None = None


def export(store, *, sites: list[str], destinations: list[str], data_types: list[str], start: Any = None,
           duration_seconds: int | None = None, lsid: str | None = None, progress: Listener,
           cancel: threading.Event) -> list[str]:
    """API Tester, Sessions tab: every selected site into every selected destination. Returns summary lines.

    Data types a destination cannot take (recordings and backups into SQL) are left out for that destination.
    """
    with _error_mail(store, "API Tester"):
        return _export(store, sites, destinations, data_types, start, duration_seconds, lsid, progress, cancel)


def _export(store, sites, destinations, data_types, start, duration_seconds, lsid, progress, cancel) -> list[str]:
    fn = _function("ic.services.runs", "export", "The API Tester download")
    from ic.errors import Cancelled

    types_by_kind = destination_types()
    lines: list[str] = []

    def say(line: str, fraction: float | None = None) -> None:
        lines.append(line)
        progress(JobLine(line, fraction))

    pairs = [(s, d) for s in sites for d in destinations]
    for i, (site, dest) in enumerate(pairs):
        if cancel.is_set():
            raise Cancelled("The download was cancelled.")
        cls = types_by_kind.get(store.get_destination(dest, reveal=False).type)
        types = [t for t in data_types if t == "session" or getattr(cls, "accepts_files", True)]
        if not types:
            say(f"{site} -> {dest}: skipped (a database takes session data only).", (i + 1) / len(pairs))
            continue
        progress(JobLine(f"{site} -> {dest}: {', '.join(types)}", i / len(pairs)))
        result = fn(store, site, dest, types, start=start, duration_seconds=int(duration_seconds or 0), lsid=lsid,
                    listener=progress, cancel=cancel)
        for warning in getattr(result, "warnings", []) or []:
            say(f"{site} -> {dest}: {warning}")
        summary = result.summary() if hasattr(result, "summary") else str(result)
        say(f"{site} -> {dest}: {summary}", (i + 1) / len(pairs))
    return lines


def import_xml(store, *, files: list[str], site: str | None, destinations: list[str], data_types: list[str],
               progress: Listener, cancel: threading.Event, site_host: str | None = None) -> list[str]:
    """API Tester, XML Files tab: parse saved session XML files into every selected destination.

    ``site`` (a configured site) or ``site_host`` labels sessions whose XML does not name their site.
    """
    from ic.errors import ConfigError

    fn = _function("ic.services.import_xml", "import_xml_to_destination", "Importing XML files")
    file_types = [t for t in data_types if t != "session"]
    if file_types and not site:
        raise ConfigError("Choose the site to connect back to for recordings and backups.", field="site")
    lines: list[str] = []
    with _error_mail(store, "API Tester"):
        if "session" in data_types:
            lines += _import_session_data(store, fn, files, site, site_host, destinations, progress, cancel)
        if file_types:
            lines += _files_for_xml(store, files, site, destinations, file_types, progress, cancel)
    return lines


def _import_session_data(store, fn, files, site, site_host, destinations, progress, cancel) -> list[str]:
    from ic.errors import Cancelled

    lines: list[str] = []
    for i, dest in enumerate(destinations):
        if cancel.is_set():
            raise Cancelled("The import was cancelled.")
        progress(JobLine(f"Importing {len(files)} file(s) into {dest}…", i / len(destinations)))

        def on_file(path, sessions, dest=dest):
            progress(JobLine(f"{dest}: {Path(path).name} read ({sessions} session(s) so far)"))

        result = fn(store, files, dest, site=site, site_host=site_host, progress=on_file, cancel=cancel)
        for line in [result.summary(dest) if hasattr(result, "summary") else str(result),
                     *(getattr(result, "errors", []) or [])]:
            lines.append(line)
            progress(JobLine(line, (i + 1) / len(destinations)))
    return lines


def _files_for_xml(store, files, site, destinations, file_types, progress, cancel) -> list[str]:
    """Recordings / backups for the sessions in saved XML files: connect back to ``site`` (one export per session).

    The session IDs come from ic.sessions.parser (the same safe streaming parser the import uses).
    """
    from ic.errors import Cancelled, ICError
    from ic.sessions.parser import iter_sessions

    export_fn = _function("ic.services.runs", "export", "Downloading recordings")
    lsids: list[str] = []
    for path in files:
        try:
            lsids += [s.lsid for s in iter_sessions(path)]
        except ICError as exc:
            progress(JobLine(f"{Path(path).name}: {exc}"))
    lsids = list(dict.fromkeys(lsids))
    kinds = destination_types()
    lines: list[str] = []
    for dest in destinations:
        cls = kinds.get(store.get_destination(dest, reveal=False).type)
        if not getattr(cls, "accepts_files", True):
            lines.append(f"{site} -> {dest}: recordings and backups skipped (a database takes session data only).")
            progress(JobLine(lines[-1]))
            continue
        stored = skipped = backups = 0
        recording_types = [t for t in file_types if t != "backup"]
        for n, lsid in enumerate(lsids if recording_types else []):
            if cancel.is_set():
                raise Cancelled("The download was cancelled.")
            result = export_fn(store, site, dest, recording_types, lsid=lsid, listener=None, cancel=cancel)
            stored += result.files_stored
            skipped += result.files_skipped
            progress(JobLine(f"{dest}: recordings for {lsid} ({n + 1}/{len(lsids)})", (n + 1) / len(lsids)))
        if "backup" in file_types:
            from datetime import datetime, timezone

            # a backup is of the whole site: the export window does not matter, only that one is given
            result = export_fn(store, site, dest, ["backup"], start=datetime.now(timezone.utc), listener=progress,
                               cancel=cancel)
            backups = result.backups
        lines.append(f"{site} -> {dest}: {stored} recording file(s) for {len(lsids)} session(s)"
                     + (f", {skipped} unavailable" if skipped else "") + (f", {backups} backup(s)" if backups else ""))
        progress(JobLine(lines[-1], 1.0))
    return lines


def describe_event(event: Any, last_phase: dict) -> tuple[str | None, float | None]:
    """(log line or None, progress fraction or None) for a JobLine or an ic.transfer ProgressEvent."""
    if isinstance(event, JobLine):
        return event.message, event.fraction
    text = getattr(event, "message", None)
    transfer = getattr(event, "transfer", "")
    phase = getattr(event, "phase", None)
    if not text and phase is not None and last_phase.get(transfer) != phase:
        text = f"{transfer}: {phase}"
    if phase is not None:
        last_phase[transfer] = phase
    found = (getattr(event, "sessions_found", 0) or 0) + (getattr(event, "files_found", 0) or 0)
    done = (getattr(event, "sessions_done", 0) or 0) + (getattr(event, "files_done", 0) or 0)
    return text, None if not found else min(1.0, done / found)


# --- application and notification settings -----------------------------------------------------
def app_setting_specs() -> list:
    """[SettingSpec(key, label, kind "int"|"path", default, help)] from ic.services.app_settings."""
    return list(_module("ic.services.app_settings", "Application settings").APP_SETTINGS.values())


def load_app_settings(store) -> dict[str, str]:
    return dict(_function("ic.services.app_settings", "get_app_settings", "Application settings")(store))


def save_app_settings(store, values: dict[str, str]) -> None:
    """Validate every value first (ConfigError names the field), then store them."""
    mod = _module("ic.services.app_settings", "Application settings")
    for key, value in values.items():
        mod.validate_app_setting(key, value)
    for key, value in values.items():
        mod.set_app_setting(store, key, value)


NOTIFY_FIELDS = ("enabled", "host", "port", "security", "username", "sender", "recipients")


def load_notification_settings(store) -> dict[str, Any]:
    """Values for the form; the password itself is never returned, only ``has_password``."""
    s = _function("ic.services.app_settings", "get_notification_settings", "Notification settings")(store)
    values = {k: getattr(s, k) for k in NOTIFY_FIELDS}
    values["recipients"] = ", ".join(values["recipients"] or [])
    values["has_password"] = bool(getattr(s, "has_password", False))
    return values


def save_notification_settings(store, values: dict[str, Any], password: str | None) -> None:
    """An empty ``password`` keeps the saved one."""
    fn = _function("ic.services.app_settings", "update_notification_settings", "Notification settings")
    changes = {k: values[k] for k in NOTIFY_FIELDS if k in values}
    if changes.get("port") in ("", None):
        changes["port"] = None
    fn(store, password=password or None, **changes)


def send_test_notification(store) -> Outcome:
    result = _function("ic.services.app_settings", "send_test_notification", "Sending a test e-mail")(store)
    return Outcome(bool(result.ok), str(result.message))


# --- logs --------------------------------------------------------------------------------------
LOG_KINDS = {"app": "IC Log", "service": "Service Log"}


def read_log_tail(kind: str, max_bytes: int = 256_000, store=None) -> str:
    fn = _function("ic.logs", "read_log_tail", "The log viewer")
    return str(fn(kind, max_bytes, store=store))


def setup_gui_logging(store=None) -> None:
    """Write the window's own log lines to the IC log (in the folder the settings name)."""
    try:
        fn = _function("ic.logs", "setup_logging", "Logging")
    except NotAvailable:
        return
    fn(store, "app")


def shutdown_gui_logging() -> None:
    try:
        _function("ic.logs", "shutdown_logging", "Logging")()
    except NotAvailable:
        pass
