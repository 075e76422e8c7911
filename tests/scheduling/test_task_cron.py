"""Linux scheduler registration with the REAL crontab (Debian cron): a throwaway user's crontab when running as root,
otherwise the current user's crontab, saved and restored around each test."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import ic
from ic.errors import ConfigError
from ic.scheduling.task import RunResult, run_command
from ic.scheduling.task_cron import MARKER, CronTask

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="cron is the Linux scheduler"),
    pytest.mark.skipif(shutil.which("crontab") is None, reason="the cron package is not installed"),
]

OTHER_LINES = ['MAILTO=""', "0 3 * * * /usr/local/bin/nightly-backup.sh --full # nightly", "# a comment", ""]


def _crontab(user: str | None, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["crontab", *(["-u", user] if user else []), *args], input=input, capture_output=True,
                          text=True, check=False)


@pytest.fixture
def cron_user():
    """A throwaway account (root) or the current user with the crontab restored afterwards."""
    if os.geteuid() == 0:
        name = f"ic-cron-{uuid.uuid4().hex[:8]}"
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        try:
            yield name
        finally:
            _crontab(name, "-r")
            subprocess.run(["userdel", name], check=False)
    else:
        saved = _crontab(None, "-l")
        try:
            yield None
        finally:
            if saved.returncode == 0:
                _crontab(None, "-", input=saved.stdout)
            else:
                _crontab(None, "-r")


def _lines(user: str | None) -> list[str]:
    result = _crontab(user, "-l")
    return result.stdout.splitlines() if result.returncode == 0 else []


def test_register_adds_one_line_and_keeps_the_users_other_lines(cron_user, ic_home):
    _crontab(cron_user, "-", input="\n".join(OTHER_LINES) + "\n")
    task = CronTask(user=cron_user)
    assert "started at boot and kept running" in task.register()
    task.register()  # idempotent
    lines = _lines(cron_user)
    ours = [line for line in lines if line.endswith(MARKER)]
    assert [line for line in lines if not line.endswith(MARKER)] == OTHER_LINES
    assert len(ours) == 2
    main_py = Path(ic.__file__).resolve().parent.parent / "main.py"
    lock = ic_home / "locks" / "scheduler-cron.lock"
    expected_cmd = (f"cd {shlex.quote(str(main_py.parent))} && IC_HOME={shlex.quote(str(ic_home))} "
                    f"exec {shutil.which('flock')} -n -o {shlex.quote(str(lock))} "
                    f"{shlex.quote(sys.executable)} {shlex.quote(str(main_py))} scheduler >/dev/null 2>&1")
    # the resident scheduler starts at boot; the watchdog line is a no-op while it runs (flock -n) and starts it
    # again within a minute if it died
    assert ours == [f"@reboot {expected_cmd} {MARKER}", f"* * * * * {expected_cmd} {MARKER}"]


def test_unregister_removes_only_our_line(cron_user):
    _crontab(cron_user, "-", input="\n".join(OTHER_LINES) + "\n")
    task = CronTask(user=cron_user)
    task.register()
    assert task.unregister() == "Scheduler removed from the crontab."
    assert _lines(cron_user) == OTHER_LINES
    assert task.unregister() == "The scheduler is not installed in the crontab."
    assert _lines(cron_user) == OTHER_LINES


def test_register_on_an_empty_crontab_and_unregister_leaves_it_empty(cron_user):
    _crontab(cron_user, "-r")
    task = CronTask(user=cron_user)
    assert task.status().state == "not installed"
    task.register()
    assert len(_lines(cron_user)) == 2
    task.unregister()
    assert _lines(cron_user) == []


def test_stop_comments_the_line_and_start_restores_it(cron_user):
    task = CronTask(user=cron_user)
    with pytest.raises(ConfigError, match="register it first"):
        task.stop()
    task.register()
    entries = task.entries()
    task.stop()
    assert _lines(cron_user) == ["#stopped# " + entry for entry in entries]
    st = task.status()
    assert (st.state, st.raw) == ("stopped", "stopped")
    task.register()  # registering again also re-enables
    assert _lines(cron_user) == entries
    task.stop()
    task.start()
    assert _lines(cron_user) == entries


def test_status_follows_the_real_cron_daemon(cron_user):
    task = CronTask(user=cron_user)
    task.register()
    already = run_command(["pgrep", "-x", "cron"]).returncode == 0
    daemon = None
    if not already:
        if os.geteuid() != 0 or not Path("/usr/sbin/cron").exists():
            pytest.skip("cannot start the cron daemon here")
        st = task.status()
        assert (st.state, st.raw) == ("stopped", "no daemon") and "daemon is not running" in st.detail
        assert "cron daemon is not running" in task.start()
        daemon = subprocess.Popen(["/usr/sbin/cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not task.daemon_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        st = task.status()
        assert (st.state, st.raw) == ("running", "active")
        assert task.start() == "Scheduler started: cron starts it within a minute and keeps it running."
    finally:
        task.unregister()
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=10)


def test_the_cron_command_line_runs_under_sh(cron_user, tmp_path, monkeypatch):
    """Run the exact command from the crontab line the way cron does (sh -c, minimal environment)."""
    monkeypatch.setenv("IC_HOME", str(tmp_path / "home with space and 100%"))
    task = CronTask(user=cron_user)
    task.register()
    [_, line] = [line for line in _lines(cron_user) if line.endswith(MARKER)]
    assert "100\\%" in line  # cron would turn a bare % into a newline
    command = line[len("* * * * * "):-len(MARKER)].replace("\\%", "%")
    out = tmp_path / "probe.txt"
    probe = command.replace(" scheduler >/dev/null 2>&1", f" --version >{shlex.quote(str(out))} 2>&1")
    env = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run(["/bin/sh", "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("Integration Client ")


def test_settings_url_with_password_is_refused(cron_user):
    task = CronTask(user=cron_user, settings_url="postgresql+psycopg://ic:S3cret@db/ic")
    with pytest.raises(ConfigError, match="contains a password"):
        task.register()
    assert _lines(cron_user) == []
    task = CronTask(user=cron_user, settings_url="postgresql+psycopg://ic@db.example.com/ic")
    task.register()
    assert "--settings postgresql+psycopg://ic@db.example.com/ic scheduler" in _lines(cron_user)[0]


def test_crontab_failure_is_one_sentence():
    def runner(argv, input=None):
        if "-l" in argv:
            return RunResult(1, "", "crontab: no crontab for nobody\n")
        return RunResult(1, "", "crontab: your UID isn't in the passwd file.\nbye\n")

    from ic.errors import TaskRegistrationError

    with pytest.raises(TaskRegistrationError, match=r"^cron refused the new crontab: crontab: your UID isn't in the passwd file\.$"):
        CronTask(runner=runner).register()


def test_task_cli_on_the_current_users_real_crontab(capsys, monkeypatch):
    """`task register|status|stop|start|unregister` through the CLI (the current user's crontab, restored after)."""
    from ic.cli import run_cli

    saved = _crontab(None, "-l")
    try:
        _crontab(None, "-", input="\n".join(OTHER_LINES) + "\n")
        assert run_cli(["task", "register"]) == 0
        run_cli(["task", "status"])
        assert run_cli(["task", "stop"]) == 0
        assert run_cli(["task", "status"]) == 1
        assert run_cli(["task", "unregister"]) == 0
        assert run_cli(["task", "status"]) == 1
        out = capsys.readouterr().out
        assert "Scheduler registered in the crontab of this user: started at boot and kept running" in out
        assert "Scheduler: stopped. The scheduler is stopped (its crontab line is disabled)." in out
        assert "Scheduler: not installed." in out
        assert _lines(None) == OTHER_LINES
    finally:
        if saved.returncode == 0:
            _crontab(None, "-", input=saved.stdout)
        else:
            _crontab(None, "-r")


@pytest.mark.skipif(shutil.which("flock") is None, reason="flock(1) is not installed")
def test_watchdog_line_starts_one_scheduler_is_a_noop_while_it_runs_and_stop_ends_it(ic_home, store, tmp_path):
    """The exact watchdog command of the crontab, run the way cron runs it (sh -c, minimal environment)."""
    from ic.scheduling import heartbeat
    from ic.scheduling.resident import signal_running_scheduler

    watchdog = CronTask().entries()[1]
    assert watchdog.startswith("* * * * * ") and watchdog.endswith(MARKER)
    command = watchdog[len("* * * * * "):-len(MARKER)].replace("\\%", "%")
    env = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    first = subprocess.Popen(["/bin/sh", "-c", command], env=env)
    try:
        deadline = time.monotonic() + 60
        while not any(r.running for r in heartbeat.all_statuses(store)):
            assert first.poll() is None and time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        again = subprocess.run(["/bin/sh", "-c", command], env=env, timeout=30)
        assert again.returncode == 1  # flock -n: the scheduler already runs, nothing was started
        assert len([r for r in heartbeat.all_statuses(store) if r.running]) == 1
        pid = signal_running_scheduler()  # what `task stop` does for cron after commenting the lines out
        assert pid is not None and pid != first.pid
        assert first.wait(60) == 0  # a clean stop
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not any(r.running for r in heartbeat.all_statuses(store))
    assert signal_running_scheduler() is None
