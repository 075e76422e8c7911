"""Shapes of REAL appliance output (public captures and third-party parsers), rebuilt with our own values.

Each fixture in tests/data/real_shapes reproduces one shape seen outside our spec-written fixtures:
- pra_cloud_session.xml: PRA cloud AccessSession as captured in a public connector's tests (xmlns:xsi declared,
  primary_customer before jump_group, empty external_key/custom_attributes, an event with only whitespace,
  representative without hostname and "Unknown" values, bracketed IPv6 public_ip, several endpoints, PRA data names).
- pra_listing.xml / pra_error_code.xml: the AccessSessionListing and the HTTP 200 <error code="..."> of that capture.
- rs_no_data_blank_lines.xml: RS error document with blank lines around the root (bomgar.com namespace).
- no_namespace_iso.xml: a full PRA element set without namespace, ISO "Z" times also in event @timestamp, empty
  performed_by/destination that only carry gsnumbers, body AND encoded_body in one event.
- sparse_pra.xml: participants and primary_customer without gsnumber, an empty primary_customer, a self-closed event.
- rs_classic_shape.xml: RS as parsed by a ServiceNow integration (public_site, info/*, primary_cust, rep primary_rep,
  cust_survey_list / rep_survey_list).
- nil_and_ts.xml: xsi:nil elements and the older @ts time attribute.
- prefixed_https_namespace.xml: a prefixed root in the https:// RS namespace the current vendor docs name.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from ic.appliance import documents as docs
from ic.destinations import sql_schema as t
from ic.destinations.folder import FolderDestination
from ic.destinations.sql import SqlDestination
from ic.errors import ApplianceAPIError, AuthenticationFailed, ParseError
from ic.sessions.model import EventData, EventFile, Session
from ic.sessions.parser import iter_sessions

SHAPES = Path(__file__).parents[1] / "data" / "real_shapes"
HOST = "pra.example.test"
SESSION_FILES = sorted(p for p in SHAPES.glob("*.xml") if p.name not in {
    "pra_listing.xml", "pra_error_code.xml", "rs_no_data_blank_lines.xml"})


def one(name: str, **kw) -> Session:
    sessions = list(iter_sessions(SHAPES / name, **kw))
    assert len(sessions) == 1
    return sessions[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'real.db'}"
    return request.getfixturevalue("pg_url")


def store_and_dump(url: str, sessions: list[Session]) -> dict[str, list[dict]]:
    d = SqlDestination("Real", {"url": url, "system_info": True})
    assert d.store_sessions(HOST, sessions) == len(sessions)
    d.close()
    engine = create_engine(url)
    out: dict[str, list[dict]] = {}
    with engine.connect() as conn:
        for table in t.ALL_TABLES:
            rows = [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
            for r in rows:
                for col in ("id", "session_id", "session_event_id"):
                    r.pop(col, None)
            out[table.name] = rows
    engine.dispose()
    return out


# --- PRA cloud capture --------------------------------------------------------------------------
def test_pra_cloud_session_maps_every_element():
    s = one("pra_cloud_session.xml")
    assert (s.product, s.lsid, s.lseq, s.duration) == ("pra", "3c5e7a9b1d2f40618293a4b5c6d7e8f0", 41, "00:12:30")
    assert (s.start_time, s.end_time, s.external_key, s.custom_attributes) == (1750000000, 1750000750, "", [])
    assert s.chat_download_url.endswith("dl_action=chat") and s.chat_view_url.endswith("&view=1")
    assert (s.file_transfer_count, s.file_move_count, s.file_delete_count) == (3, 0, 2)
    assert (s.jump_group_id, s.jump_group_type, s.jump_group_name) == ("4", "shared", "Datacenter Ops")
    assert (s.primary_customer, s.primary_customer_gsnumber) == ("Build Server West", "31")
    assert (s.primary_rep, s.primary_rep_gsnumber, s.primary_rep_id) == ("Morgan Ops", "30", "7")
    # nothing of the real element set ends up unmapped
    assert s.extra == [] and all(not c.extra for c in s.customers) and all(not r.extra for r in s.representatives)
    assert all(not e.extra for e in s.events)

    west, deploy = s.customers
    assert (west.gsnumber, west.is_primary, west.display_name, west.username) == (
        "31", True, "Build Server West", "Build Server West")
    assert (west.public_ip, west.hostname, west.os) == ("198.51.100.23:50211", "BUILD-W01", "Windows Server 2019 Standard")
    # a second endpoint has only <username>: the guide's display name falls back to it
    assert (deploy.gsnumber, deploy.is_primary, deploy.display_name, deploy.os) == ("33", False, "svc-deploy", "Unknown")

    [rep] = s.representatives
    assert (rep.user_id, rep.username, rep.display_name, rep.public_display_name) == ("7", "morgan", "Morgan Ops", "Morgan")
    assert (rep.public_ip, rep.private_ip, rep.hostname, rep.os) == ("[2001:db8:1f::42]:55010", "Unknown", None, "Unknown")
    assert (rep.is_owner, rep.is_primary, rep.seconds_involved, rep.invited) == (True, True, 748, False)

    start, owner, member, upload, special, jira = s.events
    assert (start.event_type, start.performed_by, start.destination, start.data) == ("Session Start", None, None, [])
    assert (owner.destination, owner.destination_type, owner.destination_gsnumber) == ("Pre-start Conference", "system", "0")
    assert owner.data == [EventData("owner", "Pre-start Conference")]
    assert [d.name for d in member.data] == ["name", "private_ip", "public_ip", "hostname", "os"]
    assert upload.data == [EventData("filename", "C:\\Temp\\patch-2025.msu"), EventData("filesize", "4823091")]
    assert (upload.performed_by, upload.destination) == ("Morgan Ops", "Build Server West")
    assert special.data == [EventData("action_name", "Sécurité Windows (Ctrl-Alt-Suppr)")]
    assert (jira.performed_by, jira.performed_by_type, jira.performed_by_gsnumber) == (
        "Privileged Remote Access", "system", "0")
    assert jira.data[-1] == EventData("request_reason", "")


def test_pra_cloud_session_rows(db_url):
    db = store_and_dump(db_url, [one("pra_cloud_session.xml")])
    [session] = db["session"]
    assert (session["type"], session["external_key"], session["file_transfers"], session["public_site_id"]) == (
        "support", "", 3, None)
    assert (session["jump_group_id"], session["jump_group_name"], session["jump_group_type"]) == (
        "4", "Datacenter Ops", "shared")
    assert [(e["gs_number"], e["display_name"], e["host_name"]) for e in db["endpoint"]] == [
        ("31", "Build Server West", "BUILD-W01"), ("33", "svc-deploy", "BUILD-W02")]
    assert [(u["gs_number"], u["user_id"], u["display_name"], u["is_primary"], u["is_owner"], u["host_name"])
            for u in db["user"]] == [("30", "7", "Morgan Ops", 1, 1, None)]
    assert [(e["type"], e["performed_by"], e["destination"]) for e in db["session_event"]] == [
        ("Session Start", None, None),
        ("Conference Owner Changed", None, "Pre-start Conference"),
        ("Conference Member Added", "svc-deploy", None),
        ("File Upload", "Morgan Ops", "Build Server West"),
        ("Special Action Executed", "Morgan Ops", None),
        ("Jump Item Authorization Request Utilized", "Privileged Remote Access", None),
    ]
    assert len(db["session_event_data"]) == 12 and db["team"] == [] and db["custom_attribute"] == []


def test_pra_listing_and_error_shapes():
    root = docs.parse((SHAPES / "pra_listing.xml").read_bytes(), HOST, "AccessSessionListing")
    assert docs.error_in(root) is None
    assert docs.summaries_from(root) == [
        ("3c5e7a9b1d2f40618293a4b5c6d7e8f0", False, None), ("8d7c6b5a4f3e42d1a0b9c8d7e6f5a4b3", True, None)]
    with pytest.raises(ParseError, match="not a session list"):
        list(iter_sessions(SHAPES / "pra_listing.xml"))

    body = (SHAPES / "pra_error_code.xml").read_bytes()
    assert docs.root_name_from_prefix(body[:120]) == "error"
    err = docs.error_in(docs.parse(body, HOST, "AccessSessionListing"))
    assert (err.message, err.code) == ("Authentication failed. Please check your credentials.", "authentication_failed")
    # credentials refused in an HTTP 200 error document: the typed error that says what to fix
    with pytest.raises(AuthenticationFailed, match=r"pra\.example\.test .*client ID and secret"):
        docs.raise_api_error(err, HOST)
    with pytest.raises(ApplianceAPIError) as caught:
        list(iter_sessions(body))
    assert (str(caught.value), caught.value.code) == (err.message, "authentication_failed")

    blank = (SHAPES / "rs_no_data_blank_lines.xml").read_bytes()
    assert docs.root_name_from_prefix(blank) == "error"
    err = docs.error_in(docs.parse(blank, HOST, "SupportSessionListing"))
    assert docs.is_no_data(err.message) and err.code is None


# --- no namespace, ISO times, attribute-only participants ---------------------------------------
def test_no_namespace_iso_times_and_attribute_only_parties():
    s = one("no_namespace_iso.xml")
    assert (s.product, s.namespace, s.start_time, s.end_time) == ("pra", None, 1740830400, 1740834000)
    assert (s.jumpoint_id, s.jumpoint_name, s.jump_group_type) == ("3", "Branch Jumpoint", "personal")
    [ev] = s.events
    assert ev.timestamp == 1740832200  # @timestamp="2025-03-01T12:30:00Z"
    # <performed_by gsnumber="U4" type="representative"/>: the name comes from the participant lists
    assert (ev.performed_by, ev.performed_by_type, ev.performed_by_gsnumber) == ("Kim Tech", "representative", "U4")
    assert (ev.destination, ev.destination_type, ev.destination_gsnumber) == ("Kiosk-17", "customer", "E9")
    # <body> and <encoded_body> together: one body row, the exact (decoded) text
    assert (ev.body, ev.body_encoded) == ("uploaded notes ✔", True)
    assert ev.data == [EventData("body", "uploaded notes ✔"), EventData("filename", "notes.txt"),
                       EventData("filesize", "2048")]
    assert ev.files == [EventFile("notes.txt", 2048)]
    assert [c.name for c in ev.system_information] == ["General"]
    assert s.extra == [] and ev.extra == []


def test_no_namespace_iso_rows(db_url):
    db = store_and_dump(db_url, [one("no_namespace_iso.xml")])
    [event] = db["session_event"]
    assert event["event_time"] is not None and event["event_time"].isoformat() == "2025-03-01T12:30:00"
    assert (event["performed_by"], event["destination"]) == ("Kim Tech", "Kiosk-17")
    assert [(d["name"], d["value"]) for d in db["session_event_data"]] == [
        ("body", "uploaded notes ✔"), ("filename", "notes.txt"), ("filesize", "2048")]
    assert [r["category"] for r in db["system_information"]] == ["General"]
    assert [(r["jumpoint_id"], r["jumpoint_name"]) for r in db["session"]] == [("3", "Branch Jumpoint")]


# --- sparse PRA (no gsnumbers) -------------------------------------------------------------------
def test_sparse_participants_without_gsnumbers():
    first, second = iter_sessions(SHAPES / "sparse_pra.xml")
    [c] = first.customers
    # primary_customer without gsnumber and one endpoint: that endpoint is the primary one, named after it
    assert (c.gsnumber, c.is_primary, c.display_name, c.private_ip) == (None, True, "Lab Printer", "10.9.9.9")
    assert (first.start_time, first.end_time, first.in_progress) == (None, None, True)
    [r] = first.representatives
    assert (r.gsnumber, r.user_id, r.is_primary, r.display_name) == (None, None, True, "Lab Admin")
    [ev] = first.events
    assert (ev.performed_by, ev.performed_by_type, ev.performed_by_gsnumber) == ("Lab Printer", "customer", None)
    [c] = second.customers
    # an empty <primary_customer gsnumber="5"/> text does not become an empty display name
    assert (c.gsnumber, c.is_primary, c.display_name) == ("5", True, None)
    assert second.events[0].data == [] and second.events[0].timestamp == 1700000002


# --- RS classic shape ----------------------------------------------------------------------------
def test_rs_classic_shape(db_url):
    s = one("rs_classic_shape.xml")
    assert (s.product, s.public_site_id, s.public_site_name, s.external_key) == ("rs", "2", "Partners", "CHG0031337")
    [c] = s.customers
    assert (c.is_primary, c.display_name, c.company_name, c.company_code, c.issue, c.issue_description) == (
        True, "Ola Nordmann", "Fjord AS", "FJ-1", "Printer offline", "The printer in room 4 shows offline.")
    [r] = s.representatives
    assert (r.is_primary, r.display_name, r.public_display_name) == (True, "Sam Helpdesk", "Sam")
    chat = s.events[1]
    assert (chat.destination, chat.destination_type, chat.body) == ("Everyone", "everyone", "Hello Ola")
    # surveys have no column in the guide's schema: kept (raw) in extra, nothing else is
    assert [name for name, _ in s.extra] == ["cust_survey_list", "rep_survey_list"]
    assert 'name="rating" value="5"' in s.extra[0][1]
    db = store_and_dump(db_url, [s])
    assert [(x["public_site_id"], x["public_site_name"], x["external_key"]) for x in db["session"]] == [
        ("2", "Partners", "CHG0031337")]
    assert [(e["display_name"], e["company_name"], e["issue"]) for e in db["endpoint"]] == [
        ("Ola Nordmann", "Fjord AS", "Printer offline")]


# --- xsi:nil and @ts -----------------------------------------------------------------------------
def test_xsi_nil_means_no_value_and_ts_is_a_timestamp(tmp_path):
    s = one("nil_and_ts.xml")
    assert (s.start_time, s.end_time, s.in_progress) == (1760000000, None, True)
    assert (s.external_key, s.jumpoint_id, s.jumpoint_name) == (None, None, None)
    assert s.customers[0].hostname is None and s.events[0].timestamp == 1760000005
    url = f"sqlite:///{tmp_path / 'nil.db'}"
    db = store_and_dump(url, [s])
    assert [(x["end_time"], x["external_key"], x["jumpoint_name"]) for x in db["session"]] == [(None, None, None)]
    assert db["session_event"][0]["event_time"].isoformat() == "2025-10-09T08:53:25"


# --- prefixed namespace --------------------------------------------------------------------------
def test_prefixed_namespace_copy_reparses_to_the_same_session():
    s = one("prefixed_https_namespace.xml")
    assert (s.product, s.namespace, s.public_site_name) == ("rs", "https://www.beyondtrust.com/namespaces/API/reporting",
                                                           "Default")
    assert s.customers[0].is_primary and s.customers[0].display_name == "Pat"
    assert list(iter_sessions(s.raw_xml)) == [s]


# --- every shape: raw copy, folder destination, SQLite ------------------------------------------
@pytest.mark.parametrize("path", SESSION_FILES, ids=lambda p: p.stem)
def test_every_shape_round_trips_through_folder_and_sqlite(path, tmp_path):
    sessions = list(iter_sessions(path))
    assert sessions
    for s in sessions:
        assert list(iter_sessions(s.raw_xml)) == [s]
    (tmp_path / "out").mkdir()
    folder = FolderDestination("Files", {"directory": str(tmp_path / "out")})
    assert folder.store_sessions(HOST, sessions) == len(sessions)
    folder.close()
    stored = sorted((tmp_path / "out").glob("*.xml"))
    assert len(stored) == len(sessions)
    again = sorted((x for p in stored for x in iter_sessions(p)), key=lambda x: x.lsid)
    assert again == sorted(sessions, key=lambda x: x.lsid)
    db = tmp_path / "all.db"
    store_and_dump(f"sqlite:///{db}", sessions)
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from session").fetchone()[0] == len(sessions)
        events = sum(len(s.events) for s in sessions)
        assert conn.execute("select count(*) from session_event").fetchone()[0] == events
