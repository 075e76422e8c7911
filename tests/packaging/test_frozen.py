"""The PyInstaller executable (build.spec): built ONCE per test session, then run for real — --version, the command
line against the simulator (site test, export into a folder and into SQLite), and the GUI window under Xvfb.

Set IC_FROZEN_BINARY to an already built executable to skip the build (the Windows workflow does).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ic import __version__

pytestmark = pytest.mark.slow  # one file: under pytest-xdist --dist loadfile, one worker builds and runs them all

ROOT = Path(__file__).resolve().parents[2]
EXE_NAME = "IntegrationClient.exe" if sys.platform == "win32" else "IntegrationClient"


def _build(copy_to: Path) -> Path:
    """pyinstaller --noconfirm --distpath build/dist --workpath build/work build.spec (serialised between sessions)."""
    (ROOT / "build").mkdir(exist_ok=True)
    lock_path = ROOT / "build" / ".frozen-build.lock"
    with open(lock_path, "w") as lock:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
             "--distpath", str(ROOT / "build" / "dist"), "--workpath", str(ROOT / "build" / "work"),
             str(ROOT / "build.spec")],
            cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
        )
        if proc.returncode != 0:
            pytest.fail(f"PyInstaller build failed:\n{proc.stderr[-4000:]}")
        print(f"\n[frozen] build took {time.monotonic() - started:.0f} s")
        built = ROOT / "build" / "dist" / EXE_NAME
        target = copy_to / EXE_NAME  # our own copy: another session may rebuild build/dist meanwhile
        shutil.copy2(built, target)
    return target


@pytest.fixture(scope="module")
def frozen(tmp_path_factory) -> Path:
    prebuilt = os.environ.get("IC_FROZEN_BINARY")
    if prebuilt:
        path = Path(prebuilt)
        assert path.is_file(), f"IC_FROZEN_BINARY={prebuilt} does not exist"
    else:
        path = _build(tmp_path_factory.mktemp("frozen"))
    print(f"[frozen] {path.name}: {path.stat().st_size / 1048576:.1f} MB")
    return path


def run(exe: Path, *args: str, env_extra: dict | None = None, timeout: float = 180,
        input: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, env=env, input=input,
                          check=False, cwd=exe.parent)


def test_version_and_start_up_time(frozen):
    started = time.monotonic()
    result = run(frozen, "--version")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Integration Client {__version__}"
    print(f"[frozen] --version wall time {elapsed:.2f} s")


def test_command_line_and_bundled_modules_work(frozen, ic_home):
    """Subcommands imported by name (ic.cli.*_cmd) and plugins loaded by name (ic.destinations.*) are bundled."""
    result = run(frozen, "destination", "types")
    assert result.returncode == 0, result.stderr
    assert "folder" in result.stdout and "sql" in result.stdout
    result = run(frozen, "settings", "show")
    assert result.returncode == 0 and "log_removal_days" in result.stdout, result.stderr
    result = run(frozen, "task", "status")
    assert result.returncode in (0, 1) and result.stdout.startswith("Scheduler: "), result.stderr
    result = run(frozen, "site", "test", "nope")
    assert result.returncode == 1 and "There is no site named 'nope'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def configured(frozen, ic_home, tmp_path):
    """A simulator on 127.0.0.1 and, through the frozen CLI, a site for it plus a folder and a SQLite destination."""
    from ic.simulator import Simulator

    sim = Simulator(sessions=12, seed=7, in_progress=2, recording_size=4096).start(0)
    try:
        env = {"IC_FROZEN_SIM_SECRET": sim.client_secret}
        result = run(frozen, "site", "add", "sim", "--host", sim.host, "--client-id", sim.client_id,
                     "--client-secret-env", "IC_FROZEN_SIM_SECRET", "--ca-bundle", str(sim.ca_file),
                     "--product", "rs", env_extra=env)
        assert result.returncode == 0, result.stderr
        folder = tmp_path / "out"
        folder.mkdir()
        db = tmp_path / "ic-storage.db"
        result = run(frozen, "destination", "add", "files", "--type", "folder", "--dir", str(folder))
        assert result.returncode == 0, result.stderr
        result = run(frozen, "destination", "add", "db", "--type", "sql", "--url", f"sqlite:///{db.as_posix()}")
        assert result.returncode == 0, result.stderr
        yield sim, folder, db
    finally:
        sim.stop()


def test_site_test_against_the_simulator(frozen, configured):
    result = run(frozen, "site", "test", "sim")
    assert result.returncode == 0, result.stderr + result.stdout


def test_headless_export_into_a_folder_and_sqlite(frozen, configured):
    sim, folder, db = configured
    start = (datetime.now(timezone.utc) - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M+00:00")
    result = run(frozen, "export", "--site", "sim", "--destination", "files", "--start", start, "--duration", "0",
                 "--data", "session", "--quiet")
    assert result.returncode == 0, result.stderr + result.stdout
    written = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".xml"]
    assert len(written) >= 10, result.stdout  # every ended session (in-progress ones wait until they end)
    result = run(frozen, "export", "--site", "sim", "--destination", "db", "--start", start, "--duration", "0",
                 "--data", "session", "--quiet")
    assert result.returncode == 0, result.stderr + result.stdout
    import sqlite3

    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        session_tables = [t for t in tables if "session" in t.lower()]
        assert session_tables, tables
        counts = {t: conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in session_tables}
    assert max(counts.values()) >= 10, counts


@pytest.mark.skipif(sys.platform == "win32", reason="Xvfb/xdotool check is for the Linux build")
def test_gui_window_opens_under_xvfb(frozen, ic_home):
    if not os.environ.get("DISPLAY") or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb (pytest-xvfb) and xdotool")
    proc = subprocess.Popen([str(frozen)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=frozen.parent)
    try:
        deadline = time.monotonic() + 90
        found = ""
        while time.monotonic() < deadline and proc.poll() is None:
            search = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "Integration Client"],
                                    capture_output=True, text=True, check=False)
            if search.returncode == 0 and search.stdout.strip():
                found = search.stdout.split()[0]
                break
            time.sleep(0.25)
        if not found:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"no window appeared (exit {proc.returncode}): {err.decode(errors='replace')[-2000:]}")
        name = subprocess.run(["xdotool", "getwindowname", found], capture_output=True, text=True).stdout.strip()
        assert name.startswith("Integration Client")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_tick_runs_due_schedules_logs_to_the_service_log_and_mails_one_error_summary(frozen, configured, ic_home):
    """What the OS scheduler runs every minute, frozen: the due schedules run, the service log records them, and a
    failing transfer (a site whose certificate is not trusted) produces exactly one notification mail (real SMTP
    server on 127.0.0.1)."""
    import socket

    from aiosmtpd.controller import Controller

    sim, folder, _db = configured

    class Inbox:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            self.messages.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        smtp_port = s.getsockname()[1]
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        steps = [
            ["notify", "set", "--host", "127.0.0.1", "--port", str(smtp_port), "--security", "none",
             "--from", "ic@example.com", "--to", "ops@example.com", "--enable"],
            # the simulator without its CA bundle: the TLS check fails at once (no retries, unlike a refused port)
            ["site", "add", "down", "--host", sim.host, "--client-id", "x",
             "--client-secret-env", "IC_FROZEN_SIM_SECRET", "--product", "rs"],
            ["schedule", "add", "Good", "--site", "sim", "--destination", "files", "--data", "session", "--every", "15m"],
            ["schedule", "add", "Broken", "--site", "down", "--destination", "files", "--every", "15m"],
        ]
        for args in steps:
            result = run(frozen, *args, env_extra={"IC_FROZEN_SIM_SECRET": "not-used"})
            assert result.returncode == 0, (args, result.stderr)
        result = run(frozen, "tick", "--quiet")
        assert result.returncode == 1, result.stdout + result.stderr  # one schedule failed
        assert "Traceback" not in result.stderr
        service_log = (ic_home / "logs" / "service.log").read_text()
        assert "Good" in service_log and "Broken" in service_log
        assert [p for p in folder.rglob("*.xml")], "the good schedule stored sessions"
        deadline = time.monotonic() + 10
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(inbox.messages) == 1
        import email
        from email import policy

        mail = email.message_from_bytes(inbox.messages[0].content, policy=policy.default)
        assert mail["Subject"].endswith("(tick)") and mail["To"] == "ops@example.com"
        body = mail.get_content()
        print(f"[frozen] notification: {mail['Subject']}\n{body[:600]}")
        assert "logged 1 error during tick" in body or "errors during tick" in body
        assert "Schedule Broken, transfer down -> files failed" in body
    finally:
        smtp.stop()
