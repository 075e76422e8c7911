"""The appliance client against the simulator over real HTTPS (trusting only the simulator's CA)."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import tracemalloc
from email.utils import formatdate
from pathlib import Path

import pytest
from lxml import etree

from ic.appliance import ApplianceClient, client_for_site
from ic.appliance import documents as docs
from ic.appliance.auth import TokenCache, refresh_after
from ic.appliance.files import choose_extension, filename_from_disposition
from ic.appliance.transport import RateLimiter, parse_retry_after
from ic.errors import (
    ApplianceAPIError,
    ApplianceUnreachable,
    AuthenticationFailed,
    PermissionDenied,
    RateLimited,
    RecordingUnavailable,
    SecretUnavailable,
    ServerError,
    TLSFailure,
)
from ic.settings.models import SiteConfig
from ic.services.sites import test_site, test_site_config
from ic.simulator import Simulator

FLV = b"FLV\x01"


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty folder for downloads (tmp_path also holds the test's IC_HOME)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def client_for(sim: Simulator, **kw) -> ApplianceClient:
    kw.setdefault("ca_bundle", sim.ca_file)
    kw.setdefault("base_delay", 0.01)
    kw.setdefault("max_delay", 0.05)
    kw.setdefault("timeout", 10)
    kw.setdefault("client_secret", sim.client_secret)
    return ApplianceClient(sim.host, sim.client_id, **kw)


def closed_with_recording(sim: Simulator):
    return [s for s in sim.sessions if s.has_recording]


def no_part_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


# --- happy paths --------------------------------------------------------------------------------------------------
def test_test_mints_one_token_and_reports_the_product(simulator):
    client = client_for(simulator)
    message = client.test()
    assert message == (
        f"Connected to {simulator.host} (Remote Support); the API account can read session reports."
    )
    assert client.product == "rs"
    assert simulator.stats["tokens_minted"] == 1
    assert all(e["connection_close"] for e in simulator.log)


def test_token_is_minted_once_across_many_calls(simulator):
    client = client_for(simulator, product="rs")
    for _ in range(12):
        client.list_sessions(end_time=0)
    assert client.stats["tokens_minted"] == 1
    assert simulator.stats["tokens_minted"] == 1
    assert client.stats["requests"] == 13 == simulator.stats["requests"]


def test_list_sessions_matches_the_appliance(simulator):
    client = client_for(simulator, product="rs")
    got = client.list_sessions(end_time=0)
    closed = [s for s in simulator.sessions if not s.in_progress]
    assert {s.lsid for s in got} == {s.lsid for s in closed}
    by_lsid = {s.lsid: s for s in simulator.sessions}
    assert all(g.has_recording == by_lsid[g.lsid].has_recording for g in got)
    # start_time includes sessions still in progress
    everything = client.list_sessions(start_time=0)
    assert {s.lsid for s in everything} == {s.lsid for s in simulator.sessions}


def test_fetch_sessions_by_lsid_lsids_and_window(simulator, out):
    client = client_for(simulator, product="rs")
    lsids = [s.lsid for s in simulator.sessions[:5]]
    path = client.fetch_sessions_to_file(out / "batch.xml", lsids=lsids)
    root = etree.parse(str(path)).getroot()
    assert [s.get("lsid") for s in root] == lsids
    one = client.fetch_sessions_to_file(out / "one.xml", lsid=lsids[0])
    assert simulator.session_xml(lsids[0]) in one.read_bytes()
    window = client.fetch_sessions_to_file(out / "w.xml", end_time=0)
    assert len(etree.parse(str(window)).getroot()) == len([s for s in simulator.sessions if not s.in_progress])
    assert no_part_files(out)


def test_big_lsids_batch_goes_as_post_form(make_simulator, out):
    sim = make_simulator(sessions=120)
    client = client_for(sim, product="rs")
    lsids = [s.lsid for s in sim.sessions[:100]]
    path = client.fetch_sessions_to_file(out / "big.xml", lsids=lsids)
    assert len(etree.parse(str(path)).getroot()) == 100
    assert sim.log[-1]["method"] == "POST"


def test_recording_bytes_equal_the_generator(make_simulator, out):
    sim = make_simulator(recording_size=300_000)
    client = client_for(sim, product="rs")
    s = closed_with_recording(sim)[0]
    dl = client.download_recording("recordings", s.lsid, out / s.lsid)
    expected = sim.recording_bytes("recordings", s.lsid)
    data = dl.path.read_bytes()
    assert dl.path == out / f"{s.lsid}.flv" and dl.extension == "flv"
    assert dl.size == len(data) == 300_000
    assert data[:4] == FLV
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert client.stats["bytes"] == 300_000
    assert no_part_files(out)


def test_shell_and_show_my_screen_recordings(make_simulator, out):
    sim = make_simulator(sessions=80)
    client = client_for(sim, product="rs")
    shell = next(s for s in sim.sessions if s.recording_instances("shell") >= 2)
    dl = client.download_recording("shell", shell.lsid, out / "shell", instance=1)
    assert dl.path.read_bytes() == sim.recording_bytes("shell", shell.lsid, 1)
    assert sim.log[-1]["params"]["instance"] == "1"
    smsr = next(s for s in sim.sessions if s.recording_instances("smsr") >= 1)
    dl = client.download_recording("smsr", smsr.lsid, out / "smsr")
    assert dl.path.read_bytes() == sim.recording_bytes("smsr", smsr.lsid, 0)
    assert sim.stats["by_report"]["ShowMyScreenRecording"] == 1


def test_download_into_a_folder_uses_the_sanitised_server_name(simulator, out):
    client = client_for(simulator, product="rs")
    s = closed_with_recording(simulator)[0]
    dl = client.download_recording("recordings", s.lsid, out)
    assert dl.path.parent == out and dl.path.name == f"session_recording-{s.lsid}.flv"


def test_recording_download_memory_stays_flat(make_simulator, out):
    size = 24 * 1024 * 1024
    sim = make_simulator(sessions=10, recording_size=size)
    client = client_for(sim, product="rs", timeout=30)
    s = closed_with_recording(sim)[0]
    tracemalloc.start()
    try:
        dl = client.download_recording("recordings", s.lsid, out / "big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert dl.size == size == dl.path.stat().st_size
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes for a {size}-byte download"


def test_backup_with_and_without_password(simulator, out):
    client = client_for(simulator, product="rs")
    dl = client.download_backup(out / "site")
    assert dl.extension == "nsb" and dl.path.name == "site.nsb"
    assert dl.path.read_bytes()[:4] == b"NSB1" and dl.size == simulator.backup_size
    simulator.backup_password = "b4ckup-Pa55"
    with pytest.raises(ApplianceAPIError, match="Invalid backup password"):
        client.download_backup(out / "nopw")
    assert not (out / "nopw.nsb").exists() and no_part_files(out)
    with_pw = client_for(simulator, product="rs", backup_password="b4ckup-Pa55")
    assert with_pw.download_backup(out / "pw").size == simulator.backup_size
    assert simulator.log[-1]["method"] == "POST"  # the password travels in the form body, not the URL


def test_pra_detection_and_reports(make_simulator, out):
    sim = make_simulator(product="pra", token_type="bearer", token_lifetime=1799)
    client = client_for(sim)  # product="detect"
    assert client.product == "pra"
    assert sim.stats["by_report"] == {"SupportSessionListing": 1, "AccessSessionListing": 1}
    assert client.product == "pra"  # cached: no new probe
    assert sim.stats["requests"] == 3
    got = client.list_sessions(end_time=0)
    assert sim.stats["by_report"]["AccessSessionListing"] == 2 and got
    s = closed_with_recording(sim)[0]
    dl = client.download_recording("recordings", s.lsid, out / "r")
    assert dl.path.read_bytes() == sim.recording_bytes("recordings", s.lsid)
    assert sim.stats["by_report"]["AccessSessionRecording"] == 1
    client.fetch_sessions_to_file(out / "s.xml", lsid=s.lsid)
    assert sim.stats["by_report"]["AccessSession"] == 1
    assert client.stats["tokens_minted"] == 1


@pytest.mark.parametrize("namespace", ["http://www.beyondtrust.com/namespaces/API/reporting", ""])
def test_namespaces_do_not_matter(make_simulator, namespace):
    sim = make_simulator(namespace=namespace or None)
    client = client_for(sim)
    assert client.product == "rs"
    assert len(client.list_sessions(end_time=0)) == len([s for s in sim.sessions if not s.in_progress])


def test_gzip_xml_answers_are_decoded(make_simulator, out):
    sim = make_simulator(gzip_xml=True)
    client = client_for(sim, product="rs")
    assert len(client.list_sessions(end_time=0)) == len([s for s in sim.sessions if not s.in_progress])
    lsid = sim.sessions[0].lsid
    path = client.fetch_sessions_to_file(out / "s.xml", lsid=lsid)
    assert etree.parse(str(path)).getroot()[0].get("lsid") == lsid
    with pytest.raises(ApplianceAPIError, match="Invalid lsid"):
        client.fetch_sessions_to_file(out / "bad.xml", lsid="f" * 32)
    assert sorted(p.name for p in out.iterdir()) == ["s.xml"]


def test_appliance_time_follows_the_appliance_clock(make_simulator):
    sim = make_simulator(clock_offset=-7200)
    client = client_for(sim, product="rs")
    t = client.appliance_time()  # no call yet: asks get_api_info
    assert abs(t - (time.time() - 7200)) < 30
    assert sim.stats["by_report"] == {"command:get_api_info": 1}
    client.list_sessions(end_time=0)
    assert abs(client.appliance_time() - (time.time() - 7200)) < 30
    assert sim.stats["requests"] == 3  # the Date header of the listing was enough


# --- fault switches -----------------------------------------------------------------------------------------------
def test_evicted_token_is_reminted_once_and_the_call_replayed(simulator):
    client = client_for(simulator, product="rs")
    client.list_sessions(end_time=0)
    simulator.faults.evict_tokens = True
    assert client.list_sessions(end_time=0)
    stats = client.stats
    assert stats["tokens_minted"] == 2 == simulator.stats["tokens_minted"]
    assert stats["reauth"] == 1 and stats["status"][401] == 1 and stats["retries"] == 0


def test_concurrent_threads_share_one_token_and_one_remint(make_simulator, out):
    sim = make_simulator(sessions=60)
    client = client_for(sim, product="rs")
    wanted = closed_with_recording(sim)[:16]
    errors: list[BaseException] = []
    results = {}

    def work(chunk):
        try:
            for s in chunk:
                results[s.lsid] = client.download_recording("recordings", s.lsid, out / s.lsid)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(wanted[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sim.stats["tokens_minted"] == 1
    for s in wanted:
        assert results[s.lsid].path.read_bytes() == sim.recording_bytes("recordings", s.lsid)
    # every token revoked while four threads are busy: still only one new token
    sim.faults.evict_tokens = True
    threads = [threading.Thread(target=lambda: client.list_sessions(end_time=0)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sim.stats["tokens_minted"] == 2


def test_token_refresh_schedule():
    assert refresh_after(3600) == 3300  # 5 minutes early
    assert refresh_after(1799) == 1499
    assert refresh_after(300) == 240  # short lifetimes: at 80 %
    now = [0.0]
    minted = []

    def mint():
        minted.append(1)
        return f"t{len(minted)}", 300.0

    cache = TokenCache(mint, clock=lambda: now[0])
    assert cache.get() == "t1"
    now[0] = 239
    assert cache.get() == "t1"
    now[0] = 240
    assert cache.get() == "t2"
    cache.invalidate("t1")  # stale token: ignored
    assert cache.get() == "t2" and len(minted) == 2
    cache.invalidate("t2")
    assert cache.get() == "t3"


def test_5xx_burst_is_retried(simulator):
    client = client_for(simulator, product="rs")
    simulator.faults.error_5xx_burst = 3  # the token request and the listing both get hit
    assert client.list_sessions(end_time=0)
    assert client.stats["retries"] == 3 and client.stats["status"][503] == 3
    assert simulator.stats["tokens_minted"] == 1


def test_5xx_beyond_max_retries_is_a_server_error(simulator):
    client = client_for(simulator, product="rs", max_retries=2)
    client.test()
    simulator.faults.error_5xx_burst = 10
    with pytest.raises(ServerError) as info:
        client.list_sessions(end_time=0)
    assert str(info.value) == (
        f"The appliance at {simulator.host} kept failing with HTTP 503; try again later."
    )
    assert client.stats["retries"] == 2


def test_429_honours_retry_after(simulator):
    waits: list[float] = []
    client = client_for(simulator, product="rs", sleep=waits.append)
    simulator.faults.rate_limit = 2
    simulator.faults.retry_after = 7
    for _ in range(3):
        client.list_sessions(end_time=0)
    assert client.stats["status"][429] >= 1
    assert waits and all(w >= 7 for w in waits)  # backoff alone would be ~0.01 s
    assert client.stats["retries"] == len(waits)


def test_429_forever_is_rate_limited(simulator):
    client = client_for(simulator, product="rs", max_retries=3, sleep=lambda s: None)
    simulator.faults.rate_limit = 1
    with pytest.raises(RateLimited, match=r"rate limit \(HTTP 429\)"):
        client.list_sessions(end_time=0)
    assert client.stats["retries"] == 3 and client.stats["status"][429] == 4


def test_body_cut_mid_recording_is_retried_and_complete(make_simulator, out):
    sim = make_simulator(recording_size=200_000)
    client = client_for(sim, product="rs")
    s = closed_with_recording(sim)[0]
    client.test()
    sim.faults.drop_mid_body = 2
    dl = client.download_recording("recordings", s.lsid, out / "r")
    assert dl.path.read_bytes() == sim.recording_bytes("recordings", s.lsid)
    assert client.stats["retries"] == 2 and sim.stats["faults"]["drop_mid_body"] == 2
    assert no_part_files(out) and [p.name for p in out.iterdir()] == ["r.flv"]


def test_body_cut_in_listing_and_session_fetch_is_retried(simulator, out):
    client = client_for(simulator, product="rs")
    client.test()
    simulator.faults.drop_mid_body = 1
    assert len(client.list_sessions(end_time=0)) == len([s for s in simulator.sessions if not s.in_progress])
    simulator.faults.drop_mid_body = 1
    lsid = simulator.sessions[0].lsid
    path = client.fetch_sessions_to_file(out / "s.xml", lsid=lsid)
    assert etree.parse(str(path)).getroot()[0].get("lsid") == lsid
    assert client.stats["retries"] == 2


def test_truncated_listing_xml_is_retried(simulator):
    client = client_for(simulator, product="rs")
    simulator.faults.truncated_xml = 1
    assert len(client.list_sessions(end_time=0)) == len([s for s in simulator.sessions if not s.in_progress])
    assert client.stats["retries"] == 1


def test_truncated_session_xml_is_left_for_the_parser(simulator, out):
    client = client_for(simulator, product="rs")
    simulator.faults.truncated_xml = 1
    path = client.fetch_sessions_to_file(out / "s.xml", end_time=0)
    with pytest.raises(etree.XMLSyntaxError):
        etree.parse(str(path))
    assert client.stats["retries"] == 0


def test_slow_appliance_times_out_as_unreachable(simulator):
    client = client_for(simulator, product="rs", timeout=0.3, max_retries=1)
    client.test()
    simulator.faults.slow_seconds = 1.0
    with pytest.raises(ApplianceUnreachable) as info:
        client.list_sessions(end_time=0)
    assert str(info.value) == f"The appliance at {simulator.host} did not answer within 0.3 seconds; check the network or try later."
    assert client.stats["retries"] == 1
    simulator.faults.slow_seconds = 0


def test_expired_recording_leaves_no_file(simulator, out):
    client = client_for(simulator, product="rs")
    simulator.faults.expired_recordings = True
    s = closed_with_recording(simulator)[0]
    with pytest.raises(RecordingUnavailable, match="expired"):
        client.download_recording("recordings", s.lsid, out / "r")
    assert list(out.iterdir()) == []


def test_missing_recording_is_unavailable(simulator, out):
    client = client_for(simulator, product="rs")
    s = next(x for x in simulator.sessions if not x.in_progress and not x.recording)
    with pytest.raises(RecordingUnavailable):
        client.download_recording("recordings", s.lsid, out / "r")
    assert list(out.iterdir()) == []


def test_error_document_with_http_200_is_an_api_error(simulator, out):
    client = client_for(simulator, product="rs")
    with pytest.raises(ApplianceAPIError, match="Invalid lsid") as info:
        client.fetch_sessions_to_file(out / "s.xml", lsid="0" * 32)
    assert isinstance(info.value, ApplianceAPIError) and not isinstance(info.value, RecordingUnavailable)
    assert list(out.iterdir()) == []
    assert client.stats["status"] == {200: 2}


def test_no_sessions_error_and_empty_root_are_empty_results(simulator, out):
    client = client_for(simulator, product="rs")
    future = simulator.now() + 86400
    assert client.list_sessions(end_time=future) == []  # empty root
    simulator.faults.error_documents = True
    assert client.list_sessions(end_time=future) == []  # <error>No sessions found ...</error>
    path = client.fetch_sessions_to_file(out / "s.xml", end_time=future)
    root = etree.parse(str(path)).getroot()
    assert docs.local_name(root.tag) == "session_list" and len(root) == 0
    assert simulator.stats["faults"]["error_documents"] == 2


def test_error_child_in_the_expected_root_counts():
    root = etree.fromstring(b'<session_list xmlns="urn:x"><error code="e1">Something broke.</error></session_list>')
    err = docs.error_in(root)
    assert err.message == "Something broke." and err.code == "e1"
    assert docs.root_name_from_prefix(b'\xef\xbb\xbf<?xml version="1.0"?>\n\n<!-- c --><x:error xmlns:x="u">') == "error"
    assert docs.root_name_from_prefix(b"FLV\x01\x05") is None


def test_parser_resolves_no_entities():
    body = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/hostname">'
            b'<!ENTITY y "yyyyyyyyyy">]><error>A&x;B&y;</error>')
    err = docs.error_in(docs.parse(body, "h", "t"))
    assert err.message == "A&x;B&y;"  # references left as they are: no file read, no expansion


# --- fatal failures: one sentence naming the host -----------------------------------------------------------------
def test_bad_secret_is_authentication_failed_without_retries(simulator):
    client = client_for(simulator, client_secret="not-the-secret")
    with pytest.raises(AuthenticationFailed) as info:
        client.test()
    assert str(info.value) == (
        f"The appliance at {simulator.host} rejected the client ID or secret; check the API account's credentials."
    )
    assert client.stats["retries"] == 0 and simulator.stats["tokens_minted"] == 0


def test_stopped_appliance_is_unreachable(simulator):
    client = client_for(simulator, max_retries=2)
    host = simulator.host
    simulator.stop()
    with pytest.raises(ApplianceUnreachable) as info:
        client.test()
    assert str(info.value) == f"Cannot connect to {host}: the connection was refused; check the host and port."
    assert client.stats["requests"] == 3 and client.stats["retries"] == 2


def test_wrong_ca_bundle_is_a_tls_failure(make_simulator):
    a, b = make_simulator(), make_simulator()
    client = client_for(a, ca_bundle=b.ca_file)
    with pytest.raises(TLSFailure) as info:
        client.test()
    assert f"The certificate of {a.host} is not trusted by the CA bundle {b.ca_file}" in str(info.value)
    assert "set the site's CA bundle" in str(info.value)
    assert client.stats["retries"] == 0
    assert a.stats["requests"] == 0


def test_private_ca_without_bundle_fails_against_the_os_trust_store(simulator):
    client = client_for(simulator, ca_bundle=None)
    with pytest.raises(TLSFailure, match="not trusted by this computer: set the site's CA bundle"):
        client.test()


def test_unreadable_ca_bundle_is_a_tls_failure(out):
    bad = out / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TLSFailure, match="cannot be read as PEM"):
        ApplianceClient("127.0.0.1:1", "id", "secret", ca_bundle=str(bad))
    with pytest.raises(TLSFailure, match="does not exist"):
        ApplianceClient("127.0.0.1:1", "id", "secret", ca_bundle=str(out / "missing.pem"))


def test_dns_failure_names_the_host():
    client = ApplianceClient("nonexistent.invalid", "id", "secret", base_delay=0.01)
    with pytest.raises(ApplianceUnreachable) as info:
        client.test()
    assert str(info.value) == "Cannot find nonexistent.invalid: check the site's host name."


def test_missing_permissions_are_permission_denied(simulator, out):
    client = client_for(simulator, product="rs")
    simulator.permissions["backup"] = False
    with pytest.raises(PermissionDenied, match=r"lacks permission to download site backups"):
        client.download_backup(out / "b")
    simulator.permissions["reporting"] = False
    with pytest.raises(PermissionDenied, match=r"lacks permission to read session reports"):
        client.test()
    assert list(out.iterdir()) == []


# --- rate limiting ------------------------------------------------------------------------------------------------
def test_rate_limiter_keeps_the_appliance_under_max_rps(make_simulator):
    sim = make_simulator(rate_per_second=1000)
    arrivals: list[float] = []
    handle = sim._handle

    def timed(*args, **kwargs):  # counts on the simulator side, as the appliance would
        arrivals.append(time.monotonic())
        return handle(*args, **kwargs)

    sim._handle = timed
    client = client_for(sim, product="rs")  # default max_rps=20
    threads = [threading.Thread(target=lambda: [client.list_sessions(end_time=0) for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(arrivals) == 41 and client.stats["status"] == {200: 41}
    arrivals.sort()
    busiest = max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals)  # any one-second window
    assert 15 <= busiest <= 20


def test_rate_limiter_hourly_cap_and_spacing():
    now = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    lim = RateLimiter(max_rps=100, per_hour=3, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        lim.acquire()
    assert now[0] >= 3600  # the 4th call waited for the hour to roll over
    lim2 = RateLimiter(max_rps=20, clock=lambda: 0.0, sleep=lambda s: None)
    slots = [lim2.acquire() for _ in range(21)]
    assert slots[-1] >= 1.0  # 21 calls need more than one second


def test_retry_after_parsing():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = time.time() + 120
    assert 100 < parse_retry_after(formatdate(later, usegmt=True)) <= 121


def test_extension_choice():
    assert filename_from_disposition('attachment; filename="a b.mp4"') == "a b.mp4"
    assert filename_from_disposition("attachment; filename*=UTF-8''r%C3%A9c.flv") == "réc.flv"
    assert choose_extension("x.MP4", "video/x-flv", "flv") == "mp4"
    assert choose_extension(None, "video/mp4; codecs=x", "flv") == "mp4"
    assert choose_extension(None, "application/octet-stream", "nsb") == "nsb"
    assert choose_extension("../../evil.$$$", None, "flv") == "flv"


# --- secrets never leak ---------------------------------------------------------------------------------------------
def test_no_secret_or_token_in_logs_or_messages(make_simulator, out, caplog):
    sim = make_simulator(client_secret="S3cr3t-client-value")
    sim.backup_password = "B4ckup-pw-value"
    caplog.set_level(logging.DEBUG)
    client = client_for(sim, product="rs", backup_password="B4ckup-pw-value")
    client.test()
    tokens = [client._tokens.get()]
    sim.faults.evict_tokens = True
    client.list_sessions(end_time=0)
    tokens.append(client._tokens.get())
    sim.faults.error_5xx_burst = 1
    client.download_backup(out / "b")
    messages = []
    for bad in (client_for(sim, client_secret="Wr0ng-secret-value"),):
        with pytest.raises(AuthenticationFailed) as info:
            bad.test()
        messages.append(str(info.value))
    text = caplog.text + "\n".join(messages) + repr(client)
    assert len(caplog.records) > 5
    for secret in ("S3cr3t-client-value", "B4ckup-pw-value", "Wr0ng-secret-value", *tokens):
        assert secret not in text


# --- factory and site test service ---------------------------------------------------------------------------------
def test_client_for_site_and_test_site(simulator, store):
    store.save_site(SiteConfig("demo", simulator.host, simulator.client_id, simulator.ca_file),
                    client_secret=simulator.client_secret)
    client = client_for_site(store, "demo", base_delay=0.01)
    assert client.host == simulator.host and client.ca_bundle == simulator.ca_file
    result = test_site(store, "demo")
    assert result.ok and result.message.splitlines()[0] == (
        f"Connected to {simulator.host} (Remote Support); the API account can read session reports."
    )
    simulator.rotate_secret()
    result = test_site(store, "demo")
    assert not result.ok and "rejected the client ID or secret" in result.message


def test_test_site_reports_unavailable_secrets(simulator, store, out):
    store.save_site(SiteConfig("demo", simulator.host, simulator.client_id, simulator.ca_file),
                    client_secret=simulator.client_secret)
    store.secrets.key_path.write_bytes(b"\x00" * 32)  # another machine's key
    store.secrets._key = None
    result = test_site(store, "demo")
    assert not result.ok and "client secret for site demo" in result.message
    with pytest.raises(SecretUnavailable):
        client_for_site(store, "demo")


@pytest.mark.parametrize("case", ["dns", "tls", "permission", "rate"])
def test_test_site_failure_reasons(simulator, store, case):
    host, ca = simulator.host, simulator.ca_file
    if case == "dns":
        host = "nonexistent.invalid"
    store.save_site(SiteConfig("s", host, simulator.client_id, None if case == "tls" else ca),
                    client_secret=simulator.client_secret)
    if case == "permission":
        simulator.permissions["reporting"] = False
    if case == "rate":
        simulator.faults.rate_limit = 1
        simulator.faults.retry_after = 0
    result = test_site(store, "s", base_delay=0.01, max_delay=0.02)
    assert not result.ok
    expected = {
        "dns": "Cannot find nonexistent.invalid: check the site's host name.",
        "tls": "not trusted by this computer",
        "permission": "lacks permission to read session reports",
        "rate": "API rate limit",
    }[case]
    assert expected in result.message
    assert result.message.count(". ") == 0 and "\n" not in result.message  # one sentence


def test_test_site_config_for_unsaved_dialog_values(make_simulator, store):
    sim = make_simulator(product="pra")
    config = SiteConfig("new", sim.host, sim.client_id, sim.ca_file)
    result = test_site_config(config, sim.client_secret)
    assert result.ok and result.message.splitlines()[0] == (
        f"Connected to {sim.host} (Privileged Remote Access); the API account can read session reports."
    )
    assert not test_site_config(config, "wrong").ok
    assert test_site_config(SiteConfig("new", "https://x.example.com", "id"), "s").message == (
        "Enter the host without 'https://': type x.example.com instead."
    )
    store.save_site(config, client_secret=sim.client_secret)
    assert test_site_config(store.get_site("new"), None, store).ok  # None = keep the stored secret


def test_error_document_cut_short_is_asked_for_again(simulator, out):
    """A "no sessions" <error> that arrives truncated is a transport hiccup, not a verdict: retry, then read it."""
    client = client_for(simulator, product="rs")
    simulator.faults.error_documents = True
    simulator.faults.truncated_xml = 1
    future = simulator.now() + 86400  # nothing ends after tomorrow: the appliance answers with an <error>
    path = client.fetch_sessions_to_file(out / "s.xml", end_time=future)
    assert etree.parse(str(path)).getroot().tag.endswith("session_list") and len(etree.parse(str(path)).getroot()) == 0
    assert client.stats["retries"] == 1
    assert simulator.faults.truncated_xml == 0  # the fault really fired


def test_invalid_lsid_error_is_an_unknown_session(make_simulator, out):
    from ic.errors import RecordingUnavailable, UnknownSession

    sim = make_simulator(sessions=10, in_progress=0)
    client = client_for(sim, product="rs")
    with pytest.raises(UnknownSession, match="does not know the session"):
        client.fetch_sessions_to_file(out / "bad.xml", lsid="f" * 32)
    sim.faults.strict_lsids = True  # a batch naming one unknown session is refused whole
    with pytest.raises(UnknownSession):
        client.fetch_sessions_to_file(out / "batch.xml", lsids=[sim.sessions[0].lsid, "f" * 32])
    gone = next(s for s in sim.sessions if s.has_recording)
    sim.delete_session(gone.lsid)  # aged out between listing and download
    with pytest.raises(UnknownSession) as err:
        client.download_recording("recordings", gone.lsid, out / "rec")
    assert not isinstance(err.value, RecordingUnavailable)
    assert list(out.iterdir()) == []


def temp_folder(tmp_path, monkeypatch) -> Path:
    """tempfile's folder from now on, for this test alone: where the streamed listing's temp file is seen, and seen
    gone (the simulator's own temp files were made before)."""
    import tempfile as tf

    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tf, "tempdir", str(folder))
    return folder


def test_listing_is_streamed_through_a_temp_file_that_always_goes_away(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(sessions=300, in_progress=0)
    listing_tmp = temp_folder(tmp_path, monkeypatch)
    client = client_for(sim, product="rs")
    rows = client.iter_sessions_listing(end_time=0)
    first = next(rows)
    assert [p.name[:11] for p in listing_tmp.iterdir()] == ["ic-listing-"]  # on disk, not in memory
    rest = list(rows)
    assert [first.lsid] + [r.lsid for r in rest] == [s.lsid for s in sim.sessions]
    assert list(listing_tmp.iterdir()) == []
    partial = client.iter_sessions_listing(end_time=0)
    next(partial)
    partial.close()  # the caller stops early
    assert list(listing_tmp.iterdir()) == []
    assert client.list_sessions(end_time=0) == [first] + rest  # list_sessions is the same, as a list


def test_streamed_listing_checks_the_whole_answer_before_the_first_row(make_simulator, tmp_path, monkeypatch):
    from ic.errors import MalformedResponse

    sim = make_simulator(sessions=60, in_progress=0)
    listing_tmp = temp_folder(tmp_path, monkeypatch)
    client = client_for(sim, product="rs")
    sim.faults.truncated_xml = 1  # cut short once: asked again, nothing yielded twice
    assert len(list(client.iter_sessions_listing(end_time=0))) == 60
    assert sim.stats["faults"]["truncated_xml"] == 1
    sim.faults.truncated_xml = 99
    rows = client.iter_sessions_listing(end_time=0)
    with pytest.raises(MalformedResponse):
        next(rows)
    sim.faults.reset()
    sim.faults.error_documents = True  # "No sessions found" is an empty listing
    assert list(client.iter_sessions_listing(start_time=1, duration=1)) == []
    assert list(listing_tmp.iterdir()) == []
