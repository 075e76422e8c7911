"""The GUI's single doorway to the services layer (ic.services), which the command line calls too.

Thin on purpose: what an action does, validates and keeps secret is decided in ic.services; here only what suits
a window (values for a form, error mails for actions started from it). Services are imported when first used, so
opening the window stays quick. No Tk code here.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from ic.errors import ICError
from ic.services.results import JobLine, TestResult  # light: the heavy services are imported when used

__all__ = [
    "JobLine", "LOG_KINDS", "NOTIFY_FIELDS", "TestResult", "adhoc_site", "app_setting_specs", "app_settings_errors",
    "check_api_tester_choices", "check_destination", "check_site", "connection_module", "current_user", "default_settings_url",
    "describe_event", "describe_run", "destination_problems", "destination_types", "export", "import_xml",
    "load_app_settings", "load_notification_settings", "log_folder", "mail_error_field", "next_run_sentence",
    "next_run_time", "next_run_words", "open_settings", "progress_fraction", "progress_words", "read_log_tail",
    "recent_runs", "remove_destination", "remove_schedule", "remove_site", "run_schedule", "save_app_settings",
    "save_destination", "save_notification_settings", "save_schedule", "save_settings_location", "save_site",
    "scheduler_action", "scheduler_state", "scheduler_status", "secret_keys", "send_test_notification",
    "settings_db_exists", "setup_gui_logging", "shutdown_gui_logging", "site_error_field",
]

Listener = Callable[[Any], None]


# --- sites ---------------------------------------------------------------------------------
def check_site(store, site, client_secret: str | None, stored_name: str | None = None) -> TestResult:
    """Test the values typed in the Site dialog without saving them (ic.services.sites.test_site_config).

    An empty ``client_secret`` means "the one saved for ``stored_name``".
    """
    from ic.services.sites import test_site_config
    from ic.settings import SiteConfig

    if not client_secret and stored_name:
        client_secret = store.site_credentials(stored_name).client_secret
    return test_site_config(SiteConfig(site.name, site.host, site.client_id, site.ca_bundle, site.product),
                            client_secret, store)


def save_site(store, site, client_secret: str | None = None, backup_password: str | None = None, *,
              clear_backup_password: bool = False):
    from ic.services import sites

    return sites.save_site(store, site, client_secret, backup_password, clear_backup_password=clear_backup_password)


def remove_site(store, name: str) -> None:
    from ic.services import sites

    sites.remove_site(store, name)


def site_error_field(result: "TestResult | str") -> str | None:
    """Which Site Configuration field a failed Test points at: the one the service names (from the error's type),
    else read from the sentence (a 3-line permissions answer names no field)."""
    if getattr(result, "field", None):
        return result.field
    text = str(getattr(result, "message", result)).lower()
    if "client secret" in text or "authentication" in text or "invalid_client" in text or "credentials" in text:
        return "client_secret"
    if "client id" in text:
        return "client_id"
    if "certificate" in text or "ca bundle" in text or "tls" in text or "ssl" in text:
        return "ca_bundle"
    if "permission" in text or "not allowed" in text or "access" in text and "denied" in text:
        return "client_id"
    if "host" in text or "cannot find" in text or "refused" in text or "timed out" in text or "reach" in text:
        return "host"
    return None


# --- destinations ---------------------------------------------------------------------------
def destination_types() -> dict[str, type]:
    from ic.services.destinations import plugin_types

    return plugin_types()


def check_destination(name: str, type_name: str, config: dict, store=None, stored_name: str | None = None) -> str:
    """The destination's own test(): writable, reachable; one sentence back (raises ICError). A secret left empty
    is the one saved under ``stored_name``."""
    from ic.services.destinations import check_config

    return check_config(store, name, type_name, config, stored_name)


def secret_keys(type_name: str) -> tuple[str, ...]:
    """The settings of this plugin that are secrets (encrypted, shown masked, kept when left empty)."""
    from ic.services.destinations import plugin_class, secret_keys as keys

    return keys(plugin_class(type_name))


def destination_problems(type_name: str, config: dict, saved_secrets=()) -> dict[str, str]:
    """{field key: one sentence} for the Plugin Configuration form; a secret left empty that is saved is not missing."""
    from ic.services.destinations import plugin_class, problems

    return problems(plugin_class(type_name), config, saved_secrets)


def save_destination(store, dest):
    """Save a ``DestinationConfig`` from the form; ic.services.destinations decides secrets and validation."""
    from ic.services.destinations import save_destination as save

    return save(store, dest.name, dest.type, dest.config, id=dest.id)


def remove_destination(store, name: str) -> None:
    from ic.services.destinations import remove_destination as remove

    remove(store, name)


# --- schedules -------------------------------------------------------------------------------
def save_schedule(store, sched):
    from ic.services.schedules import save_schedule as save

    return save(store, sched)


def remove_schedule(store, name: str) -> None:
    from ic.services.schedules import remove_schedule as remove

    remove(store, name)


# --- connection strings and the settings database ----------------------------------------------
def connection_module():
    """ic.connection_string: ConnectionParams, build_url, parse_url, mask_url, KIND_LABELS."""
    from ic import connection_string

    return connection_string


def save_settings_location(url: str | None):
    from ic.services import settings

    return settings.save_settings_location(url)


def open_settings(url: str | None = None):
    from ic.services import settings

    return settings.open_settings(url)


def require_existing_settings(url: str | None = None) -> None:
    """ConfigError (one sentence naming the file) for a named SQLite settings file that does not exist."""
    from ic.services import settings

    settings.require_existing_settings(url)


def open_existing_settings(url: str | None = None):
    from ic.services import settings

    return settings.open_existing_settings(url)


def default_settings_url() -> str:
    from ic.services import settings

    return settings.default_settings_url()


def settings_db_exists() -> bool:
    """False on a first run: no bootstrap, no IC_SETTINGS and no default SQLite file."""
    from ic.services import settings

    return settings.settings_db_exists()


# --- scheduler (OS task) ---------------------------------------------------------------------
def scheduler_state() -> tuple[str, str]:
    """("running" | "stopped" | "not installed" | "unknown", one sentence of detail)."""
    try:
        from ic.scheduling import task

        result = task.status()
    except ICError as exc:
        return "unknown", str(exc)
    state = getattr(result, "state", result)
    return str(state), str(getattr(result, "detail", "") or "")


def current_user() -> str:
    from ic.scheduling import task

    return str(task.current_user())


def scheduler_status() -> str:
    return scheduler_state()[0]


def scheduler_action(action: str, settings_url: str | None = None, password: str | None = None) -> str:
    """action: register | unregister | start | stop. Returns a sentence to show.

    ``password`` (Windows, register only): the account's password so the task runs whether or not the user is
    logged on; it goes to the scheduler once and is never stored.
    """
    from ic.scheduling import task

    if action not in ("register", "unregister", "start", "stop"):
        raise ValueError(f"unknown scheduler action {action!r}")
    fn = getattr(task, action)
    if action == "register":
        callback = (lambda _user: password) if password else None
        result = fn(callback, settings_url=settings_url)
    else:
        result = fn()
    return result if isinstance(result, str) and result else f"Scheduler: {action} done."


# --- runs and the API Tester ------------------------------------------------------------------
def _error_mail(store, source: str):
    """Errors logged during a run from the window are mailed like the CLI's (Notification Settings)."""
    from ic import notify

    return notify.error_mail(store, source)


def run_schedule(store, name: str, progress: Listener, cancel: threading.Event):
    """Run Now. The program was invoked: Last Program Run says so (the guide's meaning of that line)."""
    from ic.services.runs import note_program_run, run_schedule as run

    note_program_run(store)
    with _error_mail(store, f"schedule {name}"):
        return run(store, name, listener=progress, cancel=cancel)


def export(store, *, sites: list[str], destinations: list[str], data_types: list[str], start: Any = None,
           duration_seconds: int | None = None, lsid: str | None = None, progress: Listener,
           cancel: threading.Event) -> list[str]:
    """API Tester, Sessions tab (ic.services.api_tester.export_many). Returns summary lines."""
    from ic.services.api_tester import export_many

    with _error_mail(store, "API Tester"):
        return export_many(store, sites=sites, destinations=destinations, data_types=data_types, start=start,
                           duration_seconds=duration_seconds, lsid=lsid, progress=progress, cancel=cancel)


def import_xml(store, *, files: list[str], site: str | None, destinations: list[str], data_types: list[str],
               progress: Listener, cancel: threading.Event, site_host: str | None = None, adhoc=None) -> list[str]:
    """API Tester, XML Files tab (ic.services.api_tester.import_xml_many)."""
    from ic.services.api_tester import import_xml_many

    with _error_mail(store, "API Tester"):
        return import_xml_many(store, files=files, site=site, destinations=destinations, data_types=data_types,
                               progress=progress, cancel=cancel, site_host=site_host, adhoc=adhoc)


def check_api_tester_choices(**choices: Any) -> None:
    """The API Tester's choices before a download (ic.services.api_tester.check_choices): raises ConfigError."""
    from ic.services.api_tester import check_choices

    check_choices(**choices)


def adhoc_site(host: str, client_id: str, client_secret: str, ca_bundle: str | None = None):
    """A host and API account typed in on the XML Files tab, checked now (ic.services.xml_fetch.AdHocSite)."""
    from ic.services.xml_fetch import AdHocSite

    return AdHocSite.typed_in(host, client_id, client_secret, ca_bundle)


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
    from ic.services import app_settings

    return list(app_settings.APP_SETTINGS.values())


def load_app_settings(store) -> dict[str, str]:
    from ic.services import app_settings

    return dict(app_settings.get_app_settings(store))


def app_settings_errors(values: dict[str, str]) -> dict[str, str]:
    """{setting key: one sentence} for every value that cannot be saved (all of them, not just the first)."""
    from ic.services import app_settings as mod

    errors: dict[str, str] = {}
    for key, value in values.items():
        try:
            mod.validate_app_setting(key, value)
        except ICError as exc:
            errors[key] = str(exc)
    return errors


def save_app_settings(store, values: dict[str, str]) -> None:
    """Validate every value first (ConfigError names the field), then store them."""
    from ic.services import app_settings as mod

    for key, value in values.items():
        mod.validate_app_setting(key, value)
    for key, value in values.items():
        mod.set_app_setting(store, key, value)


NOTIFY_FIELDS = ("enabled", "host", "port", "security", "username", "sender", "recipients")


def load_notification_settings(store) -> dict[str, Any]:
    """Values for the form; the password itself is never returned, only ``has_password``."""
    from ic.services import app_settings

    s = app_settings.get_notification_settings(store)
    values = {k: getattr(s, k) for k in NOTIFY_FIELDS}
    values["recipients"] = ", ".join(values["recipients"] or [])
    values["has_password"] = bool(getattr(s, "has_password", False))
    return values


def save_notification_settings(store, values: dict[str, Any], password: str | None) -> None:
    """An empty ``password`` keeps the saved one."""
    from ic.services.app_settings import update_notification_settings as fn

    changes = {k: values[k] for k in NOTIFY_FIELDS if k in values}
    if changes.get("port") in ("", None):
        changes["port"] = None
    fn(store, password=password or None, **changes)


def mail_error_field(message: str) -> str | None:
    """Which Notification Settings field a failed Send Test points at."""
    text = message.lower()
    for words, field in ((("password", "authentication", "login", "username", "credentials"), "password"),
                         (("recipient", "to address", "rcpt"), "recipients"),
                         (("sender", "from address"), "sender"),
                         (("starttls", "tls", "ssl", "certificate"), "security"),
                         (("port",), "port"),
                         (("server", "host", "connect", "refused", "timed out", "reach"), "host")):
        if any(w in text for w in words):
            return field
    return None


def send_test_notification(store) -> TestResult:
    from ic.services import app_settings

    return app_settings.send_test_notification(store)


# --- logs --------------------------------------------------------------------------------------
LOG_KINDS = {"app": "IC Log", "service": "Service Log"}


def log_folder(store=None) -> str:
    try:
        from ic import logs

        return str(logs.log_dir(store))
    except Exception:  # noqa: BLE001 - the About box must open anyway
        return "(unknown)"


def read_log_tail(kind: str, max_bytes: int = 256_000, store=None) -> str:
    from ic import logs

    return str(logs.read_log_tail(kind, max_bytes, store=store))


def setup_gui_logging(store=None) -> None:
    """Write the window's own log lines to the IC log (in the folder the settings name)."""
    from ic import logs

    logs.setup_logging(store, "app")


def shutdown_gui_logging() -> None:
    from ic import logs

    logs.shutdown_logging()


# --- status page (main window) and progress in words (GUI helper's block) ------------------------
def recent_runs(store, name: str, limit: int = 30) -> list:
    """The schedule's last runs, newest first (ic.services.history)."""
    from ic.services import history

    return list(history.recent_runs(store, name, limit))


def describe_run(record, now=None) -> str:
    """"Today 02:00: 412 sessions, 37 recordings and 1 backup copied; nothing failed"."""
    from ic.services import history

    return str(history.describe_run(record, now))


def next_run_time(schedule, now):
    """When the schedule runs next (aware UTC), None when disabled or unknown."""
    from ic.scheduling import due

    try:
        return due.next_run(schedule, now)
    except ICError:
        return None


def next_run_words(schedule, now) -> str:
    """For the list: "Today 14:00", "Now" (owed), "Disabled"."""
    from ic.services import history

    if not getattr(schedule, "enabled", True):
        return "Disabled"
    when = next_run_time(schedule, now)
    if when is None:
        return ""
    return "Now" if when <= now else str(history.when_words(when, now))


def next_run_sentence(schedule, now, scheduler_state: str | None) -> str:
    """For the status page: the next run, and what stops it from happening by itself."""
    words = next_run_words(schedule, now)
    if words == "Disabled":
        return "Disabled: this schedule does not run until it is enabled again."
    if not words:
        return ""
    text = "Due now" if words == "Now" else words
    if scheduler_state == "not installed":
        return f"{text}, once the scheduler is installed (it is not: nothing runs by itself yet)."
    if scheduler_state == "stopped":
        return f"{text}, once the scheduler is started again (it is stopped)."
    return text


def progress_words(event) -> str:
    """A progress event (or a JobLine) in plain words: "Copied 50 of 200 sessions, 11 of 30 recordings"."""
    from ic.services.progress_text import describe_progress

    if isinstance(event, JobLine):
        return event.message
    return describe_progress(event, with_transfer=True)


def progress_fraction(event) -> float | None:
    if isinstance(event, JobLine):
        return event.fraction
    if getattr(event, "phase", None) == "done":
        return 1.0
    found = (getattr(event, "sessions_found", 0) or 0) + (getattr(event, "files_found", 0) or 0)
    done = (getattr(event, "sessions_done", 0) or 0) + (getattr(event, "files_done", 0) or 0)
    return None if not found else max(0.0, min(1.0, done / found))
