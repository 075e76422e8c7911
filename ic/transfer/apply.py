"""Apply: destination writes, the quarantine and state saves of one transfer run.

Crash safety: the state of a data type is saved only after the destination committed what it records, so a run
killed at any instant re-hands at most the last batch, which destinations absorb (SQL replaces by host+lsid, the
folder recognises identical bytes).

Quarantine, never wedge: when a batch of sessions fails to store, each session is stored alone; one that still
fails is quarantined (``ic.transfer.quarantine``: raw XML kept, log ERROR, result warning naming lsid, field and
reason) and counts as done for the cursor. A destination that is down is not a session's fault: an error that says
so (DestinationUnavailable, a lost connection, disk full), a failing ``test()`` of the destination after every
session failed alone, or the same failure for every session of a batch of two or more fails the transfer as before.
"""
from __future__ import annotations

import errno
import logging
import re
import time
from pathlib import Path
from typing import Callable

from ic.destinations.base import Destination
from ic.errors import ApplianceError, Cancelled, ConfigError, DestinationUnavailable, ICError
from ic.sessions.model import Session
from ic.transfer import journal, quarantine
from ic.transfer.state import TransferState

log = logging.getLogger("ic.transfer")

_NAME_ERRNOS = {errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ, errno.ERANGE}


def session_fault_possible(exc: BaseException) -> bool:
    """Could this store/convert failure be caused by the session's own data (rather than the destination)?"""
    if isinstance(exc, DestinationUnavailable) and isinstance(exc.__cause__, OSError):
        return exc.__cause__.errno in _NAME_ERRNOS  # a name this session produced that the file system refuses
    if not isinstance(exc, Exception) or isinstance(exc, (Cancelled, DestinationUnavailable, ApplianceError)):
        return False
    if type(exc) is ConfigError:
        return False  # a setting to fix, not a value
    if isinstance(exc, ICError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _NAME_ERRNOS
    if isinstance(exc, (ValueError, ArithmeticError, TypeError, LookupError, RecursionError, AttributeError)):
        return True
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return False
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return not isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                                    sa_exc.TimeoutError))
    return False


def reason_of(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, ICError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Apply:
    """Writes for one run of one transfer (site -> destination)."""

    def __init__(self, store, site, dest_cfg, dest: Destination, states: dict[str, TransferState], result,
                 *, persist: bool, throttle: Callable[[], tuple[int, float]]) -> None:
        self.store, self.site, self.dest_cfg, self.dest = store, site, dest_cfg, dest
        self.states = states
        self.result = result
        self.persist = persist
        self._throttle = throttle
        self._saved_at: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._journal_bytes: dict[str, int] = {}
        self._state_bytes: dict[str, int] = {}
        self.quarantined: set[str] = set()  # lsids set aside during this run

    # --- sessions ------------------------------------------------------------------------------------------------
    def store_sessions(self, sessions: list[Session]) -> list[tuple[Session, BaseException]]:
        """Store the sessions; returns the ones that failed on their own (with the error). Raises when the
        destination itself fails."""
        if not sessions:
            return []
        try:
            self.dest.store_sessions(self.site.host, sessions)
            return []
        except Exception as exc:  # noqa: BLE001 - sorted by session_fault_possible; others re-raised
            if not session_fault_possible(exc):
                raise
            first = exc
        if len(sessions) > 1:
            log.warning("Destination %s refused a batch of %d session(s) (%s); storing them one by one.",
                        self.dest_cfg.name, len(sessions), reason_of(first))
        failed: list[tuple[Session, BaseException]] = []
        stored = 0
        for s in sessions if len(sessions) > 1 else []:
            try:
                self.dest.store_sessions(self.site.host, [s])
                stored += 1
            except Exception as exc:  # noqa: BLE001
                if not session_fault_possible(exc):
                    raise
                failed.append((s, exc))
        if len(sessions) == 1:
            failed = [(sessions[0], first)]
        if stored == 0:
            self._raise_if_destination_fault(first, failed)
        return failed

    def _raise_if_destination_fault(self, first: BaseException, failed: list[tuple[Session, BaseException]]) -> None:
        """Every session failed alone: the destination is at fault if it fails its own test or gave every session
        the same reason."""
        try:
            self.dest.test()
        except Exception:  # noqa: BLE001 - the destination itself does not work: the original error says why
            raise first from None
        quarantine.check_not_our_bug(self.site.host, self.dest_cfg.name, f"stored in destination {self.dest_cfg.name}",
                                     [(s.lsid, e) for s, e in failed])
        if len(failed) >= 2 and len({reason_of(e) for _, e in failed}) == 1:
            raise first

    # --- quarantine ----------------------------------------------------------------------------------------------
    def quarantine(self, lsid: str, data_types: list[str], reason: str, field: str | None, raw, *,
                   stage: str) -> None:
        """Set one session aside for this destination: log ERROR (the notification mail), warn in the result."""
        self.quarantined.add(lsid)
        where = ""
        first_time = True
        if self.persist:
            try:
                entry = quarantine.put(self.site.host, lsid, self.dest_cfg.name, data_types, reason, field, raw,
                                       destination_id=self.dest_cfg.id)
                first_time = entry.attempts == 1
                again = f" (attempt {entry.attempts})" if entry.attempts > 1 else ""
                where = f" Its XML is kept in {entry.path}{again}"
                where += "; it is tried again on the next runs."
            except OSError as exc:  # not kept: it would be lost, so the transfer stops here (cursor kept)
                raise ICError(f"Session {lsid} from {self.site.host} could not be set aside: the quarantine folder "
                              f"{quarantine.root()} cannot be written ({exc.strerror or exc}); free space there or "
                              "fix its permissions, and the transfer continues from here at its next run.") from exc
        if isinstance(raw, Path):
            raw.unlink(missing_ok=True)  # moved into the quarantine above, or not kept (export)
        what = "read" if stage == "read" else f"stored in destination {self.dest_cfg.name}"
        reason = re.sub(rf"^Session {re.escape(lsid)} (cannot be stored|cannot be read)[^:]*:\s*", "", reason) or reason
        field_part = f" (field {field})" if field else ""
        msg = (f"Session {lsid} from {self.site.host} could not be {what}{field_part}: {reason.rstrip('.')}."
               f"{where}")
        # the first time is an ERROR (the notification mail names it); later failed attempts only a warning
        (log.error if first_time else log.warning)(msg)
        self.result.warnings.append(msg)
        self.result.quarantined += 1

    def release(self, lsid: str, data_types: list[str]) -> None:
        if self.persist:
            try:
                quarantine.release(self.site.host, lsid, self.dest_cfg.name, data_types)
            except OSError as exc:
                log.warning("Could not update the quarantine record of session %s: %s", lsid, exc)

    # --- state ---------------------------------------------------------------------------------------------------
    def load(self, data_type: str) -> TransferState:
        """The saved state of a data type with its journal replayed on top."""
        st = TransferState.from_json(self.store.load_state(self.site.id, self.dest_cfg.id, data_type))
        if self.persist:
            ops, size = journal.read(self._journal(data_type))
            if ops:
                st.replay(ops)
                self._dirty.add(data_type)  # the next whole save folds the journal in
            self._journal_bytes[data_type] = size
        st.ops.clear()
        self.states[data_type] = st
        return st

    def _journal(self, data_type: str):
        return journal.path_for(self.store, self.site.id, self.dest_cfg.id, data_type)

    def save(self, data_type: str, force: bool = False) -> None:
        """Record what the destination committed. A small state is saved whole; once the done map is over
        LARGE_DONE lsids, only the changes are appended to the journal, and the whole state is saved again when the
        journal outgrows it (at most every SAVE_INTERVAL seconds), so bytes written per session stay constant
        however large the window. ``force``: save whole now (window completed, run ending)."""
        if data_type not in self.states:
            return
        if not self.persist:
            self.states[data_type].ops.clear()
            return
        large_done, interval = self._throttle()
        st = self.states[data_type]
        now = time.monotonic()
        if (not force and len(st.done) > large_done) or st.sealed:
            # sealed entries (TransferState.seal) are no longer in ``done``: until the window completes, only the
            # journal (never emptied before then) and the last whole save hold them, so no whole save
            grown = self._journal_bytes.get(data_type, 0) > self._state_bytes.get(data_type, 0)
            if st.sealed or not grown or now - self._saved_at.get(data_type, 0.0) < interval:
                ops, st.ops[:] = list(st.ops), []
                self._journal_bytes[data_type] = self._journal_bytes.get(data_type, 0) + journal.append(
                    self._journal(data_type), ops)
                self._dirty.add(data_type)
                return
        payload = st.to_json()
        self.store.save_state(self.site.id, self.dest_cfg.id, data_type, payload)
        st.ops.clear()
        if self._journal_bytes.get(data_type):
            journal.reset(self._journal(data_type))
        self._journal_bytes[data_type] = 0
        self._state_bytes[data_type] = 40 * (len(st.done) + len(st.in_progress) + len(st.partial)) + 200
        self._saved_at[data_type] = now
        self._dirty.discard(data_type)

    def flush(self) -> None:
        for t in list(self._dirty):
            self.save(t, force=True)
