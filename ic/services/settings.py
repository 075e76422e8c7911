"""Where the settings database is: what Setup > Settings Database, the first-run wizard and `--settings` use."""
from __future__ import annotations

import os
from pathlib import Path

from ic import paths
from ic.settings import SettingsStore, bootstrap, open_store

__all__ = ["default_settings_url", "open_settings", "save_settings_location", "settings_db_exists"]


def open_settings(url: str | None = None) -> SettingsStore:
    """The store at ``url``, else IC_SETTINGS, else the URL the wizard saved, else the per-user default."""
    return open_store(url)


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
