"""A writer SIGKILLed mid-write leaves no hidden part file in the destination folder for good (issue 10 item 9),
and a live writer's staging folder is never swept, however old it looks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ic.destinations.folder import FolderDestination
from ic.destinations.folder_lock import STAGING_NAME, sweep
from ic.sessions.model import Session

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent("""
    import sys, time
    from ic.destinations.base import FileItem
    from ic.destinations.folder import FolderDestination
    from ic.sessions.model import Session

    class Slow:
        calls = 0
        def read(self, n=-1):
            Slow.calls += 1
            if Slow.calls == 1:
                return b"FLV" * 100_000
            print("writing", flush=True)
            time.sleep(120)
            return b""

    dest = FolderDestination("F", {"directory": sys.argv[1]})
    if sys.argv[2] == "hold":
        print(dest.staging_dir(), flush=True)
        time.sleep(120)
    dest.store_file(FileItem(kind="recordings", source=Slow(), site_host="h", extension="flv",
                             session=Session(lsid="k", end_time=5, raw_xml=b"<session lsid='k'/>")))
""")


def start(folder: Path, mode: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), mode], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    line = proc.stdout.readline().strip()
    assert line, "the writer did not start"
    return proc, line


def parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".~ic-*.part")]


def age(path: Path, seconds: float = 120) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL: POSIX")
def test_sigkill_mid_write_leaves_no_part_file_for_good(tmp_path):
    folder = tmp_path / "dest"
    folder.mkdir()
    proc, line = start(folder, "write")
    assert line == "writing"
    assert parts(folder), "the writer had a part file when it was killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []  # never in the folder itself
    dead = [p for p in (folder / STAGING_NAME).iterdir()]
    assert len(dead) == 1
    # the very next run, at once, removes it (its owner's .alive lock is free)
    dest = FolderDestination("F", {"directory": str(folder)})
    dest.store_sessions("h", [Session(lsid="a", end_time=5, raw_xml=b"<s/>")])
    assert parts(folder) == [] and not dead[0].exists()
    dest.close()
    assert sorted(p.name for p in folder.iterdir()) == [".ic-folder.lock", "h-support-a.xml"]


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL: POSIX")
def test_live_staging_folder_is_never_swept(tmp_path):
    folder = tmp_path / "dest"
    folder.mkdir()
    proc, staged = start(folder, "hold")
    try:
        live = Path(staged)
        assert live.parent == folder / STAGING_NAME and live.is_dir()
        (live / "download.flv").write_bytes(b"engine download in progress")
        age(live, 3600)
        assert sweep(folder) == 0 and live.is_dir()  # its owner holds the .alive lock, however old it looks
        FolderDestination("F", {"directory": str(folder)}).store_sessions("h", [Session(lsid="a", end_time=5,
                                                                                         raw_xml=b"<s/>")])
        assert (live / "download.flv").exists()
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
    assert sweep(folder) == 1 and not live.exists()


def test_close_removes_own_staging_and_the_empty_staging_root(tmp_path):
    dest = FolderDestination("F", {"directory": str(tmp_path)})
    staged = dest.staging_dir()
    assert staged is not None and staged.parent == tmp_path / STAGING_NAME
    dest.close()
    assert not (tmp_path / STAGING_NAME).exists()


@pytest.mark.parametrize("batch_size", [50, 1])
def test_import_of_a_file_holding_an_lsid_twice_writes_one_file_the_later_wins(tmp_path, batch_size):
    """Issue 10 item 9: import-xml wrote dup.xml and dup.1.xml."""
    from ic.services.import_xml import import_xml_files

    src = tmp_path / "export.xml"
    src.write_bytes(b'<session_list xmlns="http://www.bomgar.com/namespaces/API/reporting">'
                    b'<session lsid="dup"><end_time timestamp="5"/><note>first</note></session>'
                    b'<session lsid="other"><end_time timestamp="6"/></session>'
                    b'<session lsid="dup"><end_time timestamp="5"/><note>second</note></session>'
                    b'</session_list>')
    out = tmp_path / "out"
    out.mkdir()
    dest = FolderDestination("F", {"directory": str(out)})
    result = import_xml_files([src], dest, site_host="h", batch_size=batch_size)
    dest.close()
    assert result.ok
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["h-support-dup.xml", "h-support-other.xml"]
    assert b"second" in (out / "h-support-dup.xml").read_bytes()


@pytest.mark.slow
def test_hundred_runs_leave_only_the_files_and_the_lock(tmp_path):
    """Think in days: run after run (in progress, then ended; some objects never closed) nothing piles up."""
    import gc

    for run in range(100):
        dest = FolderDestination("F", {"directory": str(tmp_path)})
        lsid = f"s{run // 2}"
        dest.store_sessions("h", [Session(lsid=lsid, end_time=None if run % 2 == 0 else 5,
                                          raw_xml=f"<s lsid='{lsid}' run='{run}'/>".encode())])
        if run % 3:
            dest.close()
        else:
            del dest  # dropped without close()
            gc.collect()
    assert set(os.listdir(tmp_path)) - {"ic-home"} == {".ic-folder.lock"} | {f"h-support-s{i}.xml" for i in range(50)}
    assert all(b"run=" in (tmp_path / f"h-support-s{i}.xml").read_bytes() for i in range(50))
    assert (tmp_path / "h-support-s7.xml").read_bytes() == b"<s lsid='s7' run='15'/>"  # the ended version
