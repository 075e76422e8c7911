"""Windows Task Scheduler registration. schtasks.exe cannot run here, so every test replaces it with a stand-in
(named in each test) that records the exact argv and reads the task XML file while it exists."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

import ic
from ic import logs
from ic.errors import ConfigError, TaskRegistrationError
from ic.scheduling import task as facade
from ic.scheduling.task import RunResult
from ic.scheduling.task_windows import TASK_NAME, TASK_NS, WindowsTask
from tests.helpers import NS, SchtasksStandIn

USER = "CORP\\alice"
PASSWORD = "Hunter2!-windows-pw"


def _parse(created: bytes) -> etree._Element:
    assert created.startswith(b"\xff\xfe"), "UTF-16 LE with BOM"
    assert created.decode("utf-16").startswith('<?xml version="1.0" encoding="UTF-16"?>')
    return etree.fromstring(created)  # lxml reads the BOM and the UTF-16 declaration


def _text(root: etree._Element, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    return found[0].text


def test_register_via_windows_only_schtasks_stand_in(tmp_path):
    stand_in = SchtasksStandIn()
    message = WindowsTask(runner=stand_in, user=USER).register()
    assert message == (f"Scheduler task {TASK_NAME} registered: it keeps the scheduler running as {USER} while the "
                       "user is logged on; the schedules are checked every minute.")
    [argv] = stand_in.calls
    assert argv == ["schtasks", "/Create", "/TN", "\\IntegrationClient\\Scheduler", "/XML", stand_in.xml_path, "/F"]
    assert not Path(stand_in.xml_path).exists()  # the temp file is gone
    root = _parse(stand_in.created_xml)
    assert root.tag == f"{{{TASK_NS}}}Task" and root.get("version") == "1.2"
    assert _text(root, "t:RegistrationInfo/t:URI") == "\\IntegrationClient\\Scheduler"
    # the resident scheduler starts at logon; a watchdog trigger every 5 minutes starts it again if it died
    # (IgnoreNew while it runs); no boot trigger without a stored password (it could not run before logon)
    assert [etree.QName(t).localname for t in root.xpath("t:Triggers/*", namespaces=NS)] == \
        ["LogonTrigger", "TimeTrigger"]
    assert _text(root, "t:Triggers/t:LogonTrigger/t:UserId") == USER
    assert [etree.QName(c).localname for c in root.xpath("t:Triggers/t:LogonTrigger/*", namespaces=NS)] == \
        ["Enabled", "UserId"]  # schema order
    assert _text(root, "t:Triggers/t:TimeTrigger/t:Repetition/t:Interval") == "PT5M"
    assert not root.xpath("t:Triggers/t:TimeTrigger/t:Repetition/t:Duration", namespaces=NS)  # indefinitely
    assert _text(root, "t:Triggers/t:TimeTrigger/t:Enabled") == "true"
    assert _text(root, "t:Settings/t:RestartOnFailure/t:Interval") == "PT1M"
    assert _text(root, "t:Settings/t:RestartOnFailure/t:Count") == "999"
    main_py = Path(ic.__file__).resolve().parent.parent / "main.py"
    python = Path(sys.executable)
    if sys.platform == "win32" and python.with_name("pythonw.exe").exists():
        python = python.with_name("pythonw.exe")  # no console window every minute
    assert _text(root, "t:Actions/t:Exec/t:Command") == str(python)
    assert _text(root, "t:Actions/t:Exec/t:Arguments") == subprocess.list2cmdline([str(main_py), "scheduler"])
    assert _text(root, "t:Actions/t:Exec/t:WorkingDirectory") == str(main_py.parent)
    assert _text(root, "t:Principals/t:Principal/t:UserId") == USER
    assert _text(root, "t:Principals/t:Principal/t:LogonType") == "InteractiveToken"
    assert _text(root, "t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    assert _text(root, "t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert _text(root, "t:Settings/t:DisallowStartIfOnBatteries") == "false"
    assert _text(root, "t:Settings/t:StopIfGoingOnBatteries") == "false"
    assert _text(root, "t:Settings/t:ExecutionTimeLimit") == "PT0S"  # no limit: the process stays up
    assert _text(root, "t:Settings/t:Enabled") == "true"


def test_register_frozen_with_other_settings_db_via_windows_only_schtasks_stand_in(monkeypatch, tmp_path):
    exe = str(tmp_path / "Integration Client" / "IntegrationClient.exe")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", exe)
    stand_in = SchtasksStandIn()
    url = "mssql+pyodbc://sqlhost/ICSettings?driver=ODBC+Driver+18+for+SQL+Server&Trusted_Connection=yes"
    WindowsTask(runner=stand_in, settings_url=url, user=USER).register()
    root = _parse(stand_in.created_xml)
    assert _text(root, "t:Actions/t:Exec/t:Command") == exe
    assert _text(root, "t:Actions/t:Exec/t:Arguments") == f"--settings {url} scheduler"
    assert _text(root, "t:Actions/t:Exec/t:WorkingDirectory") == str(tmp_path / "Integration Client")


def test_settings_url_with_password_is_refused_before_schtasks_via_windows_only_schtasks_stand_in():
    stand_in = SchtasksStandIn()
    with pytest.raises(ConfigError, match="contains a password"):
        WindowsTask(runner=stand_in, settings_url="postgresql+psycopg://ic:S3cret@db/ic", user=USER).register()
    with pytest.raises(ConfigError, match="contains a password"):
        WindowsTask(runner=stand_in, user=USER,
                    settings_url="mssql+pyodbc:///?odbc_connect=DRIVER%3DX%3BUID%3Dic%3BPWD%3DS3cret").register()
    assert stand_in.calls == []


def test_register_whether_logged_on_via_windows_only_schtasks_stand_in(store, tmp_path):
    store.set_setting("log_dir", str(tmp_path / "logs"))
    log_file = logs.setup_logging(store, "app", level=logging.DEBUG)
    asked: list[str] = []
    stand_in = SchtasksStandIn()
    message = WindowsTask(runner=stand_in, user=USER).register(lambda user: asked.append(user) or PASSWORD)
    assert asked == [USER]
    assert "whether or not the user is logged on" in message
    [argv] = stand_in.calls
    assert all(PASSWORD not in a for a in argv)  # never on a command line: process listings would show it
    assert stand_in.stdin == PASSWORD + "\n"
    assert stand_in.script.splitlines() == [
        "$ErrorActionPreference = 'Stop'",
        "$password = [Console]::In.ReadLine()",
        f"$xml = [IO.File]::ReadAllText('{stand_in.xml_path}')",
        "Register-ScheduledTask -TaskName 'Scheduler' -TaskPath '\\IntegrationClient\\' -Xml $xml "
        "-User 'CORP\\alice' -Password $password -Force | Out-Null",
    ]
    root = _parse(stand_in.created_xml)
    assert _text(root, "t:Principals/t:Principal/t:LogonType") == "Password"
    assert [etree.QName(t).localname for t in root.xpath("t:Triggers/*", namespaces=NS)] == \
        ["BootTrigger", "LogonTrigger", "TimeTrigger"]  # from start-up: nobody needs to log on
    assert PASSWORD.encode("utf-16-le") not in stand_in.created_xml
    logs.shutdown_logging()
    assert "Register-ScheduledTask" not in log_file.read_text() or PASSWORD not in log_file.read_text()
    assert PASSWORD.encode() not in b"".join(p.read_bytes() for p in (tmp_path / "logs").iterdir())


def test_empty_password_registers_nothing_via_windows_only_schtasks_stand_in():
    stand_in = SchtasksStandIn()
    with pytest.raises(ConfigError, match=r"Enter the Windows password of CORP\\alice"):
        WindowsTask(runner=stand_in, user=USER).register(lambda user: "")
    assert stand_in.calls == []


def test_status_start_stop_unregister_via_windows_only_schtasks_stand_in():
    stand_in = SchtasksStandIn()
    t = WindowsTask(runner=stand_in, user=USER)
    st = t.status()
    assert (st.state, st.detail) == ("not installed", f"The scheduler task {TASK_NAME} is not installed.")
    assert stand_in.calls == [["schtasks", "/Query", "/TN", TASK_NAME, "/XML", "ONE"]]
    with pytest.raises(ConfigError, match="not installed; register it first"):
        t.start()
    t.register()
    assert (t.status().state, t.status().raw) == ("running", "Ready")
    stand_in.calls.clear()
    t.stop()
    assert stand_in.calls == [
        ["schtasks", "/Query", "/TN", TASK_NAME, "/XML", "ONE"],
        ["schtasks", "/Change", "/TN", TASK_NAME, "/DISABLE"],
        ["schtasks", "/End", "/TN", TASK_NAME],
    ]
    st = t.status()
    assert (st.state, st.raw) == ("stopped", "Disabled") and "disabled" in st.detail
    stand_in.calls.clear()
    t.start()
    assert stand_in.calls[1:] == [["schtasks", "/Change", "/TN", TASK_NAME, "/ENABLE"],
                                  ["schtasks", "/Run", "/TN", TASK_NAME]]
    st = t.status()
    assert (st.state, st.raw) == ("running", "Running") and "running the scheduler" in st.detail
    assert t.unregister() == f"Scheduler task {TASK_NAME} removed."
    assert stand_in.calls[-1] == ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"]
    assert t.status().state == "not installed"
    assert t.unregister() == f"Scheduler task {TASK_NAME} is not installed."


def test_schtasks_refusal_is_one_sentence_without_the_password_via_windows_only_schtasks_stand_in():
    stand_in = SchtasksStandIn(fail={"/Create": RunResult(1, "", "ERROR: Access is denied.\r\n")})
    with pytest.raises(TaskRegistrationError) as err:
        WindowsTask(runner=stand_in, user=USER).register(lambda user: PASSWORD)
    assert str(err.value) == (f"Windows Task Scheduler could not register the task {TASK_NAME}: Access is denied "
                              "(start the Integration Client once with Run as administrator to change the task).")
    assert PASSWORD not in str(err.value)
    assert not Path(stand_in.xml_path).exists()


def test_facade_picks_the_platform_backend_via_windows_only_schtasks_stand_in(monkeypatch):
    from ic.scheduling.task_cron import CronTask

    assert isinstance(facade.backend(), CronTask if sys.platform != "win32" else WindowsTask)
    monkeypatch.setattr(sys, "platform", "win32")
    stand_in = SchtasksStandIn()
    assert facade.status(runner=stand_in).state == "not installed"
    assert stand_in.calls == [["schtasks", "/Query", "/TN", TASK_NAME, "/XML", "ONE"]]


def test_settings_db_saved_by_the_dialog_needs_no_argument_via_windows_only_schtasks_stand_in():
    """A URL with a password that the Settings Database dialog saved (encrypted bootstrap.json) is found by the task
    itself: nothing about it goes into the task definition."""
    from ic.settings import bootstrap

    url = "postgresql+psycopg://ic:S3cret-pw@db.example.com/icsettings"
    bootstrap.write_url(url)
    stand_in = SchtasksStandIn()
    WindowsTask(runner=stand_in, settings_url=url, user=USER).register()
    root = _parse(stand_in.created_xml)
    assert _text(root, "t:Actions/t:Exec/t:Arguments").endswith(" scheduler")
    assert "--settings" not in _text(root, "t:Actions/t:Exec/t:Arguments")
    assert "S3cret-pw".encode("utf-16-le") not in stand_in.created_xml


def test_stop_asks_the_scheduler_through_the_settings_database_first_via_windows_only_schtasks_stand_in(
        store, monkeypatch):
    """`task stop` / the window's Stop: a stop request in the settings database ends the process cleanly; schtasks
    /End (TerminateProcess) only if it is still up after the wait."""
    from datetime import datetime, timezone

    from ic.scheduling import heartbeat

    monkeypatch.setattr(sys, "platform", "win32")
    stand_in = SchtasksStandIn()
    task = WindowsTask(runner=stand_in, user=USER)
    task.register()
    me = heartbeat.this_host_id()
    now = datetime.now(timezone.utc)
    heartbeat.beat(store, me, now=now, started=now, pid=1234)
    stand_in.calls.clear()
    monkeypatch.setattr(facade, "backend", lambda runner=None, settings_url=None, **kw: task)
    facade.stop(store=store, wait_seconds=0)  # still running after the wait: ended by force
    assert heartbeat.stop_requested(store, me)
    assert ["schtasks", "/End", "/TN", TASK_NAME] in stand_in.calls
    heartbeat.beat(store, me, now=now, state="stopped")  # it stopped cleanly
    stand_in.calls.clear()
    facade.stop(store=store, wait_seconds=5)
    assert ["schtasks", "/Change", "/TN", TASK_NAME, "/DISABLE"] in stand_in.calls
    assert ["schtasks", "/End", "/TN", TASK_NAME] not in stand_in.calls
