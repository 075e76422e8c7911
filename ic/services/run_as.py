"""Run the scheduler task as a named (service) account, e.g. DOMAIN\\svc-ic, the guide's "Service Properties for
Remote Locations": the account with rights on the share the data goes to.

What happens, in this order, so a refusal changes nothing:
1. the account name and the settings database are checked (the task gets ``--settings URL`` explicitly: the account
   has its own profile, so neither the per-user default database nor bootstrap.json would be found; a per-user
   SQLite file is refused because that account cannot read another user's profile);
2. the secrets key is copied to the machine key file readable only by that account, SYSTEM and Administrators
   (ic.secrets.share_key_with: DPAPI machine scope + protected ACL);
3. the task is registered for that account with its password, asked once and piped to Task Scheduler
   (ic.scheduling.task_windows: never on a command line, never stored).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from ic import paths
from ic.errors import ConfigError

_ACCOUNT_RE = re.compile(r"^(?:[^\\/\"\[\]:;|=,+*?<>@\s][^\\/\"\[\]:;|=,+*?<>@]{0,254}\\|\.\\)?[^\\/\"\[\]:;|=,+*?<>\x00-\x1f]{1,104}"
                         r"(?:@[A-Za-z0-9.-]{1,253})?$")


def validate_account(account: str) -> str:
    value = (account or "").strip()
    if not value or not _ACCOUNT_RE.match(value) or value.endswith((" ", ".")):
        raise ConfigError(f"Type the account to run as like DOMAIN\\svc-ic or svc-ic@example.com, not '{account}'.",
                          field="run_as")
    return value


def check_settings_reachable(settings_url: str, account: str) -> None:
    """A SQLite settings file in this user's profile (the default) cannot be read by another account."""
    try:
        url = make_url(settings_url)
    except Exception:  # noqa: BLE001
        raise ConfigError("The settings database URL is not a valid SQLAlchemy URL.", field="settings") from None
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return
    db = Path(url.database).resolve()
    home = paths.data_dir().resolve()
    if db == home or home in db.parents:
        raise ConfigError(
            f"The settings database {db} is in your user profile, which {account} cannot read; move it to a folder "
            f"that account can read (Setup > Settings Database, e.g. C:\\ProgramData\\BeyondTrust\\IntegrationClient"
            f"\\settings.db) or use SQL Server or PostgreSQL, then register the task again.", field="settings")


def register_run_as(account: str, password_cb, *, settings_url: str, runner=None, acl=None, dpapi_api=None,
                    key_target: Path | None = None, windows: bool | None = None) -> str:
    """Register the task to run as ``account`` and share the secrets key with it; one or two sentences back."""
    from ic import secrets
    from ic.scheduling.task_windows import WindowsTask

    account = validate_account(account)
    if not (sys.platform == "win32" if windows is None else windows):
        raise ConfigError("Running the task as another account is a Windows option; on Linux run `task register` "
                          "as that user (it installs the line in that user's crontab).", field="run_as")
    if password_cb is None:
        raise ConfigError(f"The password of {account} is needed once to register the task.", field="password")
    check_settings_reachable(settings_url, account)
    task = WindowsTask(runner=runner, settings_url=settings_url, user=account, force_settings=True)
    task.definition("Password")  # a settings URL with a password is refused here, before anything changes
    password = password_cb(account)  # asked once, before anything changes; handed on, never kept
    if not password:
        raise ConfigError(f"Enter the Windows password of {account} to register the task.", field="password")
    try:
        key = secrets.share_key_with(account, target=key_target, acl=acl, dpapi_api=dpapi_api)
        message = task.register(lambda _user: password)
    finally:
        password = None
    return f"{message} The secrets key {key} can be read only by {account}, SYSTEM and Administrators."
