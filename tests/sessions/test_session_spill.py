"""A session too big to hold is spilled to a temporary file (issue 10, flat memory): same Session values, same stored
result (folder bytes, SQL rows) as when it is held in memory, and no temporary file left behind, also when the parse
breaks. The threshold is lowered to 64 KiB here; the memory figures themselves are in bench/memory.py."""
from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from ic.destinations.folder import FolderDestination
from ic.errors import ApplianceAPIError, ParseError
from ic.sessions import spill
from ic.sessions.model import RawXml
from ic.sessions.parser import iter_sessions
from tests.helpers import HOST, dest, dump, snapshot

NS = "http://www.bomgar.com/namespaces/API/reporting"
OVER = 64 << 10


def small(lsid: str, n: int) -> str:
    return (f'<session lsid="{lsid}"><session_type>support</session_type><lseq>{n}</lseq>'
            '<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>'
            '<end_time timestamp="1700000100">2023-11-14T22:15:00+00:00</end_time>'
            '<session_details><event timestamp="1700000001" event_type="Session Start"/></session_details>'
            '</session>\n')


def huge(lsid: str = "huge-1", events: int = 400) -> str:
    """About 300 KB: parties named only by gsnumber, an absurd event time, CDATA and a comment holding
    "</session>", xsi:nil, data values, files, system information, unknown elements."""
    body = "x" * 600
    out = [f'<session lsid="{lsid}">\n<session_type>support</session_type><lseq>7</lseq>\n'
           '<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>\n'
           '<end_time timestamp="1700003600">2023-11-14T23:13:20+00:00</end_time>\n<duration>01:00:00</duration>\n'
           '<primary_customer gsnumber="2">Customer</primary_customer>'
           '<primary_rep gsnumber="1" id="1">Rep</primary_rep>\n'
           '<customer_list><customer gsnumber="2"><primary_cust>1</primary_cust><info><name>Cust A</name>'
           '<company xsi:nil="true"/></info></customer></customer_list>\n'
           '<rep_list><representative gsnumber="1" id="1"><primary_rep>1</primary_rep>'
           '<display_name>Rep One</display_name></representative></rep_list>\n'
           '<session_details>\n',
           '<event timestamp="1700000001" event_type="System Information Retrieved"><system_information>'
           '<category name="Memory"><description><field name="f">F</field></description><data><row>'
           '<field name="f">4 GB</field></row></data></category></system_information></event>\n',
           '<event timestamp="99999999999999" event_type="Odd Time"><performed_by type="customer" gsnumber="2"/>'
           '</event>\n',
           '<!-- a comment with </session> in it -->\n',
           '<event timestamp="1700000003" event_type="Chat Message"><performed_by type="representative" '
           'gsnumber="1"/><body><![CDATA[a </session> inside CDATA <x>]]></body></event>\n',
           '<event timestamp="1700000004" event_type="File Sent"><destination type="customer" gsnumber="2"/>'
           '<files><file><filename>a.txt</filename><filesize>12</filesize></file></files>'
           '<data><value name="instance" value="0"/></data><unknown_child>u</unknown_child></event>\n',
           '<event timestamp="1700000005" event_type="Show My Screen Recording"><data>'
           '<value name="instance" value="2"/></data></event>\n']
    for i in range(events):
        who = ' type="representative" gsnumber="1"/>' if i % 3 else ' type="customer" gsnumber="2">Named</performed_by>'
        out.append(f'<event timestamp="{1700000010 + i}" event_type="Chat Message"><performed_by{who}'
                   f'<body>{i} {body}</body></event>\n')
    out.append('</session_details>\n<command_shell_recordings><command_shell_recording instance="0">'
               '<download_url>https://support.example.com/x</download_url></command_shell_recording>'
               '</command_shell_recordings>\n</session>\n')
    return "".join(out)


def document(*parts: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n' + "".join(parts)
            + "</session_list>\n").encode("utf-8")


def outside(n: int = 300) -> str:
    return "<appliance_notes>\n" + "".join(f"<note>{i} {'n' * 500}</note>\n" for i in range(n)) + "</appliance_notes>\n"


def spill_fds(d: Path) -> list[str]:
    """Files of ``d`` this process holds open (an anonymous spill file shows as 'd/#123 (deleted)')."""
    found = []
    if not os.path.isdir("/proc/self/fd"):
        return found
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(d)):
            found.append(target)
    return found


@pytest.fixture
def spill_dir(tmp_path):
    d = tmp_path / "spill"
    d.mkdir()
    return d


def both(data: bytes, spill_dir: Path):
    held = list(iter_sessions(data, product="rs"))
    spilled = list(iter_sessions(data, product="rs", spill_over=OVER, spill_dir=spill_dir))
    return held, spilled


def test_a_spilled_session_has_the_same_values_events_and_bytes(spill_dir):
    data = document(small("a", 1), outside(), huge(), small("b", 2))
    held, spilled = both(data, spill_dir)
    assert [s.lsid for s in spilled] == ["a", "huge-1", "b"]
    assert [s.spilled for s in spilled] == [False, True, False] and not any(s.spilled for s in held)
    h, s = held[1], spilled[1]
    assert isinstance(s.raw_xml, RawXml) and isinstance(h.raw_xml, bytes)
    assert s.raw_xml == h.raw_xml and s.raw.read() == h.raw_xml and s.raw.size == len(h.raw_xml)
    assert len(s.events) == len(h.events) == 405
    assert list(s.events) == h.events and list(s.events) == list(s.events)  # re-iterable
    assert s.events[1].timestamp is None and s.events[1].performed_by == "Cust A"  # clamped, named
    assert s.events[2].performed_by == "Rep One" and s.events[2].body == "a </session> inside CDATA <x>"
    assert s.events[3].destination == "Cust A" and s.events[-1] == h.events[-1]
    assert s.recording_instances("smsr") == h.recording_instances("smsr") == [2]
    assert s == h and spilled == held
    again = list(iter_sessions(s.raw_xml, product="rs", spill_over=OVER, spill_dir=spill_dir))
    assert again == [h]  # the spilled bytes re-parse to the same session


def test_the_spill_file_goes_with_the_session_and_never_has_a_name_left(spill_dir):
    data = document(huge())
    (s,) = list(iter_sessions(data, spill_over=OVER, spill_dir=spill_dir))
    assert s.spilled
    if os.path.isdir("/proc/self/fd"):
        assert len(spill_fds(spill_dir)) == 1
    s.close()
    assert spill_fds(spill_dir) == [] and list(spill_dir.iterdir()) == []
    with pytest.raises(ValueError):
        s.raw.read()
    (s,) = list(iter_sessions(data, spill_over=OVER, spill_dir=spill_dir))
    del s
    gc.collect()
    assert spill_fds(spill_dir) == [] and list(spill_dir.iterdir()) == []


def test_a_parse_error_mid_huge_session_leaves_no_temporary_file(spill_dir):
    data = document(small("a", 1), huge(events=800))
    cut = data[: int(len(data) * 0.7)]
    got = []
    with pytest.raises(ParseError):
        for s in iter_sessions(cut, spill_over=OVER, spill_dir=spill_dir):
            got.append(s.lsid)
    assert got == ["a"]
    gc.collect()
    assert spill_fds(spill_dir) == [] and list(spill_dir.iterdir()) == []


def test_a_reader_that_stops_mid_document_leaves_no_temporary_file(spill_dir):
    data = document(huge("h1"), huge("h2"), small("c", 3))
    it = iter_sessions(data, spill_over=OVER, spill_dir=spill_dir)
    first = next(it)
    assert first.spilled
    it.close()
    first.close()
    gc.collect()
    assert spill_fds(spill_dir) == [] and list(spill_dir.iterdir()) == []


def test_stale_spill_files_of_a_crashed_process_are_removed(tmp_path):
    d = tmp_path / "stale"
    d.mkdir()
    old = d / f"{spill.PREFIX}dead.xml"
    old.write_bytes(b"<x/>")
    os.utime(old, (1, 1))
    fresh = d / f"{spill.PREFIX}being-made.xml"
    fresh.write_bytes(b"<x/>")
    other = d / "run-keep"
    other.write_bytes(b"")
    assert spill.sweep_stale(d) == 1
    assert sorted(p.name for p in d.iterdir()) == sorted([fresh.name, other.name])


def test_the_default_spill_folder_is_the_data_folders_tmp(spill_dir, monkeypatch):
    home = Path(os.environ["IC_HOME"])
    assert spill.spill_dir() == home / "tmp"
    monkeypatch.setattr(spill, "SPILL_OVER", OVER)
    (s,) = list(iter_sessions(document(huge())))
    assert s.spilled
    if os.path.isdir("/proc/self/fd"):
        assert [t for t in spill_fds(home / "tmp")]
    s.close()
    assert spill_fds(home / "tmp") == [] and list((home / "tmp").iterdir()) == []


def test_content_outside_sessions_and_an_error_after_them(spill_dir):
    data = document(small("a", 1), outside(2000), '<error code="x">Stopped here.</error>\n', outside(50))
    got = []
    with pytest.raises(ApplianceAPIError, match="Stopped here"):
        for s in iter_sessions(data, spill_over=OVER, spill_dir=spill_dir):
            got.append(s.lsid)
    assert got == ["a"]


def test_a_session_spilled_in_tiny_reads_finds_its_end_across_every_boundary(spill_dir):
    """The end of the session is found in the bytes as they stream by: CDATA, a comment and tags cut anywhere."""
    import io

    data = document(huge(events=150), small("after", 2))
    held = list(iter_sessions(data))

    class Trickle(io.RawIOBase):
        def __init__(self, raw: bytes, step: int) -> None:
            self.raw, self.pos, self.step = raw, 0, step

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            chunk = self.raw[self.pos:self.pos + min(self.step, n if n and n > 0 else self.step)]
            self.pos += len(chunk)
            return chunk

    for step in (7, 13, 4096):
        got = list(iter_sessions(Trickle(data, step), spill_over=OVER // 8, spill_dir=spill_dir))
        assert got[0].spilled and got == held
        for s in got:
            s.close()


def test_a_spilled_session_is_stored_the_same_in_a_folder(spill_dir, tmp_path):
    data = document(small("a", 1), huge(), small("b", 2))
    held, spilled = both(data, spill_dir)
    out = {}
    for name, sessions in (("held", held), ("spilled", spilled)):
        folder = tmp_path / name
        FolderDestination("files", {"directory": str(folder)}).store_sessions(HOST, sessions)
        out[name] = snapshot(folder)
    assert out["held"] == out["spilled"] and len(out["held"]) == 3
    assert any(len(b) > OVER for b in out["spilled"].values())
    for s in spilled:
        s.close()
    assert list(spill_dir.iterdir()) == []


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_spilled_session_is_stored_the_same_in_sql(engine, spill_dir, tmp_path, request):
    """Stored held in memory, then stored spilled over it (the same sessions again: replaced, not doubled)."""
    data = document(small("a", 1), huge(), small("b", 2))
    held, spilled = both(data, spill_dir)
    url = f"sqlite:///{tmp_path / 'ic.db'}" if engine == "sqlite" else request.getfixturevalue("pg_url")
    dumps = []
    for sessions in (held, spilled, spilled):
        d = dest(url)
        assert d.store_sessions(HOST, sessions) == 3
        d.close()
        dumps.append(dump(url))
    assert dumps[0] == dumps[1] == dumps[2]
    assert len(dumps[1]["session_event"]) == 2 + 405


def test_without_pread_the_spill_is_read_through_one_locked_handle(spill_dir, monkeypatch):
    """Windows has no os.pread: readers share the file handle, positioned under a lock for each read."""
    data = document(huge(events=200))
    (held,) = list(iter_sessions(data))
    monkeypatch.delattr(os, "pread")
    (s,) = list(iter_sessions(data, spill_over=OVER, spill_dir=spill_dir))
    with s.raw.open() as a, s.raw.open() as b:  # two readers at once, each with its own position
        assert a.read(100) == b.read(100) == held.raw_xml[:100]
        assert a.read() == held.raw_xml[100:]
    assert s == held
    assert s.recording_instances("smsr") == [2] and s.events.memo["smsr"] == [2]  # read once, then remembered
    s.close()


def test_once_a_document_handed_out_its_budget_smaller_sessions_are_spilled_too(spill_dir, monkeypatch):
    """A transfer holds a whole batch of sessions at once: after DOCUMENT_BUDGET bytes of one document held in
    memory, sessions over SPILL_OVER_LATER are spilled (same values)."""
    monkeypatch.setattr(spill, "DOCUMENT_BUDGET", 500_000)
    monkeypatch.setattr(spill, "SPILL_OVER_LATER", OVER)
    data = document(*(huge(f"h{i}", events=200) for i in range(6)))
    held = list(iter_sessions(data))
    got = list(iter_sessions(data, spill_over=16 << 20, spill_dir=spill_dir))
    assert [s.spilled for s in got] == [False, False, False, False, True, True]  # ~150 KB each
    assert got == held
    for s in got:
        s.close()
    assert spill_fds(spill_dir) == []
