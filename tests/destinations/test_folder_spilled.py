"""The folder destination with sessions too big to hold (issue 10: flat memory): a spilled session is written from
its temporary file, and a huge running session stored again is checked against the file already there with the
streaming parser, never by reading that file as one tree."""
from __future__ import annotations

import os

from ic.destinations import folder as folder_mod
from ic.destinations.folder import FolderDestination
from ic.sessions import spill
from ic.sessions.parser import iter_sessions

NS = "http://www.bomgar.com/namespaces/API/reporting"
HOST = "support.example.com"
OVER = 64 << 10


def doc(events: int, ended: bool) -> bytes:
    end = '<end_time timestamp="1700009000">2023-11-15T00:43:20+00:00</end_time>' if ended else "<end_time/>"
    evs = "".join(f'<event timestamp="{1700000001 + i}" event_type="Chat Message"><body>{i} {"c" * 600}</body>'
                  "</event>\n" for i in range(events))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n<session lsid="long-1">'
            f'<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>{end}'
            f"<session_details>\n{evs}</session_details></session>\n</session_list>\n").encode()


def test_a_huge_running_session_is_stored_again_without_reading_the_file_as_a_tree(tmp_path, monkeypatch):
    monkeypatch.setattr(spill, "SPILL_OVER", OVER)
    trees: list[int] = []
    real = folder_mod.file_sessions
    monkeypatch.setattr(folder_mod, "file_sessions", lambda p: (trees.append(os.path.getsize(p)), real(p))[1])
    out = tmp_path / "out"
    d = FolderDestination("files", {"directory": str(out)})

    def store(data: bytes) -> bytes:
        (s,) = list(iter_sessions(data))
        assert s.spilled
        d.store_sessions(HOST, [s])
        s.close()
        (name,) = [p.name for p in out.iterdir() if p.suffix == ".xml"]
        return (out / name).read_bytes()

    running, longer, ended = doc(150, False), doc(200, False), doc(220, True)
    assert store(running) == next(iter_sessions(running)).raw_xml
    assert store(longer) == next(iter_sessions(longer)).raw_xml  # the running version is replaced
    assert store(ended) == next(iter_sessions(ended)).raw_xml
    assert store(running) == next(iter_sessions(ended)).raw_xml  # never a running version over the ended one
    assert d.stats["kept"] == 1
    assert all(size <= OVER for size in trees), trees  # no big file was read as one tree
    d.close()
    assert [p.name for p in out.iterdir() if not p.name.startswith(".ic-")] == ["support.example.com-support-long-1.xml"]


def test_a_huge_session_written_differently_is_recognised_as_the_same_without_a_tree(tmp_path, monkeypatch):
    """File Name Conflict Handling AppendNumber: the same session written with other white space and a comment (as
    another client would) is adopted, a changed one gets a numbered copy, a running one never covers the ended one;
    the files are digested as streams (no big file read as one tree)."""
    monkeypatch.setattr(spill, "SPILL_OVER", OVER)
    trees: list[int] = []
    real = folder_mod.file_sessions
    monkeypatch.setattr(folder_mod, "file_sessions", lambda p: (trees.append(os.path.getsize(p)), real(p))[1])
    out = tmp_path / "out"

    def store(data: bytes) -> dict:
        d = FolderDestination("files", {"directory": str(out), "conflict": "AppendNumber"})  # a new run each time
        (s,) = list(iter_sessions(data))
        assert s.spilled
        d.store_sessions(HOST, [s])
        s.close()
        d.close()
        return {p.name: p.read_bytes() for p in out.iterdir() if p.suffix == ".xml"}

    ended = doc(200, True)
    other_client = ended.replace(b"</event>\n", b"</event>\n    ").replace(
        b"<session_details>", b"<session_details>\n  <!-- written by another client -->")
    assert other_client != ended
    first = store(ended)
    assert store(other_client) == first  # the same session: adopted, no x.1.xml
    assert store(doc(150, False)) == first  # a running version never covers the ended one
    changed = store(doc(210, True))
    assert sorted(changed) == ["support.example.com-support-long-1.1.xml", "support.example.com-support-long-1.xml"]
    assert all(size <= OVER for size in trees), trees
