"""A session or recording that must be set aside while the quarantine folder cannot be written (a file in its
place, a full disk) is not lost: the transfer stops with one sentence naming the folder, its cursor stays, and once
the folder can be written the next run sets it aside and stores the rest.

Real parts: HTTPS simulator, real SQLite and folder; the quarantine folder is blocked by a real file."""
from __future__ import annotations

import shutil

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.state import TransferState
from tests.helpers import (add_folder, add_schedule, add_site, add_sql, closed_middle, fast_engine, poison,
                           session_rows, time_out_of_range)


def _blocked():
    root = quarantine.root()
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("in the way")
    return root


def test_a_session_is_not_lost_when_the_quarantine_cannot_be_written(store, simulator, tmp_path):
    url = f"sqlite:///{tmp_path / 'out.db'}"
    site = add_site(store, simulator)
    dest = add_sql(store, url)
    add_schedule(store, "Q", ("sim", "db", ["session"]))
    victim = closed_middle(simulator)
    poison(simulator, victim, time_out_of_range)
    root = _blocked()
    out = run_schedule(store, "Q", raise_internal=True)
    assert out.status == "failed", out.message()
    assert "could not be set aside" in out.message() and str(root) in out.message() and victim in out.message()
    st = TransferState.from_json(store.load_state(site.id, dest.id, "session"))
    assert st.cursor is None and victim not in st.done
    root.unlink()
    out = run_schedule(store, "Q", raise_internal=True)
    assert out.ok, out.message()
    assert set(session_rows(url)) == {s.lsid for s in simulator.sessions} - {victim}
    assert [e.lsid for e in quarantine.list_quarantined()] == [victim]


def test_a_recording_is_not_lost_when_the_quarantine_cannot_be_written(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=12, seed=11, recording_size=2000, rate_per_second=500)
    site = add_site(store, sim)
    dest = add_folder(store, tmp_path / "files")
    add_schedule(store, "R", ("sim", "files", ["session", "recordings"]))
    victim = next(s for s in sim.sessions if s.recording and s.end_time)
    sim.faults.broken_recordings[f"{victim.lsid}:recordings"] = "error"
    root = _blocked()
    out = run_schedule(store, "R", engine_factory=fast_engine, raise_internal=True)
    assert out.status == "failed" and str(root) in out.message(), out.message()
    assert TransferState.from_json(store.load_state(site.id, dest.id, "recordings")).cursor is None
    root.unlink()
    out = run_schedule(store, "R", engine_factory=fast_engine, raise_internal=True)
    assert out.ok and out.results[0].files_quarantined == 1, out.message()
    assert [(e.lsid, e.kind) for e in quarantine.list_quarantined()] == [(victim.lsid, "recordings")]
