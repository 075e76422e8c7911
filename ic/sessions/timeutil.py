"""Appliance timestamps are unix seconds in UTC; storage keeps naive UTC datetimes."""
from __future__ import annotations

from datetime import datetime, timedelta

EPOCH = datetime(1970, 1, 1)


def from_unix(ts: int | None) -> datetime | None:
    """Naive UTC datetime; OverflowError outside the years 1 to 9999 (the parser keeps such times out)."""
    if ts is None:
        return None
    return EPOCH + timedelta(seconds=ts)
