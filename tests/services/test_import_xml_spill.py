"""import-xml with flat memory (issue 10): a session too big to hold is spilled (threshold lowered to 64 KiB here)
and stored exactly as when held; content outside sessions is skipped; a batch is stored by size as well as by count;
no temporary file is left. The memory figures themselves are in bench/memory.py."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ic.destinations.folder import FolderDestination
from ic.services.import_xml import import_xml_files
from ic.sessions import spill
from tests.helpers import dest, dump, snapshot

NS = "http://www.bomgar.com/namespaces/API/reporting"
HOST = "support.example.com"


def session(lsid: str, events: int, body: int = 600) -> str:
    evs = "".join(f'<event timestamp="{1700000010 + i}" event_type="Chat Message"><performed_by type="representative"'
                  f' gsnumber="1"/><body>{i} {"b" * body}</body></event>\n' for i in range(events))
    return (f'<session lsid="{lsid}"><session_type>support</session_type><lseq>1</lseq>'
            '<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>'
            '<end_time timestamp="1700003600">2023-11-14T23:13:20+00:00</end_time>'
            '<rep_list><representative gsnumber="1" id="1"><display_name>Rep</display_name></representative>'
            f'</rep_list><session_details>\n{evs}</session_details>'
            f'<session_chat_download_url>https://{HOST}/chat</session_chat_download_url></session>\n')


def write_doc(path: Path, *parts: str) -> Path:
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n' + "".join(parts)
                    + "</session_list>\n", encoding="utf-8")
    return path


def notes(n: int) -> str:
    return "<appliance_notes>" + "".join(f"<note>{'n' * 400}</note>\n" for _ in range(n)) + "</appliance_notes>\n"


def spill_files(home: Path) -> list[str]:
    tmp = home / "tmp"
    names = [p.name for p in tmp.iterdir()] if tmp.is_dir() else []
    if os.path.isdir("/proc/self/fd"):
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(tmp)):
                names.append(target)
    return names


@pytest.fixture
def doc(tmp_path):
    return write_doc(tmp_path / "in.xml", session("a", 3), notes(500), session("huge", 600), session("b", 2))


def test_a_huge_session_is_imported_into_a_folder_as_when_held(doc, tmp_path, monkeypatch):
    home = Path(os.environ["IC_HOME"])
    files = {}
    for name, over in (("held", spill.SPILL_OVER), ("spilled", 64 << 10)):
        monkeypatch.setattr(spill, "SPILL_OVER", over)
        folder = tmp_path / name
        result = import_xml_files([doc], FolderDestination("files", {"directory": str(folder)}))
        assert result.ok and result.sessions == 3 and result.unknown_host == 0
        files[name] = snapshot(folder)
        assert spill_files(home) == []
    assert files["held"] == files["spilled"] and len(files["spilled"]) == 3


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_huge_session_is_imported_into_sql_as_when_held(engine, doc, tmp_path, monkeypatch, request):
    home = Path(os.environ["IC_HOME"])
    url = f"sqlite:///{tmp_path / 'ic.db'}" if engine == "sqlite" else request.getfixturevalue("pg_url")
    dumps = []
    for over in (spill.SPILL_OVER, 64 << 10):
        monkeypatch.setattr(spill, "SPILL_OVER", over)
        d = dest(url)
        result = import_xml_files([doc], d)
        d.close()
        assert result.ok and result.sessions == 3
        dumps.append(dump(url))
        assert spill_files(home) == []
    assert dumps[0] == dumps[1] and len(dumps[1]["session_event"]) == 3 + 600 + 2


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def store_sessions(self, host, sessions):
        sessions = list(sessions)
        self.batches.append([s.lsid for s in sessions])
        return len(sessions)


def test_a_batch_is_stored_once_it_holds_enough_bytes(tmp_path):
    path = write_doc(tmp_path / "many.xml", *(session(f"s{i}", 20, body=1000) for i in range(6)))
    rec = Recorder()
    result = import_xml_files([path], rec, site_host=HOST, batch_bytes=50_000)
    assert result.sessions == 6
    assert [len(b) for b in rec.batches] == [3, 3]  # ~21 KB each: the third passes 50 KB
    rec = Recorder()
    import_xml_files([path], rec, site_host=HOST)
    assert [len(b) for b in rec.batches] == [6]


def test_a_broken_file_after_a_spilled_session_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "SPILL_OVER", 64 << 10)
    home = Path(os.environ["IC_HOME"])
    whole = write_doc(tmp_path / "whole.xml", session("a", 2), session("huge", 600), session("late", 400))
    data = whole.read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: len(data) - 100_000])  # breaks inside the last (also spilled) session
    rec = Recorder()
    result = import_xml_files([cut], rec, site_host=HOST)
    assert result.sessions == 2 and len(result.errors) == 1 and "not valid XML" in result.errors[0]
    assert spill_files(home) == []
