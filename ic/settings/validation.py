"""Checks on what the user types into site and schedule settings."""
from __future__ import annotations

import re

from ic.errors import ConfigError

_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$")


def validate_name(name: str, what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ConfigError(f"Enter a name for the {what}.", field="name")
    if len(name) > 200:
        raise ConfigError(f"The {what} name must be at most 200 characters.", field="name")
    return name


def validate_host(host: str) -> str:
    """Return the host as ``name`` or ``name:port``; refuse schemes and paths with a message saying what to type."""
    host = (host or "").strip()
    if not host:
        raise ConfigError("Enter the site's host name, for example support.example.com.", field="host")
    if "://" in host:
        bare = host.split("://", 1)[1].split("/", 1)[0]
        raise ConfigError(f"Enter the host without 'https://': type {bare} instead.", field="host")
    if host.endswith("/"):
        host = host.rstrip("/")
    if "/" in host:
        raise ConfigError("Enter only the site's host name (and optional :port), without a path.", field="host")
    match = _HOST_RE.match(host)
    if not match:
        raise ConfigError(f"'{host}' is not a valid host name; use a name like support.example.com.", field="host")
    port = match.group(1)
    if port is not None and not 0 < int(port) < 65536:
        raise ConfigError(f"The port in '{host}' must be between 1 and 65535.", field="host")
    return host


def validate_at_time(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ConfigError(f"The time of day '{value}' must look like 02:00 (24-hour clock).", field="at_time")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


_PERIOD_RE = re.compile(r"^\s*(\d+)\s*([mhd])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MIN_PERIOD, MAX_PERIOD = 60, 7 * 86400


def parse_period(text: str) -> int:
    """'15m', '2h', '1d' -> seconds; 1 minute to 7 days as the guide allows."""
    match = _PERIOD_RE.match(text or "")
    if not match:
        raise ConfigError(f"Run Every '{text}' must look like 15m, 2h or 1d.", field="every")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if not MIN_PERIOD <= seconds <= MAX_PERIOD:
        raise ConfigError("Run Every must be between 1 minute and 7 days.", field="every")
    return seconds


def format_period(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            n = seconds // size
            word = {"d": "day", "h": "hour", "m": "minute"}[unit]
            return f"{n} {word}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"
