"""E-mail notifications against a real SMTP server on 127.0.0.1 (aiosmtpd): Send Test, STARTTLS/TLS with a private
CA and login, one batched mail for a thousand errors, SMTP down never hurts a run, no password at rest or in logs."""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ic import logs, notify
from ic.errors import ConfigError
from ic.services import app_settings
from tests.helpers import SMTP_PASSWORD, SMTP_USER, Inbox, free_port


# --- a real SMTP server ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A private CA and a server certificate for 127.0.0.1 / localhost."""
    d = tmp_path_factory.mktemp("smtp-tls")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "IC test mail CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return files


def _server_ctx(tls_files) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_files["cert"], tls_files["key"])
    return ctx


def _start(controller: Controller):
    controller.start()
    return controller


@pytest.fixture
def starttls_smtp(tls_files):
    inbox = Inbox()
    ctl = _start(Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=_server_ctx(tls_files),
                            require_starttls=True, authenticator=inbox.authenticate, auth_required=True,
                            auth_require_tls=True))
    yield ctl, inbox
    ctl.stop()


@pytest.fixture
def tls_smtp(tls_files):
    inbox = Inbox()
    ctl = _start(Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=_server_ctx(tls_files),
                            authenticator=inbox.authenticate, auth_require_tls=False))
    yield ctl, inbox
    ctl.stop()


@pytest.fixture(autouse=True)
def _clean_logging():
    yield
    logs.shutdown_logging()
    for h in list(logging.getLogger("ic").handlers):
        if isinstance(h, notify.ErrorMailHandler):
            logging.getLogger("ic").removeHandler(h)


def _configure_plain(store, port: int, **extra) -> None:
    app_settings.update_notification_settings(
        store, host="127.0.0.1", port=port, security="none", sender="IC Server <ic@example.com>",
        to="ops@example.com, backup-admin@example.com", enabled=True, **extra)


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


# --- tests -----------------------------------------------------------------------------------------------------------------
def test_send_test_arrives_with_right_from_to_subject(store, plain_smtp):
    ctl, inbox = plain_smtp
    _configure_plain(store, ctl.port)
    result = app_settings.send_test_notification(store)
    assert result.ok, result.message
    assert result.message == f"Test message sent to ops@example.com, backup-admin@example.com through 127.0.0.1:{ctl.port}."
    [(mail_from, rcpts, msg)] = inbox.messages
    assert mail_from == "ic@example.com"
    assert rcpts == ["ops@example.com", "backup-admin@example.com"]
    assert msg["From"] == "IC Server <ic@example.com>"
    assert msg["To"] == "ops@example.com, backup-admin@example.com"
    assert msg["Subject"] == f"Integration Client test message from {socket.gethostname()}"
    assert "Notification settings are working" in msg.get_content()


def test_starttls_login_with_private_ca_and_no_password_at_rest_or_in_logs(store, starttls_smtp, tls_files, ic_home,
                                                                            monkeypatch, capsys):
    ctl, inbox = starttls_smtp
    logs.setup_logging(store, "app")
    monkeypatch.setenv("IC_TEST_SMTP_PW", SMTP_PASSWORD)
    from ic.cli import run_cli

    rc = run_cli(["notify", "set", "--host", "127.0.0.1", "--port", str(ctl.port), "--security", "starttls",
                  "--user", SMTP_USER, "--password-env", "IC_TEST_SMTP_PW", "--from", "ic@example.com",
                  "--to", "ops@example.com", "--ca-bundle", str(tls_files["ca"]), "--enable"])
    assert rc == 0
    assert run_cli(["notify", "test"]) == 0
    assert inbox.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]
    assert len(inbox.messages) == 1
    assert notify.load_settings(store).has_password
    run_cli(["notify", "show"])
    out = capsys.readouterr()
    assert "Test message sent to ops@example.com" in out.out and "stored" in out.out
    for h in logging.getLogger("ic").handlers:
        h.flush()
    everything = _all_bytes(ic_home) + out.out.encode() + out.err.encode()
    assert b"Test message sent" in _all_bytes(ic_home / "logs")  # the log was written ...
    assert SMTP_PASSWORD.encode() not in everything  # ... but neither it nor the settings DB holds the password


def test_implicit_tls(store, tls_smtp, tls_files):
    ctl, inbox = tls_smtp
    app_settings.update_notification_settings(
        store, host="127.0.0.1", port=ctl.port, security="tls", username=SMTP_USER, sender="ic@example.com",
        to="ops@example.com", ca_bundle=str(tls_files["ca"]), enabled=True, password=SMTP_PASSWORD)
    result = app_settings.send_test_notification(store)
    assert result.ok, result.message
    assert len(inbox.messages) == 1 and inbox.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]


def test_untrusted_certificate_and_wrong_password_are_one_sentence(store, starttls_smtp, tls_files):
    ctl, inbox = starttls_smtp
    app_settings.update_notification_settings(
        store, host="127.0.0.1", port=ctl.port, security="starttls", username=SMTP_USER, sender="ic@example.com",
        to="ops@example.com", enabled=True, password="wrong-password")
    result = app_settings.send_test_notification(store)
    assert not result.ok
    assert "not trusted" in result.message and "CA bundle" in result.message
    app_settings.update_notification_settings(store, ca_bundle=str(tls_files["ca"]))
    result = app_settings.send_test_notification(store)
    assert not result.ok
    assert result.message == (f"The SMTP server 127.0.0.1:{ctl.port} refused the user name or password for "
                              f"{SMTP_USER}; re-enter them.")
    assert "wrong-password" not in result.message and not inbox.messages


def test_unsaved_dialog_values_can_be_tested(store, plain_smtp):
    ctl, inbox = plain_smtp
    unsaved = notify.NotifySettings(host="127.0.0.1", port=ctl.port, security="none", sender="a@example.com",
                                    recipients=["b@example.com"])
    assert app_settings.send_test_notification(store, unsaved).ok
    assert inbox.messages[0][1] == ["b@example.com"]
    assert notify.load_settings(store).host == ""  # nothing saved


def test_thousand_errors_in_one_run_send_exactly_one_mail(store, plain_smtp, tmp_path):
    ctl, inbox = plain_smtp
    _configure_plain(store, ctl.port)
    store.set_setting("log_dir", str(tmp_path / "logs"))
    logs.setup_logging(store, "service")
    log = logging.getLogger("ic.transfer")
    with notify.error_mail(store, "schedule Nightly") as handler:
        assert handler is not None
        for i in range(1000):
            log.error("Recording for session %s could not be written: disk full.", "same" if i % 2 else f"lsid-{i}")
            log.info("noise %d", i)
            log.warning("not an error %d", i)
        assert inbox.messages == []  # nothing sent mid-run
    assert len(inbox.messages) == 1
    _, _, msg = inbox.messages[0]
    assert msg["Subject"] == f"Integration Client on {socket.gethostname()}: 1000 errors (schedule Nightly)"
    body = msg.get_content()
    assert "logged 1000 errors during schedule Nightly" in body
    assert "500 x ic.transfer: Recording for session same could not be written: disk full." in body
    assert "... and 451 more errors with other messages." in body  # 50 distinct listed, the rest counted
    assert "not an error" not in body and "noise" not in body
    assert handler.sent == 1 and handler not in logging.getLogger("ic").handlers


def test_long_run_mails_at_most_once_per_interval(store, plain_smtp):
    ctl, inbox = plain_smtp
    _configure_plain(store, ctl.port)
    settings = notify.load_settings(store)
    handler = logs.add_handler(notify.ErrorMailHandler(settings, None, source="run", interval_seconds=0.2))
    log = logging.getLogger("ic.transfer")
    for i in range(20):
        log.error("first wave %d", i)
    inbox.wait_for(1)  # the interval timer fired: one mail for the first wave
    assert len(inbox.messages) == 1 and "20 errors" in inbox.messages[0][2]["Subject"]
    log.error("second wave")
    notify.remove_error_mail(handler)  # end of run: the rest
    assert len(inbox.messages) == 2 and "1 error " in inbox.messages[1][2]["Subject"]


def test_smtp_down_never_hurts_the_run_and_is_logged_once(store, tmp_path):
    port = free_port()  # nothing listens here
    _configure_plain(store, port)
    store.set_setting("log_dir", str(tmp_path / "logs"))
    log_path = logs.setup_logging(store, "service")
    log = logging.getLogger("ic.transfer")
    handler = notify.install_error_mail(store, "tick")
    for _ in range(3):  # three batches, three failed sends
        log.error("Site demo unreachable.")
        handler.flush()
    log.info("run finished normally")
    notify.remove_error_mail(handler)
    for h in logging.getLogger("ic").handlers:
        h.flush()
    text = log_path.read_text()
    assert text.count("Could not send the error notification e-mail") == 1
    assert f"Nothing accepts connections at 127.0.0.1:{port}" in text
    assert "run finished normally" in text
    assert handler.failed == 3 and handler.sent == 0  # each batch tried (SMTP may come back), logged once


def test_disabled_notifications_install_nothing(store):
    assert notify.install_error_mail(store) is None
    _configure_plain(store, 25)
    app_settings.update_notification_settings(store, enabled=False)
    assert notify.install_error_mail(store) is None


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(host="mail.example.com", security="none", username="u", sender="a@b.c", to="d@e.f"), "STARTTLS or TLS"),
        (dict(host="mail.example.com", sender="not an address", to="d@e.f"), "not a valid e-mail address"),
        (dict(host="mail.example.com", sender="a@b.c", to="d@e.f, bad"), "'bad' is not a valid e-mail address"),
        (dict(enabled=True, sender="a@b.c", to="d@e.f"), "SMTP server's host name"),
        (dict(host="mail.example.com", sender="a@b.c", to=""), "at least one To address"),
        (dict(host="mail.example.com", sender="a@b.c", to="d@e.f", port=70000), "between 1 and 65535"),
        (dict(host="mail.example.com", sender="a@b.c", to="d@e.f", security="ssl"), "Security must be one of"),
        (dict(host="mail.example.com", sender="a@b.c", to="d@e.f", ca_bundle="/nope.pem"), "/nope.pem"),
        (dict(host="mail.example.com", sender="a@b.c", to="d@e.f", username="u", enabled=True), "SMTP password for u"),
    ],
)
def test_validation_names_the_field(store, changes, fragment):
    with pytest.raises(ConfigError) as err:
        app_settings.update_notification_settings(store, **changes)
    assert fragment in str(err.value)


def test_security_choice_moves_the_default_port(store):
    s = app_settings.update_notification_settings(store, host="mail.example.com", sender="a@b.c", to="d@e.f",
                                                  security="tls")
    assert s.port == 465
    s = app_settings.update_notification_settings(store, port=2525)
    s = app_settings.update_notification_settings(store, security="starttls")
    assert s.port == 2525  # a port the user chose is kept


def test_app_settings_validated_and_cli(store, tmp_path, capsys):
    from ic.cli import run_cli

    assert app_settings.get_value(store, "log_removal_days") == 30
    with pytest.raises(ConfigError, match="between 0 and 3650"):
        app_settings.set_app_setting(store, "log_removal_days", "-1")
    with pytest.raises(ConfigError, match="whole number"):
        app_settings.set_app_setting(store, "initial_lookback_days", "ten")
    with pytest.raises(ConfigError, match="full path"):
        app_settings.set_app_setting(store, "log_dir", "relative/logs")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot be written"):
        app_settings.set_app_setting(store, "log_dir", str(blocker / "logs"))
    with pytest.raises(ConfigError, match="Unknown setting"):
        app_settings.set_app_setting(store, "colour", "blue")
    assert run_cli(["settings", "set", "log_dir", str(tmp_path / "L")]) == 0
    assert run_cli(["settings", "set", "log_removal_days", "7"]) == 0
    assert run_cli(["settings", "set", "log_removal_days", "x"]) == 1
    assert run_cli(["settings", "show"]) == 0
    out = capsys.readouterr()
    assert "Log File Removal (days) must be a whole number." in out.err
    import re

    assert str(tmp_path / "L") in out.out and re.search(r"^log_removal_days +7 ", out.out, re.M)
    assert app_settings.get_value(store, "log_dir") == tmp_path / "L"
    assert run_cli(["settings", "set", "log_dir", ""]) == 0  # back to the default
    assert store.get_setting("log_dir") is None


def test_notify_set_reads_the_password_from_stdin_never_from_argv(store, monkeypatch, capsys):
    import io

    from ic.cli import run_cli

    monkeypatch.setattr("sys.stdin", io.StringIO(SMTP_PASSWORD + "\n"))
    assert run_cli(["notify", "set", "--host", "mail.example.com", "--user", SMTP_USER, "--ask-password",
                    "--from", "ic@example.com", "--to", "ops@example.com", "--enable"]) == 0
    assert notify.load_password(store) == SMTP_PASSWORD
    assert SMTP_PASSWORD not in capsys.readouterr().out


def test_engine_settings_are_validated_and_match_the_engine_defaults(store):
    from ic.transfer.engine import DEFAULT_BATCH, DEFAULT_WORKERS, EngineOptions
    from ic.transfer.state import DEFAULT_OVERLAP

    values = app_settings.get_app_settings(store)
    assert values["transfer_batch_size"] == str(DEFAULT_BATCH)
    assert values["transfer_download_workers"] == str(DEFAULT_WORKERS)
    assert values["transfer_overlap_seconds"] == str(DEFAULT_OVERLAP)
    assert values["initial_lookback_days"] == "0"
    with pytest.raises(ConfigError, match="between 0.1 and 20"):
        app_settings.set_app_setting(store, "appliance_max_rps", "50")
    with pytest.raises(ConfigError, match="must be a number"):
        app_settings.set_app_setting(store, "appliance_max_rps", "fast")
    app_settings.set_app_setting(store, "appliance_max_rps", "7.5")
    app_settings.set_app_setting(store, "transfer_download_workers", "2")
    app_settings.set_app_setting(store, "initial_lookback_days", "30")
    opts = EngineOptions.from_store(store)  # what the engine reads back
    assert (opts.max_rps, opts.workers, opts.initial_lookback_days) == (7.5, 2, 30)
    assert app_settings.get_value(store, "appliance_max_rps") == 7.5
