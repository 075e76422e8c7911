"""Regressions found by tests/soak/test_soak.py, each pinned with the smallest scenario that showed it."""
from __future__ import annotations

from ic.services.runs import run_schedule
from tests.helpers import add_schedule, add_site, add_sql, session_rows


def test_session_ending_during_a_run_is_not_skipped_by_a_later_ending_running_session(store, make_simulator,
                                                                                         tmp_path):
    """A session that closes after the listing (not listed) must be found by the next run even when a session that
    was running at listing time ends later still and is stored in the same run: its end time is newer than
    anything the listing covered, so it must not become the cursor (the new session would fall below
    cursor - overlap and be lost for ever)."""
    sim = make_simulator(sessions=20, in_progress=2)
    url = f"sqlite:///{tmp_path / 'out.db'}"
    add_site(store, sim)
    add_sql(store, url)
    add_schedule(store, "R", ("sim", "db", ["session"]))
    store.set_setting("transfer_batch_size", "1")  # details one by one: the running session comes last
    running = [s.lsid for s in sim.sessions if s.end_time is None]
    late: list[str] = []

    def listener(ev):  # after the listings: a session closes now, then (10 minutes later) a running one ends
        if ev.phase == "sessions" and not late:
            late.extend(s.lsid for s in sim.add_sessions(1))
            sim.clock_offset += 600
            for lsid in running:
                sim.end_session(lsid)

    assert run_schedule(store, "R", listener, raise_internal=True).ok
    assert run_schedule(store, "R", raise_internal=True).ok
    stored = session_rows(url)
    assert late[0] in stored, "the session that closed during the first run was skipped"
    assert set(stored) == {s.lsid for s in sim.sessions}
    assert all(stored[lsid] is not None for lsid in running)


def test_complete_window_cursor_comes_only_from_listed_sessions():
    from ic.transfer.state import TransferState

    st = TransferState(cursor=10_000, done={"listed": 10_200, "ended-later": 11_000, "gone": None})
    st.complete_window(120, listed={"listed", "gone"})
    assert st.cursor == 10_200  # not 11_000: that session was running when the window was listed
    assert st.done == {"listed": 10_200, "ended-later": 11_000}  # kept: the next listing skips it


def test_session_deleted_before_its_recording_download_is_skipped_not_a_failed_run(store, make_simulator, tmp_path):
    """The appliance ages a session out after its details were stored but before its recordings were fetched: the
    recording answer is "Invalid lsid." (the session is gone, like an expired recording) -> warned and skipped,
    not a failed run (which would mail an error for a normal appliance event), and nothing is left pending."""
    from tests.helpers import add_folder

    sim = make_simulator(sessions=12, in_progress=0)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "F", ("sim", "files", ["session", "recordings", "shell"]))
    victim = next(s for s in sim.sessions if s.recording)
    gone: list[str] = []

    def listener(ev):  # the first recording download is about to start: the victim ages out now
        if ev.phase == "files" and not gone:
            gone.append(victim.lsid)
            sim.delete_session(victim.lsid)

    out = run_schedule(store, "F", listener, raise_internal=True)
    assert out.status == "ok", out.errors
    assert any(victim.lsid in w for w in out.results[0].warnings)
    files = [p.name for p in (tmp_path / "files").iterdir()]
    assert any(victim.lsid in n and n.endswith(".xml") for n in files)  # its details had been stored
    assert not any(victim.lsid in n and n.endswith(".flv") for n in files)
    again = run_schedule(store, "F", raise_internal=True)
    assert again.status == "ok" and again.results[0].files_stored == 0


_KILLED_WRITER = r"""
import os, sys
from ic.destinations.folder import FolderDestination
from ic.sessions.parser import iter_sessions

dest = FolderDestination("f", {"directory": sys.argv[1]})
sessions = list(iter_sessions(sys.argv[2], "batch", "rs"))
original, calls = FolderDestination._write, []

def write(self, *args, **kwargs):  # the process dies (no finally blocks) while writing the 2nd session of the batch
    if calls:
        os._exit(9)
    calls.append(1)
    return original(self, *args, **kwargs)

FolderDestination._write = write
dest.store_sessions("support.example.com", sessions)
"""


def test_folder_killed_after_writing_a_running_session_still_replaces_it_when_it_ends(tmp_path):
    """A process killed in the middle of a batch, after the XML of a running session was written but before the
    in-progress index was saved, must not make the ended version a second file (x.1.xml) next run."""
    import subprocess
    import sys
    from pathlib import Path

    from ic.destinations.folder import FolderDestination
    from ic.sessions.parser import iter_sessions
    from ic.simulator import Simulator
    from ic.simulator.reports import RS_NAMESPACE

    sim = Simulator(sessions=6, in_progress=1, seed=5)  # data only, no server
    running = next(s for s in sim.sessions if s.end_time is None)
    other = next(s for s in sim.sessions if s.end_time is not None)

    def document(*lsids: str) -> bytes:
        return (f'<?xml version="1.0" encoding="UTF-8"?><session_list xmlns="{RS_NAMESPACE}">'.encode()
                + b"".join(sim.session_xml(x) for x in lsids) + b"</session_list>")

    folder, batch = tmp_path / "files", tmp_path / "batch.xml"
    folder.mkdir()
    batch.write_bytes(document(running.lsid, other.lsid))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(folder), str(batch)], cwd=root,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)}, capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert [p.name for p in folder.glob("*.xml")] == [f"support.example.com-support-{running.lsid}.xml"]

    sim.end_session(running.lsid)  # the next run: the session has ended meanwhile
    ended = list(iter_sessions(document(running.lsid), "ended", "rs"))
    assert not ended[0].in_progress
    FolderDestination("f", {"directory": str(folder)}).store_sessions("support.example.com", ended)
    files = sorted(p.name for p in folder.glob("*.xml"))
    assert files == [f"support.example.com-support-{running.lsid}.xml"], files
    assert next(iter_sessions(folder / files[0])).end_time == sim.session(running.lsid).end_time


def test_shell_instances_of_a_session_deleted_mid_download_do_not_stay_pending(store, make_simulator, tmp_path):
    """A run stops after one of a session's command-shell recordings was stored; the appliance then ages the session
    out. The next complete window must forget the half-done session (state JSON stays bounded), not keep it in
    ``partial`` for ever."""
    from ic.transfer.engine import TransferEngine, default_destination_factory
    from ic.transfer.state import TransferState
    from tests.helpers import add_folder

    sim = make_simulator(sessions=40, in_progress=0)
    victim = next(s for s in sim.sessions if s.shell_instances >= 2)
    add_site(store, sim)
    add_folder(store, tmp_path / "files")
    add_schedule(store, "P", ("sim", "files", ["shell"]))
    store.set_setting("transfer_download_workers", "1")

    class Stop(Exception):
        pass

    def stopping_engine(store_, **kw):
        def destination(cfg):
            real = default_destination_factory(cfg)
            original, stored = real.store_file, []

            def store_file(item):
                if item.session.lsid == victim.lsid and stored:
                    raise Stop("the run dies before the second shell recording of the victim")
                out = original(item)
                if item.session.lsid == victim.lsid:
                    stored.append(item.instance)
                return out

            real.store_file = store_file
            return real

        return TransferEngine(store_, destination_factory=destination, **kw)

    assert run_schedule(store, "P", engine_factory=stopping_engine).status == "internal error"
    ids = (store.get_site("sim").id, store.get_destination("files").id, "shell")
    assert victim.lsid in TransferState.from_json(store.load_state(*ids)).partial
    sim.delete_session(victim.lsid)
    assert run_schedule(store, "P", raise_internal=True).ok
    assert TransferState.from_json(store.load_state(*ids)).partial == {}
