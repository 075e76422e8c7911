"""`verify`: prove the archive is complete — compare what the appliance still holds with what a destination holds.

Cost on the appliance (its limits: 20 requests/s, 15,000/h): one token, the start-time listing (every session, in
progress included) and the closed listing (end_time, which sessions have ended) — two requests whatever the number of
sessions. Which recordings exist comes from the listing's ``has_recording`` and, for command shell / Show My Screen
recordings, from the session XML the destination stores; session details are asked for (50 sessions a request) only
when shell/Show My Screen recordings are verified for a destination that does not keep the session XML.

Each session of the appliance is *present*, *missing* (nothing stored), *partial* (stored without some of its
recordings, or stored while in progress and ended since) or *quarantined* (set aside by the engine); a gap that the
transfer's next run fills anyway (the session ended after its cursor, or is still running, or was stored in progress)
is *pending* — asked for with one more listing, from the transfer's cursor, only when there are gaps. A session the
destination keeps but the appliance no longer lists is *extra* (normal after the appliance's retention). A recording
the appliance lists but refused to serve during a repair is *unavailable* (remembered per site and destination).
The archive is complete when nothing is missing, partial or quarantined (and, when backups are verified, a backup of
the site is there); pending, extra and unavailable sessions are reported but do not make it incomplete.

``repair`` fetches what is missing, partial or pending with one-off exports by session ID through the normal engine: the
schedules' cursors and done lists are never read or changed. Then it verifies again.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

from ic.errors import Cancelled, ConfigError, ICError, ParseError, ScheduleBusy
from ic.services.verify_holdings import FILE_KINDS, Held, Holdings, holdings_for, instances_of
from ic.settings.models import DATA_TYPES

log = logging.getLogger("ic.verify")

PRESENT, MISSING, PARTIAL, EXTRA, QUARANTINED, UNAVAILABLE, PENDING = (
    "present", "missing", "partial", "extra", "quarantined", "unavailable", "pending")
STATUSES = (PRESENT, MISSING, PARTIAL, PENDING, EXTRA, QUARANTINED, UNAVAILABLE)
INCOMPLETE = (MISSING, PARTIAL, QUARANTINED)
DETAIL_BATCH = 50
REPAIR_BATCH = 500  # sessions per repair export (the engine asks for their details 50 at a time)
ENDED, RUNNING = "ended", "in progress"
NOTHING: list = []  # shared by the findings that lack nothing (never appended to)
CSV_COLUMNS = ("site", "destination", "lsid", "status", "appliance", "held", "lacking", "note")
Progress = Callable[[str], None]


@dataclass(slots=True)  # one per session: 100,000s of them
class Listed:
    """One session as the appliance lists it."""

    lsid: str
    ended: bool
    has_recording: bool
    expected: dict[str, set] | None = None  # from session details (only fetched when the destination cannot say)


@dataclass(slots=True)  # one per session: 100,000s of them
class Finding:
    lsid: str
    status: str
    appliance: str  # "ended" | "in progress" | "gone"
    held: str = ""  # what the destination holds, in short words
    lacking: list[str] = field(default_factory=list)  # "session", "session (stored in progress)", "recordings", "shell #1"
    note: str = ""
    repair_types: list[str] = field(default_factory=list)


@dataclass
class RepairOutcome:
    attempted: int = 0
    sessions_stored: int = 0
    files_stored: int = 0
    backups: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"repair fetched {self.sessions_stored} session(s) and {self.files_stored} file(s) for {self.attempted} session(s)"
        if self.backups:
            text += f" and {self.backups} backup(s)"
        if self.unavailable:
            text += f"; {self.unavailable} recording(s) the appliance can no longer serve"
        if self.errors:
            text += f"; {len(self.errors)} failed: " + " ".join(self.errors[:3])
        return text


@dataclass
class VerifyReport:
    site: str
    destination: str
    site_host: str
    data_types: list[str]
    window: tuple[int | None, int | None] = (None, None)
    findings: list[Finding] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    backup_checked: bool = False
    unreadable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    repair: RepairOutcome | None = None
    site_id: int | None = None
    destination_id: int | None = None

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for f in self.findings:
            out[f.status] += 1
        return out

    @property
    def backup_missing(self) -> bool:
        return self.backup_checked and not self.backups

    @property
    def complete(self) -> bool:
        return not self.backup_missing and not any(f.status in INCOMPLETE for f in self.findings)

    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status in INCOMPLETE]

    @property
    def label(self) -> str:
        return f"{self.site} -> {self.destination}"

    def summary(self) -> str:
        """Words: one paragraph an auditor can read."""
        c = self.counts()
        on_appliance = sum(1 for f in self.findings if f.appliance != "gone")
        head = (f"{self.label}: the archive is complete" if self.complete
                else f"{self.label}: the archive is NOT complete")
        window = _window_words(self.window)
        parts = [f"{on_appliance} session(s) on the appliance{window}: {c[PRESENT]} present"]
        for status in (MISSING, PARTIAL, QUARANTINED, UNAVAILABLE):
            if c[status]:
                parts.append(f"{c[status]} {status}")
        if c[PENDING]:
            parts.append(f"{c[PENDING]} pending: newer than the last transfer, its next run stores them")
        text = f"{head} ({', '.join(parts)})"
        if c[EXTRA]:
            text += f"; {c[EXTRA]} kept here that the appliance no longer holds (normal after its retention)"
        if self.backup_checked:
            text += f"; newest backup {self.backups[0]}" if self.backups else "; no backup of the site is stored"
        text += f". Data verified: {', '.join(self.data_types) or 'none'}."
        for note in self.notes:
            text += f" {note}"
        if self.unreadable:
            text += f" {len(self.unreadable)} file(s) could not be read: {', '.join(self.unreadable[:3])}."
        if self.repair is not None:
            text += f" Before this check, {self.repair.summary()}."
        return text

    def details(self, limit: int = 50) -> list[str]:
        """One line per session that is not present (problems first), at most ``limit``."""
        if limit <= 0:
            return []
        order = {MISSING: 0, PARTIAL: 1, QUARANTINED: 2, PENDING: 3, UNAVAILABLE: 4, EXTRA: 5}
        rows = sorted((f for f in self.findings if f.status != PRESENT), key=lambda f: (order.get(f.status, 9), f.lsid))
        lines = []
        for f in rows[:limit]:
            what = f"lacks {', '.join(f.lacking)}" if f.lacking else (f.held or "")
            lines.append(f"  {f.status:<11} {f.lsid}  ({f.appliance}) {what}{'; ' + f.note if f.note else ''}")
        if len(rows) > limit:
            lines.append(f"  … and {len(rows) - limit} more (see the CSV)")
        return lines

    def csv_rows(self) -> Iterable[list[str]]:
        for f in self.findings:
            yield [self.site, self.destination, f.lsid, f.status, f.appliance, f.held, "; ".join(f.lacking), f.note]
        if self.backup_missing:
            yield [self.site, self.destination, "", MISSING, "", "", "backup", "no backup of the site is stored"]


def write_csv(reports: list[VerifyReport], out) -> None:
    """CSV of every finding (a path, or an open text file)."""
    if isinstance(out, (str, Path)):
        with open(out, "w", newline="", encoding="utf-8-sig") as f:
            write_csv(reports, f)
        return
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for report in reports:
        for row in report.csv_rows():
            w.writerow(row)


def _window_words(window: tuple[int | None, int | None]) -> str:
    start, end = window
    if start is None:
        return ""
    fmt = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: E731
    return f" that started from {fmt(start)}" + (f" until {fmt(end)}" if end else "")


# --- the appliance side -------------------------------------------------------------------------------------------
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


# --- comparing ----------------------------------------------------------------------------------------------------
def classify(listing: dict[str, Listed], holdings: Holdings, types: list[str], *,
             quarantined: dict[str, str] | set[str] = frozenset(),
             pending: dict[str, set[str]] | None = None,
             unavailable: set[str] = frozenset(), window: tuple[int | None, int | None] = (None, None),
             keeps_in_progress: bool = True) -> list[Finding]:
    """Pure: one Finding per session of the appliance, then one per extra session the destination keeps."""
    findings: list[Finding] = []
    file_types = [t for t in FILE_KINDS if t in types and holdings.accepts_files]
    for lsid, entry in listing.items():
        held = holdings.sessions.get(lsid) or Held(lsid)
        lacking: list[str] = []
        repair: set[str] = set()
        gone_files: list[str] = []
        note = ""
        if "session" in types:
            if held.xml is None:
                if entry.ended or keeps_in_progress:
                    lacking.append("session")
                    repair.add("session")
            elif held.xml == "in_progress" and entry.ended:
                lacking.append("session (stored in progress)")
                repair.add("session")
        if entry.ended:
            ambiguous = dict(held.ambiguous or {})
            for kind in file_types:
                if kind == "recordings":
                    wanted: set | None = {None} if entry.has_recording else set()
                elif held.xml == "ended":
                    wanted = (held.expected or {}).get(kind, set())
                elif entry.expected is not None:
                    wanted = entry.expected.get(kind, set())
                else:
                    wanted = None  # unknown until the session data is stored: repair fetches them all
                if wanted is None:
                    if "session" in repair:
                        repair.add(kind)  # fetched with the session data
                    else:
                        note = f"{kind} recordings are known once the session data is stored"
                    continue
                for instance in sorted(wanted, key=lambda x: -1 if x is None else x):
                    if held.has_file(kind, instance):
                        continue
                    if instance is not None and ambiguous.get(instance, 0) > 0:
                        ambiguous[instance] -= 1
                        continue
                    label = kind if instance is None else f"{kind} #{instance}"
                    if unavailable_key(kind, lsid, instance) in unavailable:
                        gone_files.append(label)
                        continue
                    lacking.append(label)
                    repair.add(kind)
        if lacking and "session" in repair:
            repair.update(t for t in file_types if entry.ended)  # fresh session data: its recordings too
        if lacking:
            status = QUARANTINED if lsid in quarantined else (PARTIAL if held.anything else MISSING)
            if status == QUARANTINED:
                note = "set aside by the transfer engine (see the quarantine)"
            elif pending and all(lsid in pending.get(_type_of(x), ()) for x in lacking):
                status = PENDING
                note = ("ended after the last transfer: its next run stores it" if entry.ended
                        else "in progress: the transfer stores it")
        elif gone_files:
            status = UNAVAILABLE
            note = f"the appliance can no longer serve {', '.join(gone_files)}"
        else:
            status, note = PRESENT, ""
        findings.append(Finding(lsid, status, ENDED if entry.ended else RUNNING, _held_words(held),
                                lacking or NOTHING, note, [t for t in DATA_TYPES if t in repair] if repair else NOTHING))
    start, end = window
    for lsid, held in holdings.sessions.items():
        if lsid in listing or not held.anything:
            continue
        if start is not None:
            if held.start_time is None or held.start_time < start or (end is not None and held.start_time >= end):
                continue
        findings.append(Finding(lsid, EXTRA, "gone", _held_words(held), [],
                                "no longer on the appliance (normal after its retention)"))
    if start is None:
        # set aside by the engine, then aged out of the appliance: the quarantine holds the only copy
        for lsid in quarantined:
            held = holdings.sessions.get(lsid)
            if lsid in listing or (held is not None and held.xml):
                continue
            where = quarantined.get(lsid) if isinstance(quarantined, dict) else ""
            findings.append(Finding(lsid, QUARANTINED, "gone", _held_words(held) if held else "", ["session"],
                                    "gone from the appliance; its only copy is in the quarantine"
                                    + (f" ({where})" if where else "")))
    return findings


def _type_of(label: str) -> str:
    """ "session (stored in progress)" -> session, "shell #1" -> shell."""
    return label.split(" ", 1)[0]


def _held_words(held: Held) -> str:
    parts = []
    if held.xml:
        parts.append("session" + (" (in progress)" if held.xml == "in_progress" else ""))
    for kind in FILE_KINDS:
        got = (held.files or {}).get(kind)
        if got:
            parts.append(kind if got == {None} else f"{kind} {','.join(str(i) for i in sorted(x for x in got if x is not None))}")
    if held.ambiguous:
        parts.append(f"{sum(held.ambiguous.values())} recording(s) of unknown kind")
    return ", ".join(parts)


def unavailable_key(kind: str, lsid: str, instance: int | None) -> str:
    return f"{kind}:{'' if instance is None else instance}:{lsid}"


def _memory_key(site_id, dest_id) -> str:
    return f"verify.unavailable.{site_id}.{dest_id}"


def load_unavailable(store, site_id, dest_id) -> set[str]:
    raw = store.get_setting(_memory_key(site_id, dest_id))
    try:
        return set(json.loads(raw)) if raw else set()
    except (ValueError, TypeError):
        return set()


def save_unavailable(store, site_id, dest_id, keys: set[str]) -> None:
    store.set_setting(_memory_key(site_id, dest_id), json.dumps(sorted(keys)) if keys else None)


def pending_lsids(store, client, site, dest_cfg, types: list[str], listing: dict[str, Listed]) -> dict[str, set[str]]:
    """Per data type, the sessions the transfer's next run handles anyway (so not stored yet is not a gap): closed
    sessions in its next window (one listing from its cursor; one per distinct cursor) that it has not done, sessions
    it stored in progress, and sessions still running. Nothing when this site and destination have no transfer."""
    from ic.transfer.engine import EngineOptions
    from ic.transfer.state import TransferState

    overlap = EngineOptions.from_store(store).overlap
    listed: dict[int, set[str]] = {}
    out: dict[str, set[str]] = {}
    for t in types:
        if t == "backup":
            continue
        try:
            st = TransferState.from_json(store.load_state(site.id, dest_cfg.id, t))
        except (ValueError, TypeError, AttributeError):
            continue
        if st.cursor is None:
            continue  # never completed a window: every gap is a gap
        bound = st.end_bound(overlap, 0)
        if bound not in listed:
            listed[bound] = {x.lsid for x in _rows(client, end_time=bound, duration=0)}
        pend = {x for x in listed[bound] if x not in st.done}
        if t == "session":
            pend |= set(st.in_progress) - set(st.done)
            pend |= {x for x, e in listing.items() if not e.ended}
        out[t] = pend
    return out


def quarantined_lsids(site_host: str, destination: str) -> dict[str, str]:
    """lsid -> where its raw XML is kept, for the sessions the engine set aside for this destination."""
    try:
        from ic.transfer.quarantine import list_quarantined
    except ImportError:
        return {}
    try:
        entries = list_quarantined(site_host=site_host)
    except Exception:  # noqa: BLE001 - an unreadable quarantine must not stop verify
        log.warning("The quarantine of %s could not be read; quarantined sessions show as missing.", site_host)
        return {}
    out: dict[str, str] = {}
    for e in entries or ():
        get = e.get if isinstance(e, dict) else (lambda k, _e=e: getattr(_e, k, None))
        lsid, dest = get("lsid"), get("destination")
        if lsid and (dest in (None, "", destination)):
            out[str(lsid)] = str(get("path") or "")
    return out


# --- the whole check ----------------------------------------------------------------------------------------------
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
        found = {"session", "recordings", "smsr", "shell"} if accepts_files else {"session"}
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
            skipped = [t for t in types if t in FILE_KINDS or t == "backup"]
            if skipped:
                notes.append(f"{', '.join(skipped)} not checked: destination {dest_cfg.name} holds session data only.")
            types = [t for t in types if t == "session"]
        window = _window(start, end)
        if client is None:
            from ic.appliance import client_for_site
            from ic.transfer.engine import EngineOptions

            rps = EngineOptions.from_store(store).max_rps
            client = client_for_site(store, site_cfg, **({"max_rps": rps} if rps else {}))
        requests_before = _requests(client)
        if "smsr" in types and client.product == "pra":
            types.remove("smsr")  # Privileged Remote Access has no Show My Screen
        say(f"Listing the sessions of {site_cfg.host}")
        listing = appliance_listing(client, *window)
        _check(cancel)
        say(f"Reading what {dest_cfg.name} holds")
        holdings = holdings_for(dest, site_cfg.host, set(listing))
        _check(cancel)
        if any(t in types for t in ("shell", "smsr")) and "session" not in types and accepts_files:
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
        if kept != unavailable:  # forget sessions the appliance no longer holds
            save_unavailable(store, site_cfg.id, dest_cfg.id, kept)
        quarantined = quarantined_lsids(site_cfg.host, dest_cfg.name)
        keeps = bool(getattr(dest, "replaces_sessions", True))
        findings = classify(listing, holdings, types, quarantined=quarantined, unavailable=kept, window=window,
                            keeps_in_progress=keeps)
        if any(f.status in (MISSING, PARTIAL) for f in findings):  # gaps: which will the next run fill anyway?
            pending = pending_lsids(store, client, site_cfg, dest_cfg, types, listing)
            if pending:
                findings = classify(listing, holdings, types, quarantined=quarantined, pending=pending,
                                    unavailable=kept, window=window, keeps_in_progress=keeps)
        report = VerifyReport(site_cfg.name, dest_cfg.name, site_cfg.host, types, window, findings,
                              holdings.backups, "backup" in types and accepts_files, holdings.unreadable, notes,
                              site_id=site_cfg.id, destination_id=dest_cfg.id)
        report.requests = _requests(client) - requests_before
    finally:
        dest.close()
        if own_client and client is not None:
            client.close()
    report.seconds = time.monotonic() - began
    (log.info if report.complete else log.warning)("Verify %s: %s", report.label, report.summary())
    return report


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


def _requests(client) -> int:
    try:
        return int(client.stats.get("requests", 0))
    except Exception:  # noqa: BLE001 - a stand-in client without stats
        return 0


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


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Verify was cancelled.")


# --- repair -------------------------------------------------------------------------------------------------------
class _Watching:
    """Wraps the destination of a repair export to see which files reached it (the rest were not served)."""

    def __init__(self, inner, seen: set[str]) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def store_file(self, item):
        if item.session is not None:
            self._seen.add(unavailable_key(item.kind, item.session.lsid, item.instance if item.kind != "recordings" else None))
        return self._inner.store_file(item)

    def store_sessions(self, site_host, sessions):
        return self._inner.store_sessions(site_host, sessions)


def repair(store, report: VerifyReport, *, progress: Progress | None = None, listener=None,
           cancel: threading.Event | None = None, engine_factory=None) -> RepairOutcome:
    """Fetch what ``report`` found missing or partial (one-off exports by session ID; cursors untouched)."""
    from ic.transfer.engine import ExportRequest, TransferEngine, default_destination_factory
    from ic.settings.models import TransferConfig

    say = progress or (lambda _text: None)
    outcome = RepairOutcome()
    todo = [f for f in report.findings if f.status in (MISSING, PARTIAL, PENDING) and f.appliance != "gone"
            and f.repair_types]
    if not todo and not report.backup_missing:
        return outcome
    seen: set[str] = set()
    factory = engine_factory or TransferEngine
    engine = factory(store, listener=listener, cancel=cancel,
                     destination_factory=lambda cfg: _Watching(default_destination_factory(cfg), seen))
    gone: set[str] = set()
    batched = "lsids" in getattr(ExportRequest, "__dataclass_fields__", {})
    groups: dict[tuple[str, ...], list[Finding]] = {}
    for f in todo:  # one export per set of data types (and per REPAIR_BATCH sessions): details 50 per request
        groups.setdefault(tuple(f.repair_types), []).append(f)
    chunks = [(types, items[i:i + (REPAIR_BATCH if batched else 1)])
              for types, items in groups.items() for i in range(0, len(items), REPAIR_BATCH if batched else 1)]
    with engine:
        done = 0
        for types, chunk in chunks:
            _check(cancel)
            done += len(chunk)
            say(f"Repairing {done}/{len(todo)}: {chunk[0].lsid}" + (" …" if len(chunk) > 1 else ""))
            outcome.attempted += len(chunk)
            transfer = TransferConfig(report.site, report.destination, list(types))
            request = (ExportRequest(lsids=tuple(f.lsid for f in chunk)) if batched  # type: ignore[call-arg]
                       else ExportRequest(lsid=chunk[0].lsid))
            try:
                result = engine.run_transfer(transfer, export=request)
            except Cancelled:
                raise
            except ICError as exc:
                what = chunk[0].lsid if len(chunk) == 1 else f"{len(chunk)} sessions from {chunk[0].lsid}"
                outcome.errors.append(f"{what}: {exc}")
                log.warning("Verify repair of %s from %s failed: %s", what, report.site_host, exc)
                continue
            outcome.sessions_stored += result.sessions_stored + result.in_progress_stored
            outcome.files_stored += result.files_stored
            for f in chunk:
                for label in f.lacking:
                    kind, _, inst = label.partition(" #")
                    if kind in FILE_KINDS:
                        key = unavailable_key(kind, f.lsid, int(inst) if inst else None)
                        if key not in seen:
                            gone.add(key)
        if report.backup_missing:
            _check(cancel)
            say("Fetching a backup of the site")
            try:
                result = engine.run_transfer(TransferConfig(report.site, report.destination, ["backup"]),
                                             export=ExportRequest())
                outcome.backups += result.backups
            except Cancelled:
                raise
            except ICError as exc:
                outcome.errors.append(f"backup: {exc}")
    if gone:
        outcome.unavailable = len(gone)
        known = load_unavailable(store, report.site_id, report.destination_id)
        save_unavailable(store, report.site_id, report.destination_id, known | gone)
    return outcome


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
                    cancel: threading.Event | None = None, lock: bool = True) -> list[VerifyReport]:
    """Verify every transfer of a schedule (with the data types it copies). Holds the schedule's lock, so a run of
    the schedule and its verify never overlap (ScheduleBusy when it is running)."""
    from ic.transfer.lock import ScheduleLock

    sched = store.get_schedule(name)
    if not sched.transfers:
        raise ConfigError(f"Schedule {sched.name} has no transfers to verify; add one under Schedule Configuration.")
    held = ScheduleLock(sched.name).acquire() if lock else None
    try:
        reports = []
        for t in sched.transfers:
            reports.append(verify_and_repair(store, t.site, t.destination, list(t.data_types), start=start, end=end,
                                             do_repair=do_repair, progress=progress, listener=listener,
                                             cancel=cancel))
        return reports
    finally:
        if held is not None:
            held.release()


# --- mail ---------------------------------------------------------------------------------------------------------
def mail_text(reports: list[VerifyReport], title: str) -> tuple[str, str]:
    complete = all(r.complete for r in reports)
    subject = f"Integration Client verify ({title}): " + ("archive complete" if complete else "archive NOT complete")
    lines = [f"Verify {title}: " + ("every session the appliance holds is in the archive." if complete
                                    else "the archive is missing sessions or recordings."), ""]
    for r in reports:
        lines.append(r.summary())
        lines.extend(r.details(50))
        lines.append("")
    return subject, "\n".join(lines)


def mail_summary(store, reports: list[VerifyReport], title: str) -> bool:
    """Send the summary when notifications are on; never raises (a failure is logged once)."""
    from ic import notify
    from ic.logs import FILE_ONLY

    try:
        settings = notify.load_settings(store)
    except ICError:
        return False
    if not settings.enabled or not settings.recipients or not settings.host:
        return False
    subject, body = mail_text(reports, title)
    try:
        password = notify.load_password(store) if settings.username else None
        notify.send_mail(settings, password, subject, body)
    except Exception as exc:  # noqa: BLE001
        log.warning("The verify summary could not be mailed: %s", notify.explain(exc, settings), extra={FILE_ONLY: True})
        return False
    log.info("Verify summary mailed to %s.", ", ".join(settings.recipients))
    return True


# --- verify on a schedule (weekly, ...) ------------------------------------------------------------------------------
def _every_key(sched_id) -> str:
    return f"verify.every.{sched_id}"


def _last_key(sched_id) -> str:
    return f"verify.last.{sched_id}"


def _result_key(sched_id) -> str:
    return f"verify.result.{sched_id}"


def _start_key(sched_id) -> str:
    return f"verify.start.{sched_id}"


def _repair_key(sched_id) -> str:
    return f"verify.repair.{sched_id}"


@dataclass
class VerifyPlan:
    schedule: str
    every_seconds: int  # 0 = off
    repair: bool
    last: datetime | None
    last_result: str | None = None
    start: datetime | None = None  # only sessions that started from then  # "complete" | "NOT complete: ..." | "failed: ..." of the last periodic verify


def set_verify_plan(store, schedule: str, every_seconds: int, repair_too: bool = False,
                    start: datetime | None = None) -> VerifyPlan:
    """Verify the schedule's transfers every ``every_seconds`` (0 = never) from `tick`, and mail the summary.

    ``start``: only sessions that started from then (a transfer set to begin at a date never fetched older ones;
    without it they would be reported missing every time)."""
    sched = store.get_schedule(schedule)
    if every_seconds < 0:
        raise ConfigError("The verify period cannot be negative.", field="every")
    if every_seconds and every_seconds < 3600:
        raise ConfigError("Verify at most once an hour (for example every 7d).", field="every")
    store.set_setting(_every_key(sched.id), str(int(every_seconds)) if every_seconds else None)
    store.set_setting(_repair_key(sched.id), "1" if repair_too and every_seconds else None)
    store.set_setting(_start_key(sched.id), str(int(_aware(start).timestamp())) if start and every_seconds else None)
    return get_verify_plan(store, sched.name)


def get_verify_plan(store, schedule: str) -> VerifyPlan:
    sched = store.get_schedule(schedule)
    raw = store.get_setting(_every_key(sched.id))
    try:
        every = int(raw) if raw else 0
    except ValueError:
        every = 0
    last_raw = store.get_setting(_last_key(sched.id))
    try:
        last = datetime.fromisoformat(last_raw.replace("Z", "+00:00")) if last_raw else None
    except ValueError:
        last = None
    raw_start = store.get_setting(_start_key(sched.id))
    try:
        start = datetime.fromtimestamp(int(raw_start), timezone.utc) if raw_start else None
    except (ValueError, OverflowError, OSError):
        start = None
    return VerifyPlan(sched.name, every, store.get_setting(_repair_key(sched.id)) == "1", last,
                      store.get_setting(_result_key(sched.id)), start)


def due_verifications(store, now: datetime | None = None) -> list[VerifyPlan]:
    now = _aware(now or datetime.now(timezone.utc))
    out = []
    for sched in store.list_schedules():
        if not sched.enabled:
            continue
        plan = get_verify_plan(store, sched.name)
        if not plan.every_seconds:
            continue
        last = plan.last
        # a "last" in the future (the clock was corrected) does not block the verify for ever
        if last is None or now - last >= timedelta(seconds=plan.every_seconds) or last > now + timedelta(hours=1):
            out.append(plan)
    return out


def tick_verifications(store, now: datetime | None = None, cancel: threading.Event | None = None) -> list[str]:
    """Called by `tick` after the due schedules ran: each due verify runs once and its summary is mailed."""
    now = _aware(now or datetime.now(timezone.utc))
    messages = []
    for plan in due_verifications(store, now):
        if cancel is not None and cancel.is_set():
            break
        sched = store.get_schedule(plan.schedule)
        try:
            reports = verify_schedule(store, plan.schedule, do_repair=plan.repair, start=plan.start, cancel=cancel)
        except ScheduleBusy:
            messages.append(f"Verify of schedule {plan.schedule} skipped: the schedule is running.")
            continue  # not marked: the next tick tries again
        except Cancelled:
            break
        except ICError as exc:
            log.error("Verify of schedule %s failed: %s", plan.schedule, exc)
            messages.append(f"Verify of schedule {plan.schedule} failed: {exc}")
            store.set_setting(_last_key(sched.id), now.replace(microsecond=0).isoformat())
            store.set_setting(_result_key(sched.id), f"failed: {exc}"[:500])
            continue
        store.set_setting(_last_key(sched.id), now.replace(microsecond=0).isoformat())
        problems = [r.summary() for r in reports if not r.complete]
        store.set_setting(_result_key(sched.id), ("NOT complete: " + " ".join(problems))[:500] if problems
                          else "complete")
        mail_summary(store, reports, f"schedule {plan.schedule}")
        for r in reports:
            messages.append(r.summary())
    return messages


def summary_text(reports: list[VerifyReport], details: int = 50) -> str:
    out = io.StringIO()
    for r in reports:
        out.write(r.summary() + "\n")
        for line in r.details(details):
            out.write(line + "\n")
    return out.getvalue()
