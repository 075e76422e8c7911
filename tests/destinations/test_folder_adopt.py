"""Adopting an archive the vendor's Integration Client filled (issue 14): same File Name Format, files that hold the
same session data written with other bytes (indentation, a namespace prefix). The first run adds nothing twice."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from ic.destinations import naming
from ic.destinations.folder import FolderDestination, session_values
from ic.destinations.folder_index import scan_folder
from ic.destinations.folder_lock import LOCK_NAME, STAGING_NAME
from ic.services.runs import run_schedule
from ic.sessions.parser import iter_sessions
from tests.helpers import add_schedule, add_site

FMT = naming.DEFAULT_NAME_FORMAT


def vendor_bytes(sim, lsid: str, *, change: str | None = None) -> bytes:
    """The session as another program would write it: prefixed namespace, other indentation, no XML declaration
    quirks of ours. ``change`` alters one value (then it is NOT the same session data)."""
    ns = sim.namespace
    doc = f'<session_list xmlns="{ns}">'.encode() + sim.session_xml(lsid) + b"</session_list>"
    src = etree.fromstring(doc, etree.XMLParser(remove_blank_text=True))

    def copy(el, parent=None):
        tag = f"{{{ns}}}{etree.QName(el).localname}"
        new = etree.Element(tag, nsmap={"v": ns}) if parent is None else etree.SubElement(parent, tag)
        for k, v in el.attrib.items():
            new.set(k, v)
        new.text = el.text
        for child in el:
            if isinstance(child.tag, str):
                copy(child, new)
        return new

    out = copy(src)
    if change:
        out.find(f".//{{{ns}}}{change}").text = "changed by hand"
    return etree.tostring(out, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def xml_name(sim, lsid: str) -> str:
    s = next(iter_sessions(f'<session_list xmlns="{sim.namespace}">'.encode() + sim.session_xml(lsid)
                           + b"</session_list>"))
    return naming.render(FMT, session_values(sim.host, s), "xml")


def visible(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n not in (LOCK_NAME, STAGING_NAME, ".ic-inprogress.json"))


def setup(store, sim, folder: Path, conflict="AppendNumber", types=("session",)):
    from ic.settings.models import DestinationConfig

    folder.mkdir(exist_ok=True)
    add_site(store, sim)
    store.save_destination(DestinationConfig("files", "folder", {"directory": str(folder), "conflict": conflict}))
    add_schedule(store, "Adopt", ("sim", "files", list(types)))


def test_first_run_over_a_vendor_filled_folder_adds_nothing_twice(store, make_simulator, tmp_path):  # noqa: F811
    sim = make_simulator(sessions=30, in_progress=2)
    folder = tmp_path / "archive"
    folder.mkdir()
    ended = [s for s in sim.sessions if s.end_time is not None]
    prefilled = {}
    for s in ended[::2]:  # half the sessions, with the vendor's naming and other bytes
        name = xml_name(sim, s.lsid)
        data = vendor_bytes(sim, s.lsid)
        (folder / name).write_bytes(data)
        prefilled[name] = data
        if s.recording:
            (folder / name.replace(".xml", ".flv")).write_bytes(sim.recording_bytes("recordings", s.lsid))
    setup(store, sim, folder, types=("session", "recordings"))

    outcome = run_schedule(store, "Adopt", raise_internal=True)
    assert outcome.ok, outcome.message()

    names = visible(folder)
    assert not [n for n in names if ".1." in n], names  # nothing written twice under AppendNumber
    xml = [n for n in names if n.endswith(".xml")]
    assert len(xml) == len(sim.sessions)
    for name, data in prefilled.items():
        assert (folder / name).read_bytes() == data  # the vendor's file is adopted as it is
    held = scan_folder({"directory": str(folder), "name_format": FMT})
    assert set(held) == {s.lsid for s in sim.sessions}
    assert all(len(h.xml_files) == 1 for h in held.values())
    for s in sim.sessions:
        assert held[s.lsid].in_progress == (s.end_time is None)
        assert len(held[s.lsid].recordings) == (1 if s.recording and s.end_time is not None else 0), s.lsid

    again = run_schedule(store, "Adopt", raise_internal=True)
    assert again.ok and visible(folder) == names


@pytest.mark.parametrize("conflict, expect", [("AppendNumber", 2), ("Skip", 1), ("Overwrite", 1)])
def test_same_lsid_with_other_data_follows_the_conflict_rule(store, simulator, tmp_path,  # noqa: F811
                                                             conflict, expect):
    folder = tmp_path / "archive"
    folder.mkdir()
    s = next(x for x in simulator.sessions if x.end_time is not None)
    name = xml_name(simulator, s.lsid)
    (folder / name).write_bytes(vendor_bytes(simulator, s.lsid, change="external_key"))
    setup(store, simulator, folder, conflict=conflict)
    assert run_schedule(store, "Adopt", raise_internal=True).ok
    mine = [n for n in visible(folder) if s.lsid in n]
    assert len(mine) == expect, mine
    if conflict == "Overwrite":
        assert b"changed by hand" not in (folder / name).read_bytes()
    if conflict == "Skip":
        assert b"changed by hand" in (folder / name).read_bytes()


def test_xml_comparison_rules(tmp_path):
    """Same data = same elements, attributes and text; prefixes, declarations and indentation do not count."""
    from ic.destinations.folder_index import file_sessions, session_digest

    ours = (b'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="urn:x"><session lsid="a">'
            b'<end_time timestamp="5">t</end_time><chat>hello   world</chat></session></session_list>')
    same = (b'<p:session_list xmlns:p="urn:x">\n  <p:session lsid="a">\n    <p:end_time timestamp="5">t</p:end_time>'
            b'\n    <p:chat>\n hello world </p:chat>\n  </p:session>\n  <p:session lsid="b"/>\n</p:session_list>')
    other = same.replace(b'timestamp="5"', b'timestamp="6"')
    bare = b'<session lsid="a"><end_time timestamp="5">t</end_time><chat>hello world</chat></session>'
    mine = session_digest(ours, "a")
    assert mine is not None and mine.ended and mine.end_time == 5
    for data, equal in ((same, True), (bare, True), (other, False), (b"not xml <", False)):
        p = tmp_path / "f.xml"
        p.write_bytes(data)
        assert any(b.lsid == "a" and b.digest == mine.digest for b in file_sessions(p)) is equal, data


def test_vendor_file_adopted_by_the_destination_directly(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    raw = b'<session_list xmlns="urn:x"><session lsid="a"><end_time timestamp="5"/><v>1</v></session></session_list>'
    vendor = b'<?xml version="1.0"?>\n<n:session_list xmlns:n="urn:x">\n <n:session lsid="a">\n  ' \
             b'<n:end_time timestamp="5"/>\n  <n:v>1</n:v>\n </n:session>\n</n:session_list>\n'
    (d / "h-support-a.xml").write_bytes(vendor)
    from ic.sessions.model import Session

    dest = FolderDestination("F", {"directory": str(d)})
    assert dest.store_sessions("h", [Session(lsid="a", end_time=5, raw_xml=raw)]) == 1
    assert dest.stats["unchanged"] == 1 and visible(d) == ["h-support-a.xml"]
    assert (d / "h-support-a.xml").read_bytes() == vendor
