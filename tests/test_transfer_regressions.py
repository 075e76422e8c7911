"""Regressions found by tests/test_soak.py, each pinned with the smallest scenario that showed it."""
from __future__ import annotations

from ic.services.runs import run_schedule
from tests.sim_fixtures import make_simulator  # noqa: F401 - fixture
from tests.test_transfer_engine import add_schedule, add_site, add_sql, session_rows


def test_session_ending_during_a_run_is_not_skipped_by_a_later_ending_running_session(store, make_simulator,
                                                                                         tmp_path):
    """A session that closes after the listing (not listed) must be found by the next run even when a session that
    was running at listing time ends later still and is stored in the same run: its end time is newer than
    anything the listing covered, so it must not become the cursor (the new session would fall below
    cursor - overlap and be lost for ever)."""
    sim = make_simulator(sessions=20, in_progress=2)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "R", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "1")  # details one by one: the running session comes last
    running = [s.lsid for s in sim.sessions if s.end_time is None]
    late: list[str] = []

    def listener(ev):  # after the listings: a session closes now, then (10 minutes later) a running one ends
        if ev.phase == "sessions" and not late:
            late.extend(s.lsid for s in sim.add_sessions(1))
            sim.clock_offset += 600
            for lsid in running:
                sim.end_session(lsid)

    assert run_schedule(store, "R", listener, raise_internal=True).ok
    assert run_schedule(store, "R", raise_internal=True).ok
    stored = session_rows(url)
    assert late[0] in stored, "the session that closed during the first run was skipped"
    assert set(stored) == {s.lsid for s in sim.sessions}
    assert all(stored[lsid] is not None for lsid in running)


def test_complete_window_cursor_comes_only_from_listed_sessions():
    from ic.transfer.state import TransferState

    st = TransferState(cursor=10_000, done={"listed": 10_200, "ended-later": 11_000, "gone": None})
    st.complete_window(120, listed={"listed", "gone"})
    assert st.cursor == 10_200  # not 11_000: that session was running when the window was listed
    assert st.done == {"listed": 10_200, "ended-later": 11_000}  # kept: the next listing skips it
