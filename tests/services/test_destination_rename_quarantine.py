"""Renaming a destination moves its quarantine records at once, so verify lists them under the new name before any
run (the engine's own move at the start of a run is tested in tests/transfer/test_transfer_recording_quarantine.py)."""
from __future__ import annotations

from ic.services.destinations import edit_destination
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from tests.helpers import add_folder, add_schedule, add_site, closed_middle, fast_engine, poison, time_out_of_range


def test_a_renamed_destination_keeps_its_quarantine_before_the_next_run(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=8, seed=3)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "R", ("sim", "files", ["session"]))
    bad = closed_middle(sim)
    poison(sim, bad, time_out_of_range)
    assert run_schedule(store, "R", engine_factory=fast_engine, raise_internal=True).ok
    assert {(e.lsid, e.destination) for e in quarantine.list_quarantined()} == {(bad, "files")}

    edit_destination(store, "files", rename="archive")

    assert {(e.lsid, e.destination) for e in quarantine.list_quarantined()} == {(bad, "archive")}
