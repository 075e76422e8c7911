"""Site operations: test the connection to an appliance."""
from __future__ import annotations

from dataclasses import dataclass

from ic.settings import SettingsStore


@dataclass
class TestResult:
    ok: bool
    message: str  # one sentence, safe to show


def test_site(store: SettingsStore, name: str) -> TestResult:
    """Get a token and make one cheap reporting call; say what failed (DNS, TLS, credentials, permission, rate)."""
    raise NotImplementedError("site test arrives with the appliance client")
