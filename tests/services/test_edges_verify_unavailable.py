"""Recordings the appliance would no longer serve when the schedule asked (expired) are reported by verify as
unavailable, not as partial sessions that keep the weekly verify "NOT complete" until someone runs a repair; a
verify of a time window does not make a later full verify forget what it knew.

Real parts: HTTPS simulator (``expired_recordings``: answered "expired", and they stay expired), real folder."""
from __future__ import annotations

from datetime import datetime, timezone

from ic.services import verify as V
from ic.services.runs import run_schedule
from tests.helpers import add_folder, add_schedule, add_site

TYPES = ["session", "recordings", "shell", "smsr"]


def _expired_night(store, sim, tmp_path):
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "N", ("sim", "files", TYPES))
    sim.faults.expired_recordings = True
    out = run_schedule(store, "N", raise_internal=True)
    assert out.ok and out.results[0].files_skipped > 0, out.message()
    sim.faults.expired_recordings = False
    return {s.lsid for s in sim.sessions
            if s.end_time and any(s.recording_instances(k) for k in ("recordings", "shell", "smsr"))}


def test_recordings_the_appliance_refused_to_the_schedule_are_unavailable_not_partial(store, make_simulator,
                                                                                       tmp_path):
    sim = make_simulator(sessions=12, seed=4, in_progress=0, recording_size=1500)
    with_files = _expired_night(store, sim, tmp_path)
    report = V.verify(store, "sim", "files")
    assert report.complete, report.summary()
    assert {f.lsid for f in report.findings if f.status == "unavailable"} == with_files
    assert not [f for f in report.findings if f.status in ("partial", "missing")]


def test_a_window_verify_does_not_forget_what_a_repair_learned(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=12, seed=4, in_progress=0, recording_size=1500)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "N", ("sim", "files", ["session"]))
    assert run_schedule(store, "N", raise_internal=True).ok  # session data only; then the recordings expire
    sim.faults.expired_recordings = True
    repaired = V.verify_and_repair(store, "sim", "files", ["session", "recordings"], do_repair=True)
    assert repaired.complete and repaired.counts()["unavailable"] > 0
    newest = max(s.start_time for s in sim.sessions)
    V.verify(store, "sim", "files", ["session", "recordings"],
             start=datetime.fromtimestamp(newest, timezone.utc))  # a window holding one session
    again = V.verify(store, "sim", "files", ["session", "recordings"])
    assert again.complete and again.counts()["unavailable"] == repaired.counts()["unavailable"]
