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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ic.sessions.model import Session
from ic.transfer.state import TransferState

FILE_KINDS = ("recordings", "smsr", "shell")  # session-linked file data types, in the order they are handled
SESSION = "session"


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
