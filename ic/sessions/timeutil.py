"""Appliance timestamps are unix seconds in UTC; storage keeps naive UTC datetimes."""
from __future__ import annotations

from datetime import datetime, timezone


def from_unix(ts: int | None) -> datetime | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None)
