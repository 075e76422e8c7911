"""A bug in this program's storing of recordings (a TypeError in the destination's store_file for every file) fails
the transfer with one sentence instead of setting every recording of the run aside as if each were at fault; once
fixed, the next run stores them all. The session data of the run is kept (stored before the recordings).

Real parts: HTTPS simulator, real folder; the "bug" is our store_file patched to raise (the only stand-in)."""
from __future__ import annotations

from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.state import TransferState
from tests.helpers import add_folder, add_schedule, add_site, count_kinds, expected_files, fast_engine


def test_a_store_file_bug_fails_the_transfer_instead_of_setting_every_recording_aside(store, make_simulator,
                                                                                      tmp_path, monkeypatch):
    from ic.destinations import folder

    sim = make_simulator(sessions=20, seed=11, recording_size=2000, rate_per_second=500)
    site = add_site(store, sim)
    dest = add_folder(store, tmp_path / "files")
    add_schedule(store, "R", ("sim", "files", ["session", "recordings", "shell"]))

    def broken(self, item):
        raise TypeError(f"can only concatenate str (not 'NoneType') to str ({item.session.lsid})")

    monkeypatch.setattr(folder.FolderDestination, "store_file", broken)
    out = run_schedule(store, "R", engine_factory=fast_engine, raise_internal=True)
    assert out.status == "failed", out.message()
    assert "TypeError" in out.message() and "fault in this program" in out.message()
    assert quarantine.list_quarantined() == []
    assert TransferState.from_json(store.load_state(site.id, dest.id, "recordings")).cursor is None
    monkeypatch.undo()
    out = run_schedule(store, "R", engine_factory=fast_engine, raise_internal=True)
    assert out.ok, out.message()
    want = expected_files(sim)
    got = count_kinds(tmp_path / "files")
    assert got["recordings"] == want["recordings"] and got["shell"] == want["shell"]
    assert quarantine.list_quarantined() == []
