"""OAuth2 client-credentials token cache.

The appliance keeps at most 30 live tokens per API account and minting the 31st evicts the oldest, which could be
in use by another process sharing the account. So: one token per client, shared by all its threads, minted under a
lock, refreshed shortly before it expires, and re-minted only when the appliance rejects exactly that token.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

EARLY_REFRESH = 300.0  # seconds before expiry for normal (>= 10 min) lifetimes
SHORT_LIFETIME = 600.0
SHORT_FRACTION = 0.8  # refresh at 80 % of a short lifetime


def refresh_after(expires_in: float) -> float:
    """Seconds after minting at which the token should be replaced."""
    if expires_in >= SHORT_LIFETIME:
        return expires_in - EARLY_REFRESH
    return max(1.0, expires_in * SHORT_FRACTION)


class TokenCache:
    def __init__(self, mint: Callable[[], tuple[str, float]], clock: Callable[[], float] = time.monotonic) -> None:
        self._mint = mint
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                token, expires_in = self._mint()
                self._token = token
                self._refresh_at = self._clock() + refresh_after(expires_in)
            return self._token

    def invalidate(self, token: str | None) -> None:
        """Forget ``token`` if it is still the current one (another thread may already have replaced it)."""
        with self._lock:
            if token is not None and token == self._token:
                self._token = None

    def __repr__(self) -> str:
        return "TokenCache(<hidden>)"
