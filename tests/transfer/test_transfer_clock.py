"""The cursor trusts only the appliance's clock: it never passes the appliance's own now (a session claiming an end
in 2100 is stored and warned about, and later sessions keep arriving), and an appliance clock that went back
between runs is detected and the next window reaches back over the gap. Several runs, real simulator, real SQLite
and folder; each check: every session present exactly once."""
from __future__ import annotations

import re

import pytest

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.state import TransferState, clock_went_back
from tests.helpers import add_folder, add_schedule, add_site, add_sql, session_rows

YEAR_2100 = 4102444800


class Clocked:
    def __init__(self, store, sim, tmp_path):
        self.store, self.sim = store, sim
        self.url = f"sqlite:///{tmp_path / 'out.db'}"
        self.folder = tmp_path / "files"
        site = add_site(store, sim)
        db = add_sql(store, self.url)
        files = add_folder(store, self.folder)
        add_schedule(store, "C", ("sim", "db", ["session"]), ("sim", "files", ["session", "recordings"]))
        self.keys = [(site.id, db.id, "session"), (site.id, files.id, "session"), (site.id, files.id, "recordings")]

    def run(self):
        out = run_schedule(self.store, "C", raise_internal=True)
        assert out.ok, out.message()
        self.check()
        return out

    def check(self) -> None:
        want = {s.lsid for s in self.sim.sessions}
        held = {e.lsid for e in quarantine.list_quarantined() if e.destination == "db"}  # e.g. a 74-year session
        assert set(session_rows(self.url)) | held == want, f"lost: {sorted(want - set(session_rows(self.url)))}"
        names = [p.name for p in self.folder.iterdir() if p.suffix == ".xml"]
        assert not [n for n in names if re.search(r"\.\d+\.xml$", n)], "numbered duplicates"
        per_lsid = {lsid: sum(lsid in n for n in names) for lsid in want}
        assert set(per_lsid.values()) == {1}, {k: v for k, v in per_lsid.items() if v != 1}
        recs = {s.lsid for s in self.sim.sessions if s.recording and s.end_time}
        flv = [p.name for p in self.folder.iterdir() if p.suffix == ".flv"]
        assert len(flv) == len(recs) and all(any(lsid in n for n in flv) for lsid in recs)
        for key in self.keys:
            st = TransferState.from_json(self.store.load_state(*key))
            assert st.cursor is not None and st.cursor <= self.sim.now(), (key, st.cursor, self.sim.now())


def test_ten_minutes_back_loses_nothing(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=30, in_progress=3)
    c = Clocked(store, sim, tmp_path)
    c.run()
    sim.clock_offset -= 600  # NTP correction: the appliance clock steps back 10 minutes
    sim.add_sessions(4)  # end "now": 10 minutes before the sessions already stored
    sim.end_session(next(s.lsid for s in sim.sessions if s.end_time is None))
    out = c.run()
    assert any("went back by about 10 min" in w for r in out.results for w in r.warnings)
    for _ in range(3):
        sim.add_sessions(2)
        again = c.run()
        assert not any("went back" in w for r in again.results for w in r.warnings)


def test_one_day_back_then_forward_loses_nothing(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=30, in_progress=4)
    c = Clocked(store, sim, tmp_path)
    c.run()
    sim.clock_offset -= 86400
    sim.add_sessions(3)
    out = c.run()
    assert any("went back by about 1.0 days" in w or "24.0 h" in w for r in out.results for w in r.warnings)
    sim.add_sessions(2)  # still a day behind: the cursor came back to the appliance's time
    sim.end_session(next(s.lsid for s in sim.sessions if s.end_time is None))
    c.run()
    sim.clock_offset += 86400  # corrected again
    sim.add_sessions(3)
    c.run()
    sim.end_session(next(s.lsid for s in sim.sessions if s.end_time is None))
    sim.add_sessions(2)
    last = c.run()
    assert last.results[0].sessions_stored == 3  # the two new ones and the one that ended: nothing again


def test_session_claiming_to_end_in_2100_does_not_move_the_cursor(store, make_simulator, tmp_path, caplog):
    sim = make_simulator(sessions=30, in_progress=3)
    c = Clocked(store, sim, tmp_path)
    c.run()
    liar = next(s.lsid for s in sim.sessions if s.end_time is None)
    sim.store.end_session(liar, when=YEAR_2100)
    out = c.run()
    db, files = out.results
    assert files.sessions_stored == 1 and db.sessions_stored + db.quarantined == 1  # SQL may refuse 74 years
    assert any(liar in w and "2100-01-01" in w for w in files.warnings)
    assert "claims it ended at 2100" in caplog.text
    for n in (3, 1, 2):  # later sessions keep arriving; the liar is listed every time but stored once
        sim.add_sessions(n)
        again = c.run()
        assert again.results[0].sessions_stored == again.results[1].sessions_stored == n


@pytest.mark.parametrize("clock,appliance,host,back", [
    (None, 1000, 1000, 0),  # first run
    ((1000, 5000), 1600, 5600, 0),  # both clocks moved on together
    ((1000, 5000), 1000, 5600, 600),  # appliance 10 minutes behind where it should be
    ((1000, 5000), 2000, 5600, 0),  # appliance ahead: nothing to reach back for
    ((1000, 5000), 900, 4000, 100),  # host clock went back too: compare appliance readings only
    ((1000, 5000), None, 5600, 0),  # no Date header: cannot tell
])
def test_clock_went_back_table(clock, appliance, host, back):
    assert clock_went_back(clock, appliance, host) == back


def test_complete_window_caps_the_cursor_at_appliance_now():
    st = TransferState(cursor=1000, done={"a": 1100, "liar": YEAR_2100})
    st.complete_window(120, listed={"a", "liar"}, now=1200, host_now=9000)
    assert st.cursor == 1100 and "liar" in st.done and st.clock == (1200, 9000)
    st = TransferState(cursor=5000, start_cursor=5000)  # the appliance clock went back below the cursor
    st.complete_window(120, listed=set(), now=3000, host_now=9000)
    assert st.cursor == 3000 and st.start_cursor == 3000
    back = TransferState.from_json(st.to_json())
    assert back.clock == (3000, 9000) and back.reach_back == 0
    back.reach_back = 600
    assert back.end_bound(120, 0) == 3000 - 120 - 600
