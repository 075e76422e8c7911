"""Where the program keeps its files: per-user data dir (platformdirs), overridable by environment for tests."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ic import APP_AUTHOR, APP_NAME


def data_dir() -> Path:
    """Folder holding the default settings DB, the secret key and default logs (``IC_HOME`` overrides)."""
    override = os.environ.get("IC_HOME")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_settings_url() -> str:
    return f"sqlite:///{(data_dir() / 'settings.db').as_posix()}"


def key_file() -> Path:
    override = os.environ.get("IC_KEY_FILE")
    return Path(override) if override else data_dir() / "secret.key"


def default_log_dir() -> Path:
    return data_dir() / "logs"
