"""File System destination on the real file system: validation, test(), sessions, recordings, backups, conflicts."""
from __future__ import annotations

import io
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ic.destinations import naming
from ic.destinations.base import FileItem
from ic.destinations.folder import INDEX_NAME, FolderDestination
from ic.destinations.folder_lock import LOCK_NAME, STAGING_NAME
from ic.errors import ConfigError, DestinationError, DestinationUnavailable
from ic.sessions.model import Session

HOST = "access.example.com"


@pytest.fixture
def dest_dir(tmp_path) -> Path:
    d = tmp_path / "dest"
    d.mkdir()
    return d


def make(dest_dir: Path, **config) -> FolderDestination:
    return FolderDestination("Files", {"directory": str(dest_dir), **config})


def session(lsid="1234", *, ended=True, xml=None, **kw) -> Session:
    raw = xml if xml is not None else f"<session lsid='{lsid}' v='{kw.pop('v', 1)}'/>".encode()
    return Session(lsid=lsid, end_time=1_700_000_000 if ended else None, start_time=1_699_999_000, raw_xml=raw, **kw)


def files(d: Path) -> list[str]:
    """The folder's entries, without the lock file and the staging folder -- which must hold no file of ours."""
    staged = [p.name for p in (d / STAGING_NAME).rglob("*") if p.is_file() and p.name != ".alive"]
    assert not staged, f"files left in staging: {staged}"
    return sorted(n for n in os.listdir(d) if n not in (LOCK_NAME, STAGING_NAME))


def recording(tmp_path: Path, data: bytes, **kw) -> FileItem:
    src = tmp_path / f"download-{time.monotonic_ns()}.tmp"
    src.write_bytes(data)
    kw.setdefault("kind", "recordings")
    kw.setdefault("site_host", HOST)
    kw.setdefault("extension", "flv")
    return FileItem(source=src, **kw)


# --- plugin description ----------------------------------------------------------------------------------------
def test_plugin_identity_and_fields():
    from ic.destinations.registry import destination_class

    assert destination_class("folder") is FolderDestination
    assert FolderDestination.display_name == "File System" and FolderDestination.accepts_files
    fields = {f.key: f for f in FolderDestination.fields()}
    assert list(fields) == ["directory", "download_format", "conflict", "name_format", "retention"]
    assert fields["directory"].label == "Destination Directory" and fields["directory"].required
    assert fields["directory"].kind == "directory"
    assert fields["download_format"].default == "Default" and fields["download_format"].kind == "choice"
    assert fields["conflict"].choices == ("AppendNumber", "Overwrite", "Skip")
    assert fields["conflict"].default == "AppendNumber"
    assert fields["name_format"].default == "%SUPPORT_SITE_HOST%-%SESSION_TYPE%-%LSID%.%EXTENSION%"
    assert fields["retention"].label == "Retention Count" and fields["retention"].default is None


# --- validation ------------------------------------------------------------------------------------------------
def test_valid_config_has_no_problems(dest_dir):
    assert FolderDestination.validate({"directory": str(dest_dir)}) == {}
    full = {"directory": str(dest_dir), "download_format": "Default", "conflict": "AppendNumber",
            "name_format": "%LSEQ%.%EXTENSION%", "retention": "3"}
    assert FolderDestination.validate(full) == {}


@pytest.mark.parametrize(
    "change, key, text",
    [
        ({"directory": ""}, "directory", "Destination Directory is required."),
        ({"directory": "relative/dir"}, "directory", "must be a full path"),
        ({"conflict": "Rename"}, "conflict", "File Name Conflict Handling must be AppendNumber, Overwrite or Skip."),
        ({"download_format": "CSV"}, "download_format", "Download Format must be Default"),
        ({"name_format": "%lsid%.%EXTENSION%"}, "name_format",
         "File Name Format: %lsid% is not a replacement value; they are case sensitive, e.g. %LSID%."),
        ({"name_format": "%FOO%-%LSID%.%EXTENSION%"}, "name_format", "%FOO% is not a replacement value"),
        ({"name_format": "50%-%LSID%.%EXTENSION%"}, "name_format", "lone percent sign"),
        ({"name_format": "sub/%LSID%.%EXTENSION%"}, "name_format", "without / or \\"),
        ({"name_format": "%SUPPORT_SITE_HOST%.%EXTENSION%"}, "name_format", "must contain %LSID% (or %LSEQ%)"),
        ({"name_format": "%LSEQ%.%EXTENSION%", "conflict": "Overwrite"}, "name_format",
         "without %LSID% can give two sessions the same name"),
        ({"name_format": "%LSEQ%-%INSTANCE%.%EXTENSION%", "conflict": "Skip"}, "name_format",
         "Skip would then lose one without a word; add %LSID% or choose AppendNumber."),
        ({"retention": "0"}, "retention", "Retention Count must be a whole number of 1 or more"),
        ({"retention": "-2"}, "retention", "whole number"),
        ({"retention": "abc"}, "retention", "whole number"),
        ({"retention": "1.5"}, "retention", "whole number"),
        ({"retention": 0}, "retention", "whole number"),
        ({"retention": True}, "retention", "whole number"),
    ],
)
def test_validation_messages(dest_dir, change, key, text):
    problems = FolderDestination.validate({"directory": str(dest_dir), **change})
    assert list(problems) == [key]
    assert text in problems[key]


@pytest.mark.parametrize("value", [None, "", "  ", 1, "7", 30])
def test_retention_accepts_empty_or_positive(dest_dir, value):
    assert FolderDestination.validate({"directory": str(dest_dir), "retention": value}) == {}


def test_mapped_drive_refused_windows_stand_in(monkeypatch):
    """GetDriveTypeW is Windows-only: a stand-in reports Z: as DRIVE_REMOTE (4) and C: as DRIVE_FIXED (3)."""
    seen = []

    def drive_type(root: str) -> int:
        seen.append(root)
        return 4 if root.upper() == "Z:\\" else 3

    monkeypatch.setattr(FolderDestination, "drive_type", staticmethod(drive_type))
    problem = FolderDestination.validate({"directory": "z:\\Recordings"})["directory"]
    assert "mapped drive Z:" in problem and "UNC path" in problem and "\\\\server\\share" in problem
    assert FolderDestination.validate({"directory": "C:\\IntegrationClient\\Data"}) == {}
    assert FolderDestination.validate({"directory": "\\\\server\\share\\ic"}) == {}
    assert "full path" in FolderDestination.validate({"directory": "Data\\x"})["directory"]
    assert seen == ["z:\\", "C:\\"]


def test_invalid_config_refused_at_store_time(dest_dir):
    dest = make(dest_dir, name_format="%lsid%.%EXTENSION%")
    with pytest.raises(ConfigError) as err:
        dest.store_sessions(HOST, [session()])
    assert err.value.field == "name_format" and "Files" in str(err.value)
    assert files(dest_dir) == []


# --- test() ----------------------------------------------------------------------------------------------------
def test_test_reports_writable_and_leaves_nothing(dest_dir):
    assert make(dest_dir).test() == f"Folder {dest_dir} is writable."
    assert files(dest_dir) == []


def test_test_creates_missing_folder_when_parent_exists(dest_dir):
    target = dest_dir / "new"
    assert make(target).test() == f"Folder {target} was created and is writable."
    assert target.is_dir() and files(target) == []


def test_test_missing_parent_and_file_instead_of_folder(dest_dir):
    with pytest.raises(DestinationError, match="does not exist, nor does its parent folder"):
        make(dest_dir / "a" / "b").test()
    f = dest_dir / "plain.txt"
    f.write_text("x")
    with pytest.raises(DestinationError, match="is a file, not a folder"):
        make(f).test()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_test_not_writable(dest_dir):
    ro = dest_dir / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(DestinationError, match="is not writable"):
            make(ro).test()
    finally:
        ro.chmod(0o700)


def test_stale_part_files_are_cleaned(dest_dir):
    old = dest_dir / ".~ic-0123abcd.part"
    fresh = dest_dir / ".~ic-4567ef01.part"
    foreign = dest_dir / "user.part"
    old_foreign = dest_dir / ".~ic-notours.part"
    for p in (old, fresh, foreign, old_foreign):
        p.write_bytes(b"partial")
    two_days_ago = time.time() - 2 * 86400
    for p in (old, foreign, old_foreign):
        os.utime(p, (two_days_ago, two_days_ago))
    make(dest_dir).test()
    assert files(dest_dir) == sorted([fresh.name, foreign.name, old_foreign.name])
    os.utime(fresh, (two_days_ago, two_days_ago))
    make(dest_dir).store_sessions(HOST, [session()])  # the first store of a run cleans too
    assert fresh.name not in files(dest_dir)


def test_store_into_folder_whose_parent_is_missing_is_retryable_error(dest_dir):
    """An unreachable share or unplugged disk: nothing is created in the wrong place, the next run retries."""
    with pytest.raises(DestinationUnavailable, match="does not exist or cannot be reached"):
        make(dest_dir / "gone" / "deeper").store_sessions(HOST, [session()])
    assert not (dest_dir / "gone").exists()


def test_store_creates_a_missing_last_folder_like_test_does(dest_dir):
    assert make(dest_dir / "new").store_sessions(HOST, [session()]) == 1
    assert files(dest_dir / "new") == ["access.example.com-support-1234.xml"]


def test_directory_that_is_a_file_is_refused_at_save_and_at_run(dest_dir):
    from ic.destinations.folder import FolderDestination

    a_file = dest_dir / "not-a-folder"
    a_file.write_text("x")
    assert "is a file, not a folder" in FolderDestination.validate({"directory": str(a_file)})["directory"]
    with pytest.raises(DestinationError, match="is a file, not a folder"):
        make(a_file).store_sessions(HOST, [session()])
    assert a_file.read_text() == "x"


# --- sessions --------------------------------------------------------------------------------------------------
def test_store_sessions_one_xml_each_bytes_exact(dest_dir):
    dest = make(dest_dir)
    s1, s2 = session("aaa", xml=b"<?xml version='1.0'?><session lsid='aaa'>\xc3\xa9</session>"), session("bbb")
    assert dest.store_sessions(HOST, [s1, s2]) == 2
    assert files(dest_dir) == ["access.example.com-support-aaa.xml", "access.example.com-support-bbb.xml"]
    assert (dest_dir / "access.example.com-support-aaa.xml").read_bytes() == s1.raw_xml


def test_every_replacement_value_for_sessions(dest_dir):
    fmt = "%LSEQ%_%LSID%_%EXTERNAL_KEY%_%SESSION_TYPE%_%SUPPORT_SITE_HOST%_%INSTANCE%.%EXTENSION%"
    dest = make(dest_dir, name_format=fmt)
    dest.store_sessions("support.example.com", [session("c0ffee", lseq=77, external_key="TICKET-9")])
    dest.store_sessions("support.example.com", [session("bead", lseq=None, external_key=None)])
    assert files(dest_dir) == ["77_c0ffee_TICKET-9_support_support.example.com_.xml",
                               "_bead__support_support.example.com_.xml"]


def test_append_number_for_sessions(dest_dir):
    """Three runs (one destination object each) bring three different versions of one session."""
    base = "access.example.com-support-1234.xml"
    assert make(dest_dir).store_sessions(HOST, [session(v=1)]) == 1
    assert make(dest_dir).store_sessions(HOST, [session(v=2)]) == 1
    assert make(dest_dir).store_sessions(HOST, [session(v=3)]) == 1
    assert files(dest_dir) == ["access.example.com-support-1234.1.xml", "access.example.com-support-1234.2.xml", base]
    assert (dest_dir / "access.example.com-support-1234.2.xml").read_bytes() == session(v=3).raw_xml
    # The same bytes again (a re-run after a failure) never duplicate the file; they count as stored.
    dest = make(dest_dir)
    assert dest.store_sessions(HOST, [session(v=2)]) == 1 and dest.store_sessions(HOST, [session(v=1)]) == 1
    assert len(files(dest_dir)) == 3 and dest.stats["unchanged"] == 2


def test_one_run_storing_a_session_twice_keeps_the_later_version(dest_dir):
    """import-xml of a file holding an lsid twice (in one batch or two): one file, the later version."""
    dest = make(dest_dir)
    assert dest.store_sessions(HOST, [session(v=1), session("other"), session(v=2)]) == 2
    assert files(dest_dir) == ["access.example.com-support-1234.xml", "access.example.com-support-other.xml"]
    assert (dest_dir / "access.example.com-support-1234.xml").read_bytes() == session(v=2).raw_xml
    assert dest.store_sessions(HOST, [session(v=3)]) == 1  # a later batch of the same import
    assert len(files(dest_dir)) == 2
    assert (dest_dir / "access.example.com-support-1234.xml").read_bytes() == session(v=3).raw_xml
    # a running version after the ended one in the same batch does not win
    assert dest.store_sessions(HOST, [session("r", v=1), session("r", ended=False, v=0)]) == 1
    assert (dest_dir / "access.example.com-support-r.xml").read_bytes() == session("r", v=1).raw_xml


def test_append_number_fills_smallest_free_number(dest_dir):
    (dest_dir / "access.example.com-support-1234.xml").write_text("a")
    (dest_dir / "access.example.com-support-1234.2.xml").write_text("c")
    make(dest_dir).store_sessions(HOST, [session()])
    assert (dest_dir / "access.example.com-support-1234.1.xml").read_bytes() == session().raw_xml


def test_overwrite_replaces_content(dest_dir):
    dest = make(dest_dir, conflict="Overwrite")
    dest.store_sessions(HOST, [session(v=1)])
    assert dest.store_sessions(HOST, [session(v=2)]) == 1
    assert files(dest_dir) == ["access.example.com-support-1234.xml"]
    assert (dest_dir / files(dest_dir)[0]).read_bytes() == session(v=2).raw_xml
    assert dest.stats["replaced"] == 1


def test_skip_keeps_existing_and_creates_nothing(dest_dir):
    existing = dest_dir / "access.example.com-support-1234.xml"
    existing.write_bytes(b"old")
    dest = make(dest_dir, conflict="Skip")
    assert dest.store_sessions(HOST, [session(v=2)]) == 0
    assert files(dest_dir) == [existing.name] and existing.read_bytes() == b"old"
    assert dest.store_file(recording(dest_dir.parent, b"FLV1", session=session())) is not None  # free name: written
    kept = dest.store_file(recording(dest_dir.parent, b"FLV2", session=session()))
    assert kept == dest_dir / "access.example.com-support-1234.flv" and kept.how == "kept"  # landed: already there
    assert (dest_dir / "access.example.com-support-1234.flv").read_bytes() == b"FLV1"
    assert dest.stats["kept"] == 2


@pytest.mark.parametrize("conflict", ["AppendNumber", "Skip", "Overwrite"])
def test_in_progress_session_is_replaced_when_it_ends(dest_dir, conflict):
    dest = make(dest_dir, conflict=conflict)
    name = "access.example.com-support-1234.xml"
    assert dest.store_sessions(HOST, [session(ended=False, v=1)]) == 1
    assert (dest_dir / INDEX_NAME).is_file()
    assert make(dest_dir, conflict=conflict).store_sessions(HOST, [session(ended=False, v=2)]) == 1
    assert make(dest_dir, conflict=conflict).store_sessions(HOST, [session(ended=True, v=3)]) == 1
    assert files(dest_dir) == [name]  # exactly one XML; the sidecar is gone once nothing is in progress
    assert (dest_dir / name).read_bytes() == session(v=3).raw_xml


def test_in_progress_index_keeps_other_sites_apart(dest_dir):
    dest = make(dest_dir)
    dest.store_sessions("a.example.com", [session("x", ended=False)])
    dest.store_sessions("b.example.com", [session("x", ended=False)])
    dest.store_sessions("a.example.com", [session("x", ended=True, v=9)])
    assert files(dest_dir) == [INDEX_NAME, "a.example.com-support-x.xml", "b.example.com-support-x.xml"]
    assert (dest_dir / "a.example.com-support-x.xml").read_bytes() == session("x", v=9).raw_xml


def test_in_progress_file_deleted_by_admin_is_written_anew(dest_dir):
    dest = make(dest_dir)
    dest.store_sessions(HOST, [session(ended=False)])
    (dest_dir / "access.example.com-support-1234.xml").unlink()
    assert dest.store_sessions(HOST, [session(ended=True, v=5)]) == 1
    assert files(dest_dir) == ["access.example.com-support-1234.xml"]


def test_corrupt_index_is_ignored(dest_dir):
    (dest_dir / INDEX_NAME).write_text("{not json")
    assert make(dest_dir).store_sessions(HOST, [session()]) == 1


def test_hostile_session_values_stay_inside_folder(dest_dir):
    nasty = ["..\\..\\Windows", "../../etc/passwd", "CON", "con.txt", "x" * 300, "a\x00b", "a/b", "ключ-日本",
             "..", "", "/", ".~ic-0123.part", INDEX_NAME]
    dest = make(dest_dir, name_format="%EXTERNAL_KEY%%SESSION_TYPE%.%LSID%.%EXTENSION%")
    sessions = [session(lsid=v or "z", external_key=v, session_type=v, xml=f"<s n='{i}'/>".encode())
                for i, v in enumerate(nasty)]
    assert dest.store_sessions("../" + HOST, sessions) == len(nasty)
    names = files(dest_dir)
    assert len(names) == len(nasty) and INDEX_NAME not in names
    assert not any(n.startswith(".") or naming.is_device_name(n) for n in names)
    base = os.path.abspath(dest_dir)
    for n in names:
        assert os.path.commonpath([base, os.path.abspath(dest_dir / n)]) == base
    assert set(os.listdir(dest_dir.parent)) == {"dest", "ic-home"}  # nothing escaped upwards


@pytest.mark.parametrize("sample_name", ["rs_support_session.xml", "pra_access_session.xml"])
def test_parsed_sessions_from_sample_file(dest_dir, sample_name):
    from lxml import etree

    from ic.sessions.parser import iter_sessions

    sample = Path(__file__).parents[1] / "data" / sample_name
    sessions = list(iter_sessions(sample))
    assert sessions
    assert make(dest_dir).store_sessions(HOST, sessions) == len({s.lsid for s in sessions})
    assert len([n for n in files(dest_dir) if n.endswith(".xml")]) == len(sessions)
    assert (dest_dir / INDEX_NAME).exists() == any(s.in_progress for s in sessions)
    for s in sessions:
        stored = dest_dir / f"{HOST}-{naming.clean_value(s.session_type)}-{naming.clean_value(s.lsid)}.xml"
        assert stored.read_bytes() == s.raw_xml
        again = list(iter_sessions(stored))  # each file is a standalone session document
        assert [x.lsid for x in again] == [s.lsid]
        assert etree.fromstring(stored.read_bytes()) is not None


# --- recordings ------------------------------------------------------------------------------------------------
def test_recording_names_and_instances(dest_dir, tmp_path):
    dest = make(dest_dir)
    s = session("abcd")
    assert dest.store_file(recording(tmp_path, b"FLVmain", session=s)) == dest_dir / f"{HOST}-support-abcd.flv"
    dest.store_file(recording(tmp_path, b"FLVsh0", kind="shell", session=s, instance=0))
    dest.store_file(recording(tmp_path, b"FLVsh1", kind="shell", session=s, instance=1))
    dest.store_file(recording(tmp_path, b"FLVsmsr", kind="smsr", session=s, instance=0))
    assert files(dest_dir) == [f"{HOST}-support-abcd-shell-0.flv", f"{HOST}-support-abcd-shell-1.flv",
                               f"{HOST}-support-abcd-smsr-0.flv", f"{HOST}-support-abcd.flv"]
    assert (dest_dir / f"{HOST}-support-abcd-shell-1.flv").read_bytes() == b"FLVsh1"


def test_instance_value_in_format(dest_dir, tmp_path):
    dest = make(dest_dir, name_format="%LSID%-%INSTANCE%.%EXTENSION%")
    dest.store_file(recording(tmp_path, b"a", kind="shell", session=session("s1"), instance=4))
    dest.store_file(recording(tmp_path, b"b", kind="recordings", session=session("s1")))
    assert files(dest_dir) == ["s1-.flv", "s1-4.flv"]


@pytest.mark.parametrize("conflict", ["AppendNumber", "Overwrite", "Skip"])
def test_instance_format_keeps_shell_and_show_my_screen_apart(dest_dir, tmp_path, conflict):
    """Issue 10 item 6: with %LSID%-%INSTANCE% shell 0 and Show My Screen 0 had one name; one was lost silently."""
    dest = make(dest_dir, name_format="%LSID%-%INSTANCE%.%EXTENSION%", conflict=conflict)
    s = session("s1")
    got = [dest.store_file(recording(tmp_path, b"shell0", kind="shell", session=s, instance=0)),
           dest.store_file(recording(tmp_path, b"smsr0", kind="smsr", session=s, instance=0)),
           dest.store_file(recording(tmp_path, b"main", kind="recordings", session=s))]
    assert [p.how for p in got] == ["created"] * 3
    assert files(dest_dir) == ["s1-.flv", "s1-0.flv", "s1-smsr-0.flv"]
    assert (dest_dir / "s1-0.flv").read_bytes() == b"shell0" and (dest_dir / "s1-smsr-0.flv").read_bytes() == b"smsr0"


def test_extension_from_appliance_is_sanitised(dest_dir, tmp_path):
    dest = make(dest_dir)
    p = dest.store_file(recording(tmp_path, b"x", session=session("e1"), extension="../../evil"))
    assert p == dest_dir / f"{HOST}-support-e1.evil"
    p = dest.store_file(recording(tmp_path, b"y", session=session("e2"), extension="", suggested_name="rec.mp4"))
    assert p.name.endswith("-e2.mp4")


def test_long_directory_path(dest_dir, tmp_path):
    deep = dest_dir
    for i in range(6):
        deep = deep / (f"level{i}-" + "d" * 50)
    deep.mkdir(parents=True)
    assert len(str(deep)) > 300
    dest = make(deep)
    assert dest.test() == f"Folder {deep} is writable."
    p = dest.store_file(recording(tmp_path, b"deep", session=session("x" * 180)))
    assert p.parent == deep and p.read_bytes() == b"deep" and len(str(p)) > 500


def test_unknown_file_kind_is_refused(dest_dir):
    with pytest.raises(ValueError):
        make(dest_dir).store_file(FileItem(kind="chat", source=b"", site_host=HOST, extension="txt"))


def test_source_may_be_a_binary_file(dest_dir):
    dest = make(dest_dir)
    item = FileItem(kind="recordings", source=io.BytesIO(b"streamed"), site_host=HOST, extension="flv",
                    session=session("f1"))
    assert dest.store_file(item).read_bytes() == b"streamed"


class _ExplodingReader:
    """A download source that fails half way, like a crash in the middle of copying."""

    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls == 1:
            return b"FLV\x01" + b"\x00" * 1000
        raise RuntimeError("simulated crash mid-copy")


@pytest.mark.parametrize("conflict", ["AppendNumber", "Overwrite", "Skip"])
def test_crash_mid_copy_leaves_no_file_under_final_name(dest_dir, conflict):
    dest = make(dest_dir, conflict=conflict)
    item = FileItem(kind="recordings", source=_ExplodingReader(), site_host=HOST, extension="flv",
                    session=session("crash"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        dest.store_file(item)
    assert files(dest_dir) == []  # neither the final name nor a .part file


def test_crash_mid_copy_keeps_previous_file_on_overwrite(dest_dir):
    final = dest_dir / f"{HOST}-support-crash.flv"
    final.write_bytes(b"previous complete recording")
    item = FileItem(kind="recordings", source=_ExplodingReader(), site_host=HOST, extension="flv",
                    session=session("crash"))
    with pytest.raises(RuntimeError):
        make(dest_dir, conflict="Overwrite").store_file(item)
    assert files(dest_dir) == [final.name] and final.read_bytes() == b"previous complete recording"


@pytest.mark.parametrize("hardlinks, noreplace", [(True, True), (True, False), (False, False)],
                         ids=["rename-noreplace-claim", "hardlink-claim", "placeholder-claim"])
def test_append_number_is_race_safe(dest_dir, hardlinks, noreplace):
    """Eight writers store five different files each under one name at the same time: none is lost."""
    writers, each = 8, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        dest = make(dest_dir)
        dest.use_hardlinks = hardlinks
        dest.use_noreplace = noreplace and dest.use_noreplace
        try:
            barrier.wait()
            for i in range(each):
                item = FileItem(kind="recordings", source=f"writer {w} file {i}".encode(), site_host=HOST,
                                extension="flv", session=session("race"))
                assert dest.store_file(item) is not None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = files(dest_dir)
    expected = [f"{HOST}-support-race.flv"] + [f"{HOST}-support-race.{n}.flv" for n in range(1, writers * each)]
    assert sorted(names) == sorted(expected)
    contents = sorted((dest_dir / n).read_text() for n in names)
    assert contents == sorted(f"writer {w} file {i}" for w in range(writers) for i in range(each))


def test_overwrite_concurrent_writers_leave_one_complete_file(dest_dir):
    payloads = [bytes([65 + w]) * 200_000 for w in range(6)]

    def work(data: bytes) -> None:
        make(dest_dir, conflict="Overwrite").store_file(
            FileItem(kind="recordings", source=data, site_host=HOST, extension="flv", session=session("ow")))

    threads = [threading.Thread(target=work, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert files(dest_dir) == [f"{HOST}-support-ow.flv"]
    assert (dest_dir / f"{HOST}-support-ow.flv").read_bytes() in payloads


# --- backups ---------------------------------------------------------------------------------------------------
def _backup(dest: FolderDestination, tmp_path: Path, when: datetime, data: bytes = b"NSB", host: str = HOST):
    dest.clock = lambda: when
    return dest.store_file(recording(tmp_path, data, kind="backup", extension="nsb", site_host=host))


T0 = datetime(2024, 1, 1, 2, 0, 0, tzinfo=timezone.utc)


def test_backup_names_are_unique_per_download(dest_dir, tmp_path):
    dest = make(dest_dir)
    p1 = _backup(dest, tmp_path, T0, b"one")
    p2 = _backup(dest, tmp_path, T0 + timedelta(days=1), b"two")
    p3 = _backup(dest, tmp_path, T0 + timedelta(days=1), b"three")  # same second: AppendNumber
    assert p1.name == "access.example.com-backup-20240101T020000Z.nsb"
    assert p2.name == "access.example.com-backup-20240102T020000Z.nsb"
    assert p3.name == "access.example.com-backup-20240102T020000Z.1.nsb"


def test_backup_format_without_host_gets_host_prefix(dest_dir, tmp_path):
    dest = make(dest_dir, name_format="%LSEQ%.%EXTENSION%")
    assert _backup(dest, tmp_path, T0).name == f"access.example.com-{int(T0.timestamp())}.nsb"


def test_retention_keeps_newest_backups_of_that_site_only(dest_dir, tmp_path):
    others = {
        "access.example.com-support-1234.xml": b"session",
        "access.example.com-backup-notes.nsb": b"admin's own file",
        "access.example.com-backup-20200101T000000Z.nsb.bak": b"copy",
        "access.example.com-backup-20200101T000000Z.zip": b"other type",
        "other.example.com-backup-20200101T000000Z.nsb": b"other site",
        "my-access.example.com-backup-20200101T000000Z.nsb": b"lookalike",
    }
    for n, data in others.items():
        (dest_dir / n).write_bytes(data)
    dest = make(dest_dir, retention="2")
    for day in range(4):
        _backup(dest, tmp_path, T0 + timedelta(days=day), f"day{day}".encode())
    _backup(dest, tmp_path, T0 + timedelta(days=3), b"day3 again")  # .1 is newer than the plain name
    kept = sorted(set(files(dest_dir)) - set(others))
    assert kept == ["access.example.com-backup-20240104T020000Z.1.nsb", "access.example.com-backup-20240104T020000Z.nsb"]
    for n, data in others.items():
        assert (dest_dir / n).read_bytes() == data
    assert dest.stats["backups_deleted"] == 3


def test_no_retention_keeps_all_backups(dest_dir, tmp_path):
    dest = make(dest_dir)
    for day in range(5):
        _backup(dest, tmp_path, T0 + timedelta(days=day))
    assert len(files(dest_dir)) == 5


def test_retention_one_with_lseq_format(dest_dir, tmp_path):
    dest = make(dest_dir, name_format="%SUPPORT_SITE_HOST%_%LSEQ%.%EXTENSION%", retention=1)
    for day in range(3):
        last = _backup(dest, tmp_path, T0 + timedelta(days=day))
    assert files(dest_dir) == [last.name]


def test_skipped_backup_does_not_trigger_retention(dest_dir, tmp_path):
    dest = make(dest_dir, conflict="Skip", retention=1)
    first = _backup(dest, tmp_path, T0, b"a")
    assert _backup(dest, tmp_path, T0, b"b").how == "kept"
    assert files(dest_dir) == [first.name] and first.read_bytes() == b"a"


def test_lossy_format_saved_earlier_still_runs_and_warns(dest_dir, caplog):
    """A %LSEQ%-only format with Overwrite, saved before the check: the run goes on and says why once."""
    dest = make(dest_dir, name_format="%LSEQ%.%EXTENSION%", conflict="Overwrite")
    with caplog.at_level("WARNING"):
        assert dest.store_sessions(HOST, [session("a", lseq=7), session("b", lseq=8)]) == 2
        dest.store_sessions(HOST, [session("c", lseq=9)])
    assert [r.getMessage() for r in caplog.records].count(
        "Destination Files: " + FolderDestination.validate({"directory": str(dest_dir), "conflict": "Overwrite",
                                                            "name_format": "%LSEQ%.%EXTENSION%"})["name_format"]) == 1


@pytest.mark.parametrize("conflict", ["AppendNumber", "Overwrite", "Skip"])
def test_recording_the_appliance_calls_xml_never_takes_the_session_xml_name(dest_dir, tmp_path, conflict):
    dest = make(dest_dir, conflict=conflict)
    s = session("x1")
    dest.store_sessions(HOST, [s])
    out = dest.store_file(recording(tmp_path, b"FLV", session=s, extension="xml"))
    assert out.name == f"{HOST}-support-x1-recordings.xml" and out.how == "created"
    assert (dest_dir / f"{HOST}-support-x1.xml").read_bytes() == s.raw_xml
