"""Site operations: test the connection to an appliance."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ic.errors import ICError
from ic.settings import SettingsStore, SiteConfig
from ic.settings.validation import validate_host

log = logging.getLogger("ic.services.sites")


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    ok: bool
    message: str  # one sentence, safe to show


def test_site(store: SettingsStore, name: str, **client_options) -> TestResult:
    """Get a token and make one cheap reporting call; say what failed (DNS, TLS, credentials, permission, rate).

    ``client_options`` go to the ApplianceClient (e.g. max_retries, base_delay) so a test can stay short.
    """
    from ic.appliance import client_for_site

    client_options.setdefault("max_retries", 2)
    client_options.setdefault("timeout", 20)
    try:
        client = client_for_site(store, name, **client_options)
    except ICError as exc:
        return TestResult(False, str(exc))
    return _run(client, name)


def _run(client, name: str) -> TestResult:
    try:
        message = client.test()
    except ICError as exc:
        log.info("Site test for %s failed: %s", name, exc)
        return TestResult(False, str(exc))
    finally:
        client.close()
    log.info("Site test for %s: %s", name, message)
    return TestResult(True, message)


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
        return TestResult(False, str(exc))
    return _run(client, config.name)


# the names start with "test_": keep pytest from collecting them when a test module imports them
test_site.__test__ = False  # type: ignore[attr-defined]
test_site_config.__test__ = False  # type: ignore[attr-defined]
