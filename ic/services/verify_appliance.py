"""`verify`'s appliance side: every session it holds in two listing requests, and — only when the destination cannot
say — the command shell / Show My Screen instances from session details, 50 sessions a request."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ic.errors import Cancelled, ParseError
from ic.services.verify_holdings import instances_of

DETAIL_BATCH = 50


@dataclass(slots=True)  # one per session: 100,000s of them
class Listed:
    """One session as the appliance lists it."""

    lsid: str
    ended: bool
    has_recording: bool
    expected: dict[str, set] | None = None  # from session details (only fetched when the destination cannot say)


def _rows(client, **window):
    """Listing rows, streamed when the client can (flat memory for millions of sessions)."""
    streamed = getattr(client, "iter_sessions_listing", None)
    return streamed(**window) if streamed is not None else client.list_sessions(**window)


def appliance_listing(client, start: int | None = None, end: int | None = None) -> dict[str, Listed]:
    """Every session the appliance holds (that started in [start, end) when given): two listing requests.

    The start-time listing comes first: a session that ends between the two requests is then in both and counts
    as ended; one that starts in between is simply not part of this check."""
    out: dict[str, Listed] = {}
    if start is None:
        for s in _rows(client, start_time=0, duration=0):
            out[s.lsid] = Listed(s.lsid, False, bool(s.has_recording))
        closed_window = {"end_time": 0, "duration": 0}
    else:
        duration = max(1, end - start - 1) if end is not None else 0  # bounds are inclusive
        for s in _rows(client, start_time=start, duration=duration):
            out[s.lsid] = Listed(s.lsid, False, bool(s.has_recording))
        closed_window = {"end_time": start, "duration": 0}
    for s in _rows(client, **closed_window):
        entry = out.get(s.lsid)
        if entry is not None:
            entry.ended = True
            entry.has_recording = entry.has_recording or bool(s.has_recording)
        elif start is None:  # started after the first listing and ended before the second
            out[s.lsid] = Listed(s.lsid, True, bool(s.has_recording))
    return out


def fetch_expected(client, lsids: list[str], tmp: Path, cancel: threading.Event | None = None,
                   workers: int = 4) -> dict[str, dict]:
    """Shell / Show My Screen instances from session details: 50 sessions per request, a few requests in flight
    (the one client paces them within the appliance's limits), parsed here as they arrive."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from ic.sessions.parser import iter_sessions

    def one(i: int) -> Path:
        _check(cancel)
        path = tmp / f"details-{i}.xml"
        client.fetch_sessions_to_file(path, lsids=lsids[i:i + DETAIL_BATCH])
        return path

    out: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ic-verify") as pool:
        futures = {pool.submit(one, i): i for i in range(0, len(lsids), DETAIL_BATCH)}
        try:
            for fut in as_completed(futures):
                path = fut.result()
                for attempt in range(3):  # a document cut short on the way is asked for again
                    try:
                        for s in iter_sessions(path, "session details", client.product):
                            out[s.lsid] = instances_of(s)
                    except ParseError:
                        path.unlink(missing_ok=True)
                        if attempt == 2:
                            raise
                        path = one(futures[fut])
                        continue
                    path.unlink(missing_ok=True)  # (the temporary folder goes anyway)
                    break
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
    return out


def _requests(client) -> int:
    try:
        return int(client.stats.get("requests", 0))
    except Exception:  # noqa: BLE001 - a stand-in client without stats
        return 0


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Verify was cancelled.")
