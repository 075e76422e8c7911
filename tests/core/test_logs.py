"""Log files: folder setting, daily rotation, removal after N days, redaction, tracebacks only where they belong."""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pytest

from ic import logs
from ic.errors import AuthenticationFailed

SECRETS = [
    "Zq9-client-secret-VALUE",
    "eyJhbGciOiJIUzI1NiJ9.tokenbody.sig",
    "Pa55w0rd!db",
    "dXNlcjpiYXNpY3Bhc3M=",
    "smtp-pw-777",
]


@pytest.fixture(autouse=True)
def _clean_logging():
    yield
    logs.shutdown_logging()


def _flush() -> None:
    for h in logging.getLogger("ic").handlers:
        h.flush()


def test_app_and_service_logs_go_to_the_configured_folder(store, tmp_path):
    folder = tmp_path / "my logs"
    store.set_setting("log_dir", str(folder))
    app = logs.setup_logging(store, "app")
    logging.getLogger("ic.gui").info("Site demo saved.")
    svc = logs.setup_logging(store, "service")
    logging.getLogger("ic.scheduling").info("tick: nothing due")
    _flush()
    assert app == folder / "ic.log" and svc == folder / "service.log"
    assert logs.log_files(store) == {"app": folder / "ic.log", "service": folder / "service.log"}
    assert "Site demo saved." in app.read_text() and "tick" not in app.read_text()
    assert "tick: nothing due" in svc.read_text()
    assert logs.log_dir() == folder  # remembered for the CLI's "details are in ..." hint
    assert "tick: nothing due" in logs.read_log_tail("service", store=store)
    assert logs.read_log_tail("app", store=store).strip().endswith("Site demo saved.")


def test_default_folder_is_under_the_data_dir(ic_home):
    path = logs.setup_logging(None, "app")
    assert path == ic_home / "logs" / "ic.log" and path.exists()


def test_unwritable_log_folder_falls_back_to_default_and_says_so(store, tmp_path, ic_home):
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    store.set_setting("log_dir", str(not_a_dir / "logs"))
    path = logs.setup_logging(store, "service")
    _flush()
    assert path == ic_home / "logs" / "service.log"
    assert "is not writable" in path.read_text()


def test_redaction_filter_masks_every_kind_of_secret(store, tmp_path):
    store.set_setting("log_dir", str(tmp_path / "logs"))
    path = logs.setup_logging(store, "app")
    log = logging.getLogger("ic.appliance")
    log.info("POST /oauth2/token body grant_type=client_credentials&client_secret=%s", SECRETS[0])
    log.info("headers {'Authorization': 'Bearer %s', 'Accept': 'application/xml'}", SECRETS[1])
    log.info("Authorization: Basic %s", SECRETS[3])
    log.info('response {"access_token": "%s", "token_type": "Bearer", "expires_in": 3600}', SECRETS[1])
    log.warning("connecting to postgresql+psycopg://ic:%s@db.example.com:5432/ic", SECRETS[2])
    log.info("login password=%s user=admin", SECRETS[4])
    log.info("config %r", {"smtp_password": SECRETS[4], "host": "mail.example.com"})
    try:
        raise RuntimeError(f"boom with client_secret={SECRETS[0]}")
    except RuntimeError:
        log.exception("Unexpected failure")
    _flush()
    data = path.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data, secret
    text = data.decode()
    # what is not secret stays readable
    for kept in ("grant_type=client_credentials", "'Accept': 'application/xml'", '"token_type": "Bearer"',
                 "db.example.com:5432/ic", "user=admin", "mail.example.com", "Traceback", "RuntimeError"):
        assert kept in text, kept
    assert "Bearer ***" in text and "Basic ***" in text and "ic:***@db.example.com" in text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("https://user:pw@host/x", "https://user:***@host/x"),
        ("https://host:8443/path?x=1", "https://host:8443/path?x=1"),
        ("token_type=bearer expires_in=3600", "token_type=bearer expires_in=3600"),
        ("Proxy-Authorization: Negotiate abcdef", "Proxy-Authorization: Negotiate ***"),
        ("client_secret=***", "client_secret=***"),
    ],
)
def test_redact_keeps_harmless_text(raw, expected):
    assert logs.redact(raw) == expected
    assert logs.redact(logs.redact(raw)) == expected


def test_expected_error_is_one_line_unexpected_gets_traceback_in_file_only(store, tmp_path, capsys):
    store.set_setting("log_dir", str(tmp_path / "logs"))
    path = logs.setup_logging(store, "app", console=True)
    log = logging.getLogger("ic.transfer")
    try:
        raise AuthenticationFailed("The client ID or secret for site demo was refused; re-enter them.")
    except AuthenticationFailed:
        log.exception("Transfer demo -> files failed")
    try:
        {}["missing"]
    except KeyError:
        log.exception("Internal error in transfer")
    _flush()
    text = path.read_text()
    assert "(AuthenticationFailed: The client ID or secret for site demo was refused; re-enter them.)" in text
    assert text.count("Traceback") == 1 and "KeyError: 'missing'" in text
    err = capsys.readouterr().err
    assert "Transfer demo -> files failed" in err and "Internal error in transfer" in err
    assert "Traceback" not in err


def test_daily_rotation_renames_yesterdays_file(store, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    store.set_setting("log_dir", str(folder))
    old = folder / "service.log"
    old.write_text("yesterday's tick\n")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    logs.setup_logging(store, "service")
    logging.getLogger("ic.scheduling").info("today's tick")
    _flush()
    rotated = folder / f"service.log.{time.strftime('%Y-%m-%d', time.localtime(two_days_ago))}"
    assert rotated.read_text() == "yesterday's tick\n"
    assert "today's tick" in old.read_text() and "yesterday" not in old.read_text()


def test_two_processes_rolling_over_do_not_lose_the_day(tmp_path):
    """The stdlib handler deletes an existing ic.log.<date>; ours leaves the first rotation alone."""
    base = tmp_path / "ic.log"
    a = logs.SafeTimedRotatingFileHandler(base, when="midnight", encoding="utf-8", delay=True)
    b = logs.SafeTimedRotatingFileHandler(base, when="midnight", encoding="utf-8", delay=True)
    rec = lambda msg: logging.LogRecord("ic", logging.INFO, __file__, 1, msg, None, None)  # noqa: E731
    a.emit(rec("from A"))
    b.emit(rec("from B"))
    a.flush(), b.flush()
    for h in (a, b):
        h.rolloverAt = int(time.time()) - 1
    a.emit(rec("A after midnight"))
    b.emit(rec("B after midnight"))
    a.close(), b.close()
    rotated = [p for p in tmp_path.iterdir() if p.name.startswith("ic.log.")]
    assert len(rotated) == 1
    assert "from A" in rotated[0].read_text() and "from B" in rotated[0].read_text()
    everything = rotated[0].read_text() + (base.read_text() if base.exists() else "")
    assert "A after midnight" in everything and "B after midnight" in everything  # nothing lost
    if sys.platform != "win32":  # Windows cannot rename a file another handle holds open: A keeps writing to it
        assert "A after midnight" in base.read_text() and "B after midnight" in base.read_text()


def test_old_log_files_removed_at_startup(store, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    store.set_setting("log_dir", str(folder))
    store.set_setting("log_removal_days", "30")
    now = time.time()
    files = {
        "ic.log.2026-01-01": 40, "service.log.2026-01-02": 31, "ic.log.2026-02-20": 10, "service.log": 45,
        "notes.txt": 400, "other.log": 400,
    }
    for name, age_days in files.items():
        (folder / name).write_text(name)
        os.utime(folder / name, (now - age_days * 86400, now - age_days * 86400))
    logs.setup_logging(store, "app")
    left = sorted(p.name for p in folder.iterdir())
    assert left == ["ic.log", "ic.log.2026-02-20", "notes.txt", "other.log"]


def test_removal_zero_days_keeps_everything(store, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    store.set_setting("log_dir", str(folder))
    store.set_setting("log_removal_days", "0")
    old = folder / "ic.log.2020-01-01"
    old.write_text("x")
    os.utime(old, (1, 1))
    logs.setup_logging(store, "app")
    assert old.exists()


def test_read_log_tail_starts_at_a_line(store, tmp_path):
    store.set_setting("log_dir", str(tmp_path / "logs"))
    assert logs.read_log_tail("app", store=store) == ""
    path = logs.log_files(store)["app"]
    path.parent.mkdir(parents=True)
    path.write_text("".join(f"line {i:04d}\n" for i in range(1000)))
    tail = logs.read_log_tail("app", max_bytes=100, store=store)
    assert tail.startswith("line ") and tail.endswith("line 0999\n") and len(tail) <= 100
    with pytest.raises(ValueError):
        logs.read_log_tail("bogus")


def test_setup_again_replaces_handlers(store, tmp_path):
    store.set_setting("log_dir", str(tmp_path / "a"))
    logs.setup_logging(store, "app")
    store.set_setting("log_dir", str(tmp_path / "b"))
    logs.setup_logging(store, "app")
    logging.getLogger("ic").info("only once")
    _flush()
    assert "only once" in (tmp_path / "b" / "ic.log").read_text()
    assert "only once" not in (tmp_path / "a" / "ic.log").read_text()
    assert isinstance(Path(logs.log_dir()), Path)


def test_windowed_executable_prints_into_the_log(store, tmp_path, monkeypatch):
    """A windowed .exe has no stdout/stderr: CLI output must land in the log file, not vanish or crash."""
    import sys

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.setattr(logs, "_attach_parent_console", lambda: False)  # as under Task Scheduler: no console
    logs.ensure_std_streams()
    assert sys.stdout is not None and sys.stderr is not None and not sys.stdout.isatty()
    print("Schedule Nightly finished: 12 sessions stored.")
    print("error: Site demo is unreachable.", file=sys.stderr)
    sys.stdout.write("partial line without newline")
    sys.stdout.flush()
    _flush()
    text = logs.log_files()["app"].read_text()
    assert "INFO    [" in text and "ic.console: Schedule Nightly finished: 12 sessions stored." in text
    assert "WARNING [" in text and "ic.console: error: Site demo is unreachable." in text
    assert "partial line without newline" in text


def test_cli_internal_error_traceback_in_the_configured_log_not_on_the_console(store, tmp_path, capsys, monkeypatch):
    from ic.cli import run_cli
    from ic.services import app_settings

    store.set_setting("log_dir", str(tmp_path / "configured"))

    def broken(_store):
        raise RuntimeError("bug with password=hunter22 inside")

    monkeypatch.setattr(app_settings, "get_app_settings", broken)
    assert run_cli(["settings", "show"]) == 3
    err = capsys.readouterr().err
    assert err == (f"error: the Integration Client hit an internal error; details are in {tmp_path / 'configured'}.\n")
    _flush()
    text = (tmp_path / "configured" / "ic.log").read_text()
    assert "Internal error running settings" in text and "Traceback" in text and "RuntimeError" in text
    assert "hunter22" not in text
    assert logging.getLogger("ic").propagate  # tests' caplog keeps seeing ic.* records
