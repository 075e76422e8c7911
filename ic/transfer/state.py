"""Incremental state of one (site, destination, data type): the only module that knows its JSON shape.

Shape (version 1)::

    {"version": 1,
     "cursor": 1718700000 | null,      # max end_time@timestamp (APPLIANCE clock) of a stored session that the
                                       # window's closed listing returned, null = never
     "start_cursor": 1718690000 | null,  # max start_time@timestamp seen (finds new in-progress sessions)
     "done": {"<lsid>": <end_time>, ...}, # lsids finished for this data type whose end_time >= cursor - overlap,
                                          # plus every lsid finished in a window not yet completed (resume)
     "in_progress": {"<lsid>": <start_time>, ...},  # seen without end_time: fetched again until they end
     "partial": {"<lsid>": [0, 2]},       # command-shell instances already stored for a session not yet done
     "last_backup": 1718700000 | null,    # host time of the last stored backup (information only)
     "clock": [1718700000, 1718699990] | null,  # [appliance now, host now] when the last window was listed:
                                          # the next run sees whether the appliance clock went back since
     "recent": {"<lsid>": <end_time>, ...}}  # done lsids pruned from ``done`` in the last RECENT_SPAN seconds
                                          # below the cursor (at most RECENT_MAX): a window that reaches back
                                          # over an appliance clock step skips them instead of storing them again

The cursor trusts only the appliance's clock: it never passes the appliance's own "now" at listing time (a session
claiming an end in 2100 is stored, stays in ``done`` and does not move the cursor), and when the appliance clock went
back between runs the engine sets ``reach_back`` (not saved) so the window reaches back over the gap.

Why this is crash-proof: the engine saves the state only after the destination committed a batch (or a file), and
the cursor moves only when a whole window is finished. A run killed at any instant therefore restarts the same
window, and the ``done`` map makes it skip exactly what was already handed to the destination — nothing is lost
(the cursor did not move) and nothing is handed over twice (done lsids are skipped).

Flat memory: the engine handles a window in slices as its listing streams (``planner.WindowPlanner``: the newest
listed end time is counted slice by slice, the cursor still moves only in complete_window) and, between slices,
``seal`` moves out of ``done`` the entries that complete_window would drop anyway (kept as digests: still skipped).
The argument above still holds: sealed entries stay on disk (the last whole save and the journal, which is not
emptied while any are sealed), so a killed run loads them back into ``done`` and skips them.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from ic.digestset import SealedSet

STATE_VERSION = 1
DEFAULT_OVERLAP = 120  # seconds re-queried below the cursor: appliance bounds are inclusive and commits lag
RECENT_SPAN = 7 * 86400  # seconds of finished lsids remembered below the overlap (a clock step back or ahead)
RECENT_MAX = 20_000  # ... at most this many (the newest): the state stays small on a busy appliance


@dataclass
class TransferState:
    cursor: int | None = None
    start_cursor: int | None = None
    done: dict[str, int | None] = field(default_factory=dict)
    in_progress: dict[str, int | None] = field(default_factory=dict)
    partial: dict[str, list[int]] = field(default_factory=dict)
    last_backup: int | None = None
    clock: tuple[int, int] | None = None  # (appliance now, host now) at the last completed window's listing
    recent: dict[str, int] = field(default_factory=dict)  # finished lsids below the overlap (see module docstring)
    reach_back: int = field(default=0, repr=False)  # not saved: seconds the appliance clock went back (this run)
    ops: list[tuple] = field(default_factory=list, repr=False, compare=False)  # not saved: changes since the last
    # save, for the journal (ic/transfer/journal.py)
    _seen_start: int | None = field(default=None, repr=False)  # not saved: applied by complete_window
    sealed: SealedSet = field(default_factory=SealedSet, repr=False, compare=False)  # not saved: see seal()

    # --- (de)serialisation ---------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: dict | None) -> "TransferState":
        if not data:
            return cls()
        if int(data.get("version", 1)) > STATE_VERSION:
            # written by a newer program: start over rather than misread it (destinations upsert anyway)
            return cls()
        return cls(
            cursor=_int_or_none(data.get("cursor")),
            start_cursor=_int_or_none(data.get("start_cursor")),
            done={str(k): _int_or_none(v) for k, v in (data.get("done") or {}).items()},
            in_progress={str(k): _int_or_none(v) for k, v in (data.get("in_progress") or {}).items()},
            partial={str(k): sorted(int(i) for i in v) for k, v in (data.get("partial") or {}).items()},
            last_backup=_int_or_none(data.get("last_backup")),
            clock=_clock(data.get("clock")),
            recent=_recent(data.get("recent")),
        )

    def to_json(self) -> dict:
        return {
            "version": STATE_VERSION,
            "cursor": self.cursor,
            "start_cursor": self.start_cursor,
            "done": self.done,
            "in_progress": self.in_progress,
            "partial": self.partial,
            "last_backup": self.last_backup,
            "clock": list(self.clock) if self.clock else None,
            "recent": self.recent,
        }

    # --- window logic -------------------------------------------------------------------------
    def end_bound(self, overlap: int, first_bound: int) -> int:
        """``end_time`` to list closed sessions from: cursor - overlap, or ``first_bound`` on the first run."""
        if self.cursor is None:
            return max(0, first_bound)
        return max(0, self.cursor - overlap - self.reach_back)

    def start_bound(self, overlap: int, first_bound: int) -> int:
        """``start_time`` to look for sessions in progress from (see engine docstring)."""
        if self.start_cursor is None:
            return max(0, first_bound)
        return max(0, self.start_cursor - overlap - self.reach_back)

    def handled(self, lsid: str) -> bool:
        """Finished for this data type (in the current window, or recently below it)."""
        return lsid in self.done or lsid in self.recent or lsid in self.sealed

    def seal(self, newest: int | None, overlap: int) -> int:
        """Mid-window, flat memory: move out of ``done`` into ``sealed`` (still skipped, no longer named) the entries
        that complete_window drops whatever the rest of the window brings. ``newest``: the newest listed end time
        counted so far (planner.WindowPlanner), so the window's cursor ends at or above it and its keep_from at or
        above ``newest - overlap``. Dropped for sure: entries without an end time, entries more than RECENT_SPAN
        below that line, and entries below it with RECENT_MAX strictly newer ones below it (``recent`` keeps only the
        newest). The journal still holds them: a state with sealed entries is never saved whole (Apply.save) until
        complete_window empties ``sealed``. Returns how many were sealed."""
        if newest is None:
            return 0
        line = newest - overlap
        floor = line - RECENT_SPAN
        drop: list[str] = []
        settled: list[int] = []
        for k, v in self.done.items():
            if v is None or v < floor:
                drop.append(k)
            elif v < line:
                settled.append(v)
        if len(settled) > RECENT_MAX:
            settled.sort()
            cut = settled[-RECENT_MAX]  # the RECENT_MAX-th newest: anything older has that many newer
            drop.extend(k for k, v in self.done.items() if v is not None and floor <= v < cut)
        for k in drop:
            del self.done[k]
            self.sealed.add(k)
        return len(drop)

    def needs(self, lsid: str, end_time: int | None, overlap: int, first_bound: int) -> bool:
        """Should this data type still handle a closed session returned by a listing?"""
        if self.handled(lsid):
            return False
        if end_time is not None and end_time < self.end_bound(overlap, first_bound):
            return False  # older than this type's window: finished in an earlier window and pruned since
        return True

    def mark_done(self, lsid: str, end_time: int | None) -> None:
        self.done[lsid] = end_time
        self.in_progress.pop(lsid, None)
        self.partial.pop(lsid, None)
        self.ops.append(("d", lsid, end_time))

    def mark_in_progress(self, lsid: str, start_time: int | None) -> None:
        self.in_progress[lsid] = start_time
        self.note_start(start_time)
        self.ops.append(("i", lsid, start_time))

    def mark_partial(self, lsid: str, instance: int) -> None:
        self.ops.append(("p", lsid, instance))
        got = self.partial.setdefault(lsid, [])
        if instance not in got:
            got.append(instance)
            got.sort()

    def replay(self, ops: list) -> None:
        """Apply journal operations (see ic/transfer/journal.py) on top of the saved state."""
        for kind, lsid, value in ops:
            try:
                value = None if value is None else int(value)
            except (TypeError, ValueError):
                continue
            if kind == "d":
                self.mark_done(lsid, value)
            elif kind == "i":
                self.mark_in_progress(lsid, value)
            elif kind == "p" and value is not None:
                self.mark_partial(lsid, value)

    def note_start(self, start_time: int | None) -> None:
        """Remember a start time; start_cursor moves only when the window completes (a killed run must list
        sessions in progress from the same start bound again)."""
        if start_time is not None:
            self._seen_start = max(self._seen_start or 0, start_time)

    def complete_window(self, overlap: int, first_bound: int = 0, *, stale_before: int | None = None,
                        listed: Collection[str] | None = None, now: int | None = None,
                        host_now: int | None = None, listed_ends: Collection[int] | None = None) -> None:
        """The whole window is stored: advance the cursor to the newest end time and forget old done lsids.

        ``listed``: the lsids of the window's closed-session listing. Only their end times may become the cursor:
        a session that was running at listing time and ended later (stored from its details or the in-progress
        list) has an end time newer than what the listing covered, and sessions that closed in between, unlisted,
        would fall below cursor - overlap and be skipped for ever. Such done entries stay in ``done`` (they are
        newer than the cursor), so the next run skips them. ``listed_ends``: the end times of the done entries of
        listed lsids, counted by the caller as the listing streamed (only the newest matters; planner.WindowPlanner):
        used instead of scanning ``done`` over ``listed``, which then needs to hold only listed lsids with a
        ``partial`` entry.

        A first window that found nothing pins the cursor at its bound, so a look-back never slides forward
        over sessions that arrive while the program is not running.

        ``stale_before``: drop in-progress entries that started before this appliance time (abnormally closed
        sessions never get an end time and would be fetched forever).

        ``now``: the appliance's own clock when the window was listed. Neither cursor passes it: an end or start
        time after it is a session's claim, not the appliance's time (it stays in ``done``, newer than the cursor, so
        it is not stored again), and after the appliance clock went back the cursor comes back to it, so sessions
        ending from now on are listed. ``now`` and ``host_now`` are recorded in ``clock`` for the next run.
        """
        if self._seen_start is not None:
            seen = self._seen_start if now is None else min(self._seen_start, now)
            self.start_cursor = max(self.start_cursor or 0, seen)
            self._seen_start = None
        if listed_ends is not None:
            ends = [e for e in listed_ends if e is not None and (now is None or e <= now)]
        else:
            ends = [e for k, e in self.done.items()
                    if e is not None and (listed is None or k in listed) and (now is None or e <= now)]
        if ends:
            self.cursor = max(self.cursor or 0, max(ends))
        elif self.cursor is None and first_bound > 0:
            self.cursor = first_bound + overlap
        if now is not None:
            if self.cursor is not None and self.cursor > now:
                self.cursor = now
            if self.start_cursor is not None and self.start_cursor > now:
                self.start_cursor = now
            if host_now is not None:
                self.clock = (int(now), int(host_now))
        self.reach_back = 0
        if self.cursor is not None:
            keep_from = self.cursor - overlap
            recent_from = keep_from - RECENT_SPAN
            older = {k: v for k, v in self.done.items() if v is not None and recent_from <= v < keep_from}
            self.done = {k: v for k, v in self.done.items() if v is not None and v >= keep_from}
            # no upper bound: a cursor capped back to the appliance's now (its clock went back) lowers keep_from,
            # and an lsid remembered above the new bound is in neither map otherwise (stored again next run)
            recent = {k: v for k, v in self.recent.items() if recent_from <= v and k not in self.done}
            recent.update(older)
            if len(recent) > RECENT_MAX:
                recent = dict(sorted(recent.items(), key=lambda kv: kv[1])[-RECENT_MAX:])
            self.recent = recent
        if listed is not None:
            # every listed session is done now; a half-stored one that was not listed has left the appliance
            self.partial = {k: v for k, v in self.partial.items() if k in listed}
        if stale_before is not None:
            self.in_progress = {k: v for k, v in self.in_progress.items() if v is None or v >= stale_before}
        self.sealed.clear()  # what seal() moved out is dropped by the pruning above anyway


def clock_went_back(clock: tuple[int, int] | None, appliance_now: int | None, host_now: int) -> int:
    """Seconds the appliance clock went back since ``clock`` was recorded (0 when it did not, or cannot be told).

    Expected appliance time = recorded appliance time + host time elapsed since; a host clock that itself went
    back (elapsed < 0) only lets us compare the two appliance readings directly."""
    if clock is None or appliance_now is None:
        return 0
    then_appliance, then_host = clock
    elapsed = host_now - then_host
    expected = then_appliance + max(0, elapsed)
    return max(0, int(expected - appliance_now))


def _clock(value) -> tuple[int, int] | None:
    try:
        a, h = value
        return int(a), int(h)
    except (TypeError, ValueError):
        return None


def _recent(value) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            try:
                out[str(k)] = int(v)
            except (TypeError, ValueError):
                continue
    return out


def _int_or_none(value) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
