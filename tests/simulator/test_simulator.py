"""The simulated appliance, spoken to with plain `requests` over real TLS (trusting only the simulator's CA)."""
from __future__ import annotations

import base64
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests
from lxml import etree

from ic.simulator import Simulator

RS_NS = "http://www.bomgar.com/namespaces/API/reporting"
PRA_NS = "http://www.beyondtrust.com/sra/namespaces/API/reporting"
FLV = b"FLV\x01\x05\x00\x00\x00\x09"


def token(sim: Simulator) -> str:
    r = requests.post(f"{sim.base_url}/oauth2/token", auth=(sim.client_id, sim.client_secret),
                      data={"grant_type": "client_credentials"}, verify=sim.ca_file, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


class Api:
    """Minimal client: one token, GET /api/reporting."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.token = token(sim)

    def get(self, path: str = "/api/reporting", **params) -> requests.Response:
        return requests.get(f"{self.sim.base_url}{path}", params=params, verify=self.sim.ca_file, timeout=10,
                            headers={"Authorization": f"Bearer {self.token}"})

    def report(self, **params) -> etree._Element:
        r = self.get(**params)
        assert r.status_code == 200, r.text
        return etree.fromstring(r.content)


def lsids(root: etree._Element) -> list[str]:
    return [el.get("lsid") for el in root]


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


# --- TLS ----------------------------------------------------------------------------------------------------------
def test_tls_verifies_with_the_ca_file_only(simulator):
    assert Path(simulator.ca_file).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    r = requests.post(f"{simulator.base_url}/oauth2/token", verify=simulator.ca_file, timeout=10)
    assert r.status_code == 401  # TLS fine, no credentials
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(f"{simulator.base_url}/oauth2/token", verify=True, timeout=10)  # system store: untrusted
    r = requests.post(f"https://localhost:{simulator.port}/oauth2/token", verify=simulator.ca_file, timeout=10)
    assert r.status_code == 401  # DNS:localhost SAN too


# --- OAuth --------------------------------------------------------------------------------------------------------
def test_oauth_success_bad_credentials_and_405(simulator):
    url = f"{simulator.base_url}/oauth2/token"
    r = requests.post(url, auth=(simulator.client_id, simulator.client_secret),
                      data={"grant_type": "client_credentials"}, verify=simulator.ca_file)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and len(body["access_token"]) >= 30
    # exact wire form: Basic header built by hand
    basic = base64.b64encode(f"{simulator.client_id}:{simulator.client_secret}".encode()).decode()
    r = requests.post(url, headers={"Authorization": f"Basic {basic}",
                                    "Content-Type": "application/x-www-form-urlencoded"},
                      data="grant_type=client_credentials", verify=simulator.ca_file)
    assert r.status_code == 200
    for user, password in ((simulator.client_id, "wrong"), ("nobody", simulator.client_secret),
                           (simulator.client_id, "mot-de-passé")):
        bad = requests.post(url, auth=(user, password), data={"grant_type": "client_credentials"},
                            verify=simulator.ca_file)
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert requests.get(url, verify=simulator.ca_file).status_code == 405
    grant = requests.post(url, auth=(simulator.client_id, simulator.client_secret), data={"grant_type": "password"},
                          verify=simulator.ca_file)
    assert grant.status_code == 400
    assert simulator.stats["tokens_minted"] == 2


def test_token_lifetime_and_type_are_configurable(make_simulator):
    sim = make_simulator(sessions=3, token_lifetime=1799, token_type="bearer")
    r = requests.post(f"{sim.base_url}/oauth2/token", auth=(sim.client_id, sim.client_secret),
                      data={"grant_type": "client_credentials"}, verify=sim.ca_file)
    assert r.json()["token_type"] == "bearer" and r.json()["expires_in"] == 1799


def test_31st_token_evicts_the_oldest(simulator):
    tokens = [token(simulator) for _ in range(31)]
    assert simulator.live_tokens == 30

    def status(tok: str) -> int:
        return requests.get(f"{simulator.base_url}/api/command", params={"action": "get_api_info"},
                            headers={"Authorization": f"Bearer {tok}"}, verify=simulator.ca_file).status_code

    assert status(tokens[0]) == 401
    assert status(tokens[1]) == 200 and status(tokens[30]) == 200


def test_bad_expired_and_missing_bearer_get_401_access_denied(simulator):
    url = f"{simulator.base_url}/api/reporting"
    params = {"generate_report": "SupportSessionListing", "end_time": 0, "duration": 0}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        r = requests.get(url, params=params, headers=headers, verify=simulator.ca_file)
        assert r.status_code == 401
        assert r.json() == {"error": "access_denied",
                            "message": "The resource owner or authorization server denied the request."}
    api = Api(simulator)
    assert api.get(**params).status_code == 200
    simulator.expire_tokens()
    assert api.get(**params).status_code == 401
    api.token = token(simulator)
    simulator.rotate_secret()
    assert api.get(**params).status_code == 401


def test_missing_permissions_get_403(simulator):
    api = Api(simulator)
    simulator.permissions["reporting"] = False
    assert api.get(generate_report="SupportSessionListing", end_time=0).status_code == 403
    simulator.permissions["backup"] = False
    assert api.get("/api/backup").status_code == 403


# --- listings -----------------------------------------------------------------------------------------------------
def test_listing_window_semantics(simulator):
    api = Api(simulator)
    sessions = simulator.sessions
    in_progress = {s.lsid for s in sessions if s.in_progress}
    assert len(in_progress) == 5
    by_end = api.report(generate_report="SupportSessionListing", end_time=0, duration=0)
    assert local(by_end) == "session_summary_list" and by_end.nsmap[None] == RS_NS
    assert {el.get("lsid") for el in by_end} == {s.lsid for s in sessions if not s.in_progress}
    by_start = api.report(generate_report="SupportSessionListing", start_time=0, duration=0)
    assert {el.get("lsid") for el in by_start} == {s.lsid for s in sessions}  # in-progress included
    # inclusive lower bound, end_time semantics
    closed = sorted((s for s in sessions if not s.in_progress), key=lambda s: s.end_time)
    pivot = closed[len(closed) // 2]
    got = lsids(api.report(generate_report="SupportSessionListing", end_time=pivot.end_time, duration=0))
    assert pivot.lsid in got
    assert set(got) == {s.lsid for s in closed if s.end_time >= pivot.end_time}
    # duration in seconds, inclusive upper bound
    got = lsids(api.report(generate_report="SupportSessionListing", end_time=pivot.end_time - 100, duration=100))
    assert set(got) == {s.lsid for s in closed if pivot.end_time - 100 <= s.end_time <= pivot.end_time}
    # has_recording and external_key attributes agree with the data
    for el in by_start:
        s = simulator.session(el.get("lsid"))
        assert el.get("has_recording") == ("1" if s.has_recording else "0")
        assert el.get("external_key") == (s.external_key or None)


def test_listing_by_date_uses_days(simulator):
    api = Api(simulator)
    from datetime import datetime, timezone

    s = next(s for s in simulator.sessions if not s.in_progress)
    day = datetime.fromtimestamp(s.end_time, tz=timezone.utc).strftime("%Y-%m-%d")
    midnight = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())
    got = set(lsids(api.report(generate_report="SupportSessionListing", end_date=day, duration=1)))
    expected = {x.lsid for x in simulator.sessions if x.end_time and midnight <= x.end_time < midnight + 86400}
    assert s.lsid in got and got == expected


def test_bad_parameters_and_unknown_reports_are_200_error_documents(simulator):
    api = Api(simulator)
    for params in (
        {"generate_report": "NoSuchReport"},
        {"generate_report": "SupportSessionListing"},  # no window
        {"generate_report": "SupportSessionListing", "end_time": "yesterday"},
        {"generate_report": "SupportSessionListing", "end_time": 0, "start_time": 0},
        {"generate_report": "SupportSession", "lsid": "0" * 32},
        {"generate_report": "AccessSession", "start_time": 0},  # PRA report on an RS appliance
    ):
        r = api.get(**params)
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/xml; charset=UTF-8"
        root = etree.fromstring(r.content)
        assert local(root) == "error" and root.nsmap[None] == RS_NS and root.text
    assert etree.fromstring(api.get(generate_report="SupportSession", lsid="x").content).text == "Invalid lsid."


def test_empty_result_is_empty_root_or_error_with_switch(simulator):
    api = Api(simulator)
    future = simulator.now() + 10 * 86400
    r = api.get(generate_report="SupportSessionListing", end_time=future, duration=0)
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = etree.fromstring(r.content)
    assert local(root) == "session_summary_list" and len(root) == 0
    simulator.faults.error_documents = True
    root = etree.fromstring(api.get(generate_report="SupportSession", end_time=future).content)
    assert local(root) == "error" and root.text == "No sessions found for the given search criteria."
    assert simulator.stats["faults"]["error_documents"] == 1


# --- sessions -----------------------------------------------------------------------------------------------------
def test_support_session_by_lsid_and_lsids(simulator):
    api = Api(simulator)
    s = next(s for s in simulator.sessions if not s.in_progress and s.recording)
    root = api.report(generate_report="SupportSession", lsid=s.lsid)
    assert local(root) == "session_list" and lsids(root) == [s.lsid]
    session = root[0]
    order = [local(c) for c in session]
    assert order[:6] == ["session_type", "lseq", "start_time", "end_time", "duration", "public_site"]
    assert session.find(f"{{{RS_NS}}}end_time").get("timestamp") == str(s.end_time)
    assert session.find(f"{{{RS_NS}}}session_recording_download_url") is not None
    assert order.index("session_details") == len(order) - 1
    batch = [x.lsid for x in simulator.sessions[:7]]
    root = api.report(generate_report="SupportSession", lsids=",".join(batch))
    assert sorted(lsids(root)) == sorted(batch)
    assert api.get(generate_report="SupportSession", lsid=s.lsid).content.count(b"<session ") == 1


def test_in_progress_sessions_have_no_end_time_or_urls(simulator):
    api = Api(simulator)
    s = next(s for s in simulator.sessions if s.in_progress)
    session = api.report(generate_report="SupportSession", lsid=s.lsid)[0]
    end = session.find(f"{{{RS_NS}}}end_time")
    assert end is None or (end.text is None and end.get("timestamp") is None)
    assert not [c for c in session if "url" in local(c) or local(c) == "command_shell_recordings"]


def test_post_form_is_accepted_and_multipart_rejected(simulator):
    api = Api(simulator)
    headers = {"Authorization": f"Bearer {api.token}"}
    url = f"{simulator.base_url}/api/reporting"
    r = requests.post(url, data={"generate_report": "SupportSessionListing", "end_time": "0", "duration": "0"},
                      headers=headers, verify=simulator.ca_file)
    assert r.status_code == 200 and local(etree.fromstring(r.content)) == "session_summary_list"
    r = requests.post(url, files={"generate_report": (None, "SupportSessionListing")}, headers=headers,
                      verify=simulator.ca_file)
    assert r.status_code == 400 and local(etree.fromstring(r.content)) == "error"


# --- recordings ---------------------------------------------------------------------------------------------------
def test_recording_download_has_flv_header_and_exact_size(make_simulator):
    sim = make_simulator(sessions=30, recording_size=300_001)
    api = Api(sim)
    s = next(s for s in sim.sessions if s.has_recording)
    r = api.get(generate_report="SupportSessionRecording", lsid=s.lsid)
    assert r.status_code == 200 and r.headers["Content-Type"] == "video/x-flv"
    assert r.content.startswith(FLV) and len(r.content) == 300_001 == int(r.headers["Content-Length"])
    assert r.content == sim.recording_bytes("recordings", s.lsid)
    assert "attachment" in r.headers["Content-Disposition"] and ".flv" in r.headers["Content-Disposition"]
    no_rec = next(s for s in sim.sessions if not s.has_recording)
    root = etree.fromstring(api.get(generate_report="SupportSessionRecording", lsid=no_rec.lsid).content)
    assert local(root) == "error"


def test_shell_and_show_my_screen_recordings_by_instance(make_simulator):
    sim = make_simulator(sessions=60, recording_size=5000)
    api = Api(sim)
    shell = next(s for s in sim.sessions if s.recording_instances("shell") >= 2)
    for i in range(shell.shell_instances):
        r = api.get(generate_report="CommandShellRecording", lsid=shell.lsid, instance=i)
        assert r.content == sim.recording_bytes("shell", shell.lsid, i)
    bad = api.get(generate_report="CommandShellRecording", lsid=shell.lsid, instance=shell.shell_instances)
    assert local(etree.fromstring(bad.content)) == "error"
    smsr = next(s for s in sim.sessions if s.recording_instances("smsr"))
    r = api.get(generate_report="ShowMyScreenRecording", lsid=smsr.lsid, instance=0)
    assert r.content.startswith(FLV) and len(r.content) == 5000


def test_expired_recordings_switch(simulator):
    api = Api(simulator)
    s = next(s for s in simulator.sessions if s.has_recording)
    simulator.faults.expired_recordings = True
    root = etree.fromstring(api.get(generate_report="SupportSessionRecording", lsid=s.lsid).content)
    assert root.text == "This recording has expired and can no longer be viewed or downloaded."
    assert simulator.stats["faults"]["expired_recordings"] == 1


# --- fault switches -----------------------------------------------------------------------------------------------
def test_fault_rate_limit_every_nth_request_gets_429_with_retry_after(simulator):
    api = Api(simulator)
    simulator.faults.rate_limit = 3
    codes = [api.get("/api/command", action="get_api_info") for _ in range(6)]
    assert [r.status_code for r in codes] == [200, 200, 429, 200, 200, 429]
    assert codes[2].headers["Retry-After"] == "1"
    assert simulator.stats["faults"]["rate_limit"] == 2


def test_real_rate_limits_per_second_and_per_hour(make_simulator):
    sim = make_simulator(sessions=3, rate_per_second=0.01)  # one request, then nothing for 100 s
    api = Api(sim)
    first, second = api.get("/api/command", action="get_api_info"), api.get("/api/command", action="get_api_info")
    assert first.status_code == 200 and second.status_code == 429 and int(second.headers["Retry-After"]) >= 1
    sim = make_simulator(sessions=3, rate_per_hour=3)
    api = Api(sim)
    got = [api.get("/api/command", action="get_api_info") for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in got[:3]] == ["2", "1", "0"]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in got)


def test_rate_limit_headers_on_every_response(simulator):
    api = Api(simulator)
    responses = [
        api.get(generate_report="SupportSessionListing", end_time=0),
        api.get(generate_report="Nope"),
        requests.get(f"{simulator.base_url}/oauth2/token", verify=simulator.ca_file),
        requests.get(f"{simulator.base_url}/api/reporting", verify=simulator.ca_file),
    ]
    for r in responses:
        assert r.headers["X-RateLimit-Limit"] == "15000"
        assert 0 <= int(r.headers["X-RateLimit-Remaining"]) <= 15000


def test_fault_error_5xx_burst(simulator):
    api = Api(simulator)
    simulator.faults.error_5xx_burst = 2
    codes = [api.get("/api/command", action="get_api_info").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert simulator.stats["faults"]["error_5xx_burst"] == 2 and simulator.faults.error_5xx_burst == 0


def test_fault_slow_seconds_makes_a_short_timeout_fire(simulator):
    api = Api(simulator)
    simulator.faults.slow_seconds = 0.5
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(f"{simulator.base_url}/api/command", params={"action": "get_api_info"},
                     headers={"Authorization": f"Bearer {api.token}"}, verify=simulator.ca_file, timeout=(5, 0.05))
    assert simulator.stats["faults"]["slow_seconds"] >= 1


def test_fault_drop_mid_body_cuts_the_connection(make_simulator):
    sim = make_simulator(sessions=20, recording_size=200_000)
    api = Api(sim)
    s = next(s for s in sim.sessions if s.has_recording)
    sim.faults.drop_mid_body = 1
    with pytest.raises(requests.exceptions.RequestException):
        api.get(generate_report="SupportSessionRecording", lsid=s.lsid).content
    assert sim.stats["faults"]["drop_mid_body"] == 1
    r = api.get(generate_report="SupportSessionRecording", lsid=s.lsid)  # next one is whole again
    assert len(r.content) == 200_000


def test_fault_evict_tokens_gives_one_401_then_a_new_token_works(simulator):
    api = Api(simulator)
    simulator.faults.evict_tokens = True
    assert api.get("/api/command", action="get_api_info").status_code == 401
    assert api.get("/api/command", action="get_api_info").status_code == 401  # the old token stays dead
    api.token = token(simulator)
    assert api.get("/api/command", action="get_api_info").status_code == 200
    assert simulator.faults.evict_tokens is False and simulator.stats["faults"]["evict_tokens"] == 1


def test_fault_truncated_xml(simulator):
    api = Api(simulator)
    simulator.faults.truncated_xml = 1
    r = api.get(generate_report="SupportSession", start_time=0)
    assert r.status_code == 200 and len(r.content) == int(r.headers["Content-Length"])
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(r.content)
    etree.fromstring(api.get(generate_report="SupportSession", start_time=0).content)
    assert simulator.stats["faults"]["truncated_xml"] == 1


# --- clock, incremental changes -----------------------------------------------------------------------------------
def test_clock_offset_shows_in_date_header_and_api_info(make_simulator):
    sim = make_simulator(sessions=20, clock_offset=-600)
    api = Api(sim)
    r = api.get("/api/command", action="get_api_info")
    appliance = parsedate_to_datetime(r.headers["Date"]).timestamp()
    assert abs(appliance - (time.time() - 600)) < 120
    stamp = int(etree.fromstring(r.content).find("{*}timestamp").text)
    assert abs(stamp - (time.time() - 600)) < 120
    assert abs(sim.anchor - (time.time() - 600)) < 120  # data is generated around the appliance clock
    assert max(s.start_time for s in sim.sessions) <= sim.now()


def test_end_session_and_add_sessions_appear_in_end_time_listings(simulator):
    api = Api(simulator)
    cursor = max(s.end_time for s in simulator.sessions if s.end_time) + 1
    assert lsids(api.report(generate_report="SupportSessionListing", end_time=cursor)) == []
    running = next(s for s in simulator.sessions if s.in_progress)
    simulator.end_session(running.lsid)
    added = simulator.add_sessions(3)
    got = lsids(api.report(generate_report="SupportSessionListing", end_time=cursor, duration=0))
    assert set(got) == {running.lsid} | {s.lsid for s in added}
    session = api.report(generate_report="SupportSession", lsid=running.lsid)[0]
    assert session.find("{*}end_time").get("timestamp") == str(simulator.session(running.lsid).end_time)
    assert session.find("{*}session_chat_download_url") is not None
    assert len({s.lsid for s in simulator.sessions}) == 53


# --- data realism and determinism ---------------------------------------------------------------------------------
def test_same_seed_gives_same_bytes(make_simulator):
    anchor = 1_760_000_000
    a = make_simulator(sessions=40, seed=3, anchor=anchor, recording_size=5000)
    b = make_simulator(sessions=40, seed=3, anchor=anchor, recording_size=5000)
    c = make_simulator(sessions=40, seed=4, anchor=anchor, recording_size=5000)
    docs = []
    for sim in (a, b, c):
        api = Api(sim)
        rec = next(s for s in sim.sessions if s.has_recording)
        docs.append((api.get(generate_report="SupportSessionListing", start_time=0).content,
                     api.get(generate_report="SupportSession", start_time=0).content,
                     api.get(generate_report="SupportSessionRecording", lsid=rec.lsid).content))
    assert docs[0] == docs[1]
    assert docs[0][0] != docs[2][0] and docs[0][1] != docs[2][1]


def test_session_data_is_realistic_and_hostile(make_simulator):
    sim = make_simulator(sessions=200, seed=7)
    api = Api(sim)
    r = api.get(generate_report="SupportSession", start_time=0)
    assert r.headers["Content-Type"] == "text/xml; charset=UTF-8"
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n\n<session_list')  # stray blank line
    root = etree.fromstring(r.content)
    assert len(root) == 200
    text = r.content.decode("utf-8")
    for needle in ("é", "日本語", "👍", "<encoded_body>", 'event_type="Quantum Flux Calibrated"',
                   "<external_key>..\\..\\Windows</external_key>", "<external_key>CON</external_key>",
                   "<external_key />", 'value name="instance"', "<system_information>", "<invited>1</invited>"):
        assert needle in text, needle
    keys = {s.external_key for s in sim.sessions}
    assert any(len(k) == 300 for k in keys)
    types = {e.get("event_type") for e in root.iter("{*}event")}
    assert {"Session Start", "Session End", "Chat Message", "Conference Member Added", "Conference Member Departed",
            "Conference Owner Changed", "File Upload", "File Download", "Session Note Added",
            "System Information Retrieved", "Command Shell Session Started", "Registry Key Added",
            "Show My Screen Recording", "File Moved", "File Deleted", "Foreground Window Changed"} <= types
    lseqs = [s.lseq for s in sim.sessions]
    assert len(set(lseqs)) < len(lseqs)  # lseq repeats
    ends = [s.end_time for s in sim.sessions if s.end_time]
    assert len(set(ends)) < len(ends)  # some sessions end in the same second (inclusive boundary)
    assert sim.anchor - min(ends) > 40 * 86400 and sim.anchor - min(ends) <= 60 * 86400
    for session in root:
        assert [local(c) for c in session][:3] == ["session_type", "lseq", "start_time"]
        dur = session.find("{*}duration").text
        assert len(dur.split(":")) == 3
        kinds = [e.get("event_type") for e in session.iter("{*}event")]
        assert int(session.find("{*}file_transfer_count").text) == kinds.count("File Upload") + kinds.count(
            "File Download")
        assert int(session.find("{*}file_move_count").text) == kinds.count("File Moved")
        assert int(session.find("{*}file_delete_count").text) == kinds.count("File Deleted")
        reps = session.findall("{*}rep_list/{*}representative")
        assert reps and sum(r.find("{*}session_owner").text == "1" for r in reps) == 1


def test_pra_product(make_simulator):
    sim = make_simulator(sessions=30, product="pra", recording_size=2000)
    api = Api(sim)
    listing = api.report(generate_report="AccessSessionListing", end_time=0, duration=0)
    assert local(listing) == "session_summary_list" and listing.nsmap[None] == PRA_NS
    root = api.report(generate_report="AccessSession", start_time=0)
    assert len(root) == 30
    names = {local(c) for c in root.iter() if isinstance(c.tag, str)}
    assert {"jump_group", "jumpoint"} <= names and "public_site" not in names and "primary_cust" not in names
    err = api.report(generate_report="SupportSessionListing", end_time=0)
    assert local(err) == "error"
    rec = next(s for s in sim.sessions if s.has_recording)
    for report in ("AccessSessionRecording", "UserRecording"):
        r = api.get(generate_report=report, lsid=rec.lsid)
        assert r.content.startswith(FLV) and len(r.content) == 2000
    assert local(api.report(generate_report="SupportSessionRecording", lsid=rec.lsid)) == "error"


def test_backup_download(simulator):
    api = Api(simulator)
    r = api.get("/api/backup")
    assert r.status_code == 200 and len(r.content) == 50_000
    day = time.strftime("%Y-%m-%d", time.gmtime(simulator.now()))
    assert r.headers["Content-Disposition"] == f'attachment; filename="support.example.com-{day}.nsb"'
    simulator.backup_password = "pw"
    assert local(etree.fromstring(api.get("/api/backup", password="bad").content)) == "error"
    assert len(api.get("/api/backup", password="pw").content) == 50_000
    headers = {"Authorization": f"Bearer {api.token}"}
    for kwargs in ({"data": {"password": "pw"}}, {"json": {"password": "pw"}}):
        r = requests.post(f"{simulator.base_url}/api/backup", headers=headers, verify=simulator.ca_file, **kwargs)
        assert r.headers["Content-Type"] == "application/octet-stream" and len(r.content) == 50_000


def test_connection_close_is_honoured_and_keep_alive_works(simulator):
    api = Api(simulator)
    headers = {"Authorization": f"Bearer {api.token}"}
    url = f"{simulator.base_url}/api/command"
    r = requests.get(url, params={"action": "get_api_info"}, headers={**headers, "Connection": "close"},
                     verify=simulator.ca_file)
    assert r.status_code == 200 and r.headers["Connection"] == "close"
    with requests.Session() as s:
        codes = [s.get(url, params={"action": "get_api_info"}, headers=headers, verify=simulator.ca_file).status_code
                 for _ in range(3)]
    assert codes == [200, 200, 200]
    assert [e["connection_close"] for e in list(simulator.log)[-4:]] == [True, False, False, False]


def test_gzip_xml_option(make_simulator):
    sim = make_simulator(sessions=10, gzip_xml=True)
    api = Api(sim)
    r = api.get(generate_report="SupportSession", start_time=0)  # requests sends Accept-Encoding: gzip
    assert r.headers["Content-Encoding"] == "gzip" and len(etree.fromstring(r.content)) == 10
    rec = next(s for s in sim.sessions if s.has_recording)
    assert "Content-Encoding" not in api.get(generate_report="SupportSessionRecording", lsid=rec.lsid).headers


def test_stop_cuts_kept_alive_connections_and_restart_keeps_ca_and_data(make_simulator):
    sim = make_simulator(sessions=10)
    api_token = token(sim)
    headers = {"Authorization": f"Bearer {api_token}"}
    url = f"{sim.base_url}/api/command"
    with requests.Session() as s:
        assert s.get(url, params={"action": "get_api_info"}, headers=headers, verify=sim.ca_file).ok
        port, ca = sim.port, sim.ca_file
        sim.stop(keep_certs=True)
        with pytest.raises(requests.exceptions.ConnectionError):
            s.get(url, params={"action": "get_api_info"}, headers=headers, verify=ca, timeout=5)
        sim.start(port)
        assert sim.ca_file == ca and Path(ca).exists()
        r = s.get(url, params={"action": "get_api_info"}, headers=headers, verify=ca, timeout=5)
        assert r.status_code == 200  # tokens survive an appliance restart here


# --- CLI ----------------------------------------------------------------------------------------------------------
def test_simulate_command_prints_connection_details_and_serves(tmp_path):
    root = Path(__file__).resolve().parents[2]
    ca_out = tmp_path / "sim-ca.pem"
    proc = subprocess.Popen(
        [sys.executable, str(root / "main.py"), "simulate", "--port", "0", "--sessions", "12", "--seed", "7",
         "--product", "pra", "--ca-out", str(ca_out), "--error-documents"],
        stdout=subprocess.PIPE, text=True, cwd=root,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("Serving"):
            line = proc.stdout.readline()
            assert line, f"simulate exited early: {lines}"
            lines.append(line.strip())
        info = dict(line.split(":", 1) for line in lines if line.count(":") >= 1 and not line.startswith("IC_"))
        host = info["host"].strip()
        secret = info["client secret"].strip()
        assert info["CA file"].strip() == str(ca_out) and ca_out.exists()
        assert any("site add" in line and "--ca-bundle" in line for line in lines)
        r = requests.post(f"https://{host}/oauth2/token", auth=(info["client id"].strip(), secret),
                          data={"grant_type": "client_credentials"}, verify=str(ca_out), timeout=10)
        tok = r.json()["access_token"]
        r = requests.get(f"https://{host}/api/reporting", params={"generate_report": "AccessSessionListing",
                                                                  "end_time": 4_000_000_000},
                         headers={"Authorization": f"Bearer {tok}"}, verify=str(ca_out), timeout=10)
        assert b"No sessions found" in r.content
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_latency_delays_api_answers_and_concurrent_requests_overlap(simulator):
    import threading

    api = Api(simulator)
    simulator.faults.latency_seconds = 0.5
    with pytest.raises(requests.exceptions.Timeout):  # an /api answer waits
        requests.get(f"{simulator.base_url}/api/command", params={"action": "get_api_info"},
                     headers={"Authorization": f"Bearer {api.token}"}, verify=simulator.ca_file, timeout=(5, 0.05))
    token(simulator)  # the token endpoint is not an /api path: answered at once (no timeout here either)
    simulator.faults.latency_seconds = 1.0
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(api.get("/api/command", action="get_api_info").status_code))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200, 200, 200]
    assert simulator.stats["faults"]["latency_seconds"] >= 4
    assert simulator.stats["events"]["max_in_flight"] >= 2  # the waits overlapped: latency is per request


def test_every_storage_column_of_the_guide_gets_a_value_from_the_simulator(make_simulator, tmp_path):
    """The guide's storage chapter: user.display_number and endpoint.issue ("the numeric ID of the issue") are
    filled from what the simulator sends (issue id as an attribute: unconfirmed shape [U])."""
    from ic.destinations.sql import SqlDestination
    from ic.sessions.parser import iter_sessions
    from sqlalchemy import create_engine, text

    sim = make_simulator(sessions=20, in_progress=0)
    doc = b"".join([b'<session_list xmlns="' + sim.namespace.encode() + b'">']
                   + [sim.session_xml(s.lsid) for s in sim.sessions] + [b"</session_list>"])
    sessions = list(iter_sessions(doc, product="rs"))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    dest = SqlDestination("d", {"url": url})
    dest.store_sessions("h", sessions)
    dest.close()
    engine = create_engine(url)
    with engine.connect() as conn:
        users = conn.execute(text('SELECT display_number FROM "user"')).scalars().all()
        issues = conn.execute(text("SELECT issue FROM endpoint")).scalars().all()
    engine.dispose()
    assert users and all(u and u.isdigit() for u in users)
    assert issues and all(i and i.isdigit() for i in issues)
