"""What the appliance holds: how many closed sessions, and when the oldest started and the newest ended.

Used when an export finds nothing (`export` on the command line, the API Tester) so the answer says where the
sessions are instead of a bare "0 sessions". One listing of every closed session plus one detail request for the
first and last few of it (the listing's order is the appliance's: [U], so both ends are looked at and the
earliest start / latest end among them is taken).
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ic.errors import ICError

log = logging.getLogger("ic.services.appliance_range")

ENDS = 3  # sessions looked at from each end of the listing


@dataclass
class SessionRange:
    count: int
    oldest_start: datetime | None = None  # aware UTC
    newest_end: datetime | None = None  # aware UTC

    def describe(self, site: str, tz=None) -> str:
        """"support.example.com holds 1,234 closed sessions, from 2026-09-02 08:14 to 2026-12-03 07:55"."""
        if self.count == 0:
            return f"{site} holds no closed sessions at all"
        text = f"{site} holds {self.count:,} closed session{'' if self.count == 1 else 's'}"
        if self.oldest_start is not None and self.newest_end is not None:
            text += (f", from {_local(self.oldest_start, tz)} to {_local(self.newest_end, tz)}")
        return text


def _local(instant: datetime, tz=None) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def session_range(store, site: str, *, client=None) -> SessionRange:
    """Raises ICError (one sentence naming the site) when the appliance cannot be asked."""
    from ic.appliance import client_for_site
    from ic.sessions.parser import iter_sessions

    own = client is None
    client = client or client_for_site(store, site)
    try:
        listing = client.list_sessions(end_time=0)
        if not listing:
            return SessionRange(0)
        ends = list(dict.fromkeys([s.lsid for s in listing[:ENDS]] + [s.lsid for s in listing[-ENDS:]]))
        with tempfile.TemporaryDirectory(prefix="ic-range-") as tmp:
            path = Path(tmp) / "ends.xml"
            client.fetch_sessions_to_file(path, lsids=ends)
            starts, stops = [], []
            for s in iter_sessions(path, source_name="the oldest and newest sessions"):
                if s.start_time:
                    starts.append(s.start_time)
                if s.end_time:
                    stops.append(s.end_time)
        as_dt = lambda t: datetime.fromtimestamp(t, timezone.utc)  # noqa: E731
        return SessionRange(len(listing), as_dt(min(starts)) if starts else None, as_dt(max(stops)) if stops else None)
    finally:
        if own:
            client.close()


def nothing_found_hint(store, site: str, start: datetime, duration_seconds: int, tz=None) -> str:
    """The sentence after "0 sessions": which window was asked, and what the appliance holds (if it can be asked)."""
    from datetime import timedelta

    end = start + timedelta(seconds=duration_seconds) if duration_seconds else None
    asked = (f"No session of {site} started between {_local(start, tz)} and {_local(end, tz)}"
             if end is not None else f"No session of {site} started after {_local(start, tz)}")
    try:
        holds = session_range(store, site).describe(site, tz)
    except ICError as exc:
        log.debug("appliance range not available: %s", exc)
        return f"{asked} (local time)."
    return f"{asked} (local time); {holds}."
