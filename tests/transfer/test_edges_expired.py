"""A quarantined session the appliance no longer has (aged out) is not kept in the quarantine for ever: once the
appliance has not returned it on two runs in a row it is released into the quarantine's ``expired`` folder with its
raw XML (logged once, naming the lsid and the file), is no longer asked for, and verify reports it as expired (not as a
gap that keeps the archive incomplete for ever). One empty answer (a transient error) never drops a record.

Real parts: HTTPS simulator, real SQLite, the real quarantine folder."""
from __future__ import annotations

import json

from ic.services import verify as V
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from tests.helpers import add_schedule, add_site, add_sql, closed_middle, poison, time_out_of_range


def _setup(store, sim, tmp_path):
    add_site(store, sim)
    add_sql(store, f"sqlite:///{tmp_path / 'out.db'}")
    add_schedule(store, "G", ("sim", "db", ["session"]))
    victim = closed_middle(sim)
    healed = poison(sim, victim, time_out_of_range)
    assert run_schedule(store, "G", raise_internal=True).ok
    [entry] = quarantine.list_quarantined()
    assert entry.lsid == victim
    return victim, healed, entry.path.read_bytes()


def _run(store):
    out = run_schedule(store, "G", raise_internal=True)
    assert out.ok, out.message()
    return out


def _hidden(sim, lsid):
    """The appliance answers as if it did not have ``lsid`` (an empty answer) until the returned list is cleared."""
    real = sim.store.get
    on = [True]
    sim.store.get = lambda x: None if on and x == lsid else real(x)
    return on


def _asked_for(sim, lsid, before):
    return [r for r in list(sim.log)[before:] if lsid in str(r.get("params"))]


def test_a_quarantined_session_gone_from_the_appliance_is_released_with_its_xml(store, simulator, tmp_path, caplog):
    victim, _, raw = _setup(store, simulator, tmp_path)
    simulator.delete_session(victim)

    out = _run(store)  # 1st miss: kept, asked for once more
    assert any(victim in w and "asked for once more" in w for w in out.results[0].warnings)
    [entry] = quarantine.list_quarantined()
    assert not entry.gone and quarantine.list_expired() == []
    assert not V.verify(store, "sim", "db").complete  # still a quarantined session: its only copy is kept

    caplog.clear()
    out = _run(store)  # 2nd run in a row: released
    released = [w for w in out.results[0].warnings if victim in w]
    assert len(released) == 1 and "released" in released[0] and "expired" in released[0]
    assert quarantine.list_quarantined() == []
    [gone] = quarantine.list_expired()
    assert gone.lsid == victim and gone.gone and gone.destination == "db"
    assert gone.path.read_bytes() == raw and gone.path.parent.name == "expired" and str(gone.path) in released[0]
    assert not [p for p in quarantine.root().rglob("*") if p.is_file() and p.parent.name != "expired"]

    before = len(simulator.log)
    out = _run(store)  # never asked for again, nothing more said
    assert not _asked_for(simulator, victim, before)
    assert not [w for w in out.results[0].warnings if victim in w]

    report = V.verify(store, "sim", "db")
    [f] = [f for f in report.findings if f.status != "present"]
    assert (f.lsid, f.status, f.appliance) == (victim, "expired", "gone") and str(gone.path) in f.note
    assert report.complete and "1 expired" in report.summary()
    assert any(victim in line and "expired" in line for line in report.details())


def test_one_empty_answer_never_drops_a_quarantine_record(store, simulator, tmp_path):
    victim, healed, _ = _setup(store, simulator, tmp_path)
    hide = _hidden(simulator, victim)
    _run(store)  # the appliance answers empty once
    assert quarantine.list_quarantined()[0].lsid == victim
    hide.clear()
    _run(store)  # it sends the session again (still unreadable): the count starts over
    [entry] = quarantine.list_quarantined()
    assert entry.attempts == 2 and "missing_runs" not in json.loads(
        next(quarantine.root().rglob("*--db.json")).read_text())
    hide = _hidden(simulator, victim)
    _run(store)  # one more empty answer: not two in a row
    assert [e.lsid for e in quarantine.list_quarantined()] == [victim] and quarantine.list_expired() == []
    hide.clear()
    healed.clear()
    _run(store)  # back and readable: stored, released, nothing expired
    assert quarantine.list_quarantined() == [] and quarantine.list_expired() == []
    assert V.verify(store, "sim", "db").complete


def test_a_record_marked_gone_by_an_older_version_is_asked_for_once_more(store, simulator, tmp_path):
    victim, _, _ = _setup(store, simulator, tmp_path)
    [path] = [p for p in quarantine.root().rglob("*.json")]
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "gone": True}))  # what the previous version wrote after one miss
    simulator.delete_session(victim)
    before = len(simulator.log)
    _run(store)
    assert _asked_for(simulator, victim, before)
    assert quarantine.list_quarantined() == [] and [e.lsid for e in quarantine.list_expired()] == [victim]


def test_expired_records_follow_a_renamed_destination_and_keep_the_xml_another_destination_needs():
    quarantine.put("h:1", "L1", "db", ["session"], "bad", raw=b"<session lsid='L1'/>", destination_id=5)
    quarantine.put("h:1", "L1", "files", ["session"], "bad", destination_id=6)
    for _ in range(quarantine.CONFIRM_GONE):
        quarantine.mark_gone("h:1", "L1", "db")
    [gone] = quarantine.list_expired()
    assert gone.destination == "db" and gone.path.read_bytes() == b"<session lsid='L1'/>"
    [live] = quarantine.list_quarantined()
    assert live.destination == "files" and live.path.read_bytes() == b"<session lsid='L1'/>"  # still needed there
    assert quarantine.follow_rename("h:1", "warehouse", 5) == 1
    assert [e.destination for e in quarantine.list_expired()] == ["warehouse"]
