"""Build an ApplianceClient from a stored site (used by the transfer engine, `site test` and the GUI)."""
from __future__ import annotations

from typing import Any

from ic.appliance.client import ApplianceClient
from ic.settings.models import SiteConfig


def client_for_site(store, site: str | int | SiteConfig, **overrides: Any) -> ApplianceClient:
    """Client for a site name/id or SiteConfig; decrypts its secrets (raises SecretUnavailable naming the site).

    ``overrides`` go to ApplianceClient (max_rps, max_retries, timeout, base_delay, product ...).
    """
    config = site if isinstance(site, SiteConfig) else store.get_site(site)
    creds = store.site_credentials(config.name)
    kwargs: dict[str, Any] = {
        "host": config.host,
        "client_id": config.client_id,
        "client_secret": creds.client_secret,
        "ca_bundle": config.ca_bundle,
        "product": config.product or "detect",
        "backup_password": creds.backup_password,
    }
    kwargs.update(overrides)
    return ApplianceClient(**kwargs)
