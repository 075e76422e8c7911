"""`verify`, the whole check of one site and destination (and of every transfer of a schedule): the appliance's
listing, what the destination holds, the comparison, and — asked for — a repair and a second look."""
from __future__ import annotations

import logging
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ic.errors import Cancelled, ConfigError, ICError
from ic.services.verify_appliance import _check, _requests, appliance_listing, fetch_expected
from ic.services.verify_compare import classify
from ic.services.verify_holdings import FILE_KINDS, holdings_for
from ic.services.verify_memory import (engine_unavailable, expired_lsids, load_unavailable, pending_lsids,
                                      quarantined_lsids, save_unavailable)
from ic.services.verify_repair import repair
from ic.services.verify_report import MISSING, PARTIAL, PENDING, Progress, VerifyReport
from ic.settings.models import DATA_TYPES, DataType

log = logging.getLogger("ic.verify")


def default_types(store, site, dest_cfg, accepts_files: bool, product: str | None = None) -> list[str]:
    """What the schedules copy from this site to this destination; else everything the destination can hold."""
    found: set[str] = set()
    try:
        for sched in store.list_schedules():
            for t in sched.transfers:
                if t.site == site.name and t.destination == dest_cfg.name:
                    found.update(t.data_types)
    except ICError:
        pass
    if not found:
        found = {DataType.SESSION, *FILE_KINDS} if accepts_files else {DataType.SESSION}
    return [t for t in DATA_TYPES if t in found]


def verify(store, site: str, destination: str, data_types: list[str] | None = None, *,
           start: datetime | None = None, end: datetime | None = None, progress: Progress | None = None,
           cancel: threading.Event | None = None, client=None) -> VerifyReport:
    """Compare the appliance's listing with what ``destination`` holds for ``site`` (see the module docstring)."""
    from ic.destinations.registry import destination_from_config

    say = progress or (lambda _text: None)
    site_cfg = store.get_site(site)
    dest_cfg = store.get_destination(destination, reveal=True)
    dest = destination_from_config(dest_cfg)
    own_client = client is None
    began = time.monotonic()
    try:
        accepts_files = bool(getattr(dest, "accepts_files", False))
        types = list(data_types) if data_types else default_types(store, site_cfg, dest_cfg, accepts_files)
        notes: list[str] = []
        if not accepts_files:
            skipped = [t for t in types if t in FILE_KINDS or t == DataType.BACKUP]
            if skipped:
                notes.append(f"{', '.join(skipped)} not checked: destination {dest_cfg.name} holds session data only.")
            types = [t for t in types if t == DataType.SESSION]
        window = _window(start, end)
        if client is None:
            from ic.appliance import client_for_site
            from ic.transfer.engine import EngineOptions

            rps = EngineOptions.from_store(store).max_rps
            client = client_for_site(store, site_cfg, **({"max_rps": rps} if rps else {}))
        requests_before = _requests(client)
        if DataType.SMSR in types and client.product == "pra":
            types.remove(DataType.SMSR)  # Privileged Remote Access has no Show My Screen
        say(f"Listing the sessions of {site_cfg.host}")
        listing = appliance_listing(client, *window)
        _check(cancel)
        say(f"Reading what {dest_cfg.name} holds")
        holdings = holdings_for(dest, site_cfg.host, set(listing))
        _check(cancel)
        if any(t in types for t in (DataType.SHELL, DataType.SMSR)) and DataType.SESSION not in types and accepts_files:
            need = [x for x, e in listing.items() if e.ended and (holdings.sessions.get(x) is None
                                                                  or holdings.sessions[x].xml != "ended")]
            if need:
                say(f"Asking for the recordings of {len(need)} session(s)")
                with tempfile.TemporaryDirectory(prefix="ic-verify-") as tmp:
                    for lsid, exp in fetch_expected(client, need, Path(tmp), cancel).items():
                        if lsid in listing:
                            listing[lsid].expected = exp
        unavailable = load_unavailable(store, site_cfg.id, dest_cfg.id)
        kept = {k for k in unavailable if k.split(":", 2)[-1] in listing}  # kind:instance:lsid
        if kept != unavailable and window == (None, None):  # forget sessions the appliance no longer holds (a
            save_unavailable(store, site_cfg.id, dest_cfg.id, kept)  # window lists only part of them: keep all)
        noted = engine_unavailable(site_cfg.host, dest_cfg, set(listing) if window == (None, None) else None)
        kept |= {k for k in noted if k.split(":", 2)[-1] in listing}
        quarantined = quarantined_lsids(site_cfg.host, dest_cfg.name)
        expired = expired_lsids(site_cfg.host, dest_cfg.name)
        keeps = bool(getattr(dest, "replaces_sessions", True))
        findings = classify(listing, holdings, types, quarantined=quarantined, unavailable=kept, window=window,
                            keeps_in_progress=keeps, expired=expired)
        if any(f.status in (MISSING, PARTIAL) for f in findings):  # gaps: which will the next run fill anyway?
            pending = pending_lsids(store, client, site_cfg, dest_cfg, types, listing)
            if pending:
                findings = classify(listing, holdings, types, quarantined=quarantined, pending=pending,
                                    unavailable=kept, window=window, keeps_in_progress=keeps, expired=expired)
        report = VerifyReport(site_cfg.name, dest_cfg.name, site_cfg.host, types, window, findings,
                              holdings.backups, DataType.BACKUP in types and accepts_files, holdings.unreadable, notes,
                              site_id=site_cfg.id, destination_id=dest_cfg.id)
        report.requests = _requests(client) - requests_before
    finally:
        dest.close()
        if own_client and client is not None:
            client.close()
    report.seconds = time.monotonic() - began
    (log.info if report.complete else log.warning)("Verify %s", report.summary())
    return report


def verify_and_repair(store, site: str, destination: str, data_types: list[str] | None = None, *,
                      start: datetime | None = None, end: datetime | None = None, do_repair: bool = False,
                      progress: Progress | None = None, listener=None,
                      cancel: threading.Event | None = None) -> VerifyReport:
    report = verify(store, site, destination, data_types, start=start, end=end, progress=progress, cancel=cancel)
    if not do_repair or (report.complete and not any(f.status == PENDING for f in report.findings)):
        return report
    fixed = repair(store, report, progress=progress, listener=listener, cancel=cancel)
    if not fixed.attempted and not report.backup_missing:  # only quarantined sessions: nothing for repair to do
        report.repair = fixed
        return report
    again = verify(store, site, destination, report.data_types if data_types else None, start=start, end=end,
                   progress=progress, cancel=cancel)
    again.repair = fixed
    again.requests += report.requests
    return again


def verify_schedule(store, name: str, *, do_repair: bool = False, start: datetime | None = None,
                    end: datetime | None = None, progress: Progress | None = None, listener=None,
                    cancel: threading.Event | None = None, lock: bool = True,
                    keep_going: bool = False) -> list[VerifyReport]:
    """Verify every transfer of a schedule (with the data types it copies). Holds the schedule's lock, so a run of
    the schedule and its verify never overlap (ScheduleBusy when it is running). ``keep_going``: a transfer whose
    check fails (its destination or appliance down) gives a failed report and the others are still checked."""
    from ic.transfer.lock import ScheduleLock

    sched = store.get_schedule(name)
    if not sched.transfers:
        raise ConfigError(f"Schedule {sched.name} has no transfers to verify; add one under Schedule Configuration.")
    held = ScheduleLock(sched.name).acquire() if lock else None
    try:
        reports = []
        for t in sched.transfers:
            try:
                reports.append(verify_and_repair(store, t.site, t.destination, list(t.data_types), start=start,
                                                 end=end, do_repair=do_repair, progress=progress, listener=listener,
                                                 cancel=cancel))
            except Cancelled:
                raise
            except ICError as exc:
                if not keep_going:
                    raise
                log.error("Verify %s -> %s failed: %s", t.site, t.destination, exc)
                reports.append(VerifyReport.failed(t.site, t.destination, list(t.data_types), str(exc)))
        return reports
    finally:
        if held is not None:
            held.release()


def parse_when(text: str, option: str, end: bool = False) -> datetime:
    """ISO date or date-time, local time unless an offset is given. A date alone as --end means the end of that day."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} '{text}' must look like 2026-03-01 or 2026-03-01T08:00.") from None
    if end and len(raw) == 10:
        value += timedelta(days=1)
    if value.tzinfo is None:
        value = value.astimezone()
    return value


def _window(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    if start is None and end is None:
        return (None, None)
    if start is None:
        start = datetime(1970, 1, 1, tzinfo=timezone.utc)
    s = int(_aware(start).timestamp())
    e = int(_aware(end).timestamp()) if end is not None else None
    if e is not None and e <= s:
        raise ConfigError("The end of the verify window must be after its start.", field="end")
    return (s, e)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
