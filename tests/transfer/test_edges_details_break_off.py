"""One session whose details always break off on the way (a proxy cutting one huge session's document, every time)
does not stop the transfer night after night: the batch is asked for session by session, the others are stored and
the cursor moves, and that one is set aside (ERROR naming it, tried again at every run, its own retry not failing
the run) until the appliance can send it. An appliance that cuts every answer still fails the run, nothing set aside.

Real parts: HTTPS simulator (``broken_details``: every answer holding that session breaks off half way), real SQLite."""
from __future__ import annotations

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.state import TransferState
from tests.helpers import add_schedule, add_site, add_sql, closed_middle, fast_engine, session_rows


def _setup(store, sim, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site = add_site(store, sim)
    dest = add_sql(store, url)
    add_schedule(store, "D", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "10")
    return url, site, dest


def _run(store):
    return run_schedule(store, "D", engine_factory=fast_engine, raise_internal=True)


def test_a_session_whose_details_always_break_off_is_set_aside_night_after_night(store, make_simulator, tmp_path,
                                                                                  caplog):
    sim = make_simulator(sessions=30, seed=6, in_progress=0, rate_per_second=500)
    url, site, dest = _setup(store, sim, tmp_path)
    victim = closed_middle(sim)
    sim.faults.broken_details.add(victim)
    out = _run(store)
    assert out.ok, out.message()
    assert set(session_rows(url)) == {s.lsid for s in sim.sessions} - {victim}
    [entry] = quarantine.list_quarantined()
    assert entry.lsid == victim and "breaking off" in entry.reason
    assert [r for r in caplog.records if r.levelname == "ERROR" and victim in r.getMessage()]
    assert TransferState.from_json(store.load_state(site.id, dest.id, "session")).cursor is not None
    for night in range(2):  # it alone in the quarantine's retry: the run still goes through
        new = sim.add_sessions(3)
        out = _run(store)
        assert out.ok, out.message()
        assert {s.lsid for s in new} <= set(session_rows(url))
        assert [e.lsid for e in quarantine.list_quarantined()] == [victim]
        assert any(victim in w and "tried at the next run" in w for w in out.results[0].warnings)
    sim.faults.broken_details.clear()
    assert _run(store).ok
    assert set(session_rows(url)) == {s.lsid for s in sim.sessions} and quarantine.list_quarantined() == []


def test_an_appliance_that_cuts_every_answer_still_fails_the_run(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=8, seed=6, in_progress=0, rate_per_second=500)
    url, site, dest = _setup(store, sim, tmp_path)
    sim.faults.broken_details.update(s.lsid for s in sim.sessions)
    out = _run(store)
    assert out.status == "failed", out.message()
    assert quarantine.list_quarantined() == []
    assert TransferState.from_json(store.load_state(site.id, dest.id, "session")).cursor is None
