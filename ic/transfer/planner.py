"""Plan: what a transfer still has to do, decided from listings and state alone (pure: no HTTP, no files, no clock).

The engine is plan -> fetch -> apply:

* **plan** (this module): the listing bounds of a window, which lsids to ask details for (in order), and for each
  session that arrives which data types still need it (store it, store it as still running, download which
  recording instances);
* **fetch** (``ic.transfer.fetch``): session details with every detail-level retry rule;
* **apply** (``ic.transfer.apply``): destination writes, quarantine and state saves.

Everything here is a function of its arguments, so it is tested table-driven (tests/transfer/test_transfer_planner.py).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice

from ic.sessions.model import Session
from ic.transfer.state import TransferState

FILE_KINDS = ("recordings", "smsr", "shell")  # session-linked file data types, in the order they are handled
SESSION = "session"
SLICE_ROWS = 5000  # listing rows planned (and then handled) at a time: memory stays flat however long the listing


@dataclass
class WindowPlan:
    lsids: list[str]  # details to ask for, in order: closed listing first, then running / remembered in progress
    closed: set[str]  # lsids of the closed-session listing (only their end times may become the cursor)


@dataclass
class SessionPlan:
    """What the data types of one transfer still need from one session whose details arrived."""

    store: bool = False  # store the (closed) session
    running: bool = False  # store it as still in progress (fetched again until it ends)
    files: list[tuple[str, int | None]] = field(default_factory=list)  # (data type, instance or None)
    done_now: list[str] = field(default_factory=list)  # file types with nothing (more) to download: done


def closed_bound(states: Mapping[str, TransferState], overlap: int, first_bound: int) -> int:
    """``end_time`` to list closed sessions from: the lowest bound of any data type."""
    return min(st.end_bound(overlap, first_bound) for st in states.values())


def plan_window(closed: Iterable, states: Mapping[str, TransferState], *, started: Iterable | None = None,
                skip: Iterable[str] = ()) -> WindowPlan:
    """lsids to fetch details for. ``closed``/``started``: listing rows (anything with ``.lsid``); ``started`` only
    when sessions in progress are tracked (then the session state's in-progress lsids are added too); ``skip``:
    lsids already handled this run (e.g. tried from the quarantine at its start)."""
    skipped = set(skip)
    wanted: dict[str, None] = {}
    closed_ids: set[str] = set()
    for row in closed:
        closed_ids.add(row.lsid)
        if row.lsid not in skipped and any(not st.handled(row.lsid) for st in states.values()):
            wanted[row.lsid] = None
    session_state = states.get(SESSION)
    if started is not None and session_state is not None:
        for row in started:
            if row.lsid not in closed_ids and not session_state.handled(row.lsid) and row.lsid not in skipped:
                wanted[row.lsid] = None
        for lsid in session_state.in_progress:
            if lsid not in session_state.done and lsid not in skipped:
                wanted[lsid] = None
    return WindowPlan(list(wanted), closed_ids)


@dataclass
class Slice:
    """Up to SLICE_ROWS rows of a listing, planned: handled (``_process``) before the next rows are read."""

    lsids: list[str]  # details to ask for, in order
    listed: list[str]  # every closed-listing lsid of these rows, wanted or not (their end times may become the cursor)
    with_recording: set[str]  # lsids the listing says have a recording


class WindowPlanner:
    """A window planned in slices as its listing streams (flat memory for millions of rows), with what
    ``TransferState.complete_window`` needs of the closed listing counted on the way instead of kept:

    * ``newest[t]``: the newest end time (at most ``now``, the appliance's clock at listing time) among data type
      ``t``'s done entries of closed-listed lsids. :meth:`fold` counts a slice once it is handled, when every listed
      lsid of it is done or never will be in this window; done entries are not removed before the window completes,
      so this is the max that a scan of ``done`` over the whole listing would give at the end.
    * ``partial_listed``: listed lsids with a partial (command shell / Show My Screen instances) entry.

    Same decisions as :func:`plan_window`, except that a started-listing row is passed over when the session state
    has it handled rather than when the closed listing had it: by then every closed-listed row is handled (or was
    left out of this type's window, then its details say it is closed and nothing is stored again)."""

    def __init__(self, states: Mapping[str, TransferState], *, skip: Iterable[str] = (), now: int | None = None,
                 slice_rows: int | None = None) -> None:
        self.states = states
        self.skip = set(skip)
        self.now = now
        self.slice_rows = max(1, slice_rows or SLICE_ROWS)
        self.newest: dict[str, int | None] = {t: None for t in states}
        self.partial_listed: set[str] = set()
        self.rows = 0  # closed-listing rows read
        self.wanted = 0  # lsids planned, closed and started

    def closed_slices(self, rows: Iterable) -> Iterator[Slice]:
        """Slices of the closed-session listing; call :meth:`fold` on each once it is handled."""
        states = list(self.states.values())
        for chunk in _chunks(rows, self.slice_rows):
            wanted: dict[str, None] = {}
            listed: list[str] = []
            recorded: set[str] = set()
            for row in chunk:
                lsid = row.lsid
                listed.append(lsid)
                if row.has_recording:
                    recorded.add(lsid)
                if any(lsid in st.partial for st in states):
                    self.partial_listed.add(lsid)
                if lsid not in self.skip and any(not st.handled(lsid) for st in states):
                    wanted[lsid] = None
            self.rows += len(listed)
            self.wanted += len(wanted)
            yield Slice(list(wanted), listed, recorded)

    def fold(self, sl: Slice) -> None:
        """Count a handled slice's listed lsids towards ``newest``."""
        for t, st in self.states.items():
            best = self.newest.get(t)
            done = st.done
            for lsid in sl.listed:
                end = done.get(lsid)
                if end is not None and (self.now is None or end <= self.now) and (best is None or end > best):
                    best = end
            self.newest[t] = best

    def listed_ends(self, data_type: str) -> list[int]:
        """For ``complete_window(listed_ends=...)``."""
        end = self.newest.get(data_type)
        return [] if end is None else [end]

    def started_slices(self, rows: Iterable) -> Iterator[Slice]:
        """Sessions that may still be running (after the closed listing is handled): rows of the started listing
        the session state has not handled, then the remembered in-progress lsids no row brought."""
        session_state = self.states.get(SESSION)
        if session_state is None:
            return
        # remembered in progress by earlier runs (taken now: the started rows handled next add this run's own)
        remembered = [lsid for lsid in session_state.in_progress
                      if lsid not in session_state.done and lsid not in session_state.sealed and lsid not in self.skip]
        waiting = set(remembered)
        for chunk in _chunks(rows, self.slice_rows):
            wanted: dict[str, None] = {}
            recorded: set[str] = set()
            for row in chunk:
                lsid = row.lsid
                if not session_state.handled(lsid) and lsid not in self.skip:
                    wanted[lsid] = None
                    waiting.discard(lsid)
                    if row.has_recording:
                        recorded.add(lsid)
            if wanted:
                self.wanted += len(wanted)
                yield Slice(list(wanted), [], recorded)
        rest = [lsid for lsid in remembered
                if lsid in waiting and lsid not in session_state.done and lsid not in session_state.sealed]
        if rest:
            self.wanted += len(rest)
            yield Slice(rest, [], set())


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def plan_session(s: Session, states: Mapping[str, TransferState], *, overlap: int, first_bound: int,
                 keeps_in_progress: bool, has_recording: bool = False,
                 forced: Iterable[str] = ()) -> SessionPlan:
    """What each data type still needs from session ``s``.

    ``has_recording``: the listing said so (the details may not carry a recording URL). ``forced``: data types
    that take the session whatever the state says (a session tried again from the quarantine: its window may be
    long gone)."""
    forced_types = set(forced)
    plan = SessionPlan()

    def needs(t: str, st: TransferState) -> bool:
        return t in forced_types or st.needs(s.lsid, s.end_time, overlap, first_bound)

    session_state = states.get(SESSION)
    if session_state is not None:
        if s.in_progress:
            plan.running = keeps_in_progress
        elif needs(SESSION, session_state):
            plan.store = True
    if s.in_progress:
        return plan
    for t in FILE_KINDS:
        st = states.get(t)
        if st is None or not needs(t, st):
            continue
        if t == "recordings":
            wanted: list[int | None] = [None] if (s.has_recording or has_recording) else []
        else:
            have = set(st.partial.get(s.lsid, ())) if t not in forced_types else set()
            wanted = [i for i in s.recording_instances(t) if i not in have]
        if wanted:
            plan.files.extend((t, i) for i in wanted)
        else:
            plan.done_now.append(t)
    return plan


def batches(lsids: list[str], size: int) -> list[list[str]]:
    size = max(1, size)
    return [lsids[i: i + size] for i in range(0, len(lsids), size)]
