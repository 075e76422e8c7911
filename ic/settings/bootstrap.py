"""Where to find the settings database next time: a small per-user file written by the first-run wizard.

``data_dir()/bootstrap.json`` holds either ``{"settings_url": URL}`` for a URL without secrets, or
``{"settings_url_encrypted": token, "description": "postgresql://host/db"}`` when the URL carries a password
(in the URL itself or inside a SQL Server ``odbc_connect`` string). The token is encrypted with the per-user key
(ic.secrets), so the file never holds a clear-text secret. ``IC_SETTINGS`` and an explicit URL still win.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from ic import paths
from ic.errors import ConfigError

_PURPOSE = "bootstrap.settings_url"


def bootstrap_path() -> Path:
    return paths.data_dir() / "bootstrap.json"


def read_url() -> str | None:
    """The saved settings URL, or None when there is no bootstrap file."""
    path = bootstrap_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError
    except (OSError, ValueError):
        raise ConfigError(f"The file {path} is damaged; choose the settings database again (Setup menu).") from None
    if data.get("settings_url_encrypted"):
        from ic.secrets import SecretBox

        return SecretBox().decrypt(data["settings_url_encrypted"], _PURPOSE, "the settings database connection")
    return data.get("settings_url") or None


def _has_secret(url: str) -> bool:
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - unparsable: treat as secret-bearing, never write it in clear
        return True
    return bool(parsed.password) or "odbc_connect" in parsed.query


def write_url(url: str | None) -> Path:
    """Remember ``url``; None or the default SQLite file removes the bootstrap file (the default applies)."""
    path = bootstrap_path()
    if not url or url == paths.default_settings_url():
        path.unlink(missing_ok=True)
        return path
    if _has_secret(url):
        from ic.secrets import SecretBox

        try:
            description = make_url(url).set(password=None, query={}).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001
            description = "a database URL"
        data = {"settings_url_encrypted": SecretBox().encrypt(url, _PURPOSE), "description": description}
    else:
        data = {"settings_url": url}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path


def require_existing_sqlite(url: str) -> None:
    """A settings SQLite file named by --settings, IC_SETTINGS or bootstrap.json must exist: opening a mistyped path
    would silently create an empty settings database (and a tick on it would do nothing, for ever). The per-user
    default is created on first use as before; `settings create` makes any other one on purpose."""
    if url == paths.default_settings_url():
        return
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - the store's own check says what is wrong with the URL
        return
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    db = Path(parsed.database)
    if db.is_file():
        return
    if db.is_dir():
        raise ConfigError(f"The settings database {db} is a folder; name the database file in it, e.g. "
                          f"{db / 'settings.db'}.")
    where = "does not exist" if db.parent.is_dir() else f"does not exist (nor does its folder {db.parent})"
    raise ConfigError(f"The settings database file {db} {where}; check the path for a typo, or create it with "
                      "`settings create`.")
