"""What a folder holds, by lsid, whatever the File Name Format (no appliance needed): the quick XML reader agrees with
the full parser, and recordings/backups are recognised under the current format, an older one, or the appliance's
own names."""
from __future__ import annotations

from pathlib import Path

import pytest

from ic.services.verify_holdings import _facts, _parse, quick_read, scan_names
from ic.sessions.parser import iter_sessions
from ic.simulator import Simulator

DATA = Path(__file__).parents[1] / "data"
A = "6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b"
B = "0a9b8c7d6e5f40312a3b4c5d6e7f8091"
HOST = "support.example.com"


def _doc(sim, lsid: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{sim.namespace}">'.encode()
            + sim.session_xml(lsid) + b"</session_list>\n")


@pytest.mark.parametrize("product", ["rs", "pra"])
def test_quick_reader_agrees_with_the_parser(product):
    sim = Simulator(sessions=120, seed=21, in_progress=6, product=product)  # data only: never started
    quick = 0
    for s in sim.sessions:
        doc = _doc(sim, s.lsid)
        full = _facts(_parse(doc, "x")[0])
        got = quick_read(doc)
        if got is not None:
            quick += 1
            assert got == full
    assert quick == len(sim.sessions)
    for name in ("rs_support_session.xml", "pra_access_session.xml"):
        for s in iter_sessions(DATA / name):
            raw = s.raw_xml if isinstance(s.raw_xml, bytes) else s.raw_xml.encode()
            got = quick_read(raw)
            assert got is None or got == _facts(s)


def test_quick_reader_leaves_unusual_documents_to_the_parser():
    sim = Simulator(sessions=3, seed=1)
    doc = _doc(sim, sim.sessions[0].lsid)
    assert quick_read(doc) is not None
    assert quick_read(doc[: len(doc) * 2 // 3]) is None  # cut short
    assert quick_read(doc.replace(b"<lseq>", b"<!-- x --><lseq>")) is None
    two = doc.replace(b"</session_list>", sim.session_xml(sim.sessions[1].lsid) + b"</session_list>")
    assert quick_read(two) is None
    assert quick_read((DATA / "rs_listing.xml").read_bytes()) is None


def _xml_files(folder: Path, names: dict[str, str]) -> None:
    """Write the fixture's sessions under the given names (lsid -> file name)."""
    for s in iter_sessions(DATA / "rs_support_session.xml"):
        if s.lsid in names:
            raw = s.raw_xml if isinstance(s.raw_xml, bytes) else s.raw_xml.encode()
            (folder / names[s.lsid]).write_bytes(raw)


def test_default_format_numbered_copies_backups_and_other_names(tmp_path):
    _xml_files(tmp_path, {A: f"{HOST}-support-{A}.xml", B: f"{HOST}-support-{B}.xml"})
    names = [f"{HOST}-support-{A}.xml", f"{HOST}-support-{B}.xml",
             f"{HOST}-support-{A}.flv", f"{HOST}-support-{A}-shell-0.flv", f"{HOST}-support-{A}.1.flv",
             f"{HOST}-support-{B}-smsr-2.mp4", f"{HOST}-backup-20240101T020000Z.nsb",
             f"{HOST}-backup-20240102T020000Z.1.nsb", "notes.txt",
             f"command_shell_recording-{B}-1.flv", f"session_recording-{B}.flv"]
    held = scan_names(tmp_path, names, HOST, "%SUPPORT_SITE_HOST%-%SESSION_TYPE%-%LSID%.%EXTENSION%", set())
    a, b = held.sessions[A], held.sessions[B]
    assert a.xml == "ended" and a.files == {"recordings": {None}, "shell": {0}} and a.expected["shell"] == {0}
    assert b.xml == "in_progress" and b.files == {"smsr": {2}, "shell": {1}, "recordings": {None}}
    assert held.backups == [f"{HOST}-backup-20240102T020000Z.1.nsb", f"{HOST}-backup-20240101T020000Z.nsb"]


def test_instance_format_tells_shell_from_show_my_screen(tmp_path):
    fmt = "%LSID%_%INSTANCE%.%EXTENSION%"
    names = [f"{A}_.flv", f"{A}_0.flv", f"{A}_smsr-0.flv", f"{A}_3.flv"]
    held = scan_names(tmp_path, names, HOST, fmt, {A})
    assert held.sessions[A].files == {"recordings": {None}, "shell": {0, 3}, "smsr": {0}}


def test_lseq_only_format_maps_through_the_stored_xml(tmp_path):
    _xml_files(tmp_path, {A: "10482.xml"})
    held = scan_names(tmp_path, ["10482.xml", "10482.flv", "10482-shell-0.flv", "99999.flv"], HOST,
                      "%LSEQ%.%EXTENSION%", set())
    assert set(held.sessions) == {A}
    assert held.sessions[A].files == {"recordings": {None}, "shell": {0}}


def test_another_sites_xml_is_not_ours_and_a_damaged_xml_is_reported(tmp_path):
    _xml_files(tmp_path, {A: f"other.example.com-support-{A}.xml"})
    (tmp_path / f"{HOST}-support-{B}.xml").write_bytes(b"<session_list><session lsid='x'>")
    held = scan_names(tmp_path, [f"other.example.com-support-{A}.xml", f"{HOST}-support-{B}.xml"], HOST,
                      "%SUPPORT_SITE_HOST%-%SESSION_TYPE%-%LSID%.%EXTENSION%", set())
    assert A not in held.sessions
    assert held.unreadable == [f"{HOST}-support-{B}.xml"]


def test_absurd_lsids_are_found_under_their_cleaned_file_names(tmp_path):
    from ic.destinations import naming

    odd = ["a/b:c*d", "CON", "x" * 300, "日本-1"]
    names = [naming.render(naming.format_for("%SUPPORT_SITE_HOST%-%LSID%.%EXTENSION%", "shell", 2 if i else None)
                           if i % 2 else "%SUPPORT_SITE_HOST%-%LSID%.%EXTENSION%",
                           {"SUPPORT_SITE_HOST": HOST, "LSID": lsid, "INSTANCE": 2 if i % 2 else ""}, "flv")
             for i, lsid in enumerate(odd)]
    held = scan_names(tmp_path, names, HOST, "%SUPPORT_SITE_HOST%-%LSID%.%EXTENSION%", set(odd))
    assert {k: v.files for k, v in held.sessions.items()} == {
        "a/b:c*d": {"recordings": {None}}, "CON": {"shell": {2}}, "x" * 300: {"recordings": {None}},
        "日本-1": {"shell": {2}}}


def test_quick_reader_reads_a_prefixed_document_like_the_parser():
    sim = Simulator(sessions=8, seed=3, in_progress=2)
    for s in sim.sessions:
        doc = _doc(sim, s.lsid)
        body = doc.split(b"\n", 1)[1]
        # every element in the p: prefix, as another program may have written it
        import re

        body = re.sub(rb"<(/?)([A-Za-z_][\w.-]*)", rb"<\1p:\2", body).replace(
            b'<p:session_list xmlns="', b'<p:session_list xmlns:p="', 1)
        prefixed = b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
        full = _facts(_parse(prefixed, "x")[0])
        assert quick_read(prefixed) == full == _facts(_parse(doc, "x")[0])
