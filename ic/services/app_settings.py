"""Application Settings and Notification Settings: what the GUI dialogs and `settings` / `notify` commands call.

App settings are strings in the settings DB (``store.get_setting``); this module is the one place that knows
their names, defaults and rules. Read a typed value with :func:`get_value`.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ic import paths
from ic.errors import ConfigError
from ic.notify import NotifySettings, load_settings, save_settings, split_addresses, try_send_test
from ic.services.results import TestResult
from ic.settings.app import load_app_settings


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str  # as in the GUI
    kind: str  # "int" | "float" | "path"
    default: Callable[[], str]
    help: str
    minimum: float | None = None
    maximum: float | None = None


def _engine_default(module: str, name: str) -> Callable[[], str]:
    """The transfer engine's own default, read lazily (this module stays light for the GUI)."""

    def get() -> str:
        import importlib

        return str(getattr(importlib.import_module(module), name))

    return get


APP_SETTINGS: dict[str, SettingSpec] = {
    s.key: s
    for s in (
        SettingSpec("log_dir", "Log File Directory", "path", lambda: str(paths.default_log_dir()),
                    "folder for the IC log and the service log"),
        SettingSpec("log_removal_days", "Log File Removal (days)", "int", lambda: "30",
                    "delete log files older than this many days (0 keeps them forever)", 0, 3650),
        SettingSpec("initial_lookback_days", "Initial Look-back (days)", "int", lambda: "0",
                    "how far back the first run of a new transfer reaches (0 = everything the appliance still keeps, "
                    "about 90 days)", 0, 3650),
        SettingSpec("transfer_overlap_seconds", "Window Overlap (seconds)", "int",
                    _engine_default("ic.transfer.state", "DEFAULT_OVERLAP"),
                    "each run re-reads this much before the last end time, so clock differences never lose a session",
                    0, 86400),
        SettingSpec("transfer_batch_size", "Sessions per Request", "int",
                    _engine_default("ic.transfer.engine", "DEFAULT_BATCH"),
                    "session IDs asked for in one detail request", 1, 500),
        SettingSpec("transfer_download_workers", "Parallel Downloads", "int",
                    _engine_default("ic.transfer.engine", "DEFAULT_WORKERS"),
                    "recordings downloaded at the same time", 1, 16),
        SettingSpec("appliance_max_rps", "Appliance Requests per Second", "float", lambda: "20",
                    "upper bound on API requests per second (the appliance allows 20)", 0.1, 20),
    )
}


def _spec(key: str) -> SettingSpec:
    spec = APP_SETTINGS.get(key)
    if spec is None:
        raise ConfigError(f"Unknown setting '{key}'; use one of {', '.join(APP_SETTINGS)}.", field="key")
    return spec


def get_app_settings(store: Any) -> dict[str, str]:
    """Every application setting with its current value (defaults filled in), read in one query."""
    values = load_app_settings(store)
    return {key: values.text(key) or spec.default() for key, spec in APP_SETTINGS.items()}


def get_value(store: Any, key: str) -> Any:
    """Typed value: int / float for number settings, Path for "path" settings (a bad stored value: the default)."""
    spec = _spec(key)
    values = load_app_settings(store)
    if spec.kind in ("int", "float"):
        convert = int if spec.kind == "int" else float
        return values.number(key, convert(spec.default()), convert)
    return values.path(key) or Path(spec.default())


def _num(value: float | None) -> str:
    return "" if value is None else (str(int(value)) if float(value).is_integer() else str(value))


def validate_app_setting(key: str, value: str) -> str:
    """Return the normalised value or raise ConfigError naming the setting."""
    spec = _spec(key)
    value = (value or "").strip()
    if spec.kind in ("int", "float"):
        try:
            number: float = int(value) if spec.kind == "int" else float(value)
        except ValueError:
            kind = "a whole number" if spec.kind == "int" else "a number"
            raise ConfigError(f"{spec.label} must be {kind}.", field=key) from None
        if not number == number or (spec.minimum is not None and number < spec.minimum) or (
                spec.maximum is not None and number > spec.maximum):
            raise ConfigError(f"{spec.label} must be between {_num(spec.minimum)} and {_num(spec.maximum)}.", field=key)
        return str(number)
    if not value:
        return ""  # back to the default folder
    folder = Path(os.path.expandvars(value)).expanduser()
    if not folder.is_absolute():
        raise ConfigError(f"{spec.label} must be a full path, for example C:\\IntegrationClient\\logs.", field=key)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{spec.label} {folder} is a file, not a folder; choose a folder.", field=key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ic-write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"The folder {folder} cannot be written ({exc.strerror or exc}); choose another one.",
                          field=key) from None
    return str(folder)


def set_app_setting(store: Any, key: str, value: str) -> str:
    """Validate and store one setting; an empty path resets to the default. Returns the stored value."""
    normalised = validate_app_setting(key, value)
    store.set_setting(key, normalised or None)
    if key in ("log_dir", "log_removal_days"):
        _relog(store)
    return normalised or APP_SETTINGS[key].default()


def _relog(store: Any) -> None:
    """If this process logs through ic.logs, move it to the new folder now (the GUI keeps running)."""
    from ic import logs

    logs.apply_store_settings(store)


# --- notifications ----------------------------------------------------------------------------------------------------
def get_notification_settings(store: Any) -> NotifySettings:
    return load_settings(store)


def update_notification_settings(
    store: Any,
    *,
    password: str | None = None,
    clear_password: bool = False,
    **changes: Any,
) -> NotifySettings:
    """Merge ``changes`` (fields of NotifySettings; ``to`` may be a comma list) into the stored settings and save.

    The port follows the security choice (25 / 587 / 465) when only the security is changed.
    """
    current = load_settings(store)
    if "to" in changes:
        changes["recipients"] = changes.pop("to")
    if "from_" in changes:
        changes["sender"] = changes.pop("from_")
    if "recipients" in changes and changes["recipients"] is not None:
        changes["recipients"] = split_addresses(changes["recipients"])
    if changes.get("security") and changes.get("port") is None:
        from ic.notify import DEFAULT_PORTS

        if current.port == DEFAULT_PORTS.get(current.security) and changes["security"] in DEFAULT_PORTS:
            changes["port"] = DEFAULT_PORTS[changes["security"]]
    unknown = set(changes) - set(NotifySettings.__dataclass_fields__) - {"has_password"}
    if unknown:
        raise ConfigError(f"Unknown notification setting(s): {', '.join(sorted(unknown))}.")
    for key, value in changes.items():
        if value is not None and key != "has_password":
            if key in ("port", "interval_minutes"):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"The {key.replace('_', ' ')} must be a whole number.", field=key) from None
            setattr(current, key, value)
    return save_settings(store, current, password, clear_password=clear_password)


def send_test_notification(store: Any, settings: NotifySettings | None = None, password: str | None = None) -> TestResult:
    """Send Test: uses the dialog's unsaved values when given, else the stored ones."""
    ok, message = try_send_test(store, settings, password)
    return TestResult(ok, message)
