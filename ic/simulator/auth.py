"""OAuth2 client-credentials tokens (B2/B7.1) and per-account rate limits (B1/B7.3)."""
from __future__ import annotations

import base64
import math
import secrets
import threading
import time
from collections import OrderedDict, deque

MAX_TOKENS = 30


class TokenStore:
    """Up to 30 live tokens per account; minting the 31st evicts the oldest."""

    def __init__(self, lifetime: int) -> None:
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._tokens: dict[str, OrderedDict[str, float]] = {}  # account -> token -> expiry (host time)

    def mint(self, account: str) -> str:
        token = secrets.token_urlsafe(30)[:40]
        with self._lock:
            live = self._tokens.setdefault(account, OrderedDict())
            now = time.time()
            for t in [t for t, exp in live.items() if exp <= now]:
                del live[t]
            live[token] = now + self.lifetime
            while len(live) > MAX_TOKENS:
                live.popitem(last=False)
        return token

    def account_of(self, token: str) -> str | None:
        with self._lock:
            now = time.time()
            for account, live in self._tokens.items():
                exp = live.get(token)
                if exp is not None:
                    return account if exp > now else None
        return None

    def revoke_all(self, account: str | None = None) -> int:
        with self._lock:
            accounts = [account] if account else list(self._tokens)
            n = 0
            for a in accounts:
                n += len(self._tokens.get(a, ()))
                self._tokens.pop(a, None)
            return n

    def expire_all(self) -> None:
        with self._lock:
            for live in self._tokens.values():
                for t in live:
                    live[t] = 0.0

    def live_count(self, account: str) -> int:
        with self._lock:
            now = time.time()
            return sum(1 for exp in self._tokens.get(account, {}).values() if exp > now)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if ":" not in raw:
        return None
    user, _, password = raw.partition(":")
    return user, password


class RateLimiter:
    """Token bucket of ``per_second`` (burst the same, at least 1) plus a sliding one-hour window of ``per_hour``."""

    def __init__(self, per_second: float = 20, per_hour: int = 15_000) -> None:
        self.per_second, self.per_hour = per_second, per_hour
        self.burst = max(1.0, float(per_second))
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float, deque[float]]] = {}

    def check(self, account: str) -> tuple[bool, int, int]:
        """(allowed, remaining this hour, retry-after seconds)."""
        with self._lock:
            now = time.monotonic()
            tokens, last, hour = self._state.get(account, (self.burst, now, deque()))
            tokens = min(self.burst, tokens + (now - last) * self.per_second)
            while hour and hour[0] <= now - 3600:
                hour.popleft()
            if len(hour) >= self.per_hour:
                self._state[account] = (tokens, now, hour)
                return False, 0, max(1, math.ceil(hour[0] + 3600 - now))
            if tokens < 1:
                self._state[account] = (tokens, now, hour)
                return False, self.per_hour - len(hour), max(1, math.ceil((1 - tokens) / self.per_second))
            hour.append(now)
            self._state[account] = (tokens - 1, now, hour)
            return True, self.per_hour - len(hour), 0

    def remaining(self, account: str) -> int:
        with self._lock:
            state = self._state.get(account)
            if not state:
                return self.per_hour
            now = time.monotonic()
            return self.per_hour - sum(1 for t in state[2] if t > now - 3600)
