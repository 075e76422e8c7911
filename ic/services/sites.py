"""Site operations: test the connection to an appliance."""
from __future__ import annotations

import logging

from ic.errors import ICError, PermissionDenied
from ic.services.results import TestResult
from ic.settings import SettingsStore, SiteConfig
from ic.settings.validation import validate_host

log = logging.getLogger("ic.services.sites")

# the Site Configuration field a failed test points at, by the appliance error's reason (ic.errors)
SITE_FIELDS = {"unreachable": "host", "tls": "ca_bundle", "credentials": "client_secret", "permission": "client_id"}


def test_site(store: SettingsStore, name: str, **client_options) -> TestResult:
    """Get a token, list sessions cheaply, check recordings and backup access; a line each.

    Connection failures (DNS, TLS, credentials, reporting permission, rate) are one sentence; otherwise the message
    is three lines (reporting, recordings, backup) and ``ok`` is False when the account lacks one of them.

    ``client_options`` go to the ApplianceClient (e.g. max_retries, base_delay) so a test can stay short.
    """
    from ic.appliance import client_for_site

    client_options.setdefault("max_retries", 2)
    client_options.setdefault("timeout", 20)
    try:
        client = client_for_site(store, name, **client_options)
    except ICError as exc:
        return TestResult.failed(exc, SITE_FIELDS)
    return _run(client, name)


def _run(client, name: str) -> TestResult:
    """Reporting (a cheap listing), then recordings and backup, a line each; nothing big is downloaded."""
    try:
        first = client.test()
        lines = [first, _recordings_line(client), _backup_line(client)]
    except ICError as exc:
        log.info("Site test for %s failed: %s", name, exc)
        return TestResult.failed(exc, SITE_FIELDS)
    finally:
        client.close()
    checks = lines[1:]
    ok = all(allowed is not False for allowed, _ in checks)
    ordered = [first] + [text for _, text in checks]  # reporting, recordings, backup
    # the window's message line shows two lines: a failing check goes first so its sentence is what is seen
    failing = [text for allowed, text in checks if allowed is False]
    message = "\n".join(failing + [text for text in ordered if text not in failing])
    log.info("Site test for %s: %s", name, " ".join(ordered))
    field = None
    if not ok:
        field = "backup_password" if any("backup password" in text for text in failing) else "client_id"
    result = TestResult(ok, message, field)
    result.lines = ordered  # type: ignore[attr-defined] - the CLI prints them in this order
    return result


def _backup_denied(host: str) -> str:
    return (f"Backup: no. The API account on {host} lacks permission to download site backups (Allow Backup); "
            "enable it on the appliance.")


def _recordings_line(client) -> tuple[bool | None, str]:
    """A recording request for a session that cannot exist: refused (403) or answered about the session."""
    try:
        refusal = client.probe_recordings()
    except PermissionDenied:
        return False, (f"Recordings: no. The API account on {client.host} lacks permission to download session "
                       "recordings (Allow Access to Reports and Recordings); enable it on the appliance.")
    except ICError as exc:
        return None, f"Recordings: not checked: {exc}"
    if refusal:
        return False, f"Recordings: no. The appliance at {client.host} refused a recording request: {refusal}"
    return True, "Recordings: yes, the API account may download session recordings."


def _backup_line(client) -> tuple[bool | None, str]:
    """get_api_info's perm_backup when the appliance says (XML or JSON [U]); else a backup request that is hung up
    after its headers."""
    info = None
    try:
        info = client.api_info()
    except ICError as exc:
        log.info("get_api_info at %s: %s", client.host, exc)
    said = info.allows("perm_backup") if info is not None else None
    if said is True:
        return True, "Backup: yes, the appliance says the API account may download site backups."
    if said is False:
        return False, _backup_denied(client.host)
    try:
        refusal = client.probe_backup()
    except PermissionDenied:
        return False, _backup_denied(client.host)
    except ICError as exc:
        return None, f"Backup: not checked: {exc}"
    if refusal:
        return False, (f"Backup: no. The appliance at {client.host} refused the backup request: {refusal.rstrip('.')}"
                       "; check the site's backup password.")
    return True, "Backup: yes, the appliance started a backup download (stopped after its first bytes)."


def test_site_config(config: SiteConfig, client_secret: str | None, store: SettingsStore | None = None,
                     **client_options) -> TestResult:
    """Test settings not saved yet (the Site Configuration dialog's Test button).

    A None ``client_secret`` means "keep the stored one": it is read from ``store`` under ``config.name``.
    """
    from ic.appliance import ApplianceClient

    client_options.setdefault("max_retries", 2)
    client_options.setdefault("timeout", 20)
    try:
        if client_secret is None:
            if store is None:
                return TestResult(False, f"Enter the client secret for site {config.name}.")
            client_secret = store.site_credentials(config.name).client_secret
        validate_host(config.host)
        client = ApplianceClient(config.host, config.client_id, client_secret, config.ca_bundle,
                                 config.product or "detect", **client_options)
    except ICError as exc:
        return TestResult.failed(exc, SITE_FIELDS)
    return _run(client, config.name)


# the names start with "test_": keep pytest from collecting them when a test module imports them
test_site.__test__ = False  # type: ignore[attr-defined]
test_site_config.__test__ = False  # type: ignore[attr-defined]


def save_site(store: SettingsStore, site: SiteConfig, client_secret: str | None = None,
              backup_password: str | None = None, *, clear_backup_password: bool = False) -> SiteConfig:
    """Add (``site.id`` None) or change a site; a None secret keeps the stored one (the store validates). A changed
    host name takes the site's quarantined sessions along (unless another site still uses the old one)."""
    old_host = store.get_site(site.id).host if site.id is not None else None
    saved = store.save_site(site, client_secret, backup_password, clear_backup_password=clear_backup_password)
    if old_host and old_host != saved.host and all(s.host != old_host for s in store.list_sites()):
        from ic.transfer.quarantine import follow_site

        follow_site(old_host, saved.host)
    return saved


def remove_site(store: SettingsStore, name: str) -> None:
    """Refused (ConfigError naming the schedule) while a schedule uses the site."""
    store.delete_site(name)
