"""Recordings are renamed into place, never copied (issue 13): a file downloaded into ``staging_dir()`` becomes the
destination file itself (same inode), and the no-clobber rules still hold."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ic.destinations.base import FileItem
from ic.destinations.folder import FolderDestination
from ic.destinations.folder_lock import STAGING_NAME
from ic.sessions.model import Session
from tests.helpers import PlainDestination

HOST = "h"
NAME = "h-support-k.flv"


def staged(dest: FolderDestination, data: bytes) -> Path:
    d = dest.staging_dir()
    assert d is not None and d.parent.name == STAGING_NAME
    path = d / f"download-{len(os.listdir(d))}-{os.urandom(4).hex()}.flv"
    path.write_bytes(data)
    return path


def item(source: Path | bytes, **kw) -> FileItem:
    return FileItem(kind=kw.pop("kind", "recordings"), source=source, site_host=HOST, extension="flv",
                    session=Session(lsid="k", end_time=5, raw_xml=b"<s/>"), **kw)


def visible(d: Path) -> list[str]:
    return sorted(n for n in os.listdir(d) if not n.startswith(".") and n != "ic-home")  # conftest's IC_HOME


def test_base_destination_offers_no_staging():
    assert PlainDestination("p", {}).staging_dir() is None


def test_staging_dir_is_inside_the_destination_on_the_same_file_system(tmp_path):
    dest = FolderDestination("F", {"directory": str(tmp_path)})
    d = dest.staging_dir()
    assert d.parent == tmp_path / STAGING_NAME and os.stat(d).st_dev == os.stat(tmp_path).st_dev
    dest.close()
    assert not d.exists()


@pytest.mark.parametrize("conflict", ["AppendNumber", "Overwrite", "Skip"])
def test_staged_recording_is_renamed_not_copied(tmp_path, conflict):
    dest = FolderDestination("F", {"directory": str(tmp_path), "conflict": conflict})
    src = staged(dest, b"FLV recording bytes")
    inode = os.stat(src).st_ino
    out = dest.store_file(item(src))
    assert out == tmp_path / NAME and out.how == "created"
    assert os.stat(out).st_ino == inode and not src.exists()  # the very same file: no copy
    assert visible(tmp_path) == [NAME]


def test_staged_recording_append_number_never_clobbers(tmp_path):
    dest = FolderDestination("F", {"directory": str(tmp_path)})
    (tmp_path / NAME).write_bytes(b"someone else's file")
    out = dest.store_file(item(staged(dest, b"ours")))
    assert out.name == "h-support-k.1.flv" and out.read_bytes() == b"ours"
    assert (tmp_path / NAME).read_bytes() == b"someone else's file"
    again = dest.store_file(item(staged(dest, b"ours")))  # a re-run: identical bytes already there
    assert again == out and again.how == "unchanged"
    assert visible(tmp_path) == ["h-support-k.1.flv", NAME]
    assert [p for p in dest.staging_dir().iterdir() if p.name != ".alive"] == []  # consumed sources are gone


def test_staged_recording_skip_and_overwrite(tmp_path):
    (tmp_path / NAME).write_bytes(b"old")
    skip = FolderDestination("F", {"directory": str(tmp_path), "conflict": "Skip"})
    src = staged(skip, b"new")
    kept = skip.store_file(item(src))
    assert kept.how == "kept" and (tmp_path / NAME).read_bytes() == b"old" and not src.exists()
    over = FolderDestination("F", {"directory": str(tmp_path), "conflict": "Overwrite"})
    replaced = over.store_file(item(staged(over, b"new")))
    assert replaced.how == "replaced" and (tmp_path / NAME).read_bytes() == b"new"


def test_a_source_outside_staging_is_copied_and_left_alone(tmp_path):
    src = tmp_path / "elsewhere.flv"
    src.write_bytes(b"data")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dest = FolderDestination("F", {"directory": str(out_dir)})
    dest.staging_dir()
    out = dest.store_file(item(src))
    assert out.read_bytes() == b"data" and src.exists() and os.stat(out).st_ino != os.stat(src).st_ino


def test_unwritable_staging_is_one_sentence_not_an_internal_error(tmp_path, monkeypatch):
    from ic.destinations import folder_lock
    from ic.errors import DestinationError, DestinationUnavailable

    (tmp_path / STAGING_NAME).write_text("an admin's file where our staging folder goes")
    dest = FolderDestination("F", {"directory": str(tmp_path)})
    with pytest.raises(DestinationUnavailable, match=r"Could not write the XML of 1 session\(s\) in folder"):
        dest.store_sessions(HOST, [Session(lsid="k", end_time=5, raw_xml=b"<s/>")])
    with pytest.raises(DestinationUnavailable, match="Could not write h-support-k.flv in folder"):
        dest.store_file(item(b"FLV"))
    assert dest.staging_dir() is None

    (tmp_path / STAGING_NAME).unlink()

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(folder_lock.Staging, "path", denied)
    with pytest.raises(DestinationError, match="access denied") as info:
        FolderDestination("F", {"directory": str(tmp_path)}).store_sessions(
            HOST, [Session(lsid="k", end_time=5, raw_xml=b"<s/>")])
    assert not info.value.retryable
