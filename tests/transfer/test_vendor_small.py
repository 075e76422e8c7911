"""Issue 14 item 7 and issue 10 item 9 (VENDOR's part), each with a test: Show My Screen on a PRA site, a file kept
by Skip, TLS sentences for an IP-address mismatch and a plain-HTTP server, notify --security none with a password."""
from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ic.appliance import ApplianceClient
from ic.errors import ConfigError, TLSFailure
from ic.services.runs import run_schedule
from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig
from ic.transfer.engine import TransferEngine
from tests.helpers import add_folder, add_site


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process

# --- Show My Screen on a PRA site ----------------------------------------------------------------------------------
def test_show_my_screen_for_a_pra_site_is_refused_at_save(store, tmp_path):
    store.save_site(SiteConfig("Jump", "pra.example.com", "id", product="pra"), client_secret="s")
    add_folder(store, tmp_path / "files")
    with pytest.raises(ConfigError) as info:
        store.save_schedule(ScheduleConfig("S", 3600, [TransferConfig("Jump", "files", ["session", "smsr"])]))
    assert str(info.value) == ("Site Jump is a Privileged Remote Access site, which has no Show My Screen recordings; "
                               "untick Show My Screen in the transfer Jump -> files.")
    assert store.list_schedules() == []


def test_show_my_screen_for_a_detected_pra_site_is_refused_at_run(store, make_simulator, tmp_path):
    sim = make_simulator(product="pra")
    store.save_site(SiteConfig("Jump", sim.host, sim.client_id, sim.ca_file, "detect"), client_secret=sim.client_secret)
    add_folder(store, tmp_path / "files")
    store.save_schedule(ScheduleConfig("S", 3600, [TransferConfig("Jump", "files", ["session", "smsr"])]))
    outcome = run_schedule(store, "S")
    assert outcome.status == "failed"
    assert ("Site Jump is a Privileged Remote Access site, which has no Show My Screen recordings; untick Show My "
            "Screen in the transfer Jump -> files.") in outcome.message()


# --- a file kept by Skip ---------------------------------------------------------------------------------------------
def test_recording_kept_by_skip_is_reported_as_kept_not_unavailable(store, simulator, tmp_path):
    add_site(store, simulator)
    folder = tmp_path / "files"
    add_folder(store, folder)
    with TransferEngine(store) as engine:
        first = engine.run_transfer(TransferConfig("sim", "files", ["recordings"]))
    assert first.files_stored > 0 and first.files_kept == 0
    # a second destination on the same folder with Skip: every recording is already there
    store.save_destination(DestinationConfig("again", "folder", {"directory": str(folder), "conflict": "Skip"}))
    with TransferEngine(store) as engine:
        again = engine.run_transfer(TransferConfig("sim", "again", ["recordings"]))
    assert again.files_kept == first.files_stored and again.files_skipped == 0 and again.files_stored == 0
    assert f"{again.files_kept} kept (already there)" in again.summary()
    assert "unavailable" not in again.summary()


# --- TLS sentences --------------------------------------------------------------------------------------------------
def _cert_for(tmp_path, san):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance.example.com")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def server():
    started = []

    def start(tls_files=None):
        httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        if tls_files:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*map(str, tls_files))
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def _tls_message(host, ca):
    client = ApplianceClient(host, "id", "secret", str(ca) if ca else None, "rs", max_retries=0, timeout=10)
    try:
        with pytest.raises(TLSFailure) as info:
            client.test()
        return str(info.value)
    finally:
        client.close()


def test_ip_address_not_in_the_certificate_has_its_own_sentence(server, tmp_path):
    files = _cert_for(tmp_path, [x509.DNSName("appliance.example.com")])
    host = server(files)
    message = _tls_message(host, files[0])
    assert message == (f"The certificate presented by {host} is not issued for that IP address; use the host name "
                       "printed on the appliance's certificate instead of the address.")


def test_plain_http_server_has_its_own_sentence(server, tmp_path):
    host = server(None)
    message = _tls_message(host, None)
    assert message == (f"{host} answered in plain HTTP, not HTTPS; check the host and port (the appliance's API "
                       "uses HTTPS).")
    assert "CA bundle" not in message and "not trusted" not in message


# --- notify set --security none with a password ---------------------------------------------------------------------
def test_notify_security_none_with_a_password_warns_that_it_goes_in_clear(store, capsys, monkeypatch):
    from ic.cli import run_cli

    monkeypatch.setenv("SMTP_PW", "smtp-pw-123")
    assert run_cli(["notify", "set", "--host", "127.0.0.1", "--port", "2525", "--security", "none", "--user", "ic",
                    "--password-env", "SMTP_PW", "--from", "ic@example.com", "--to", "ops@example.com"]) == 0
    out = capsys.readouterr()
    assert ("warning: Security is none: the SMTP password of ic goes to 127.0.0.1 in clear text; choose starttls or "
            "tls unless that server runs on this computer.") in out.err
    assert "smtp-pw-123" not in out.out + out.err
    assert run_cli(["notify", "set", "--security", "starttls"]) == 0
    assert "warning" not in capsys.readouterr().err
