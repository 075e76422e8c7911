"""Linux with systemd: the user unit that keeps the scheduler running. There is no systemd in the test container,
so `systemctl`/`loginctl` are replaced by a stand-in (named so in each test) that records the argv; the unit file is
real and checked as text."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import ic
from ic.errors import ConfigError
from ic.scheduling.task import RunResult
from ic.scheduling.task_systemd import UNIT, SystemdTask, systemd_available, unit_path, unit_text


class SystemctlStandIn:
    def __init__(self, active: str = "active", linger_ok: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.active, self.linger_ok = active, linger_ok

    def __call__(self, argv, input=None):
        self.calls.append(list(argv))
        if argv[:2] == ["systemctl", "--user"] and argv[2] == "is-active":
            return RunResult(0 if self.active == "active" else 3, self.active + "\n")
        if argv[0] == "loginctl":
            return RunResult(0 if self.linger_ok else 1, "", "" if self.linger_ok else "Access denied\n")
        return RunResult(0, "")


@pytest.fixture(autouse=True)
def _config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_unit_text_runs_the_scheduler_and_restarts_it(ic_home):
    text = unit_text()
    main_py = Path(ic.__file__).resolve().parent.parent / "main.py"
    assert f"ExecStart={sys.executable} {main_py} scheduler" in text
    assert "Restart=always" in text and "RestartSec=60" in text and "KillSignal=SIGTERM" in text
    assert f'Environment="IC_HOME={ic_home}"' in text or f"Environment=IC_HOME={ic_home}" in text
    assert "WantedBy=default.target" in text
    with pytest.raises(ConfigError, match="contains a password"):
        unit_text("postgresql+psycopg://ic:S3cret@db/ic")


def test_register_stop_start_status_unregister_via_systemctl_stand_in(ic_home):
    stand_in = SystemctlStandIn(linger_ok=False)
    task = SystemdTask(runner=stand_in)
    assert task.status().state == "not installed"
    message = task.register()
    assert "systemd user service" in message and "loginctl enable-linger" in message
    assert unit_path().read_text() == unit_text()
    assert stand_in.calls == [["systemctl", "--user", "daemon-reload"],
                              ["systemctl", "--user", "enable", "--now", UNIT],
                              ["loginctl", "enable-linger"]]
    assert task.status().state == "running"
    stand_in.calls.clear()
    task.stop()
    assert stand_in.calls == [["systemctl", "--user", "disable", "--now", UNIT]]  # SIGTERM: a clean stop
    stand_in.active = "inactive"
    assert (task.status().state, task.status().raw) == ("stopped", "inactive")
    task.start()
    assert stand_in.calls[-1] == ["systemctl", "--user", "enable", "--now", UNIT]
    assert task.unregister() == f"Scheduler service {UNIT} removed."
    assert not unit_path().exists() and task.status().state == "not installed"
    with pytest.raises(ConfigError, match="register it first"):
        task.start()


def test_backend_choice_without_systemd_is_cron(monkeypatch):
    from ic.scheduling import task as facade
    from ic.scheduling.task_cron import CronTask

    monkeypatch.delenv("IC_TASK_BACKEND", raising=False)
    if not Path("/run/systemd/system").is_dir():
        assert not systemd_available() and isinstance(facade.backend(), CronTask)
    monkeypatch.setenv("IC_TASK_BACKEND", "systemd")
    assert isinstance(facade.backend(), SystemdTask)
