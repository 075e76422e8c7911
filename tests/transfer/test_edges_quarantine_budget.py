"""Thousands of set-aside sessions do not cost thousands of appliance requests on every run: each run asks again
for those of at most RETRY_PER_RUN sessions, least recently tried first, so every one still gets its turn on a later
run and none is dropped.

Real parts: HTTPS simulator, real SQLite, the real quarantine folder."""
from __future__ import annotations

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from tests.helpers import add_schedule, add_site, add_sql, poison, session_rows, time_out_of_range


def test_the_least_recently_tried_come_first_and_each_gets_its_turn(monkeypatch):
    for n in range(12):
        quarantine.put("h:1", f"L{n:02d}", "db", ["session"], "bad")
        quarantine.put_file("h:1", f"L{n:02d}", "db", "shell", 0, "cut")
    seen: list[set[str]] = []
    for run in range(1, 4):
        batch = quarantine.pending("h:1", "db", limit=5)
        lsids = {e.lsid for e in batch}
        assert len(lsids) == 5 and not (seen and lsids & seen[-1])
        assert {(e.lsid, e.kind) for e in batch} == {(x, k) for x in lsids for k in (None, "shell")}  # whole sessions
        seen.append(lsids)
        monkeypatch.setattr(quarantine, "_now", lambda run=run: f"2030-01-0{run}T00:00:00Z")
        for lsid in lsids:  # tried again this run (still bad): its records say when
            quarantine.put("h:1", lsid, "db", ["session"], "bad")
            quarantine.put_file("h:1", lsid, "db", "shell", 0, "cut")
    assert set().union(*seen[:3]) == {f"L{n:02d}" for n in range(12)}
    assert len(quarantine.pending("h:1", "db")) == 24  # under the default budget: all of them


def test_a_run_asks_for_at_most_the_budget_and_the_rest_come_later(store, make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(sessions=30, seed=5, in_progress=0)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "Q", ("sim", "db", ["session"]))
    victims = [s.lsid for s in sim.sessions][:8]
    heals = [poison(sim, v, time_out_of_range) for v in victims]
    assert run_schedule(store, "Q", raise_internal=True).ok
    assert {e.lsid for e in quarantine.list_quarantined()} == set(victims)
    monkeypatch.setattr(quarantine, "RETRY_PER_RUN", 3)
    for heal in heals:
        heal.clear()  # readable again: each is stored on its turn
    stored_per_run = []
    for _ in range(3):
        before = len(sim.log)
        out = run_schedule(store, "Q", raise_internal=True)
        assert out.ok, out.message()
        asked = " ".join(str(r.get("params")) for r in list(sim.log)[before:])
        assert sum(v in asked for v in victims) <= 3
        stored_per_run.append(out.results[0].sessions_stored)
    assert stored_per_run == [3, 3, 2]
    assert quarantine.list_quarantined() == []
    assert set(session_rows(url)) == {s.lsid for s in sim.sessions}
