"""scan_folder (for verification): per lsid, the XML files (found by the lsid inside, whatever the name), whether
the session is still in progress, and its recordings, command shell and Show My Screen files."""
from __future__ import annotations

import shutil

import pytest

from ic.destinations.folder_index import FolderHoldings, scan_folder
from ic.services.runs import run_schedule
from ic.settings.models import DestinationConfig
from tests.helpers import add_schedule, add_site

ALL = ["session", "recordings", "smsr", "shell"]


def fill(store, sim, folder, name_format=None, conflict="AppendNumber"):
    cfg = {"directory": str(folder), "conflict": conflict}
    if name_format:
        cfg["name_format"] = name_format
    folder.mkdir(exist_ok=True)
    add_site(store, sim)
    store.save_destination(DestinationConfig("files", "folder", cfg))
    add_schedule(store, "Fill", ("sim", "files", ALL))
    out = run_schedule(store, "Fill", raise_internal=True)
    assert out.ok, out.message()
    return cfg


def check_matches_simulator(held: dict[str, FolderHoldings], sim) -> None:
    assert set(held) == {s.lsid for s in sim.sessions}
    for s in sim.sessions:
        h = held[s.lsid]
        assert len(h.xml_files) == 1 and h.in_progress == (s.end_time is None), s.lsid
        if s.end_time is None:
            continue
        assert h.end_time == s.end_time
        assert len(h.recordings) == (1 if s.recording else 0), (s.lsid, h.recordings)
        assert sorted(h.shell) == list(range(s.shell_instances)), (s.lsid, h.shell)
        assert sorted(h.smsr) == list(range(s.smsr_instances)), (s.lsid, h.smsr)
        assert all(len(v) == 1 for v in (*h.shell.values(), *h.smsr.values()))


@pytest.mark.parametrize("name_format", [None, "%LSID%-%INSTANCE%.%EXTENSION%",
                                         "%LSEQ%_%EXTERNAL_KEY%_%LSID%.%EXTENSION%"])
def test_scan_finds_what_a_run_wrote(store, make_simulator, tmp_path, name_format):  # noqa: F811
    sim = make_simulator(sessions=25, in_progress=2)
    assert any(s.shell_instances for s in sim.sessions) and any(s.smsr_instances for s in sim.sessions)
    folder = tmp_path / "out"
    cfg = fill(store, sim, folder, name_format)
    check_matches_simulator(scan_folder(cfg), sim)
    if name_format is None:
        check_matches_simulator(scan_folder(folder), sim)  # a bare folder path: the default format
        check_matches_simulator(scan_folder(DestinationConfig("files", "folder", cfg)), sim)


@pytest.mark.parametrize("conflict", ["Overwrite", "Skip"])
def test_instance_format_loses_no_recording_under_overwrite_or_skip(store, make_simulator, tmp_path,  # noqa: F811
                                                                   conflict):
    """Issue 10 item 6 end to end: %LSID%-%INSTANCE% with Overwrite or Skip keeps every shell and Show My Screen
    recording (Show My Screen ones read smsr-N)."""
    sim = make_simulator(sessions=25, in_progress=0)
    cfg = fill(store, sim, tmp_path / "out", "%LSID%-%INSTANCE%.%EXTENSION%", conflict)
    check_matches_simulator(scan_folder(cfg), sim)
    for s in sim.sessions:
        for i in range(s.smsr_instances):
            assert (tmp_path / "out" / f"{s.lsid}-smsr-{i}.flv").read_bytes() == sim.recording_bytes("smsr", s.lsid, i)
        for i in range(s.shell_instances):
            assert (tmp_path / "out" / f"{s.lsid}-{i}.flv").read_bytes() == sim.recording_bytes("shell", s.lsid, i)


def test_scan_reads_lsids_inside_whatever_the_names(store, simulator, tmp_path):  # noqa: F811
    folder = tmp_path / "out"
    fill(store, simulator, folder)
    s = next(x for x in simulator.sessions if x.end_time is not None)
    xml = next(p for p in folder.glob("*.xml") if s.lsid in p.name)
    renamed = xml.rename(folder / "renamed by an admin.xml")
    shutil.copy(renamed, folder / "copy.XML")
    (folder / "notes.xml").write_text("<not a session")
    (folder / "session_recording-zz99.flv").write_bytes(b"FLV")
    (folder / "command_shell_recording-zz99-3.flv").write_bytes(b"FLV")
    (folder / "show_my_screen_recording-zz99-1.1.flv").write_bytes(b"FLV")
    (folder / ".~ic-0123.part").write_bytes(b"ours, hidden")
    held = scan_folder(folder)
    assert sorted(p.name for p in held[s.lsid].xml_files) == ["copy.XML", "renamed by an admin.xml"]
    assert not held[s.lsid].in_progress
    z = held["zz99"]
    assert z.xml_files == [] and not z.in_progress
    assert [p.name for p in z.recordings] == ["session_recording-zz99.flv"]
    assert list(z.shell) == [3] and list(z.smsr) == [1]
    assert not any(".part" in p.name for h in held.values() for p in h.xml_files + h.recordings)


def test_scan_of_missing_folder_is_empty(tmp_path):
    assert scan_folder(tmp_path / "nope") == {}
    with pytest.raises(TypeError):
        scan_folder({"conflict": "Skip"})
