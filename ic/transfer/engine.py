"""The transfer engine: copies one site's sessions, recordings and backups to one destination, never losing any.

Window design (appliance API B3: ``end_*`` lists only CLOSED sessions that ended at/after t; ``start_*`` lists every
session that began at/after t, running ones included; bounds are inclusive):

1. Closed sessions: ``list_sessions(end_time=cursor - overlap, duration=0)``. The cursor is the newest
   ``end_time@timestamp`` the appliance itself reported for a stored session, never the local clock, so a host clock
   ahead of (or behind) the appliance cannot skip anything. The overlap (120 s) absorbs inclusive bounds and sessions
   committed a little after their end time; lsids already done in that overlap are skipped (``done`` map).
2. Sessions in progress (session data only, for destinations that replace a stored session, see
   ``_keeps_in_progress``): ``list_sessions(start_time=start_cursor - overlap)`` minus the closed listing gives
   sessions that may still be running. Their details are stored now and they are remembered in ``in_progress``;
   every later run fetches them again (destination replaces them) until they end. A running session always ends
   after the current cursor, so step 1 would find it anyway once it ends: the in-progress list only makes its data
   visible early. Entries older than 7 days (abnormally closed sessions never get an end time) are dropped.
3. Details for the lsids to handle, in batches of 50 (``lsids=``), streamed to a temp file and parsed with
   ``iter_sessions``; the batch goes to ``destination.store_sessions``; only then is the state saved.
4. Recordings of each closed session in the batch are downloaded by a small thread pool (sharing the one
   rate-limited client) into temp files and handed to ``destination.store_file`` one by one from this thread; the
   state records each stored file (command-shell instances individually).
5. When every lsid of the window is handled, the cursor moves to the newest end time among the sessions of the
   closed listing (not a running session that ended later: sessions closing meanwhile were not listed) and the
   done map is pruned to the overlap. A run killed before that restarts the same window and skips the done lsids.

Each data type has its own state (cursor, done...), so adding "recordings" to an existing transfer later starts
recordings from the first-run look-back while session data continues from its cursor.
"""
from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ic import paths
from ic.destinations.base import Destination, FileItem
from ic.errors import ApplianceAPIError, Cancelled, ConfigError, ICError, ParseError, RecordingUnavailable
from ic.sessions.model import Session
from ic.settings.models import DATA_TYPES, DestinationConfig, SiteConfig, TransferConfig
from ic.transfer import progress as P
from ic.transfer.state import DEFAULT_OVERLAP, TransferState

log = logging.getLogger("ic.transfer")

FILE_KINDS = ("recordings", "smsr", "shell")  # session-linked file data types
IN_PROGRESS_MAX_AGE = 7 * 86400
DEFAULT_BATCH = 50
DEFAULT_WORKERS = 4
PARSE_RETRIES = 2
LARGE_DONE = 5000  # done-map size from which state saves are throttled (see _Run._save)
SAVE_INTERVAL = 2.0  # a truncated detail document is asked for again (remaining lsids only) this many times


@dataclass
class EngineOptions:
    overlap: int = DEFAULT_OVERLAP
    batch_size: int = DEFAULT_BATCH
    workers: int = DEFAULT_WORKERS
    initial_lookback_days: float | None = None  # None/0: everything the appliance still has
    max_rps: float | None = None  # appliance requests per second (None: the client's default, the documented 20/s)

    @classmethod
    def from_store(cls, store) -> "EngineOptions":
        def num(key: str, default, kind=int):
            raw = store.get_setting(key)
            if raw in (None, ""):
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(f"The application setting {key} must be a number, not '{raw}'.") from None

        return cls(
            overlap=max(0, num("transfer_overlap_seconds", DEFAULT_OVERLAP)),
            batch_size=max(1, num("transfer_batch_size", DEFAULT_BATCH)),
            workers=max(1, num("transfer_download_workers", DEFAULT_WORKERS)),
            initial_lookback_days=num("initial_lookback_days", None, float) or None,
            max_rps=num("appliance_max_rps", None, float) or None,
        )


@dataclass
class TransferResult:
    transfer: str
    sessions_stored: int = 0
    in_progress_stored: int = 0
    files_stored: int = 0
    files_skipped: int = 0  # expired/missing recordings, conflict-skipped files
    bytes: int = 0
    backups: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.sessions_stored} session(s)"]
        if self.in_progress_stored:
            parts.append(f"{self.in_progress_stored} in progress")
        if self.files_stored or self.files_skipped:
            parts.append(f"{self.files_stored} file(s) ({_human(self.bytes)})")
        if self.files_skipped:
            parts.append(f"{self.files_skipped} unavailable")
        if self.backups:
            parts.append(f"{self.backups} backup(s)")
        return ", ".join(parts)


@dataclass
class ExportRequest:
    """A one-off export (API tester): a start-time window or one lsid; no cursor state is read or changed."""

    start_time: int | None = None
    duration: int = 0
    lsid: str | None = None


@dataclass
class _FileTask:
    data_type: str
    session: Session
    instance: int | None = None


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
    ) -> None:
        self.store = store
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
    """State of one transfer run (keeps TransferEngine itself stateless between transfers)."""

    def __init__(self, engine: TransferEngine, site, dest_cfg, dest, client, types, tracker, result, tmp, export):
        self.engine, self.site, self.dest_cfg, self.dest, self.client = engine, site, dest_cfg, dest, client
        self.types: list[str] = types
        self.tracker: P.ProgressTracker = tracker
        self.result: TransferResult = result
        self.tmp: Path = tmp
        self.export: ExportRequest | None = export
        self._missing: set[str] = set()  # lsids the appliance did not return details for
        self.opts = engine.options
        self.states: dict[str, TransferState] = {}
        self.first_bound = 0
        self._saved_at: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._names = itertools.count()  # temp file numbers (next() is atomic: used from two threads)
        self._summaries: dict[str, bool] = {}  # lsid -> has_recording from the listing
        self._pending_files: dict[tuple[str, str], int] = {}  # (type, lsid) -> files still to store

    # --- top level --------------------------------------------------------------------------------
    def execute(self) -> None:
        session_types = [t for t in self.types if t != "backup"]
        if session_types:
            if self.export:
                self._export(session_types)
            else:
                try:
                    self._incremental(session_types)
                except BaseException:
                    try:
                        self._flush()  # keep what was committed; the original error is what matters
                    except Exception:  # noqa: BLE001
                        log.warning("Could not save the transfer state after the failure.", exc_info=True)
                    raise
                self._flush()
        if "backup" in self.types:
            self._backup()

    def _incremental(self, types: list[str]) -> None:
        opts = self.opts
        for t in types:
            self.states[t] = TransferState.from_json(self.engine.store.load_state(self.site.id, self.dest_cfg.id, t))
        self.first_bound = self._first_bound()
        self.tracker.update(phase=P.LISTING, message="Listing sessions")
        end_from = min(st.end_bound(opts.overlap, self.first_bound) for st in self.states.values())
        closed = self.client.list_sessions(end_time=end_from, duration=0)
        self._check_cancel()
        for s in closed:
            self._summaries[s.lsid] = s.has_recording
        wanted: dict[str, None] = {}  # ordered set
        for s in closed:
            if any(s.lsid not in st.done for st in self.states.values()):
                wanted[s.lsid] = None
        closed_ids = {s.lsid for s in closed}
        session_state = self.states.get("session")
        track_running = session_state is not None and _keeps_in_progress(self.dest)
        if track_running:
            start_from = session_state.start_bound(opts.overlap, self.first_bound)
            started = self.client.list_sessions(start_time=start_from, duration=0)
            self._check_cancel()
            for s in started:
                self._summaries.setdefault(s.lsid, s.has_recording)
                if s.lsid not in closed_ids and s.lsid not in session_state.done:
                    wanted[s.lsid] = None
            for lsid in list(session_state.in_progress):
                if lsid not in session_state.done:
                    wanted[lsid] = None
        lsids = list(wanted)
        log.info("%s: %d session(s) to handle (listing from end_time=%d).", self.result.transfer, len(lsids), end_from)
        self.tracker.update(phase=P.SESSIONS, sessions_found=len(lsids), message=None)
        self._process(lsids, persist=True)
        # the whole window is handled: move the cursors
        for t, st in self.states.items():
            stale = None
            if t == "session":
                newest = max(st.start_cursor or 0, st.cursor or 0)
                stale = newest - IN_PROGRESS_MAX_AGE if newest else None
            st.complete_window(opts.overlap, self.first_bound, stale_before=stale, listed=closed_ids)
            self._save(t, force=True)

    def _export(self, types: list[str]) -> None:
        ex = self.export
        assert ex is not None
        self.tracker.update(phase=P.LISTING, message="Listing sessions")
        if ex.lsid:
            lsids = [ex.lsid]
        else:
            listing = self.client.list_sessions(start_time=ex.start_time or 0, duration=ex.duration)
            for s in listing:
                self._summaries[s.lsid] = s.has_recording
            lsids = list(dict.fromkeys(s.lsid for s in listing))
        self.states = {t: TransferState() for t in types}  # in-memory only: dedupes within this export
        self.tracker.update(phase=P.SESSIONS, sessions_found=len(lsids), message=None)
        self._process(lsids, persist=False)
        if ex.lsid and ex.lsid in self._missing:
            raise ApplianceAPIError(f"The appliance {self.site.host} has no session with ID {ex.lsid}; check the session ID.")

    def _first_bound(self) -> int:
        days = self.opts.initial_lookback_days
        if not days:
            return 0
        now = self.client.appliance_time() or int(time.time())
        return max(0, int(now - days * 86400))

    # --- sessions ----------------------------------------------------------------------------------
    def _process(self, lsids: list[str], persist: bool) -> None:
        """Batches of detail requests; the next batch's document downloads while this one is parsed and stored."""
        self.persist = persist
        size = self.opts.batch_size
        batches = [lsids[i : i + size] for i in range(0, len(lsids), size)]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ic-prefetch") as pool:
            ahead: Future | None = None
            for n, batch in enumerate(batches):
                self._check_cancel()
                current = ahead or pool.submit(self._download_details, batch)
                ahead = pool.submit(self._download_details, batches[n + 1]) if n + 1 < len(batches) else None
                sessions, error = self._fetch_details(batch, current)
                missing = [x for x in batch if x not in {s.lsid for s in sessions}]
                while missing and error is None:
                    # not returned: maybe the appliance capped the answer; ask again until a request brings none
                    more, error = self._fetch_details(missing, None)
                    if not more:
                        break
                    sessions += more
                    missing = [x for x in missing if x not in {s.lsid for s in more}]
                if error is not None:
                    # malformed XML several times: store what arrived before the break, then fail the transfer
                    self._handle_batch([s.lsid for s in sessions], sessions)
                    raise error
                self._handle_batch(batch, sessions)

    def _download_details(self, lsids: list[str]) -> list[Path]:
        """Runs in the prefetch thread: only the (thread-safe) client is used here.

        If the appliance refuses a whole batch with an ``<error>`` about an lsid (one session deleted between the
        listing and this request), the sessions are asked for one by one so one bad lsid cannot stall the schedule
        for ever; only errors that name an lsid count as "this session is gone" — anything else is raised.
        """
        path = self.tmp / f"details-{next(self._names)}.xml"
        try:
            self.client.fetch_sessions_to_file(path, lsids=lsids)
            return [path]
        except ApplianceAPIError as exc:
            path.unlink(missing_ok=True)
            if not _names_an_lsid(exc):
                raise
            if len(lsids) == 1:
                return []
            log.warning("The appliance %s refused a batch of %d session(s) (%s); asking for each one.",
                        self.site.host, len(lsids), exc)
        paths: list[Path] = []
        for lsid in lsids:
            one = self.tmp / f"details-{next(self._names)}.xml"
            try:
                self.client.fetch_sessions_to_file(one, lsids=[lsid])
                paths.append(one)
            except ApplianceAPIError as exc:
                one.unlink(missing_ok=True)
                if not _names_an_lsid(exc):
                    raise
        return paths

    def _fetch_details(self, batch: list[str], first: Future | None) -> tuple[list[Session], ParseError | None]:
        """Details of the lsids (``first``: the prefetched document, if any). A truncated document is asked for again
        for the sessions it did not deliver; after PARSE_RETRIES the sessions got so far come back with the error."""
        got: dict[str, Session] = {}
        remaining = list(batch)
        attempt = 0
        self.tracker.update(current=f"session details {batch[0]}" + (" …" if len(batch) > 1 else ""))
        while remaining:
            paths = first.result() if attempt == 0 and first is not None else self._download_details(remaining)
            try:
                for path in paths:
                    for s in _iter_sessions(path, f"session details ({len(remaining)} lsids)", self.client.product):
                        got[s.lsid] = s
                remaining = []
            except ParseError as exc:
                remaining = [x for x in remaining if x not in got]
                attempt += 1
                if remaining and attempt > PARSE_RETRIES:
                    error = ParseError(
                        f"The appliance {self.site.host} sent malformed session details {attempt} times in a row "
                        f"({exc}); the run continues from here next time.",
                        exc.source,
                        exc.line,
                    )
                    return [got[x] for x in batch if x in got], error
                if remaining:
                    log.warning("Session details from %s were cut short (%s); asking again for %d session(s).",
                                self.site.host, exc, len(remaining))
            finally:
                for path in paths:
                    path.unlink(missing_ok=True)
            self._check_cancel()
        return [got[x] for x in batch if x in got], None

    def _handle_batch(self, batch: list[str], sessions: list[Session]) -> None:
        returned = {s.lsid for s in sessions}
        to_store: list[Session] = []
        running: list[Session] = []
        files: list[_FileTask] = []
        session_state = self.states.get("session")
        for s in sessions:
            if session_state is not None:
                if s.in_progress:
                    if _keeps_in_progress(self.dest):
                        running.append(s)
                elif session_state.needs(s.lsid, s.end_time, self.opts.overlap, self.first_bound):
                    to_store.append(s)
            if s.in_progress:
                continue
            for t in FILE_KINDS:
                st = self.states.get(t)
                if st is not None and st.needs(s.lsid, s.end_time, self.opts.overlap, self.first_bound):
                    files.extend(self._file_tasks(t, s, st))
        # sessions: one store call, then the state (crash safety: state never ahead of the destination)
        if to_store or running:
            self.tracker.update(current=f"storing {len(to_store) + len(running)} session(s)")
            self.dest.store_sessions(self.site.host, to_store + running)
            assert session_state is not None
            for s in to_store:
                session_state.mark_done(s.lsid, s.end_time)
                session_state.note_start(s.start_time)
            for s in running:
                session_state.mark_in_progress(s.lsid, s.start_time)
            self.result.sessions_stored += len(to_store)
            self.result.in_progress_stored += len(running)
        missing = [x for x in batch if x not in returned]
        self._missing.update(missing)
        for lsid in missing:
            if self.export and self.export.lsid == lsid:
                continue  # a session ID typed by the user: _export reports it as an error
            # listed but not returned (deleted meanwhile): do not ask again for ever
            msg = f"Session {lsid} was listed by {self.site.host} but its details were not returned; skipped."
            log.warning(msg)
            self.result.warnings.append(msg)
            for st in self.states.values():
                if lsid not in st.done:
                    st.mark_done(lsid, None)
        if to_store or running or missing:
            self._save("session")
            for t in FILE_KINDS:
                if missing and t in self.states:
                    self._save(t)
        self.tracker.add(sessions_done=len(batch))
        # sessions with nothing to download are done for their file types right away
        for t in FILE_KINDS:
            st = self.states.get(t)
            if st is None:
                continue
            changed = False
            for s in sessions:
                if not s.in_progress and (t, s.lsid) not in self._pending_files and st.needs(
                    s.lsid, s.end_time, self.opts.overlap, self.first_bound
                ):
                    st.mark_done(s.lsid, s.end_time)
                    changed = True
            if changed:
                self._save(t)
        if files:
            self._download(files)

    # --- recordings --------------------------------------------------------------------------------
    def _file_tasks(self, data_type: str, s: Session, st: TransferState) -> list[_FileTask]:
        tasks: list[_FileTask] = []
        if data_type == "recordings":
            if s.has_recording or self._summaries.get(s.lsid):
                tasks.append(_FileTask(data_type, s))
        else:
            have = set(st.partial.get(s.lsid, ()))
            for instance in _instances(data_type, s):
                if instance not in have:
                    tasks.append(_FileTask(data_type, s, instance))
        if tasks:
            self._pending_files[(data_type, s.lsid)] = len(tasks)
        return tasks

    def _download(self, tasks: list[_FileTask]) -> None:
        self.tracker.update(phase=P.FILES, files_found=self.tracker.event.files_found + len(tasks))
        pool = ThreadPoolExecutor(max_workers=self.opts.workers, thread_name_prefix="ic-download")
        futures: dict[Future, _FileTask] = {}
        try:
            for task in tasks:
                target = self.tmp / f"file-{next(self._names)}"
                futures[pool.submit(self._fetch_file, task, target)] = task
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._file_arrived(futures[fut], fut.result())
                self._check_cancel()
        finally:
            # on failure/cancel: let running downloads finish (their temp files go with the run folder)
            pool.shutdown(wait=True, cancel_futures=True)
        self.tracker.update(phase=P.SESSIONS, current=None)

    def _fetch_file(self, task: _FileTask, target: Path):
        """Runs in a worker thread: only the (thread-safe) client is used here."""
        if self.engine.cancel.is_set():
            return None
        try:
            return self.client.download_recording(task.data_type, task.session.lsid, target, instance=task.instance)
        except RecordingUnavailable as exc:
            return exc
        except ApplianceAPIError as exc:
            if _names_an_lsid(exc):  # "Invalid lsid.": the session aged out since its details came: gone too
                return RecordingUnavailable(str(exc), exc.code)
            raise

    def _file_arrived(self, task: _FileTask, outcome) -> None:
        s, t = task.session, task.data_type
        st = self.states[t]
        label = f"{t} {s.lsid}" + (f" #{task.instance}" if task.instance is not None else "")
        if outcome is None:
            return  # cancelled before it started
        if isinstance(outcome, RecordingUnavailable):
            msg = f"The {label} recording on {self.site.host} is not available: {outcome}"
            log.warning(msg)
            self.result.warnings.append(msg)
            self.result.files_skipped += 1
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
            finally:
                Path(outcome.path).unlink(missing_ok=True)
            if stored is None:
                self.result.files_skipped += 1
            else:
                self.result.files_stored += 1
            self.result.bytes += outcome.size
            self.tracker.add(bytes=outcome.size)
        key = (t, s.lsid)
        self._pending_files[key] -= 1
        if task.instance is not None:
            st.mark_partial(s.lsid, task.instance)
        if self._pending_files[key] <= 0:
            del self._pending_files[key]
            st.mark_done(s.lsid, s.end_time)
        self._save(t)
        self.tracker.add(files_done=1)

    # --- backup ------------------------------------------------------------------------------------
    def _backup(self) -> None:
        self._check_cancel()
        self.tracker.update(phase=P.BACKUP, current="site backup", files_found=self.tracker.event.files_found + 1)
        dl = self.client.download_backup(self.tmp / "backup")
        try:
            item = FileItem(kind="backup", source=dl.path, site_host=self.site.host, extension=dl.extension,
                            suggested_name=dl.filename)
            stored = self.dest.store_file(item)
        finally:
            Path(dl.path).unlink(missing_ok=True)
        self.result.backups += 1 if stored is not None else 0
        self.result.bytes += dl.size
        self.tracker.add(files_done=1, bytes=dl.size)
        if not self.export:
            st = TransferState.from_json(self.engine.store.load_state(self.site.id, self.dest_cfg.id, "backup"))
            st.last_backup = int(time.time())
            self.engine.store.save_state(self.site.id, self.dest_cfg.id, "backup", st.to_json())

    # --- helpers -----------------------------------------------------------------------------------
    def _save(self, data_type: str, force: bool = False) -> None:
        """Save after every destination commit. A very large first window (done map over LARGE_DONE lsids) saves
        at most every SAVE_INTERVAL seconds, so saving is not quadratic in the window size; a kill then re-hands up
        to that much work, which the destinations absorb (SQL replaces by host+lsid, the folder recognises files
        with identical bytes)."""
        if not self.persist or data_type not in self.states:
            return
        st = self.states[data_type]
        now = time.monotonic()
        if not force and len(st.done) > LARGE_DONE and now - self._saved_at.get(data_type, 0.0) < SAVE_INTERVAL:
            self._dirty.add(data_type)
            return
        self.engine.store.save_state(self.site.id, self.dest_cfg.id, data_type, st.to_json())
        self._saved_at[data_type] = now
        self._dirty.discard(data_type)

    def _flush(self) -> None:
        for t in list(self._dirty):
            self._save(t, force=True)

    def _check_cancel(self) -> None:
        self.engine._check_cancel()

    persist = True


def _instances(data_type: str, s: Session) -> list[int]:
    """Recording instances of a session: command shells from <command_shell_recordings>, Show My Screen from the
    session's "Show My Screen Recording" events (data value ``instance``; Remote Support only)."""
    if data_type == "shell":
        return sorted({rec.instance for rec in s.command_shell_recordings})
    found: set[int] = set()
    for ev in s.events:
        if "show my screen" in (ev.event_type or "").lower():
            values = [d.value for d in ev.data if d.name == "instance"]
            try:
                found.add(int(values[0]) if values else 0)
            except ValueError:
                found.add(0)
    return sorted(found)


def _names_an_lsid(exc: ApplianceAPIError) -> bool:
    """An ``<error>`` about the requested session IDs ("Invalid lsid.") rather than about the account or report."""
    return "lsid" in str(exc).lower() or "session" in str(exc).lower() and "not found" in str(exc).lower()


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
