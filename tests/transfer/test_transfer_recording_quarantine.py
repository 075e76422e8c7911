"""One recording that cannot be stored never fails the transfer: it is set aside like a bad session (ERROR once
naming the lsid, the recording and the reason; listed by the quarantine and verify; tried again at each later run;
never holding the cursor back), while an appliance or destination that is down still fails the transfer with nothing
set aside.

Real parts: HTTPS simulator with its fault switches (``broken_recordings``: a recording whose body breaks off, or
that the appliance answers with an error, every time; ``big_recordings``), a real folder, a real file-size limit."""
from __future__ import annotations

import resource
import signal

import pytest

from ic.services import verify as V
from ic.services.runs import run_schedule
from ic.transfer import quarantine
from ic.transfer.state import TransferState
from tests.helpers import add_folder, add_schedule, add_site, fast_engine

TYPES = ["session", "recordings", "shell"]


def _setup(store, sim, folder):
    site = add_site(store, sim)
    dest = add_folder(store, folder)
    add_schedule(store, "R", ("sim", "files", TYPES))
    return site, dest


def _run(store):
    return run_schedule(store, "R", engine_factory=fast_engine, raise_internal=True)


def _with_shell(sim, at_least=1):
    return next(s for s in sim.sessions if s.end_time and s.shell_instances >= at_least and s.recording)


def _names(folder, lsid):
    return sorted(p.name for p in folder.iterdir() if lsid in p.name and not p.name.endswith(".xml"))


@pytest.mark.parametrize("mode", ["cut", "error"])
def test_one_recording_that_always_fails_is_set_aside_and_tried_again(store, make_simulator, tmp_path, caplog, mode):
    sim = make_simulator(sessions=20, seed=11, recording_size=3000, rate_per_second=500)
    folder = tmp_path / "files"
    site, dest = _setup(store, sim, folder)
    victim = _with_shell(sim)
    sim.faults.broken_recordings[f"{victim.lsid}:shell:0"] = mode

    out = _run(store)
    assert out.status == "ok", out.errors
    [result] = out.results
    assert result.files_quarantined == 1 and "1 recording(s) set aside" in result.summary()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and victim.lsid in errors[0] and "shell" in errors[0] and "#0" in errors[0]
    # the session and its other recordings landed; the cursor moved for every type
    names = _names(folder, victim.lsid)
    assert not any(n.endswith("-shell-0.flv") for n in names) and len(names) == victim.shell_instances
    for t in TYPES:
        assert TransferState.from_json(store.load_state(site.id, dest.id, t)).cursor is not None
    [entry] = quarantine.list_quarantined(sim.host)
    assert (entry.lsid, entry.destination, entry.kind, entry.instance, entry.file) == (
        victim.lsid, "files", "shell", 0, "shell #0")
    assert entry.reason and entry.attempts == 1
    # verify reports it as quarantined, not as simply missing
    report = V.verify(store, "sim", "files")
    finding = next(f for f in report.findings if f.lsid == victim.lsid)
    assert finding.status == "quarantined" and "shell #0" in finding.lacking

    # the 2nd run: tried again (a warning, no second ERROR), still set aside, nothing else stored again
    caplog.clear()
    out = _run(store)
    assert out.ok and out.results[0].files_quarantined == 1
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert quarantine.list_quarantined(sim.host)[0].attempts == 2
    assert out.results[0].sessions_stored == 0

    # the appliance serves it again: stored, out of the quarantine; a further run does nothing
    sim.faults.broken_recordings.clear()
    out = _run(store)
    assert out.ok and out.results[0].files_stored == 1, out.results[0].summary()
    assert any(n.endswith("-shell-0.flv") for n in _names(folder, victim.lsid))
    assert quarantine.list_quarantined() == []
    again = _run(store)
    assert again.ok and again.results[0].files_stored == 0 and again.results[0].files_quarantined == 0


def test_set_aside_recording_that_expired_since_leaves_the_quarantine(store, make_simulator, tmp_path):
    sim = make_simulator(sessions=12, seed=3, recording_size=2000, rate_per_second=500)
    _setup(store, sim, tmp_path / "files")
    victim = _with_shell(sim)
    sim.faults.broken_recordings[victim.lsid] = "error"  # every recording of the session
    out = _run(store)
    assert out.ok and out.results[0].files_quarantined == 1 + victim.shell_instances
    sim.faults.broken_recordings.clear()
    sim.faults.expired_recordings = True
    out = _run(store)
    assert out.ok and out.results[0].files_skipped == 1 + victim.shell_instances
    assert quarantine.list_quarantined() == []


def test_appliance_gone_while_recordings_download_fails_the_transfer_with_nothing_set_aside(
        store, make_simulator, tmp_path):
    sim = make_simulator(sessions=12, seed=5, recording_size=2000, rate_per_second=500)
    site, dest = _setup(store, sim, tmp_path / "files")
    stopped = []

    def listener(ev):
        if ev.phase == "files" and not stopped:
            stopped.append(True)
            sim.stop(keep_certs=True)  # the appliance goes away: every download and the probe fail

    out = run_schedule(store, "R", listener, engine_factory=fast_engine)
    assert stopped and out.status == "failed", out.message()
    assert quarantine.list_quarantined() == []
    assert TransferState.from_json(store.load_state(site.id, dest.id, "recordings")).cursor is None


def test_a_recording_too_big_for_the_file_system_is_set_aside_but_every_file_too_big_fails(
        store, make_simulator, tmp_path):
    """A real file-size limit (RLIMIT_FSIZE, as a FAT32 disk or a quota gives): the write fails with EFBIG."""
    sim = make_simulator(sessions=10, seed=9, recording_size=2000, rate_per_second=500)
    _setup(store, sim, tmp_path / "files")
    victim = _with_shell(sim)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000_000, hard))
        sim.faults.big_recordings[f"{victim.lsid}:recordings"] = 6_000_000
        out = _run(store)
        assert out.ok and out.results[0].files_quarantined == 1, out.message()
        [entry] = quarantine.list_quarantined()
        assert entry.lsid == victim.lsid and entry.kind == "recordings" and "too large" in entry.reason.lower()

        # every recording too big (new sessions' too): the destination's fault, nothing new set aside
        new = sim.add_sessions(6)
        for s in new:
            sim.faults.big_recordings[s.lsid] = 6_000_000
        with_files = [s for s in new if s.recording or s.shell_instances]
        assert len(with_files) >= 2 and sum(bool(s.recording) + s.shell_instances for s in with_files) >= 3
        out = run_schedule(store, "R", engine_factory=fast_engine)
        assert out.status == "failed" and "too large" in out.message().lower(), out.message()
        assert [(e.lsid, e.kind) for e in quarantine.list_quarantined()] == [(victim.lsid, "recordings")]
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


class _FolderRefusing:
    """Real File System destinations whose file system refuses recordings the way the plugin reports it
    (DestinationUnavailable caused by the OSError): for one session (a name it rejects), or for every file (full)."""

    @staticmethod
    def plugin(errno_code: int, only_lsid: str | None):
        import errno as errno_mod
        import os

        from ic.destinations.folder import FolderDestination
        from ic.errors import DestinationUnavailable

        class Refusing(FolderDestination):
            def store_file(self, item):
                if item.kind != "backup" and (only_lsid is None or item.session.lsid == only_lsid):
                    err = DestinationUnavailable(f"Could not write a file in folder x ({os.strerror(errno_code)}).")
                    err.__cause__ = OSError(errno_code, os.strerror(errno_code))
                    raise err
                return super().store_file(item)

        assert errno_mod.errorcode[errno_code]
        return Refusing

    @classmethod
    def engine(cls, errno_code: int, only_lsid: str | None = None):
        from ic.appliance import client_for_site
        from ic.transfer.engine import TransferEngine

        plugin = cls.plugin(errno_code, only_lsid)

        def factory(store_, **kw):
            def client(s, site):
                return client_for_site(s, site, max_rps=200, base_delay=0.02, max_delay=0.2)

            return TransferEngine(store_, client_factory=client,
                                  destination_factory=lambda cfg: plugin(cfg.name, cfg.config), **kw)

        return factory


def test_a_name_the_file_system_rejects_sets_that_recording_aside(store, make_simulator, tmp_path):
    import errno

    sim = make_simulator(sessions=12, seed=2, recording_size=1500, rate_per_second=500)
    _setup(store, sim, tmp_path / "files")
    victim = _with_shell(sim)
    out = run_schedule(store, "R", engine_factory=_FolderRefusing.engine(errno.ENAMETOOLONG, victim.lsid),
                       raise_internal=True)
    assert out.ok, out.message()
    entries = quarantine.list_quarantined()
    assert {e.lsid for e in entries} == {victim.lsid} and len(entries) == 1 + victim.shell_instances
    assert all("too long" in e.reason for e in entries)


def test_a_full_disk_fails_the_transfer_with_nothing_set_aside(store, make_simulator, tmp_path):
    import errno

    sim = make_simulator(sessions=12, seed=2, recording_size=1500, rate_per_second=500)
    site, dest = _setup(store, sim, tmp_path / "files")
    out = run_schedule(store, "R", engine_factory=_FolderRefusing.engine(errno.ENOSPC))
    assert out.status == "failed" and "No space left" in out.message(), out.message()
    assert quarantine.list_quarantined() == []
    assert TransferState.from_json(store.load_state(site.id, dest.id, "recordings")).cursor is None


def test_quarantine_follows_a_renamed_destination(store, make_simulator, tmp_path):
    from ic.services.destinations import edit_destination
    from tests.helpers import closed_middle, poison, time_out_of_range

    sim = make_simulator(sessions=12, seed=6, recording_size=1500, rate_per_second=500)
    folder = tmp_path / "files"
    _setup(store, sim, folder)
    victim = _with_shell(sim)
    sim.faults.broken_recordings[f"{victim.lsid}:shell:0"] = "error"
    bad = closed_middle(sim)
    if bad == victim.lsid:
        bad = next(s.lsid for s in sim.sessions if s.end_time and s.lsid != victim.lsid)
    healed = poison(sim, bad, time_out_of_range)
    assert _run(store).ok
    assert {(e.lsid, e.destination) for e in quarantine.list_quarantined()} == {(victim.lsid, "files"), (bad, "files")}

    edit_destination(store, "files", rename="archive")  # the schedule follows the destination by id
    sim.faults.broken_recordings.clear()
    healed.clear()
    out = _run(store)
    assert out.ok and out.results[0].files_stored >= 1 and out.results[0].sessions_stored == 1, out.message()
    assert quarantine.list_quarantined() == []
    assert any(n.endswith("-shell-0.flv") for n in _names(folder, victim.lsid))
    assert any(bad in p.name for p in folder.glob("*.xml"))
