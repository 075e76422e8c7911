"""A quarantined session the appliance no longer has (aged out) is not kept in the quarantine for ever: once the
appliance has not returned it on two runs in a row, a day apart or more, it is released into the quarantine's ``expired`` folder with its
raw XML (logged once, naming the lsid and the file), is no longer asked for, and verify reports it as expired (not as a
gap that keeps the archive incomplete for ever). One empty answer, or empty answers for an hour (a transient
error), never drop a record.

Real parts: HTTPS simulator, real SQLite, the real quarantine folder."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ic.services import verify as V
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from tests.helpers import add_schedule, add_site, add_sql, closed_middle, poison, time_out_of_range


@pytest.fixture
def days(monkeypatch):
    """The quarantine's clock, moved on by hand: ``days.append(n)`` adds n days."""
    start = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    moved: list[float] = [0]
    monkeypatch.setattr(quarantine, "_now", lambda: (start + timedelta(days=sum(moved))).isoformat().replace(
        "+00:00", "Z"))
    return moved


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


def test_a_quarantined_session_gone_from_the_appliance_is_released_with_its_xml(store, simulator, tmp_path, caplog,
                                                                               days):
    victim, _, raw = _setup(store, simulator, tmp_path)
    simulator.delete_session(victim)

    out = _run(store)  # 1st miss: kept, asked for again
    assert any(victim in w and "asked for again" in w for w in out.results[0].warnings)
    [entry] = quarantine.list_quarantined()
    assert not entry.gone and quarantine.list_expired() == []
    assert not V.verify(store, "sim", "db").complete  # still a quarantined session: its only copy is kept
    days.append(0.5)
    _run(store)  # 2nd miss, half a day later: not yet proof
    assert [e.lsid for e in quarantine.list_quarantined()] == [victim]

    caplog.clear()
    days.append(0.6)
    out = _run(store)  # a day after the first miss: released
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


def test_one_empty_answer_never_drops_a_quarantine_record(store, simulator, tmp_path, days):
    victim, healed, _ = _setup(store, simulator, tmp_path)
    hide = _hidden(simulator, victim)
    _run(store)  # the appliance answers empty once
    assert quarantine.list_quarantined()[0].lsid == victim
    hide.clear()
    days.append(2)
    _run(store)  # it sends the session again (still unreadable): the count starts over
    [entry] = quarantine.list_quarantined()
    assert entry.attempts == 2 and "missing_runs" not in json.loads(
        next(quarantine.root().rglob("*--db.json")).read_text())
    hide = _hidden(simulator, victim)
    _run(store)  # one more empty answer: not two in a row
    days.append(2)
    assert [e.lsid for e in quarantine.list_quarantined()] == [victim] and quarantine.list_expired() == []
    hide.clear()
    healed.clear()
    _run(store)  # back and readable: stored, released, nothing expired
    assert quarantine.list_quarantined() == [] and quarantine.list_expired() == []
    assert V.verify(store, "sim", "db").complete


def test_a_record_marked_gone_by_an_older_version_is_asked_for_again(store, simulator, tmp_path, days):
    victim, _, _ = _setup(store, simulator, tmp_path)
    [path] = [p for p in quarantine.root().rglob("*.json")]
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "gone": True}))  # what the previous version wrote after one miss
    simulator.delete_session(victim)
    before = len(simulator.log)
    _run(store)
    assert _asked_for(simulator, victim, before)
    assert [e.lsid for e in quarantine.list_quarantined()] == [victim]  # its day starts now
    days.append(1)
    _run(store)
    assert quarantine.list_quarantined() == [] and [e.lsid for e in quarantine.list_expired()] == [victim]


def test_expired_records_follow_a_renamed_destination_and_keep_the_xml_another_destination_needs(days):
    quarantine.put("h:1", "L1", "db", ["session"], "bad", raw=b"<session lsid='L1'/>", destination_id=5)
    quarantine.put("h:1", "L1", "files", ["session"], "bad", destination_id=6)
    for _ in range(quarantine.CONFIRM_GONE):
        quarantine.mark_gone("h:1", "L1", "db")
        days.append(1)
    [gone] = quarantine.list_expired()
    assert gone.destination == "db" and gone.path.read_bytes() == b"<session lsid='L1'/>"
    [live] = quarantine.list_quarantined()
    assert live.destination == "files" and live.path.read_bytes() == b"<session lsid='L1'/>"  # still needed there
    assert quarantine.follow_rename("h:1", "warehouse", 5) == 1
    assert [e.destination for e in quarantine.list_expired()] == ["warehouse"]
