"""The transfer engine: copies one site's sessions, recordings and backups to one destination, never losing any.

A run is plan -> fetch -> apply: ``ic.transfer.planner`` decides from listings and state what each data type still
needs (pure), ``ic.transfer.fetch`` gets session details with every detail-level retry rule, ``ic.transfer.apply``
writes to the destination, quarantines what cannot be stored and saves the state. This module runs the window.

Window design (appliance API B3: ``end_*`` lists only CLOSED sessions that ended at/after t; ``start_*`` lists every
session that began at/after t, running ones included; bounds are inclusive):

0. Sessions quarantined for this destination by earlier runs (``ic.transfer.quarantine``) are asked for again by
   lsid; stored ones leave the quarantine, ones the appliance returns on no two runs in a row go to its expired folder.
1. Closed sessions: ``list_sessions(end_time=cursor - overlap, duration=0)``. The cursor is the newest
   ``end_time@timestamp`` the appliance itself reported for a stored session, never the local clock, and never
   past the appliance's own now at listing time (Date header): a session claiming to end in 2100 is stored and
   warned about but cannot move the cursor. The overlap (120 s) absorbs inclusive bounds and sessions committed a
   little after their end time; lsids already done in that overlap are skipped (``done`` map). When the appliance
   clock went back since the last completed window (its now vs the recorded (appliance, host) clock pair), a
   warning is logged and the window reaches back over the gap (listed again from the lower bound).
2. Sessions in progress (session data only, for destinations that replace a stored session, see
   ``_keeps_in_progress``): ``list_sessions(start_time=start_cursor - overlap)`` minus the closed listing gives
   sessions that may still be running. Their details are stored now and they are remembered in ``in_progress``;
   every later run fetches them again (destination replaces them) until they end. A running session always ends
   after the current cursor, so step 1 would find it anyway once it ends: the in-progress list only makes its data
   visible early. Entries older than 7 days (abnormally closed sessions never get an end time) are dropped.
3. Details for the lsids to handle, in batches of 50 (``lsids=``), several batches downloading at once into temp
   files, parsed with ``iter_sessions`` in this thread; the batch goes to ``destination.store_sessions``; only then
   is the state saved. A session that cannot be read or stored is quarantined and counts as done.
4. Recordings of each closed session in the batch are downloaded by a small thread pool (sharing the one
   rate-limited client) into the destination's staging folder (or the run's temp folder) and handed to
   ``destination.store_file`` one by one from this thread; the state records each stored file (command-shell
   instances individually). One recording that cannot be stored (its download breaks off or is refused every time,
   the destination refuses that one file's name or size) is set aside in the quarantine like a bad session and
   tried again at each later run; it never holds the cursor. Failed files wait as suspects until a later file goes
   through, or until the appliance (a recording probe) and the destination (``test()``, not every file refused
   alike) are checked: if either is down, the transfer fails with nothing set aside (``_settle_files``).
5. When every lsid of the window is handled, the cursor moves to the newest end time among the sessions of the
   closed listing (not a running session that ended later: sessions closing meanwhile were not listed), capped at
   the appliance's now, and the done map is pruned to the overlap. A run killed before that restarts the same
   window and skips the done lsids.

Each data type has its own state (cursor, done...), so adding "recordings" to an existing transfer later starts
recordings from the first-run look-back while session data continues from its cursor.
"""
from __future__ import annotations

import errno
import itertools
import logging
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ic import paths
from ic.destinations.base import Destination, FileItem
from ic.errors import (
    ApplianceAPIError, ApplianceError, Cancelled, ConfigError, DestinationUnavailable, ICError, MalformedResponse,
    ParseError, RecordingUnavailable, ServerError, UnknownSession,
)
from ic.sessions.model import Session
from ic.settings.models import DATA_TYPES, DestinationConfig, SiteConfig, TransferConfig
from ic.transfer import planner, quarantine
from ic.transfer import progress as P
from ic.transfer.apply import Apply, reason_of, session_fault_possible
from ic.transfer.fetch import PARSE_RETRIES, DetailFetcher, Poisoned, is_unknown_session  # noqa: F401
from ic.transfer.planner import FILE_KINDS
from ic.transfer.state import DEFAULT_OVERLAP, TransferState, clock_went_back

log = logging.getLogger("ic.transfer")
_NO_SMSR_ON_PRA = ("Site {site} is a Privileged Remote Access site, which has no Show My Screen recordings; untick "
                   "Show My Screen in the transfer {site} -> {dest}.")

IN_PROGRESS_MAX_AGE = 7 * 86400
DEFAULT_BATCH = 50
DEFAULT_WORKERS = 8  # recordings downloading at once: 8 hide 0.25 s of latency at 20 req/s
DEFAULT_DETAIL_WORKERS = 6  # detail documents in flight at once: 6 x 50 sessions hide 0.25 s of latency at 20 req/s
LARGE_DONE = 500  # done-map size from which state saves go to the journal (see Apply.save)
SAVE_INTERVAL = 2.0  # seconds between throttled state saves
CLOCK_TOLERANCE = 30  # seconds the appliance clock may seem to go back (Date header granularity, drift) unnoticed
FUTURE_TOLERANCE = 300  # a session ending this far after the appliance's clock is logged as a claim from the future
SET_ASIDE_RETRIES = 1  # client retries for a recording set aside by an earlier run (a first failure gets them all)
SUSPECTS_BEFORE_CHECK = 4  # failed recordings held before asking whether the appliance / destination itself is down
# errors of one file that the file's own name or size explain (the destination works for other files)
_FILE_ERRNOS = {errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ, errno.ERANGE, errno.EFBIG}


@dataclass
class EngineOptions:
    overlap: int = DEFAULT_OVERLAP
    batch_size: int = DEFAULT_BATCH
    workers: int = DEFAULT_WORKERS
    initial_lookback_days: float | None = None  # None/0: everything the appliance still has
    max_rps: float | None = None  # appliance requests per second (None: the client's default, the documented 20/s)
    detail_workers: int = DEFAULT_DETAIL_WORKERS  # session detail documents downloading at once

    @classmethod
    def from_store(cls, store) -> "EngineOptions":
        from ic.settings.app import load_app_settings  # the one typed reader of application settings

        num = load_app_settings(store, strict=True).number
        return cls(
            overlap=max(0, num("transfer_overlap_seconds", DEFAULT_OVERLAP)),
            batch_size=max(1, num("transfer_batch_size", DEFAULT_BATCH)),
            workers=max(1, num("transfer_download_workers", DEFAULT_WORKERS)),
            initial_lookback_days=num("initial_lookback_days", None, float) or None,
            max_rps=num("appliance_max_rps", None, float) or None,
            detail_workers=max(1, num("transfer_detail_workers", DEFAULT_DETAIL_WORKERS)),
        )


@dataclass
class TransferResult:
    transfer: str
    sessions_stored: int = 0
    in_progress_stored: int = 0
    files_stored: int = 0
    files_skipped: int = 0  # expired/missing recordings, conflict-skipped files
    files_kept: int = 0  # already there: the folder's Skip rule kept the existing file (StoredPath.how "kept")
    bytes: int = 0
    backups: int = 0
    warnings: list[str] = field(default_factory=list)
    quarantined: int = 0  # sessions set aside this run (see ic.transfer.quarantine)
    files_quarantined: int = 0  # recordings set aside this run (download or store kept failing for that file)
    files_unchanged: int = 0  # recordings already there byte for byte (a window re-listed): nothing new landed

    def summary(self) -> str:
        parts = [f"{self.sessions_stored} session(s)"]
        if self.in_progress_stored:
            parts.append(f"{self.in_progress_stored} in progress")
        if self.files_stored or self.files_skipped:
            parts.append(f"{self.files_stored} file(s) ({_human(self.bytes)})")
        if self.files_kept:
            parts.append(f"{self.files_kept} kept (already there)")
        if self.files_skipped:
            parts.append(f"{self.files_skipped} unavailable")
        if self.backups:
            parts.append(f"{self.backups} backup(s)")
        if self.quarantined:
            parts.append(f"{self.quarantined} quarantined")
        if self.files_quarantined:
            parts.append(f"{self.files_quarantined} recording(s) set aside")
        return ", ".join(parts)


@dataclass
class ExportRequest:
    """A one-off export (API tester): a start-time window or one lsid; no cursor state is read or changed."""

    start_time: int | None = None
    duration: int = 0
    lsid: str | None = None
    lsids: tuple[str, ...] = ()  # several session IDs at once (verify --repair): fetched in batches like a run


@dataclass
class _FileTask:
    data_type: str
    session: Session
    instance: int | None = None


@dataclass
class _FileFailure:
    """A recording that failed: ``side`` "download" (the appliance, or the staging write) or "store"."""

    exc: BaseException
    side: str


def _file_label(task: _FileTask) -> str:
    return f"{task.data_type} {task.session.lsid}" + (f" #{task.instance}" if task.instance is not None else "")


def _reason_key(task: _FileTask, exc: BaseException) -> str:
    """What a failure says, without what names the file: two files refused "alike" have the same key."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc if isinstance(exc, OSError) else None
    if cause is not None and cause.errno is not None:
        return f"{type(exc).__name__}: errno {cause.errno}"
    return reason_of(exc).replace(task.session.lsid, "<lsid>")


def _file_fault_possible(exc: BaseException, side: str) -> bool:
    """Could this failure be the one recording's own (rather than an appliance or destination that is down)?"""
    if not isinstance(exc, Exception) or isinstance(exc, (Cancelled, ConfigError)):
        return False
    if isinstance(exc, OSError) and not isinstance(exc, ICError):
        return exc.errno in _FILE_ERRNOS  # e.g. a file too big for the file system; a full disk is not
    if isinstance(exc, DestinationUnavailable):
        return isinstance(exc.__cause__, OSError) and exc.__cause__.errno in _FILE_ERRNOS
    if side == "download":
        # the appliance answered an error for this recording, or its download broke every time (cut short,
        # malformed, 5xx): confirmed by a probe before it is set aside. Credentials, permission, TLS, rate limit and
        # DNS are never one file's fault.
        if isinstance(exc, ApplianceError):
            return type(exc) is ApplianceAPIError or isinstance(exc, (MalformedResponse, ServerError)) or \
                (exc.reason == "unreachable" and "Cannot find" not in str(exc))
        return False
    return session_fault_possible(exc)


def _keeps_in_progress(dest: Destination) -> bool:
    """Store sessions still in progress unless the plugin says it cannot replace a stored session later.

    SQL destinations upsert on host+lsid; the folder destination remembers files written for running sessions and
    overwrites them when the session ends. A third-party plugin that cannot do either sets
    ``replaces_sessions = False`` and then gets a session only once it ended.
    """
    return bool(getattr(dest, "replaces_sessions", True))


def default_client_factory(store, site: SiteConfig, options: EngineOptions | None = None):
    from ic.appliance import client_for_site

    if options is not None and options.max_rps:
        return client_for_site(store, site, max_rps=options.max_rps)
    return client_for_site(store, site)


def default_destination_factory(config: DestinationConfig) -> Destination:
    from ic.destinations.registry import destination_from_config

    return destination_from_config(config)


class TransferEngine:
    """Runs transfers; one instance per run. Call from a worker thread (GUI) or the foreground (CLI)."""

    def __init__(
        self,
        store,
        *,
        listener: P.Listener | None = None,
        cancel: threading.Event | None = None,
        options: EngineOptions | None = None,
        schedule: str | None = None,
        client_factory: Callable | None = None,
        destination_factory: Callable[[DestinationConfig], Destination] | None = None,
        host_clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.host_clock = host_clock or time.time  # this computer's clock (unix s); tests fake nights with it
        self.listener = listener
        self.cancel = cancel or threading.Event()
        self.options = options or EngineOptions.from_store(store)
        self.schedule = schedule
        self.client_factory = client_factory or (lambda st, site: default_client_factory(st, site, self.options))
        self.destination_factory = destination_factory or default_destination_factory
        self._clients: dict[str, object] = {}  # one client (one token) per site for all transfers of a run

    def close(self) -> None:
        """Release the appliance clients (call once the run's transfers are done)."""
        for client in self._clients.values():
            try:
                client.close()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - closing must not mask the run's outcome
                pass
        self._clients.clear()

    def __enter__(self) -> "TransferEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    _clients_guard = threading.Lock()  # a schedule's transfers run in threads (ic.services.runs): one client per site

    def _client(self, site: SiteConfig):
        with self._clients_guard:
            client = self._clients.get(site.name)
            if client is None:
                client = self._clients[site.name] = self.client_factory(self.store, site)
            return client

    # --- entry points --------------------------------------------------------------------------
    def run_transfer(self, transfer: TransferConfig, export: ExportRequest | None = None) -> TransferResult:
        """One site -> destination transfer of the given data types (incremental, or a one-off ``export``)."""
        site = self.store.get_site(transfer.site)
        dest_cfg = self.store.get_destination(transfer.destination, reveal=True)
        types = [t for t in DATA_TYPES if t in transfer.data_types]
        label = f"{site.name} -> {dest_cfg.name}"
        tracker = P.ProgressTracker(self.listener, label, self.schedule)
        result = TransferResult(label)
        tracker.update(phase=P.CONNECTING, message=f"Connecting to {site.host}")
        self._check_cancel()
        dest = self.destination_factory(dest_cfg)
        try:
            if any(t in ("backup", *FILE_KINDS) for t in types) and not dest.accepts_files:
                raise ConfigError(
                    f"Destination {dest_cfg.name} cannot store recordings or backups; choose a File System destination."
                )
            client = self._client(site)
            if "smsr" in types and client.product == "pra":  # VENDOR: refused, never silently ignored
                raise ConfigError(_NO_SMSR_ON_PRA.format(site=site.name, dest=dest_cfg.name))
            client.on_retry = lambda text: tracker.update(message=text)
            try:
                with _RunDir() as tmp:
                    _Run(self, site, dest_cfg, dest, client, types, tracker, result, tmp, export).execute()
            finally:
                client.on_retry = None
        except Cancelled:
            tracker.update(phase=P.CANCELLED, current=None, message="Cancelled")
            raise
        except Exception as exc:
            tracker.update(phase=P.FAILED, current=None, message=str(exc) if isinstance(exc, ICError) else "internal error")
            raise
        finally:
            dest.close()
        tracker.update(phase=P.DONE, current=None, message=result.summary())
        return result

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("The run was cancelled; it continues where it stopped next time.")


class _RunDir:
    """Per-run temp folder under the data dir (left-overs of killed runs older than a day are removed)."""

    def __enter__(self) -> Path:
        base = paths.data_dir() / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - 86400
        for old in base.iterdir():
            try:
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
            except OSError:
                pass
        self.path = Path(tempfile.mkdtemp(prefix="run-", dir=base))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class _Run:
    """One transfer run: plan (ic.transfer.planner) -> fetch (ic.transfer.fetch) -> apply (ic.transfer.apply).

    An export is the same plan over in-memory state (``persist`` False): nothing is read from or saved to the
    transfer state and nothing goes to the quarantine folder."""

    def __init__(self, engine: TransferEngine, site, dest_cfg, dest, client, types, tracker, result, tmp, export):
        self.engine, self.site, self.dest_cfg, self.dest, self.client = engine, site, dest_cfg, dest, client
        self.types: list[str] = types
        self.tracker: P.ProgressTracker = tracker
        self.result: TransferResult = result
        self.tmp: Path = tmp
        self.export: ExportRequest | None = export
        self.persist = export is None
        self.opts = engine.options
        self.states: dict[str, TransferState] = {}
        self.first_bound = 0
        self._names = itertools.count()  # temp file numbers (next() is atomic: used from several threads)
        self._with_recording: set[str] = set()  # lsids the listing says have a recording
        self._pending_files: dict[tuple[str, str], int] = {}  # (type, lsid) -> files still to store
        self._missing: set[str] = set()  # lsids the appliance did not return details for
        self._forced: dict[str, list[str]] = {}  # lsid -> data types tried again from the quarantine
        self._appliance_now: int | None = None  # appliance clock at listing time
        self._files_pool: ThreadPoolExecutor | None = None  # recording downloads, shared by every batch
        self._inflight: dict[Future, _FileTask] = {}  # queued/running downloads not yet handed to the destination
        self._forced_files: dict[str, list[tuple[str, int | None]]] = {}  # lsid -> set-aside recordings to retry
        self._suspects: list[tuple[_FileTask, _FileFailure]] = []  # failed recordings not yet set aside
        self._files_ok = 0  # recordings stored this run (proves destination and appliance work)
        self.apply = Apply(engine.store, site, dest_cfg, dest, self.states, result, persist=self.persist,
                           throttle=lambda: (LARGE_DONE, SAVE_INTERVAL))
        self.fetcher = DetailFetcher(client, tmp, site.host, workers=max(1, self.opts.detail_workers),
                                     check_cancel=self._check_cancel, parse=_iter_sessions)

    # --- top level --------------------------------------------------------------------------------
    def execute(self) -> None:
        session_types = [t for t in self.types if t != "backup"]
        try:
            if session_types:
                if self.export:
                    self._export(session_types)
                else:
                    try:
                        self._incremental(session_types)
                    except BaseException:
                        try:
                            self.apply.flush()  # keep what was committed; the original error is what matters
                        except Exception:  # noqa: BLE001
                            log.warning("Could not save the transfer state after the failure.", exc_info=True)
                        raise
                    self.apply.flush()
        finally:
            self._close_files()
            self.fetcher.close()
        if "backup" in self.types:
            self._backup()

    def _incremental(self, types: list[str]) -> None:
        opts = self.opts
        for t in types:
            self.apply.load(t)
        self.first_bound = self._first_bound()
        self._retry_quarantine()
        self.tracker.update(phase=P.LISTING, message="Listing sessions")
        end_from = planner.closed_bound(self.states, opts.overlap, self.first_bound)
        closed = self._listing(end_time=end_from)
        rows = self._fetched(closed)
        self._appliance_now = self._appliance_time()
        host_at_listing = int(self.engine.host_clock())  # with the appliance's now: the pair the next run compares
        back = self._clock_went_back()
        if back:
            for st in self.states.values():
                st.reach_back = back
            wider = planner.closed_bound(self.states, opts.overlap, self.first_bound)
            if wider < end_from:
                closed.close()
                end_from = wider
                closed = self._listing(end_time=end_from)
                rows = self._fetched(closed)
        log.info("%s: listing from end_time=%d.", self.result.transfer, end_from)
        # planned and handled in slices as the listing streams; the cursor moves only once every slice is handled
        window = planner.WindowPlanner(self.states, now=self._appliance_now,
                                       skip=set(self._forced) | set(self._forced_files) | self.apply.quarantined)
        self.tracker.update(phase=P.SESSIONS, message=None)
        for sl in window.closed_slices(rows):
            self._slice(sl)
            window.fold(sl)
            for t, st in self.states.items():  # done entries the window's completion drops anyway: names let go
                st.seal(window.newest.get(t), opts.overlap)
        session_state = self.states.get("session")
        if session_state is not None and _keeps_in_progress(self.dest):
            started = self._listing(start_time=session_state.start_bound(opts.overlap, self.first_bound))
            for sl in window.started_slices(started):
                self._slice(sl)
        log.info("%s: %d session(s) handled of %d listed.", self.result.transfer, window.wanted, window.rows)
        # the whole window is handled: move the cursors (never past the appliance's own clock)
        for t, st in self.states.items():
            stale = None
            if t == "session":
                newest = max(st.start_cursor or 0, st.cursor or 0)
                stale = newest - IN_PROGRESS_MAX_AGE if newest else None
            st.complete_window(opts.overlap, self.first_bound, stale_before=stale, listed=window.partial_listed,
                               listed_ends=window.listed_ends(t), now=self._appliance_now, host_now=host_at_listing)
            self.apply.save(t, force=True)

    def _slice(self, sl: planner.Slice) -> None:
        """Handle one planned slice of a listing: every session and file of it is done when this returns."""
        self._with_recording = sl.with_recording
        if sl.lsids:
            found = self.tracker.event.sessions_found + len(sl.lsids)
            self.tracker.update(phase=P.SESSIONS, sessions_found=found)
            self._process(sl.lsids)

    def _listing(self, **window) -> Iterator:
        """Listing rows, streamed when the client can (``iter_sessions_listing``): rows are not kept."""
        stream = getattr(self.client, "iter_sessions_listing", None)
        yield from stream(duration=0, **window) if callable(stream) else self.client.list_sessions(duration=0, **window)
        self._check_cancel()

    @staticmethod
    def _fetched(rows: Iterator) -> Iterator:
        """``rows`` with the listing fetched now (a streamed listing is asked for at its first row): the appliance's
        clock read next is the one at listing time."""
        first = next(rows, None)
        return iter(()) if first is None else itertools.chain([first], rows)

    def _export(self, types: list[str]) -> None:
        ex = self.export
        assert ex is not None
        self.tracker.update(phase=P.LISTING, message="Listing sessions")
        if ex.lsid:
            lsids = [ex.lsid]
        elif ex.lsids:
            lsids = list(dict.fromkeys(ex.lsids))
        else:
            listing = self.client.list_sessions(start_time=ex.start_time or 0, duration=ex.duration)
            self._with_recording.update(s.lsid for s in listing if s.has_recording)
            lsids = list(dict.fromkeys(s.lsid for s in listing))
        for t in types:  # in-memory only: dedupes within this export
            self.states[t] = TransferState()
        self.tracker.update(phase=P.SESSIONS, sessions_found=len(lsids), message=None)
        self._process(lsids)
        if ex.lsid and ex.lsid in self._missing:
            raise ApplianceAPIError(f"The appliance {self.site.host} has no session with ID {ex.lsid}; check the session ID.")

    def _first_bound(self) -> int:
        days = self.opts.initial_lookback_days
        if not days:
            return 0
        now = self.client.appliance_time() or int(self.engine.host_clock())
        return max(0, int(now - days * 86400))

    # --- the appliance's clock ------------------------------------------------------------------------
    def _appliance_time(self) -> int | None:
        try:
            return self.client.appliance_time()
        except ICError as exc:  # the cursor then simply is not capped this run
            log.debug("No appliance time from %s: %s", self.site.host, exc)
            return None

    def _clock_went_back(self) -> int:
        """Seconds the appliance clock went back since the last completed window (0: not, or within the overlap
        tolerance). Logged as a warning: sessions ending in the gap are listed by reaching back over it."""
        if self._appliance_now is None:
            return 0
        host_now = int(self.engine.host_clock())
        back = max((clock_went_back(st.clock, self._appliance_now, host_now) for st in self.states.values()),
                   default=0)
        if back <= CLOCK_TOLERANCE:
            return 0
        msg = (f"The clock of the appliance {self.site.host} went back by about {_duration(back)} since the last run "
               "(an NTP correction there, or this computer's clock jumped ahead); this run also lists sessions that "
               "ended in that gap.")
        log.warning(msg)
        self.result.warnings.append(msg)
        return back

    def _check_future(self, s: Session) -> None:
        """A session claiming to end after the appliance's own clock: stored, but it cannot move the cursor."""
        if s.end_time is None or self._appliance_now is None:
            return
        if s.end_time > self._appliance_now + FUTURE_TOLERANCE:
            current = self._appliance_time() or self._appliance_now
            if s.end_time > current + FUTURE_TOLERANCE:
                msg = (f"Session {s.lsid} from {self.site.host} claims it ended at {_iso(s.end_time)}, after the "
                       f"appliance's own clock ({_iso(current)}); it is stored, but the transfer's position stays at "
                       "the appliance's time.")
                log.warning(msg)
                self.result.warnings.append(msg)

    # --- quarantine ---------------------------------------------------------------------------------
    def _retry_quarantine(self) -> None:
        """Sessions quarantined for this destination by earlier runs are asked for again by lsid first."""
        try:
            entries = quarantine.pending(self.site.host, self.dest_cfg.name, self.dest_cfg.id)
        except OSError as exc:
            log.warning("Could not read the quarantine folder: %s", exc)
            return
        for e in entries:
            if e.kind is not None:
                if e.kind in self.states:
                    self._forced_files.setdefault(e.lsid, []).append((e.kind, e.instance))
                continue
            types = [t for t in e.data_types if t in self.states]
            if types:
                self._forced[e.lsid] = types
        lsids = list(dict.fromkeys([*self._forced, *self._forced_files]))
        if not lsids:
            return
        log.info("%s: trying %d quarantined session(s) again.", self.result.transfer, len(lsids))
        self.tracker.update(phase=P.SESSIONS, sessions_found=len(lsids),
                            message=f"Trying {len(lsids)} quarantined session(s) again")
        try:
            self._process(lsids, from_quarantine=True)
        except (ApplianceError, ParseError) as exc:  # set aside already: they wait; a down appliance fails the listing
            msg = (f"Quarantined session(s) {', '.join(lsids[:5])}{' …' if len(lsids) > 5 else ''} could not be asked "
                   f"for again this run ({str(exc).rstrip('.')}); they stay set aside and are tried at the next run.")
            log.warning(msg)
            self.result.warnings.append(msg)

    # --- sessions ----------------------------------------------------------------------------------
    def _process(self, lsids: list[str], from_quarantine: bool = False) -> None:
        """Batches of detail requests; several next batches download while this one is parsed and stored."""
        batches = planner.batches(lsids, self.opts.batch_size)
        ahead: dict[int, object] = {}
        depth = max(1, self.opts.detail_workers)
        for n, batch in enumerate(batches):
            self._arrivals(block=False)  # recordings of earlier batches that finished meanwhile
            for k in range(n, min(len(batches), n + 1 + depth)):
                if k not in ahead:
                    ahead[k] = self.fetcher.submit(batches[k])
            label = f"session details {batch[0]}" + (" …" if len(batch) > 1 else "")
            self.tracker.update(phase=P.SESSIONS, current=label)
            details = self.fetcher.get(batch, ahead.pop(n))
            if details.poisoned and not details.sessions:  # every session unreadable alike: our bug, not their data
                quarantine.check_not_our_bug(self.site.host, self.dest_cfg.name, "read",
                                             [(p.lsid, p.reason) for p in details.poisoned])
            for bad in details.poisoned:
                self._poisoned(bad)
            if details.error is not None:
                # malformed XML again and again: store what arrived before the break, then fail the transfer
                self._handle_batch([s.lsid for s in details.sessions], details.sessions, [], from_quarantine)
                self._drain()
                raise details.error
            self._handle_batch(batch, details.sessions, details.missing, from_quarantine)
        self._drain()

    def _poisoned(self, bad: Poisoned) -> None:
        """Details that cannot be read: quarantined for every data type that still needed the session."""
        types = self._forced.get(bad.lsid) or [t for t, st in self.states.items() if bad.lsid not in st.done]
        types = types or list(self.states)
        self.apply.quarantine(bad.lsid, types, bad.reason, bad.field, bad.raw, stage="read")
        for t in types:
            st = self.states[t]
            if bad.lsid not in st.done:
                st.mark_done(bad.lsid, None)  # counts as handled; never moves the cursor
        for t in types:
            self.apply.save(t)

    def _handle_batch(self, batch: list[str], sessions: list[Session], missing: list[str],
                      from_quarantine: bool = False) -> None:
        to_store: list[Session] = []
        running: list[Session] = []
        files: list[_FileTask] = []
        session_state = self.states.get("session")
        plans: dict[str, planner.SessionPlan] = {}
        for s in sessions:
            forced = self._forced.get(s.lsid, ()) if from_quarantine else ()
            plan = planner.plan_session(s, self.states, overlap=self.opts.overlap, first_bound=self.first_bound,
                                        keeps_in_progress=_keeps_in_progress(self.dest),
                                        has_recording=s.lsid in self._with_recording, forced=forced)
            plans[s.lsid] = plan
            if plan.store:
                self._check_future(s)
                to_store.append(s)
            elif plan.running:
                running.append(s)
            files.extend(_FileTask(t, s, i) for t, i in plan.files)
            if from_quarantine and not s.in_progress:
                planned = set(plan.files)
                files.extend(_FileTask(t, s, i) for t, i in self._forced_files.get(s.lsid, ())
                             if (t, i) not in planned)
        # sessions: store, then the state (crash safety: state never ahead of the destination)
        if to_store or running:
            assert session_state is not None
            self.tracker.update(current=f"storing {len(to_store) + len(running)} session(s)")
            failed = self.apply.store_sessions(to_store + running)
            bad = {s.lsid for s, _ in failed}
            for s, exc in failed:
                self.apply.quarantine(s.lsid, ["session"], reason_of(exc), getattr(exc, "field", None),
                                      s.raw_xml or None, stage="store")
                if not s.in_progress:
                    session_state.mark_done(s.lsid, s.end_time)
            for s in to_store:
                if s.lsid not in bad:
                    session_state.mark_done(s.lsid, s.end_time)
                    session_state.note_start(s.start_time)
                    self.result.sessions_stored += 1
            for s in running:
                if s.lsid not in bad:
                    session_state.mark_in_progress(s.lsid, s.start_time)
                    self.result.in_progress_stored += 1
            if from_quarantine:
                for s in to_store + running:
                    if s.lsid not in bad:
                        self.apply.release(s.lsid, ["session"])
        self._missing.update(missing)
        for lsid in missing:
            if self.export and self.export.lsid == lsid:
                continue  # a session ID typed by the user: _export reports it as an error
            if from_quarantine:  # asked for by lsid, not returned: released once that happens on a 2nd run
                msg = quarantine.mark_gone(self.site.host, lsid, self.dest_cfg.name)
            else:
                msg = f"Session {lsid} was listed by {self.site.host} but its details were not returned; skipped."
                for st in self.states.values():  # listed but not returned (deleted meanwhile): not asked again
                    if lsid not in st.done:
                        st.mark_done(lsid, None)
            log.warning(msg)
            self.result.warnings.append(msg)
        if to_store or running or missing:
            self.apply.save("session")
            for t in FILE_KINDS:
                if missing and t in self.states:
                    self.apply.save(t)
        self.tracker.add(sessions_done=len(batch))
        # data types with nothing (more) to download for a session are done for it right away
        for t in FILE_KINDS:
            st = self.states.get(t)
            if st is None:
                continue
            changed = False
            for s in sessions:
                plan = plans[s.lsid]
                if t in plan.done_now and (t, s.lsid) not in self._pending_files:
                    st.mark_done(s.lsid, s.end_time)
                    if from_quarantine and t in self._forced.get(s.lsid, ()):
                        self.apply.release(s.lsid, [t])
                    changed = True
            if changed:
                self.apply.save(t)
        if files:
            for key, n in Counter((f.data_type, f.session.lsid) for f in files).items():
                self._pending_files[key] = n
            self._download(files)

    # --- recordings --------------------------------------------------------------------------------
    def _download(self, tasks: list[_FileTask]) -> None:
        """Queue recordings: they download on the pool while the next batches are fetched and stored; arrivals are
        handed to the destination from this thread (between batches, when the queue is full, and at the end)."""
        self.tracker.update(phase=P.FILES, files_found=self.tracker.event.files_found + len(tasks))
        if self._files_pool is None:
            self._files_pool = ThreadPoolExecutor(max_workers=self.opts.workers, thread_name_prefix="ic-download")
        staging = self._staging_dir()
        limit = max(2, 2 * self.opts.workers)  # downloaded but not yet stored files stay few (disk space)
        for task in tasks:
            while len(self._inflight) >= limit:
                self._arrivals(block=True)
            target = staging / f"{self.tmp.name}-file-{next(self._names)}"
            self._inflight[self._files_pool.submit(self._fetch_file, task, target)] = task
        self._arrivals(block=False)

    def _arrivals(self, block: bool) -> None:
        """Hand finished downloads to the destination (``block``: wait up to half a second for one)."""
        if self._inflight:
            done, _ = wait(list(self._inflight), timeout=0.5 if block else 0, return_when=FIRST_COMPLETED)
            for fut in done:
                task = self._inflight.pop(fut)
                self._file_arrived(task, fut.result())
        self._check_cancel()

    def _drain(self) -> None:
        """Every queued recording stored (or found unavailable): before a window completes."""
        while self._inflight:
            self._arrivals(block=True)
        if self._suspects:
            self._settle_files(check=True)
        if self.tracker.event.phase == P.FILES:
            self.tracker.update(phase=P.SESSIONS, current=None)

    def _close_files(self) -> None:
        """On failure/cancel: let running downloads finish, then remove what was not handed over."""
        if self._files_pool is None:
            return
        self._files_pool.shutdown(wait=True, cancel_futures=True)
        self._files_pool = None
        for fut in self._inflight:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                out = fut.result()
                if out is not None and not isinstance(out, (RecordingUnavailable, _FileFailure)):
                    Path(out.path).unlink(missing_ok=True)
        self._inflight.clear()

    def _staging_dir(self) -> Path:
        """Where recordings download to: the destination's own staging folder when it offers one (same file
        system: store_file can rename instead of copy), else the run's temp folder."""
        get = getattr(self.dest, "staging_dir", None)
        if callable(get):
            try:
                found = get()
            except Exception as exc:  # noqa: BLE001 - fall back to the run folder
                log.debug("Destination %s offers no staging folder: %s", self.dest_cfg.name, exc)
                found = None
            if found is not None:
                path = Path(found)
                try:
                    path.mkdir(parents=True, exist_ok=True)
                    return path
                except OSError as exc:
                    log.debug("Staging folder %s not usable: %s", path, exc)
        return self.tmp

    def _fetch_file(self, task: _FileTask, target: Path):
        """Runs in a worker thread: only the (thread-safe) client is used here. A failure is handed back (not
        raised) so that the caller can tell one bad recording from an appliance or destination that is down."""
        if self.engine.cancel.is_set():
            return None
        few = {"retries": SET_ASIDE_RETRIES} if self._retrying_file(task) else {}  # failed so on earlier runs
        try:
            return self.client.download_recording(task.data_type, task.session.lsid, target, instance=task.instance,
                                                  **few)
        except RecordingUnavailable as exc:
            return exc
        except UnknownSession as exc:  # "Invalid lsid.": the session aged out since its details came: gone too
            return RecordingUnavailable(str(exc), exc.code)
        except Exception as exc:  # noqa: BLE001 - sorted by _file_fault_possible in this run's thread
            # writing the download (staging: the destination's file system) is the destination's side
            if isinstance(exc, OSError) and not isinstance(exc, ICError):
                err = DestinationUnavailable(f"Could not write a recording for destination "
                                             f"{self.dest_cfg.name} in {target.parent} ({exc.strerror or exc}).")
                err.__cause__ = exc
                return _FileFailure(err, "store")
            return _FileFailure(exc, "download")

    def _file_arrived(self, task: _FileTask, outcome) -> None:
        s, t = task.session, task.data_type
        label = _file_label(task)
        if outcome is None:
            return  # cancelled before it started
        if isinstance(outcome, _FileFailure):
            self._file_failed(task, outcome)
            return
        if isinstance(outcome, RecordingUnavailable):
            msg = f"The {label} recording on {self.site.host} is not available: {outcome}"
            log.warning(msg)
            self.result.warnings.append(msg)
            self.result.files_skipped += 1
            self._release_file(task)  # a set-aside recording that expired since: nothing left to try
            if self.persist:  # verify then reports it as unavailable, not as a gap
                try:
                    quarantine.note_unavailable(self.site.host, self.dest_cfg.name, self.dest_cfg.id, t, s.lsid,
                                                task.instance)
                except OSError as exc:
                    log.debug("Could not note the unavailable recording %s: %s", label, exc)
        else:
            self.tracker.update(current=label)
            item = FileItem(
                kind=t,
                source=outcome.path,
                site_host=self.site.host,
                extension=outcome.extension,
                session=s,
                instance=task.instance,
                suggested_name=outcome.filename,
            )
            try:
                stored = self.dest.store_file(item)
            except Exception as exc:  # noqa: BLE001 - sorted by _file_fault_possible
                self._file_failed(task, _FileFailure(exc, "store"))
                return
            finally:
                Path(outcome.path).unlink(missing_ok=True)
            how = getattr(stored, "how", "created") if stored is not None else None
            if stored is None:
                self.result.files_skipped += 1
            elif how == "kept":
                self.result.files_kept += 1
            elif how == "unchanged":
                self.result.files_unchanged += 1  # already there, byte for byte: nothing new landed
            else:
                self.result.files_stored += 1
            self.result.bytes += outcome.size
            self.tracker.add(bytes=outcome.size)
            self._files_ok += 1
            self._release_file(task)
            if self._suspects:
                self._settle_files(check=False)  # a file went through since: the failures were those files' own
        self._file_done(task)

    def _file_done(self, task: _FileTask) -> None:
        """One file of a session handled (stored, unavailable or set aside): the data type is done for the session
        once every file of it is."""
        s, t = task.session, task.data_type
        st = self.states[t]
        key = (t, s.lsid)
        self._pending_files[key] -= 1
        if task.instance is not None:
            st.mark_partial(s.lsid, task.instance)
        if self._pending_files[key] <= 0:
            del self._pending_files[key]
            st.mark_done(s.lsid, s.end_time)
            if t in self._forced.get(s.lsid, ()):
                self.apply.release(s.lsid, [t])
        self.apply.save(t)
        self.tracker.add(files_done=1)

    # --- one recording that cannot be stored -------------------------------------------------------
    def _file_failed(self, task: _FileTask, failure: "_FileFailure") -> None:
        """A recording failed to download or store. Only a failure that may be that file's own (an appliance error
        for that recording, a download cut short every time, a name or size the destination refuses) is held as a
        suspect; anything else (destination down, disk full, credentials) fails the transfer now."""
        if not _file_fault_possible(failure.exc, failure.side):
            raise failure.exc
        self._suspects.append((task, failure))
        if len(self._suspects) >= SUSPECTS_BEFORE_CHECK:
            self._settle_files(check=True)

    def _settle_files(self, check: bool) -> None:
        """Set the suspect recordings aside, unless the appliance or the destination itself turns out to be at
        fault (``check``: no file went through since they failed). Then the transfer fails with nothing set aside."""
        suspects, self._suspects = self._suspects, []
        if check:
            downloads = [f for _, f in suspects if f.side == "download"]
            if downloads and not self._appliance_answers():
                raise downloads[0].exc
            stores = [(t, f) for t, f in suspects if f.side == "store"]
            if stores:
                try:
                    self.dest.test()
                except Exception:  # noqa: BLE001 - the destination itself does not work: the file's error says why
                    raise stores[0][1].exc from None
                fresh = [(t, f) for t, f in stores if not self._retrying_file(t)]
                quarantine.check_files_not_our_bug(self.site.host, self.dest_cfg.name,
                                                   [(t.session.lsid, f.exc) for t, f in fresh], self._files_ok)
                if not self._files_ok and len(fresh) >= 3 and len({t.session.lsid for t, _ in fresh}) >= 2 and \
                        len({_reason_key(t, f.exc) for t, f in fresh}) == 1:
                    raise fresh[0][1].exc  # every file refused alike: the destination's fault, not the files'
        for task, failure in suspects:
            self._set_file_aside(task, failure.exc)
            self._file_done(task)

    def _appliance_answers(self) -> bool:
        """Does the appliance still answer a recording request (for a session that does not exist)?"""
        probe = getattr(self.client, "probe_recordings", None)
        if not callable(probe):
            return True
        try:
            return probe() is None
        except Exception as exc:  # noqa: BLE001 - unreachable, refused...: the appliance is at fault
            log.debug("The appliance %s does not answer a recording request: %s", self.site.host, exc)
            return False

    def _retrying_file(self, task: _FileTask) -> bool:
        return (task.data_type, task.instance) in self._forced_files.get(task.session.lsid, ())

    def _set_file_aside(self, task: _FileTask, exc: BaseException) -> None:
        """Quarantine one recording: ERROR the first time (the notification mail), a warning on later attempts;
        tried again at each later run; it never holds the cursor back."""
        s = task.session
        label = task.data_type + (f" #{task.instance}" if task.instance is not None else "")
        reason = reason_of(exc)
        again = ""
        first_time = True
        if self.persist:
            try:
                entry = quarantine.put_file(self.site.host, s.lsid, self.dest_cfg.name, task.data_type,
                                            task.instance, reason, getattr(exc, "field", None),
                                            destination_id=self.dest_cfg.id)
                first_time = entry.attempts == 1
                again = f" (attempt {entry.attempts})" if entry.attempts > 1 else ""
                where = "; it is set aside and tried again on the next runs."
            except OSError as err:  # not recorded: it would be lost, so the transfer stops here (cursor kept)
                raise ICError(f"Recording {label} of session {s.lsid} from {self.site.host} could not be set aside: "
                              f"the quarantine folder {quarantine.root()} cannot be written ({err.strerror or err}); "
                              "free space there or fix its permissions.") from err
        else:
            where = "."
        msg = (f"Recording {label} of session {s.lsid} from {self.site.host} could not be stored in destination "
               f"{self.dest_cfg.name}{again}: {reason.rstrip('.')}{where}")
        (log.error if first_time else log.warning)(msg)
        self.result.warnings.append(msg)
        self.result.files_quarantined += 1

    def _release_file(self, task: _FileTask) -> None:
        if self.persist and self._retrying_file(task):
            try:
                quarantine.release_file(self.site.host, task.session.lsid, self.dest_cfg.name, task.data_type,
                                        task.instance)
            except OSError as exc:
                log.warning("Could not update the quarantine record of session %s: %s", task.session.lsid, exc)

    # --- backup ------------------------------------------------------------------------------------
    def _backup(self) -> None:
        self._check_cancel()
        self.tracker.update(phase=P.BACKUP, current="site backup", files_found=self.tracker.event.files_found + 1)
        dl = self.client.download_backup(self._staging_dir() / f"{self.tmp.name}-backup-{next(self._names)}")
        try:
            item = FileItem(kind="backup", source=dl.path, site_host=self.site.host, extension=dl.extension,
                            suggested_name=dl.filename)
            stored = self.dest.store_file(item)
        finally:
            Path(dl.path).unlink(missing_ok=True)
        self.result.backups += 1 if stored is not None else 0
        self.result.bytes += dl.size
        self.tracker.add(files_done=1, bytes=dl.size)
        if self.persist:
            st = TransferState.from_json(self.engine.store.load_state(self.site.id, self.dest_cfg.id, "backup"))
            st.last_backup = int(self.engine.host_clock())
            self.engine.store.save_state(self.site.id, self.dest_cfg.id, "backup", st.to_json())

    def _check_cancel(self) -> None:
        self.engine._check_cancel()


def _iso(ts: int) -> str:
    try:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(ts)


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _iter_sessions(path: Path, name: str, product: str) -> Iterable[Session]:
    from ic.sessions.parser import iter_sessions

    return iter_sessions(path, name, product)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
