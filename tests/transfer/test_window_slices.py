"""A window is planned and handled in slices as its listing streams (flat memory for a million-row listing): the
planner keeps no list of the window's lsids and no set of the closed listing; the cursor still moves only once the
whole window is handled, so a run killed between slices restarts the same window and skips exactly what was done.
Real simulator (HTTPS), real SQLite destination, real settings store and journal."""
from __future__ import annotations

import json
import threading
import tracemalloc
from dataclasses import dataclass

import pytest

from ic.errors import Cancelled
from ic.settings.models import TransferConfig
from ic.transfer import journal, planner
from ic.transfer.apply import Apply
from ic.transfer.state import TransferState
from tests.helpers import add_site, add_sql, fast_engine, rows, session_rows

OV = 120


@dataclass
class Row:
    lsid: str
    has_recording: bool = False


def states(**kw) -> dict[str, TransferState]:
    return {t: TransferState(**v) for t, v in kw.items()}


# --- the planner alone ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("closed,started,sts,skip", [
    (["a", "b"], ["b", "r"], states(session={}), ()),
    (["a", "b"], None, states(session={"done": {"a": 1}}, recordings={"done": {"b": 1}}), ()),
    (["a", "b"], None, states(session={"done": {"a": 1}}, recordings={"done": {"a": 1}}), ()),
    ([], [], states(session={"in_progress": {"p": 10}}), ()),
    (["a", "q"], ["q2"], states(session={}), ("q", "q2")),
    (["a"], ["d"], states(session={"done": {"d": 9}}), ()),
    # a remembered running session the started listing brings again is asked for once
    (["a"], ["p", "n"], states(session={"in_progress": {"p": 10, "z": 11}}), ()),
    ([f"c{i}" for i in range(11)], [f"s{i}" for i in range(8)], states(session={"done": {"c3": 5}}), ("c7",)),
])
def test_sliced_plan_asks_for_what_the_whole_plan_asked_for(closed, started, sts, skip):
    whole = planner.plan_window([Row(x) for x in closed], sts,
                                started=None if started is None else [Row(x) for x in started], skip=skip)
    window = planner.WindowPlanner(sts, skip=skip, slice_rows=3)
    got = []
    for sl in window.closed_slices(Row(x) for x in closed):
        assert len(sl.listed) <= 3
        got += sl.lsids
        for lsid in sl.lsids:  # handled: done for every type
            for st in sts.values():
                st.mark_done(lsid, 1)
        window.fold(sl)
    if started is not None:
        for sl in window.started_slices(Row(x) for x in started):
            got += sl.lsids
    assert got == whole.lsids
    assert window.rows == len(closed)


def test_fold_counts_only_closed_listed_lsids_up_to_the_appliance_now():
    sts = states(session={"done": {"old": 900, "liar": 99_999, "ended-later": 5_000}},
                 recordings={"done": {"old": 900}})
    window = planner.WindowPlanner(sts, now=4_000, slice_rows=2)
    for sl in window.closed_slices([Row("old"), Row("liar"), Row("new")]):
        for lsid in sl.lsids:
            sts["session"].mark_done(lsid, 3_000 if lsid == "new" else None)
        window.fold(sl)
    # "ended-later" is done but was not in the closed listing; "liar" claims a time after the appliance's clock
    assert window.listed_ends("session") == [3_000]
    assert window.listed_ends("recordings") == [900]
    # complete_window with the counted ends gives what the scan over every listed lsid gave
    counted, scanned = TransferState(done=dict(sts["session"].done)), TransferState(done=dict(sts["session"].done))
    counted.complete_window(OV, listed=window.partial_listed, listed_ends=window.listed_ends("session"), now=4_000)
    scanned.complete_window(OV, listed={"old", "liar", "new"}, now=4_000)
    assert counted == scanned and counted.cursor == 3_000


def test_partial_entries_of_listed_lsids_are_known_without_the_listing():
    sts = states(shell={"partial": {"half": [0], "gone": [1]}})
    window = planner.WindowPlanner(sts, slice_rows=2)
    for sl in window.closed_slices([Row("a"), Row("half"), Row("b")]):
        window.fold(sl)
    assert window.partial_listed == {"half"}
    st = sts["shell"]
    st.complete_window(OV, listed=window.partial_listed, listed_ends=window.listed_ends("shell"))
    assert st.partial == {"half": [0]}  # "gone" was not listed: it left the appliance


def test_planning_a_long_listing_holds_one_slice_not_the_listing():
    """200,000 listed rows, most done: the sliced planner's peak stays at one slice (the whole plan held every
    lsid of the listing in a set and a list)."""
    n = 200_000
    sts = states(session={"done": {f"lsid-{i:012d}": 1_000 + i for i in range(0, n, 3)}})
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        window = planner.WindowPlanner(sts, slice_rows=2_000)
        wanted = 0
        for sl in window.closed_slices(Row(f"lsid-{i:012d}") for i in range(n)):
            wanted += len(sl.lsids)
            window.fold(sl)
        sliced_peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        whole = planner.plan_window((Row(f"lsid-{i:012d}") for i in range(n)), sts)
        whole_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert wanted == len(whole.lsids) == n - len(sts["session"].done)
    assert window.listed_ends("session") == [1_000 + 199_998]
    print(f"planner peak: sliced {sliced_peak / 1e6:.1f} MB, whole {whole_peak / 1e6:.1f} MB")
    assert sliced_peak < 2_000_000 < 10 * sliced_peak < whole_peak


# --- the engine, slice by slice, against the simulator ----------------------------------------------------------------
def _setup(store, sim, tmp_path):
    store.set_setting("transfer_batch_size", "4")
    store.set_setting("transfer_detail_workers", "2")
    site = add_site(store, sim)
    dest = add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    dest.url = f"sqlite:///{tmp_path / 'out.db'}"
    return site, dest, TransferConfig("sim", "db", ["session"])


def _saved(store, site, dest) -> TransferState:
    """The state as a restarted run would load it (saved state plus the journal)."""
    ap = Apply(store, site, dest, None, {}, None, persist=True, throttle=lambda: (500, 2.0))
    return ap.load("session")


def test_a_run_stopped_between_slices_resumes_the_same_window(store, make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(sessions=60, seed=11, in_progress=0)
    site, dest, transfer = _setup(store, sim, tmp_path)
    monkeypatch.setattr(planner, "SLICE_ROWS", 9)
    folds: list[tuple[int, int | None, int]] = []  # (slice rows, saved cursor, saved done) when a slice is handled
    real_fold = planner.WindowPlanner.fold

    def fold(self, sl):
        st = _saved(store, site, dest)
        folds.append((len(sl.listed), st.cursor, len(st.done)))
        real_fold(self, sl)
        if len(folds) == 3 and stop.is_set() is False:
            stop.set()  # cancelled between the 3rd and 4th slice of the first run

    monkeypatch.setattr(planner.WindowPlanner, "fold", fold)
    stop = threading.Event()
    with fast_engine(store, cancel=stop) as engine, pytest.raises(Cancelled):
        engine.run_transfer(transfer)
    assert [f[0] for f in folds] == [9, 9, 9]
    assert all(cursor is None for _, cursor, _ in folds)  # the cursor moves only once the whole window is done
    assert [d for _, _, d in folds] == sorted(d for _, _, d in folds) and folds[-1][2] >= 18  # saved slice by slice
    after_stop = _saved(store, site, dest)
    assert after_stop.cursor is None and len(after_stop.done) == 27 == rows(dest.url)
    first_stored = 27

    folds.clear()
    stop.clear()
    with fast_engine(store) as engine:
        second = engine.run_transfer(transfer)
    closed = [s for s in sim.sessions if s.end_time]
    # nothing lost, nothing handed to the destination twice: the second run stored exactly the rest
    assert first_stored + second.sessions_stored == len(closed) == rows(dest.url)
    assert set(session_rows(dest.url)) == {s.lsid for s in closed}
    final = _saved(store, site, dest)
    assert final.cursor == max(s.end_time for s in closed)
    assert len(folds) == -(-len(closed) // 9)
    # a third run lists the overlap again and stores nothing
    with fast_engine(store) as engine:
        assert engine.run_transfer(transfer).sessions_stored == 0


def test_a_run_killed_mid_slice_without_its_final_save_loses_nothing(store, make_simulator, tmp_path, monkeypatch):
    """No flush at all (as after SIGKILL): what the destination committed is in the saved state or the journal."""
    sim = make_simulator(sessions=40, seed=5, in_progress=0)
    site, dest, transfer = _setup(store, sim, tmp_path)
    monkeypatch.setattr(planner, "SLICE_ROWS", 7)
    monkeypatch.setattr("ic.transfer.engine.LARGE_DONE", 5)  # journal lines early, like a big window
    monkeypatch.setattr(Apply, "flush", lambda self: None)
    from ic.destinations.sql import SqlDestination

    real_store = SqlDestination.store_sessions
    calls = [0]

    class Killed(BaseException):
        pass

    def store_sessions(self, host, sessions):
        calls[0] += 1
        if calls[0] == 6:  # the 6th batch: inside the 4th slice (7 rows, batches of 4)
            raise Killed()
        return real_store(self, host, sessions)

    monkeypatch.setattr(SqlDestination, "store_sessions", store_sessions)
    with fast_engine(store) as engine, pytest.raises(Killed):
        engine.run_transfer(transfer)
    killed = _saved(store, site, dest)
    assert killed.cursor is None and len(killed.done) == 18 == rows(dest.url)
    assert journal.path_for(store, site.id, dest.id, "session").exists()
    monkeypatch.setattr(SqlDestination, "store_sessions", real_store)
    with fast_engine(store) as engine:
        second = engine.run_transfer(transfer)
    closed = [s for s in sim.sessions if s.end_time]
    assert 18 + second.sessions_stored == len(closed) == rows(dest.url)
    assert _saved(store, site, dest).cursor == max(s.end_time for s in closed)


def test_a_state_saved_by_the_previous_version_mid_window_still_loads(store, make_simulator, tmp_path, monkeypatch):
    """The previous version saved the whole done map of an unfinished window in the state JSON (no journal): the
    sliced window skips those lsids and completes the window."""
    sim = make_simulator(sessions=30, seed=2, in_progress=0)
    site, dest, transfer = _setup(store, sim, tmp_path)
    monkeypatch.setattr(planner, "SLICE_ROWS", 4)
    closed = sorted((s for s in sim.sessions if s.end_time), key=lambda s: s.lsid)
    had = closed[:12]
    old = {"version": 1, "cursor": None, "start_cursor": None,
           "done": {s.lsid: s.end_time for s in had}, "in_progress": {}, "partial": {}, "last_backup": None}
    store.save_state(site.id, dest.id, "session", json.loads(json.dumps(old)))
    with fast_engine(store) as engine:
        result = engine.run_transfer(transfer)
    assert result.sessions_stored == len(closed) - len(had)  # the done ones were not handed over again
    assert set(session_rows(dest.url)) == {s.lsid for s in closed[12:]}
    st = _saved(store, site, dest)
    assert st.cursor == max(s.end_time for s in closed)  # their end times count for the cursor too
