"""ic.sessions.parser: streaming, safe, namespace-agnostic parse of session_list documents into the typed model."""
from __future__ import annotations

import base64
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from ic.errors import ApplianceAPIError, ParseError
from ic.sessions.model import CommandShellRecording, CustomAttribute, EventData, EventFile, Session, Team
from ic.sessions.parser import iter_sessions

DATA = Path(__file__).parents[1] / "data"
RS = DATA / "rs_support_session.xml"
PRA = DATA / "pra_access_session.xml"
RS_NS = "http://www.beyondtrust.com/namespaces/API/reporting"
PRA_NS = "http://www.beyondtrust.com/sra/namespaces/API/reporting"
LSID1 = "6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b"
LSID2 = "0a9b8c7d6e5f40312a3b4c5d6e7f8091"
LSID3 = "1b2c3d4e5f60718293a4b5c6d7e8f901"


def parse(path: Path, **kw) -> list[Session]:
    return list(iter_sessions(path, **kw))


def with_namespace(data: bytes, old: str, new: str | None) -> bytes:
    return data.replace(f' xmlns="{old}"'.encode(), f' xmlns="{new}"'.encode() if new else b"")


# --- B6.1 verbatim: the first session of the RS fixture ------------------------------------------
def test_rs_b61_session_fields():
    sessions = parse(RS)
    assert [s.lsid for s in sessions] == [LSID1, LSID2, LSID3]
    s = sessions[0]
    assert s.product == "rs" and s.report == "SupportSession" and s.namespace == RS_NS
    assert s.session_type == "support"
    assert s.lseq == 10482
    assert (s.start_time, s.end_time) == (1718705400, 1718706923)
    assert s.start_datetime.isoformat() == "2024-06-18T10:10:00"
    assert s.end_datetime.isoformat() == "2024-06-18T10:35:23"
    assert not s.in_progress
    assert s.duration == "00:25:23"
    assert (s.public_site_id, s.public_site_name) == ("1", "Default")
    assert s.external_key == "INC0012345"
    assert s.custom_attributes == [CustomAttribute("ticket_priority", "Ticket Priority", "P2")]
    url = "https://support.example.com/session_download?lsid=l%3D6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b%3Bh%3D"
    assert s.chat_view_url == url + "0123456789abcdef0123456789abcdef01234567%3Bt%3Dsd%3Bm%3Dchat&dl_action=chat&view=1"
    assert s.chat_download_url == url + "0123456789abcdef0123456789abcdef01234567%3Bt%3Dsd%3Bm%3Dchat&dl_action=chat"
    assert s.recording_view_url == url + "89abcdef0123456789abcdef0123456789abcdef%3Bt%3Dsd%3Bm%3Drec&dl_action=rec&view=1"
    assert s.recording_download_url == url + "89abcdef0123456789abcdef0123456789abcdef%3Bt%3Dsd%3Bm%3Drec&dl_action=rec"
    assert s.has_recording
    csr = url + "fedcba9876543210fedcba9876543210fedcba98%3Bt%3Dsd%3Bm%3Dcsr%3Bi%3D0&dl_action=csr"
    assert s.command_shell_recordings == [CommandShellRecording(0, csr, csr + "&view=1")]
    assert (s.file_transfer_count, s.file_move_count, s.file_delete_count) == (1, 0, 0)
    assert (s.primary_customer, s.primary_customer_gsnumber) == ("Jane Customer", "3")
    assert (s.primary_rep, s.primary_rep_gsnumber, s.primary_rep_id) == ("Alex Rep", "2", "7")
    assert s.jumpoint_id is s.jump_group_id is s.jumpoint_name is s.jump_group_name is None
    assert s.teams == [] and s.extra == []
    assert s.source_line == 3

    (c,) = s.customers
    assert (c.gsnumber, c.is_primary, c.display_name, c.company_name, c.company_code) == (
        "3", True, "Jane Customer", "Example Corp", "EX01")
    assert (c.issue, c.issue_description) == ("Printer not working", "Cannot print to floor 3 printer")
    assert (c.username, c.public_ip, c.private_ip, c.hostname, c.os) == (
        "jcustomer", "203.0.113.10:53122", "10.1.2.3", "EXCORP-LT-0042", "Windows 11 Enterprise x64 (23H2)")
    assert c.rpat_support is False and c.extra == []

    (r,) = s.representatives
    assert (r.gsnumber, r.user_id, r.username) == ("2", "7", "arep")
    assert (r.display_name, r.public_display_name, r.display_number) == ("Alex Rep", "Alex", None)
    assert (r.public_ip, r.private_ip, r.hostname, r.os) == (
        "198.51.100.20:61002", "192.168.10.5", "HELPDESK-07", "Windows 10 Enterprise x64 (22H2)")
    assert (r.is_owner, r.is_primary, r.seconds_involved, r.invited) == (True, True, 1523, False)


def test_rs_b61_events():
    ev = parse(RS)[0].events
    assert [(e.event_type, e.timestamp) for e in ev] == [
        ("Session Start", 1718705400), ("Conference Member Added", 1718705402),
        ("Conference Member Added", 1718705410), ("Conference Owner Changed", 1718705411),
        ("Chat Message", 1718705415), ("System Information Retrieved", 1718705460),
        ("File Upload", 1718706100), ("Session Note Added", 1718706850), ("Session End", 1718706923)]
    assert ev[0].performed_by is None and ev[0].data == [] and ev[0].extra == []
    assert ev[1].event_time.isoformat() == "2024-06-18T10:10:02"
    assert (ev[1].performed_by, ev[1].performed_by_type, ev[1].performed_by_gsnumber) == ("Jane Customer", "customer", "3")
    assert ev[1].data == [EventData("name", "Jane Customer"), EventData("private_ip", "10.1.2.3"),
                          EventData("public_ip", "203.0.113.10:53122"), EventData("hostname", "EXCORP-LT-0042"),
                          EventData("os", "Windows 11 Enterprise x64 (23H2)")]
    assert (ev[3].destination, ev[3].destination_type, ev[3].destination_gsnumber) == ("Alex Rep", "representative", "2")
    assert ev[3].performed_by is None and ev[3].data == [EventData("owner", "Alex Rep")]
    chat = ev[4]
    assert (chat.destination, chat.destination_type, chat.destination_gsnumber) == ("Everyone", "everyone", None)
    assert chat.body == "Hi Jane, I am taking a look now." and not chat.body_encoded
    assert chat.data == [EventData("body", "Hi Jane, I am taking a look now.")]
    (cat,) = ev[5].system_information
    assert cat.name == "Overview"
    assert cat.description == [("Computer Name", "Computer Name"), ("OS", "OS")]
    assert cat.rows == [[("Computer Name", "EXCORP-LT-0042"), ("OS", "Windows 11 Enterprise")]]
    assert cat.information_xml.startswith('<category name="Overview">') and "xmlns" not in cat.information_xml
    assert '<field name="Computer Name">EXCORP-LT-0042</field>' in cat.information_xml
    assert cat.information_xml.endswith("</category>")
    up = ev[6]
    assert (up.filename, up.filesize) == ("C:\\Users\\jcustomer\\Downloads\\driver.zip", 1048576)
    assert up.data == [EventData("filename", "C:\\Users\\jcustomer\\Downloads\\driver.zip"),
                       EventData("filesize", "1048576")]
    assert ev[7].body == "Reinstalled printer driver; test page OK."


# --- the extra RS sessions --------------------------------------------------------------------
def test_rs_session_in_progress_with_non_ascii_and_primary_team():
    s = parse(RS)[1]
    assert s.lsid == LSID2 and s.in_progress and s.end_time is None
    assert s.lseq is None  # empty <lseq></lseq> tolerated
    assert s.start_time == 1718707000
    assert s.external_key == ""
    assert (s.public_site_id, s.public_site_name) == ("2", "Service Desk – Été")
    assert s.custom_attributes == [] and s.command_shell_recordings == []
    assert s.chat_download_url is None and s.recording_download_url is None and not s.has_recording
    assert s.teams == [Team("3", "Tier 1 Support", True)]
    (c,) = s.customers
    assert (c.display_name, c.company_name, c.company_code) == ("Zoë Çelik", "日本語株式会社", "")
    assert (c.issue, c.issue_description) == ("Laptop 💻 won't boot", "Écran noir après la mise à jour 🙁")
    assert c.public_ip == "[2001:db8::10]:50211"
    (r,) = s.representatives
    assert r.display_name == "山田 太郎" and r.private_display_name is None and r.hostname is None
    assert r.private_ip == "Unknown" and r.is_primary and r.is_owner
    assert s.events[1].body == "Bonjour 👋 — l'écran reste noir, 日本語 OK?"
    assert "Zoë Çelik".encode("utf-8") in s.raw_xml and "👋".encode("utf-8") in s.raw_xml


def test_rs_session_with_shells_attributes_teams_and_unknowns():
    s = parse(RS)[2]
    assert s.lsid == LSID3
    assert s.start_time == 1718708400  # no @timestamp: taken from the ISO text
    assert s.end_time == 1718712000 and s.lseq == 10490 and s.external_key == "CHG-42"
    assert s.custom_attributes == [CustomAttribute("ticket_priority", "Ticket Priority", "P1"),
                                   CustomAttribute("asset_tag", "Asset Tag", "")]
    base = "https://support.example.com/session_download?lsid=l%3D1b2c%3Bm%3Dcsr%3Bi%3D"
    assert s.command_shell_recordings == [
        CommandShellRecording(0, base + "0&dl_action=csr", base + "0&dl_action=csr&view=1"),
        CommandShellRecording(1, base + "1&dl_action=csr", base + "1&dl_action=csr&view=1")]
    assert s.chat_download_url.endswith("m%3Dchat&dl_action=chat") and not s.has_recording
    assert (s.file_transfer_count, s.file_move_count, s.file_delete_count) == (2, 1, 3)
    assert s.teams == [Team("3", "Tier 1 Support", False), Team("5", "Tier 2 Windows", True)]
    assert [name for name, _ in s.extra] == ["future_feature", "cust_survey_list"]
    assert s.extra[0][1] == '<future_feature enabled="1"><flag>x</flag></future_feature>'
    assert "<answer>Great</answer>" in s.extra[1][1]

    (c,) = s.customers
    assert c.rpat_support is True and c.issue == "12" and c.issue_description == "Disk full"
    assert c.extra == [("info/favourite_colour", "<favourite_colour>blue</favourite_colour>")]

    jo, dana = s.representatives
    assert (jo.display_name, jo.display_number, jo.is_primary, jo.is_owner, jo.invited) == (
        "Jo Junior", "4", False, True, False)
    # display_name = private display name when present; the plain <display_name> stays available
    assert (dana.display_name, dana.plain_display_name, dana.public_display_name) == ("Dana Lead", "Dana", "Dana (Support)")
    assert (dana.is_primary, dana.is_owner, dana.invited, dana.seconds_involved) == (True, False, True, 1700)
    assert dana.extra == [("badge", "<badge>gold</badge>")]

    by_type = {e.event_type: e for e in s.events}
    assert by_type["Command Shell Session Started"].data == [EventData("shell", "cmd.exe"), EventData("instance", "0")]
    chat = by_type["Chat Message"]
    assert chat.body == "Pasted log:\x01\x02 café ☃ done" and chat.body_encoded
    assert chat.data == [EventData("body", "Pasted log:\x01\x02 café ☃ done")]
    shared = by_type["Files Shared"]
    assert shared.files == [EventFile("fix.ps1", 2048), EventFile("readme – lisez-moi.txt", 512)]
    assert shared.data == [EventData("filename", "fix.ps1"), EventData("filesize", "2048"),
                           EventData("filename", "readme – lisez-moi.txt"), EventData("filesize", "512")]
    odd = by_type["Quantum Tunnel Opened"]  # unknown event type: kept, unknown child in extra
    assert (odd.timestamp, odd.performed_by, odd.performed_by_type) == (1718709200, "System", "system")
    assert odd.extra == [("portal", '<portal id="9">Gate</portal>')]
    assert odd.data == [EventData("depth", "42")]


# --- PRA ------------------------------------------------------------------------------------
def test_pra_access_session_fields():
    ended, running = parse(PRA)
    assert ended.product == running.product == "pra" and ended.report == "AccessSession"
    assert ended.namespace == PRA_NS and ended.source_line == 4
    assert (ended.lsid, ended.lseq, ended.start_time, ended.end_time) == (
        "c0ffee00d15ea5e0b0a7f1e2d3c4b5a6", 731, 1733230800, 1733231745)
    assert ended.external_key == "" and ended.custom_attributes == []
    assert ended.public_site_id is None and ended.public_site_name is None
    assert (ended.jumpoint_id, ended.jumpoint_name) == ("4", "DC West Jumpoint")
    assert (ended.jump_group_id, ended.jump_group_type, ended.jump_group_name) == ("6", "shared", "Linux Servers")
    assert ended.has_recording and len(ended.command_shell_recordings) == 1
    (c,) = ended.customers  # no <info> block in PRA: the endpoint name comes from primary_customer
    assert (c.gsnumber, c.is_primary, c.display_name, c.company_name, c.issue) == (
        "31", True, "web-01.example.internal", None, None)
    assert (c.username, c.hostname, c.os) == ("root", "web-01.example.internal", "Ubuntu 22.04.4 LTS")
    priya, ahmed = ended.representatives  # no <primary_rep> flag in PRA: matched on primary_rep @gsnumber
    assert (priya.display_name, priya.is_primary, priya.is_owner, priya.user_id) == ("Priya Admin (Ops)", True, True, "17")
    assert (ahmed.display_name, ahmed.is_primary, ahmed.invited, ahmed.hostname) == ("Ahmed Auditor", False, True, None)
    download = ended.events[3]
    assert (download.event_type, download.filename, download.filesize) == ("File Download", "/var/log/syslog", 73400)
    assert running.in_progress and running.jumpoint_id is None
    assert (running.jump_group_type, running.jump_group_id, running.jump_group_name) == ("personal", "17", "Priya Admin")


@pytest.mark.parametrize("ns", [
    "http://www.bomgar.com/namespaces/API/reporting",
    "http://www.beyondtrust.com/namespaces/API/reporting",
    "https://www.beyondtrust.com/namespaces/API/reporting",
    None,
])
def test_rs_namespace_agnostic(ns, tmp_path):
    path = tmp_path / "rs.xml"
    path.write_bytes(with_namespace(RS.read_bytes(), RS_NS, ns))
    reference = parse(RS)
    got = parse(path)
    assert [s.namespace for s in got] == [ns] * 3 and all(s.product == "rs" for s in got)
    if ns is None:
        assert got[0].raw_xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<session_list>\n<session ')
    else:
        assert got[0].raw_xml.startswith(f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{ns}">\n'.encode())
    for a, b in zip(got, reference):
        a.namespace, a.raw_xml = b.namespace, b.raw_xml
        assert a == b


def test_product_detection_and_hint(tmp_path):
    sra = tmp_path / "rs-in-sra-namespace.xml"
    sra.write_bytes(with_namespace(RS.read_bytes(), RS_NS, PRA_NS))
    assert {s.product for s in parse(sra)} == {"pra"}  # namespace contains /sra/
    assert {s.product for s in parse(sra, product="rs")} == {"rs"}  # the caller's hint wins
    bare = tmp_path / "pra-no-namespace.xml"
    bare.write_bytes(with_namespace(PRA.read_bytes(), PRA_NS, None))
    assert [s.product for s in parse(bare)] == ["pra", "pra"]  # jumpoint / jump_group elements
    assert [s.product for s in parse(RS, product="detect")] == ["rs"] * 3
    assert [s.product for s in parse(RS, product="pra")] == ["pra"] * 3


# --- raw_xml ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", [RS, PRA])
def test_raw_xml_is_standalone_and_reparses_equal(fixture):
    for s in parse(fixture):
        ns = s.namespace
        data = fixture.read_bytes()
        head = data[:data.index(b">", data.index(b"<session_list")) + 1]
        start = data.index(f'<session lsid="{s.lsid}"'.encode())
        element = data[start:data.index(b"</session>", start) + len(b"</session>")]
        # the appliance's own bytes: its declaration and root start tag, the whitespace before the session and the
        # session element byte for byte, then the root end tag
        assert s.raw_xml == head + b"\n" + element + b"\n</session_list>\n"
        (again,) = list(iter_sessions(io.BytesIO(s.raw_xml), source_name=s.lsid))
        assert again == s  # raw_xml included: reading it again gives the same bytes
        assert again.source_line == head.count(b"\n") + 2  # not part of equality


def test_raw_xml_keeps_content_as_sent():
    s = parse(RS)[2]
    assert b"<encoded_body>UGFzdGVkIGxvZzoBAiBjYWbDqSDimIMgZG9uZQ==</encoded_body>" in s.raw_xml
    assert b"&amp;dl_action=csr&amp;view=1</view_url>" in s.raw_xml
    assert b'<future_feature enabled="1"><flag>x</flag></future_feature>' in s.raw_xml
    assert b"<cust_survey_list>" in s.raw_xml


# --- errors -----------------------------------------------------------------------------------
def test_error_document_raises_api_error():
    with pytest.raises(ApplianceAPIError) as err:
        parse(DATA / "error.xml")
    assert str(err.value) == "This recording has expired and can no longer be viewed or downloaded."
    assert err.value.code is None


def test_error_document_with_code_and_blank_lines():
    doc = (b'<?xml version="1.0" encoding="UTF-8"?>\n\n<error xmlns="http://www.beyondtrust.com/sra/namespaces/API/'
           b'reporting" code="authentication_failed">Authentication failed. Please check your credentials.</error>\n\n\n')
    with pytest.raises(ApplianceAPIError) as err:
        list(iter_sessions(doc))
    assert str(err.value) == "Authentication failed. Please check your credentials."
    assert err.value.code == "authentication_failed"


def test_error_child_after_sessions_raises_after_yielding_them():
    data = RS.read_bytes().replace(b"</session_list>", b"<error>Report truncated.</error>\n</session_list>")
    it = iter_sessions(data)
    assert [next(it).lsid for _ in range(3)] == [LSID1, LSID2, LSID3]
    with pytest.raises(ApplianceAPIError, match="Report truncated"):
        next(it)


def test_empty_result_yields_nothing():
    assert parse(DATA / "empty.xml") == []
    assert list(iter_sessions(b"<session_list/>")) == []


def test_listing_is_not_a_session_list():
    with pytest.raises(ParseError, match=r"rs_listing.xml is not a session list \(its root element is <session_summary_list>\)"):
        parse(DATA / "rs_listing.xml")


def test_truncated_document_yields_complete_sessions_then_parse_error(tmp_path):
    data = RS.read_bytes()
    cut = data.index(b'<event timestamp="1718709000"')  # inside the third session
    path = tmp_path / "session.xml"
    path.write_bytes(data[:cut])
    last_line = data[:cut].count(b"\n") + 1
    it = iter_sessions(path)
    assert next(it).lsid == LSID1
    assert next(it).lsid == LSID2
    with pytest.raises(ParseError) as err:
        next(it)
    assert err.value.line == last_line and err.value.source == str(path)
    assert str(err.value).startswith(f"{path} is not valid XML at line {last_line}: ")
    # a caller that only names the lsids it asked for
    got = []
    with pytest.raises(ParseError, match=rf"^lsids {LSID1},{LSID2},{LSID3} is not valid XML at line {last_line}: "):
        for s in iter_sessions(io.BytesIO(data[:cut]), source_name=f"lsids {LSID1},{LSID2},{LSID3}"):
            got.append(s.lsid)
    assert got == [LSID1, LSID2]


def test_malformed_middle_names_line(tmp_path):
    lines = RS.read_text(encoding="utf-8").split("\n")
    bad = next(i for i, line in enumerate(lines) if "<lseq>10490</lseq>" in line)
    lines[bad] = "    <lseq>10490</lseq oops>"
    path = tmp_path / "session.xml"
    path.write_text("\n".join(lines), encoding="utf-8")
    got = []
    with pytest.raises(ParseError) as err:
        for s in iter_sessions(path, source_name="session.xml"):
            got.append(s.lsid)
    assert got == [LSID1, LSID2]
    assert err.value.line == bad + 1
    assert str(err.value).startswith(f"session.xml is not valid XML at line {bad + 1}: ")


@pytest.mark.parametrize("body", [b"", b"<html><body>Bad gateway", b"not xml at all"])
def test_non_xml_bodies_raise_parse_error(body):
    with pytest.raises(ParseError, match=r"^response is not valid XML at line 1: ") as err:
        list(iter_sessions(body, source_name="response"))
    assert err.value.line == 1 and err.value.source == "response"
    if not body:
        assert str(err.value) == "response is not valid XML at line 1: the document is empty."
    assert str(err.value).endswith(".") and ", column" not in str(err.value)  # one sentence, position said once


def test_source_keyword_alias_names_the_source():
    with pytest.raises(ParseError, match="^lsid abc is not valid XML at line 1"):
        list(iter_sessions(b"<session_list>", source="lsid abc"))
    with pytest.raises(ParseError, match="^named is not valid XML at line 1"):
        list(iter_sessions(io.BytesIO(b"<session_list>"), "named", "rs"))


def test_unreadable_source(tmp_path):
    with pytest.raises(ParseError, match="cannot be read"):
        list(iter_sessions(tmp_path / "missing.xml"))
    with pytest.raises(TypeError):
        list(iter_sessions(io.StringIO("<session_list/>")))


# --- safety -----------------------------------------------------------------------------------
def test_billion_laughs_is_not_expanded():
    lol = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    doc = ('<?xml version="1.0"?>\n<!DOCTYPE session_list [\n' + "\n".join(lol) + "\n]>\n"
           '<session_list><session lsid="a"><external_key>&lol9;</external_key><duration>x&lol9;y</duration>'
           "</session></session_list>").encode()
    try:
        sessions = list(iter_sessions(doc, source_name="lol.xml"))
    except ParseError as err:  # current libxml2 refuses the document outright ("entity amplification")
        assert "lol.xml is not valid XML at line" in str(err)
        assert "amplification" in str(err)
        return
    # older libxml2: the references are kept literally, never expanded
    (s,) = sessions
    assert s.external_key == "&lol9;" and s.duration == "x&lol9;y"
    (again,) = list(iter_sessions(s.raw_xml))  # raw_xml stays well-formed without the DTD
    assert again == s


def test_small_internal_entities_are_kept_literal():
    doc = (b'<?xml version="1.0"?>\n<!DOCTYPE session_list [<!ENTITY co "Example Corp">]>\n'
           b'<session_list><session lsid="a"><external_key>A &co; B</external_key></session></session_list>')
    (s,) = list(iter_sessions(doc))
    assert s.external_key == "A &co; B"
    assert b"<external_key>A &amp;co; B</external_key>" in s.raw_xml
    assert list(iter_sessions(s.raw_xml)) == [s]


def test_external_entities_and_dtds_are_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY net "FETCHED">')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        docs = [
            f'<!DOCTYPE session_list [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            f'<!DOCTYPE session_list [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>',
            f'<!DOCTYPE session_list [<!ENTITY xxe SYSTEM "{base}/entity">]>',
            f'<!DOCTYPE session_list SYSTEM "{base}/external.dtd">',
            f'<!DOCTYPE session_list [<!ENTITY % p SYSTEM "{base}/param.dtd"> %p;]>',
        ]
        for doctype in docs:
            doc = (f'<?xml version="1.0"?>\n{doctype}\n<session_list><session lsid="a">'
                   "<external_key>&xxe;</external_key></session></session_list>").encode()
            (s,) = list(iter_sessions(doc))
            assert s.external_key == "&xxe;"
            assert b"root:" not in s.raw_xml and b"TOP-SECRET" not in s.raw_xml and b"FETCHED" not in s.raw_xml
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


# --- sources and encodings ----------------------------------------------------------------------
def test_binary_file_object_and_bytes_sources():
    with RS.open("rb") as f:
        from_file = list(iter_sessions(f))
        assert not f.closed  # the caller's stream is left open
    assert from_file == parse(RS) == list(iter_sessions(RS.read_bytes())) == list(iter_sessions(str(RS)))


def test_encoding_from_xml_declaration(tmp_path):
    doc = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<session_list xmlns="http://www.bomgar.com/namespaces/API/'
           'reporting"><session lsid="e"><external_key>Café crème</external_key>'
           '<public_site id="1">Société</public_site></session></session_list>')
    path = tmp_path / "latin1.xml"
    path.write_bytes(doc.encode("iso-8859-1"))
    (s,) = parse(path)
    assert (s.external_key, s.public_site_name) == ("Café crème", "Société")
    assert "Café crème".encode("utf-8") in s.raw_xml  # raw_xml is declared and encoded as UTF-8
    assert list(iter_sessions(s.raw_xml)) == [s]


def test_nested_element_named_session_is_not_a_session():
    doc = b'<session_list><session lsid="a"><session lsid="inner">x</session></session></session_list>'
    (s,) = list(iter_sessions(doc))
    assert s.lsid == "a" and s.extra == [("session", '<session lsid="inner">x</session>')]


def test_tolerated_document_shapes():
    wrapped = b'<session_list><page n="1"><session lsid="a"/><session lsid="b"/></page></session_list>'
    assert [s.lsid for s in iter_sessions(wrapped)] == ["a", "b"]
    bare = b'<?xml version="1.0" encoding="UTF-8"?>\n<session xmlns="http://www.bomgar.com/namespaces/API/reporting" lsid="c"><lseq>5</lseq></session>'
    (s,) = list(iter_sessions(bare))
    assert (s.lsid, s.lseq, s.namespace) == ("c", 5, "http://www.bomgar.com/namespaces/API/reporting")
    assert list(iter_sessions(s.raw_xml)) == [s]


def test_odd_values_are_tolerated():
    doc = (b'<session_list><session lsid="t"><lseq> 12 </lseq><start_time timestamp="">2024-06-18T10:10:00Z</start_time>'
           b'<end_time timestamp="0"/><file_transfer_count>n/a</file_transfer_count>'
           b'<team_list><team><id>8</id><name>Nested</name><primary>1</primary></team></team_list>'
           b'<primary_team id="8">Nested</primary_team>'
           b'<session_details><event event_type="X"><filesize>big</filesize><files><file>a.txt</file></files>'
           b'<encoded_body>%%%not base64</encoded_body></event></session_details></session></session_list>')
    (s,) = list(iter_sessions(doc))
    assert (s.lseq, s.start_time, s.end_time, s.file_transfer_count) == (12, 1718705400, None, None)
    assert s.session_type == "support"
    assert s.teams == [Team("8", "Nested", True)]
    (ev,) = s.events
    assert ev.timestamp is None and ev.filesize is None and ev.files == [EventFile("a.txt", None)]
    assert ev.body == "%%%not base64"


@pytest.mark.slow
def test_streaming_memory_stays_small(tmp_path):
    """A ~50 MB response must not be held as one tree (libxml2 memory is outside tracemalloc: check RSS too)."""
    text = RS.read_text(encoding="utf-8")
    session = text[text.index(f'<session lsid="{LSID3}">'):text.index("</session_list>")]
    filler = "Lorem ipsum dolor sit amet. " * 700  # ~20 kB chat body: fewer, bigger sessions keep the test quick
    session = session.replace("<question>How did we do?</question>", f"<question>{filler}</question>")
    path = tmp_path / "big.xml"
    count = 0
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="http://www.bomgar.com/namespaces/API/reporting">\n')
        while f.tell() < 50_000_000:
            f.write(session.replace(LSID3, f"{count:032x}"))
            count += 1
        f.write("</session_list>\n")
    script = r"""
import json, resource, sys, tracemalloc
from ic.sessions.parser import iter_sessions

def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6

before = peak_rss_mb()
tracemalloc.start()
n = 0
last = None
for s in iter_sessions(sys.argv[1]):
    n += 1
    last = s.lsid
print(json.dumps({"n": n, "last": last, "traced_peak": tracemalloc.get_traced_memory()[1],
                  "rss_growth_mb": peak_rss_mb() - before}))
"""
    if sys.platform == "win32":
        pytest.skip("peak RSS check needs /proc or resource")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env,
                         check=True).stdout
    result = json.loads(out)
    assert result["n"] == count and result["last"] == f"{count - 1:032x}"
    assert result["traced_peak"] < 30_000_000
    assert result["rss_growth_mb"] < 40  # holding the whole tree costs ~150 MB here
