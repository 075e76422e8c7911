"""A window that reaches back over a clock step (the appliance clock went back, or this host's clock ran days ahead
for one run) lists sessions that were already stored: they are recognised from the state's ``recent`` map (lsids
finished in the last RECENT_SPAN below the overlap) and neither stored nor counted again; the sessions that really
ended in the gap are stored. Real simulator and SQLite; the host clock is the engine's injected ``host_clock``."""
from __future__ import annotations

import time

from ic.appliance import client_for_site
from ic.services.runs import run_schedule
from ic.transfer.engine import TransferEngine
from ic.transfer.state import RECENT_MAX, RECENT_SPAN, TransferState
from tests.helpers import add_schedule, add_site, add_sql, session_rows


def test_complete_window_remembers_what_it_prunes_for_a_while():
    st = TransferState()
    base = 10_000_000
    for i in range(10):
        st.mark_done(f"s{i}", base + i * 3600)
    st.complete_window(120, now=base + 10 * 3600)
    assert set(st.done) == {"s9"} and set(st.recent) == {f"s{i}" for i in range(9)}
    assert all(st.handled(f"s{i}") for i in range(10)) and not st.handled("other")
    assert not st.needs("s3", base + 3 * 3600, 120, 0)
    again = TransferState.from_json(st.to_json())
    assert again.recent == st.recent
    assert TransferState.from_json({"version": 1, "cursor": 5}).recent == {}  # a state saved before recent existed
    # older than RECENT_SPAN below the overlap: forgotten
    st.mark_done("late", base + RECENT_SPAN + 20 * 3600)
    st.complete_window(120, now=base + RECENT_SPAN + 20 * 3600)
    assert set(st.recent) == {f"s{i}" for i in range(9) if base + i * 3600 >= st.cursor - 120 - RECENT_SPAN}
    # capped: the newest RECENT_MAX are kept
    big = TransferState(cursor=base)
    big.recent = {f"r{i}": base - 1000 - i for i in range(RECENT_MAX + 50)}
    big.complete_window(120, now=base)
    assert len(big.recent) == RECENT_MAX and "r0" in big.recent and f"r{RECENT_MAX + 49}" not in big.recent


def _engine(host_clock):
    def factory(store_, **kw):
        def client(s, site):
            return client_for_site(s, site, max_rps=300, base_delay=0.01, max_delay=0.05)

        return TransferEngine(store_, client_factory=client, host_clock=host_clock, **kw)

    return factory


def test_host_clock_days_ahead_for_one_run_stores_and_counts_nothing_twice(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=25, seed=4, in_progress=0)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "N", ("sim", "db", ["session"]))
    ahead = [0.0]

    def host():
        return time.time() + ahead[0]

    out = run_schedule(store, "N", engine_factory=_engine(host), raise_internal=True)
    assert out.ok and out.results[0].sessions_stored == 25
    for _ in range(3):  # three runs, 8 hours apart (host and appliance clocks alike), 3 new sessions each
        sim.clock_offset += 8 * 3600
        ahead[0] += 8 * 3600
        sim.add_sessions(3)
        out = run_schedule(store, "N", engine_factory=_engine(host), raise_internal=True)
        assert out.results[0].sessions_stored == 3
    # the next night this host's clock runs three days ahead: it looks as if the appliance clock went back 3 days
    sim.clock_offset += 8 * 3600
    ahead[0] += 8 * 3600 + 3 * 86400
    sim.add_sessions(2)
    out = run_schedule(store, "N", engine_factory=_engine(host), raise_internal=True)
    assert any("went back" in w for w in out.results[0].warnings)  # reaches back over the "gap" ...
    assert out.results[0].sessions_stored == 2, out.results[0].summary()  # ... without storing 3 days again
    assert len(session_rows(url)) == 25 + 9 + 2


def test_appliance_clock_a_day_back_stores_the_gap_and_counts_only_it(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=20, seed=8, in_progress=0)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "N", ("sim", "db", ["session"]))
    assert run_schedule(store, "N", raise_internal=True).results[0].sessions_stored == 20
    for _ in range(3):  # three runs, 6 hours apart, 2 new sessions each
        sim.clock_offset += 6 * 3600
        sim.add_sessions(2)
        assert run_schedule(store, "N", raise_internal=True).results[0].sessions_stored == 2
    sim.clock_offset -= 86400  # NTP correction: the appliance clock steps back a day
    sim.add_sessions(4)  # they end "now": hours before sessions already stored
    out = run_schedule(store, "N", raise_internal=True)
    assert any("went back" in w for w in out.results[0].warnings)
    assert out.results[0].sessions_stored == 4, out.results[0].summary()
    assert set(session_rows(url)) == {s.lsid for s in sim.sessions}
