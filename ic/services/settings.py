"""Where the settings database is: what Setup > Settings Database, the first-run wizard and `--settings` use."""
from __future__ import annotations

import os
from pathlib import Path

from ic import paths
from ic.errors import ConfigError
from ic.settings import SettingsStore, bootstrap, open_store

__all__ = ["default_settings_url", "open_existing_settings", "open_settings", "require_existing_settings",
           "save_settings_location", "settings_db_exists", "settings_source"]


def open_settings(url: str | None = None) -> SettingsStore:
    """The store at ``url``, else IC_SETTINGS, else the URL the wizard saved, else the per-user default."""
    return open_store(url)


def require_existing_settings(url: str | None = None) -> None:
    """Refuse a SQLite settings file named by --settings (``url``), IC_SETTINGS or bootstrap.json that does not
    exist: a typo must not create an empty settings database. Only the per-user default is created on first use.
    The ConfigError names the file and where its name came from (one sentence)."""
    from ic.settings.store import settings_url

    try:
        bootstrap.require_existing_sqlite(settings_url(url))
    except ConfigError as exc:
        raise _with_source(exc, url) from None


def open_existing_settings(url: str | None = None) -> SettingsStore:
    """:func:`open_settings` for a front end starting up (the command line, the window), after
    :func:`require_existing_settings`; any ConfigError says where the settings database is set."""
    require_existing_settings(url)
    try:
        return open_store(url)
    except ConfigError as exc:
        raise _with_source(exc, url) from None


def _with_source(exc: ConfigError, url: str | None) -> ConfigError:
    """The same sentence, saying where the URL came from, so the user knows what to change."""
    source = settings_source(url)
    if not source or source in str(exc):
        return exc
    return ConfigError(f"{str(exc).rstrip('.')}; the settings database is set by {source}.")


def settings_source(explicit: str | None) -> str:
    """Where the settings database URL comes from, in words (empty for the per-user default)."""
    if explicit:
        return "the --settings option"
    if os.environ.get("IC_SETTINGS"):
        return "the IC_SETTINGS environment variable"
    try:
        if bootstrap.read_url():
            return "Setup > Settings Database (bootstrap.json)"
    except Exception:  # noqa: BLE001 - a damaged bootstrap file raises its own sentence when the store opens
        pass
    return ""


def save_settings_location(url: str | None) -> Path:
    """Remember the settings database URL for this user (bootstrap.json); None forgets it. Returns the file."""
    return bootstrap.write_url(url)


def default_settings_url() -> str:
    return paths.default_settings_url()


def settings_db_exists() -> bool:
    """False on a first run: no bootstrap, no IC_SETTINGS and no default SQLite file."""
    if os.environ.get("IC_SETTINGS") or bootstrap.bootstrap_path().is_file():
        return True
    return (paths.data_dir() / "settings.db").is_file()
