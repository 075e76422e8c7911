"""Where a new transfer starts: everything the appliance still holds, from today, or from a date.

``estimate`` makes ONE listing from the chosen start and turns it into a sentence ("about 41,000 sessions and 9,800
recordings, roughly 3 hours at the appliance's rate limit"). ``set_start`` pre-seeds the transfer state of each data
type that has no state yet, in the shape ic/transfer/state.py owns (TransferState): the cursor and start cursor are
pinned at the chosen instant + overlap, so the engine's first window lists from exactly that instant
(``end_bound = cursor - overlap``), whatever the initial look-back setting says. A data type that already has a
state keeps it: choosing a start never rewinds or skips a transfer that has run.

"today" and a date mean local midnight on this computer, converted to the appliance's clock (its Date header) so a
skewed appliance clock does not shift the start.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, datetime

from ic.errors import ConfigError, ICError
from ic.settings.models import DATA_TYPES, DataType, TransferConfig
from ic.transfer.state import TransferState

STATEFUL_TYPES = tuple(t for t in DATA_TYPES if t != DataType.BACKUP)  # backups have no session cursor
DEFAULT_PER_HOUR = 15_000  # documented API limit per account [V]
DEFAULT_RPS = 20.0


def parse_start(text: str | date | None, *, today: date | None = None) -> str | date:
    """"all", "today" or a date (YYYY-MM-DD, not in the future); ConfigError names the option otherwise."""
    if isinstance(text, date):
        value: str | date = text
    else:
        raw = (text or "").strip().lower()
        if raw in ("all", "everything", ""):
            return "all"
        if raw == "today":
            return "today"
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise ConfigError(f"Start must be all, today or a date like 2024-06-18, not '{text}'.",
                              field="start") from None
    today = today or date.today()
    if value > today:
        raise ConfigError(f"The start date {value.isoformat()} is in the future; choose today or an earlier date.",
                          field="start")
    return "today" if value == today else value


def start_label(start: str | date) -> str:
    if start == "all":
        return "everything the appliance still holds"
    if start == "today":
        return "today"
    return f"{start.isoformat()}"  # type: ignore[union-attr]


def start_instant(start: str | date, appliance_now: int | None = None, *, host_now: float | None = None) -> int | None:
    """Appliance unix time the transfer starts at (None = everything). Local midnight, shifted by the appliance's
    clock offset when it is known."""
    if start == "all":
        return None
    host_now = time.time() if host_now is None else host_now
    day = datetime.fromtimestamp(host_now).date() if start == "today" else start
    midnight = datetime.combine(day, datetime.min.time()).timestamp()  # naive = local time
    offset = 0 if appliance_now is None else appliance_now - host_now
    if abs(offset) < 5:
        offset = 0  # the Date header counts whole seconds: a second or two is noise, not skew
    return max(0, int(midnight + offset))


@dataclass
class Estimate:
    start: str | date
    since: int | None  # appliance time listed from (None = everything)
    sessions: int
    recordings: int
    requests: int
    seconds: float

    def sentence(self) -> str:
        return (f"about {_about(self.sessions)} session{'s' if self.sessions != 1 else ''} and "
                f"{_about(self.recordings)} recording{'s' if self.recordings != 1 else ''}, "
                f"{_duration(self.seconds)} at the appliance's rate limit")


def _about(n: int) -> str:
    if n < 100:
        return str(n)
    digits = len(str(n)) - 2
    return f"{round(n, -digits):,}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        minutes = max(1, round(seconds / 60))
        return f"roughly {minutes} minute{'s' if minutes != 1 else ''}"
    if seconds < 2 * 86400:
        hours = max(1, round(seconds / 3600))
        return f"roughly {hours} hour{'s' if hours != 1 else ''}"
    days = round(seconds / 86400)
    return f"roughly {days} days"


def _options(store):
    from ic.transfer.engine import EngineOptions

    return EngineOptions.from_store(store)


def request_seconds(requests: int, rps: float, per_hour: int) -> float:
    """Time for ``requests`` calls at rps, but never more than per_hour in any hour."""
    if requests <= per_hour:
        return requests / rps
    return requests / per_hour * 3600


def estimate(store, site, start: str | date = "all", *, client=None, appliance_now: int | None = None,
             host_now: float | None = None) -> Estimate:
    """One listing of the sessions that ended since the start; counts, request total and duration.

    Raises ICError (unreachable appliance, permissions...) with the appliance's own sentence.
    """
    from ic.appliance import client_for_site

    opts = _options(store)
    own = client is None
    if own:
        client = client_for_site(store, site, max_retries=2, timeout=60)
    try:
        if appliance_now is None and start != "all":
            appliance_now = client.appliance_time()
        since = start_instant(start, appliance_now, host_now=host_now)
        # streamed where the client can (rows are counted, not kept: a listing of millions stays small)
        lister = getattr(client, "iter_sessions_listing", None) or client.list_sessions
        sessions = recordings = 0
        for row in lister(end_time=since or 0, duration=0):
            sessions += 1
            recordings += bool(row.has_recording)
    finally:
        if own:
            client.close()
    requests = 2 + math.ceil(sessions / max(1, opts.batch_size)) + recordings
    rps = opts.max_rps or DEFAULT_RPS
    return Estimate(start, since, sessions, recordings, requests, request_seconds(requests, rps, DEFAULT_PER_HOUR))


@dataclass
class StartResult:
    since: int | None
    seeded: list[str]  # data types whose state was created here
    kept: list[str]  # data types that already had a state (their cursor is not touched)
    start: str | date = "all"

    def sentence(self, transfer: str) -> str:
        if not self.seeded:
            return f"Transfer {transfer} has run before; it continues where it stopped."
        if self.since is None:
            where = "everything the appliance still holds"
        else:
            day = date.today() if self.start == "today" else self.start
            where = f"sessions that ended since {day} 00:00"  # local midnight, as chosen
        kept = f" ({', '.join(self.kept)} continue where they stopped)" if self.kept else ""
        return f"Transfer {transfer} starts with {where}{kept}."


def set_start(store, transfer: TransferConfig, start: str | date, *, client=None, appliance_now: int | None = None,
              host_now: float | None = None) -> StartResult:
    """Pin where a transfer's first run starts, for every data type without a state yet."""
    site = store.get_site(transfer.site)
    dest = store.get_destination(transfer.destination, reveal=False)
    if appliance_now is None and start != "all" and client is not None:
        try:
            appliance_now = client.appliance_time()
        except ICError:
            appliance_now = None  # the host clock then
    since = start_instant(start, appliance_now, host_now=host_now)
    overlap = _options(store).overlap
    pin = (since or 0) + overlap  # end_bound = cursor - overlap = since (0 = everything)
    seeded, kept = [], []
    for data_type in transfer.data_types:
        if data_type not in STATEFUL_TYPES:
            continue
        if store.load_state(site.id, dest.id, data_type):
            kept.append(data_type)
            continue
        state = TransferState(cursor=pin, start_cursor=pin)
        store.save_state(site.id, dest.id, data_type, state.to_json())
        seeded.append(data_type)
    return StartResult(since, seeded, kept, start)


def describe_start(start: str | date) -> str:
    """For prompts: what each choice means."""
    return {"all": "everything the appliance still holds", "today": "from today (local midnight)"}.get(
        start if isinstance(start, str) else "", f"from {start} (local midnight)")


def start_transfers(store, transfers: list[TransferConfig], start: str | date) -> list[str]:
    """CLI/GUI glue: for each transfer, one estimate line (or why there is none) and where it starts."""
    from ic.appliance import client_for_site

    lines: list[str] = []
    clients: dict[str, object] = {}
    estimates: dict[str, Estimate] = {}  # one listing per site, however many transfers it feeds
    try:
        for tr in transfers:
            name = f"{tr.site} -> {tr.destination}"
            client = clients.get(tr.site)
            if client is None:
                try:
                    client = clients[tr.site] = client_for_site(store, tr.site, max_retries=2, timeout=60)
                except ICError as exc:
                    lines.append(f"{name}: no estimate: {exc}")
            appliance_now = None
            if client is not None:
                try:
                    est = estimates.get(tr.site) or estimate(store, tr.site, start, client=client)
                    estimates[tr.site] = est
                    lines.append(f"{name}: {est.sentence()}.")
                    appliance_now = None if est.since is None else client.appliance_time()
                except ICError as exc:
                    lines.append(f"{name}: no estimate: {exc}")
            result = set_start(store, tr, start, appliance_now=appliance_now)
            lines.append(result.sentence(name))
    finally:
        for c in clients.values():
            c.close()  # type: ignore[attr-defined]
    return lines
