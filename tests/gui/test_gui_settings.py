"""Application Settings, Notification Settings (Send Test to a real SMTP server), Log File viewer, error display
and the Enter/Escape keys, driven through the real windows."""
from __future__ import annotations

import logging

import pytest

from ic.gui.testing import press, pump, screenshot

pytestmark = pytest.mark.usefixtures("xvfb")


def test_application_settings_saved_and_reopened(app, store, tmp_path):
    from ic.gui.dialogs.app_settings import AppSettingsPanel

    d = app.open(AppSettingsPanel)
    pump(app)
    d.fields["log_dir"].set(str(tmp_path / "logs"))
    d.fields["log_removal_days"].set("14")
    screenshot(d, "application-settings")
    d.panel.save_button.invoke()
    pump(app)
    assert d.panel.message.text == "Application settings saved.", d.panel.message.text
    assert store.get_setting("log_removal_days") == "14"
    d.close()
    d = app.open(AppSettingsPanel)
    pump(app)
    assert d.fields["log_dir"].get() == str(tmp_path / "logs")
    assert d.fields["log_removal_days"].get() == "14"
    d.fields["log_removal_days"].set("soon")
    assert not d.panel.save()
    assert "whole number" in d.fields["log_removal_days"].error_text
    assert store.get_setting("log_removal_days") == "14"


def test_scheduler_buttons_follow_the_status(app):
    from ic.gui.dialogs.app_settings import AppSettingsPanel

    p = app.open(AppSettingsPanel).panel
    assert pump(app, lambda: p.status_known, timeout=30)
    assert p.status in ("running", "stopped", "not installed", "unknown")
    states = {}
    for status in ("running", "stopped", "not installed"):
        p.status = status
        p.commands.refresh()
        states[status] = {a: b.cget("state") for a, b in p.scheduler_buttons.items()}
    assert states["running"] == {"start": "disabled", "stop": "normal", "register": "disabled", "unregister": "normal"}
    assert states["stopped"] == {"start": "normal", "stop": "disabled", "register": "disabled", "unregister": "normal"}
    assert states["not installed"] == {"start": "disabled", "stop": "disabled", "register": "normal",
                                       "unregister": "disabled"}


def test_notification_settings_saved_and_send_test_reaches_the_smtp_server(app, store, plain_smtp):
    from ic.gui.dialogs.notify import NotifyPanel

    ctl, inbox = plain_smtp
    d = app.open(NotifyPanel)
    pump(app)
    f = d.fields
    f["enabled"].set(True)
    f["host"].set("127.0.0.1")
    f["port"].set("abc")
    f["security"].set("None")
    f["sender"].set("ic@example.com")
    f["recipients"].set("ops@example.com, admin@example.com")
    assert not d.panel.save()
    assert "port" in f["port"].error_text.lower()
    f["port"].set(str(ctl.port))
    f["username"].set("")
    f["password"].set("mail-secret-1")
    screenshot(d, "notification-settings")
    d.panel.test_button.invoke()
    assert pump(app, lambda: d.panel.last_test is not None, timeout=30), d.panel.message.text
    assert d.panel.last_test.ok, d.panel.last_test.message
    assert len(inbox.messages) == 1 and inbox.messages[0][1] == ["ops@example.com", "admin@example.com"]
    d.close()
    d = app.open(NotifyPanel)
    pump(app)
    assert d.fields["host"].get() == "127.0.0.1" and d.fields["port"].get() == str(ctl.port)
    assert d.fields["security"].get() == "None" and d.fields["enabled"].get() is True
    assert d.fields["password"].get() == ""
    assert d.fields["password"].widget.cget("placeholder_text") == "(saved — type to replace)"
    assert store.get_setting("notify.password") != "mail-secret-1"


def test_log_file_viewer_shows_both_logs_and_refreshes(app, store):
    from ic.gui.dialogs.log_viewer import LogViewerPanel
    from ic.logs import log_files

    logging.getLogger("ic.gui").warning("first line from the window")
    d = app.open(LogViewerPanel)
    pump(app)
    assert [d.panel.tabs._segmented_button._buttons_dict.keys()] and d.panel.tabs.get() == "IC Log"
    assert "first line from the window" in d.panel.text("app")
    logging.getLogger("ic.gui").warning("second line")
    service = log_files(store)["service"]
    service.parent.mkdir(parents=True, exist_ok=True)
    service.write_text("2024-01-01 00:00:00 INFO tick: nothing due\n")
    d.panel.refresh_button.invoke()
    pump(app)
    assert "second line" in d.panel.text("app")
    assert "nothing due" in d.panel.text("service")
    d.panel.tabs.set("Service Log")
    screenshot(d, "log-file")
    # the main window's Log File button opens the same single window
    app.main.log_button.invoke()
    pump(app)
    assert app.ctx.dialogs[LogViewerPanel] is d


def test_an_unexpected_error_is_one_sentence_in_the_window_and_a_traceback_in_the_log(app, store, caplog):
    import customtkinter as ctk

    from ic.errors import ConfigError

    def broken():
        raise KeyError("internal detail")

    button = ctk.CTkButton(app.main, text="x", command=broken)
    button.pack()
    with caplog.at_level(logging.ERROR, logger="ic.gui"):
        click(app, button)
    assert app.last_error == "Something unexpected went wrong (KeyError); the details are in the IC log."
    assert app.error_box.winfo_exists() and app.error_box.text == app.last_error
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)
    screenshot(app.error_box, "error-message")
    app.error_box.buttons["OK"].invoke()
    pump(app)

    def expected():
        raise ConfigError("Enter the host for site Main.")

    other = ctk.CTkButton(app.main, text="y", command=expected)
    other.pack()
    click(app, other)
    assert app.last_error == "Enter the host for site Main."
    app.error_box.buttons["OK"].invoke()


def click(app, button) -> None:
    """A real mouse release on the button (through Tk, so Tk's error hook sees what the command raises)."""
    pump(app, lambda: button.winfo_viewable())
    button._canvas.event_generate("<Enter>", x=5, y=5)
    button._canvas.event_generate("<ButtonRelease-1>", x=5, y=5)
    pump(app)


def test_escape_closes_every_dialog(app):
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.gui.dialogs.app_settings import AppSettingsPanel
    from ic.gui.dialogs.log_viewer import LogViewerPanel
    from ic.gui.dialogs.notify import NotifyPanel
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.dialogs.settings_db import SettingsDbPanel
    from ic.gui.dialogs.site import SitePanel

    for panel in (SitePanel, PluginPanel, SchedulePanel, AppSettingsPanel, NotifyPanel, LogViewerPanel,
                  ApiTesterPanel, SettingsDbPanel):
        d = app.open(panel)
        pump(app)
        press(d, "Escape")
        pump(app)
        assert not d.winfo_exists(), panel.__name__
        assert panel not in app.ctx.dialogs


def test_menus_hold_the_guides_commands(app):
    def labels(menu):
        m = app.menus[menu]
        return [m.entrycget(i, "label") for i in range(m.index("end") + 1) if m.type(i) == "command"]

    assert labels("Setup")[:4] == ["Settings Database…", "Site Configuration…", "Plugin Configuration…",
                                   "Schedule Configuration…"]
    assert {"Application Settings…", "Notification Settings…"} <= set(labels("Setup"))
    assert labels("Tools") == ["API Tester…", "Log File…"]
    from ic.gui.dialogs.site import SitePanel

    app.ctx.commands["sites"].run()
    pump(app)
    assert SitePanel in app.ctx.dialogs
    assert app._ic_icon.width() >= 16  # the program's icon, not customtkinter's


def test_enter_saves_in_the_configuration_dialogs(app, store, tmp_path):
    from ic.gui.dialogs.app_settings import AppSettingsPanel
    from ic.gui.dialogs.notify import NotifyPanel
    from ic.gui.dialogs.plugin import PluginPanel
    from ic.gui.dialogs.schedule import SchedulePanel
    from ic.gui.dialogs.settings_db import SettingsDbPanel

    d = app.open(PluginPanel)
    pump(app)
    d.fields["name"].set("Keyed")
    d.fields["directory"].set(str(tmp_path))
    press(d, "Return")
    pump(app)
    assert [x.name for x in store.list_destinations()] == ["Keyed"]

    from ic.settings import SiteConfig

    store.save_site(SiteConfig("S", "s.example.com", "id"), client_secret="x")
    d = app.open(SchedulePanel)
    pump(app)
    d.fields["name"].set("By keyboard")
    d.panel.reload()
    d.panel.add_transfer()
    d.fields["name"].set("By keyboard")
    press(d, "Return")
    pump(app)
    assert [x.name for x in store.list_schedules()] == ["By keyboard"]

    d = app.open(AppSettingsPanel)
    pump(app)
    d.fields["log_removal_days"].set("7")
    press(d, "Return")
    pump(app)
    assert store.get_setting("log_removal_days") == "7"

    d = app.open(NotifyPanel)
    pump(app)
    d.fields["host"].set("mail.example.com")
    d.fields["sender"].set("ic@example.com")
    d.fields["recipients"].set("ops@example.com")
    press(d, "Return")
    pump(app)
    assert store.get_setting("notify.host") == "mail.example.com", d.panel.message.text

    d = app.open(SettingsDbPanel)
    pump(app)
    press(d, "Return")
    pump(app)
    assert d.panel.message.kind == "ok", d.panel.message.text


def test_windows_install_prompt_asks_for_the_password_only_to_run_when_logged_off(app):
    from ic.gui.dialogs.app_settings import InstallPrompt

    chosen = []
    prompt = InstallPrompt(app, "CORP\\svc-ic", chosen.append)
    pump(app)
    prompt.install_button.invoke()
    assert chosen == [None]  # only while logged on: no password
    prompt = InstallPrompt(app, "CORP\\svc-ic", chosen.append)
    prompt.mode.set("always")
    prompt.install_button.invoke()
    assert prompt.winfo_exists() and "password" in prompt.error.cget("text")
    prompt.password.insert(0, "W1ndows-pw")
    screenshot(prompt, "install-scheduler")
    prompt.install_button.invoke()
    assert chosen == [None, "W1ndows-pw"] and not prompt.winfo_exists()


def test_an_error_during_run_now_is_mailed(app, store, plain_smtp, tmp_path):
    from ic.services import app_settings
    from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

    ctl, inbox = plain_smtp
    app_settings.update_notification_settings(store, host="127.0.0.1", port=ctl.port, security="none",
                                              sender="ic@example.com", to="ops@example.com", enabled=True)
    store.save_site(SiteConfig("Main", "main.invalid", "id"), client_secret="x")  # .invalid never resolves
    store.save_destination(DestinationConfig("Gone", "folder", {"directory": str(tmp_path / "missing")}))
    store.save_schedule(ScheduleConfig("Broken", 3600, [TransferConfig("Main", "Gone", ["session"])]))
    app.main.refresh()
    app.main.schedules.select("Broken")
    pump(app)
    app.main.run_button.invoke()
    assert pump(app, lambda: not app.main.run_worker.running, timeout=120)
    assert app.main.message.kind == "error" and "Gone" in app.main.message.text, app.main.message.text
    inbox_ok = pump(app, lambda: len(inbox.messages) >= 1, timeout=30)
    assert inbox_ok and inbox.messages[0][1] == ["ops@example.com"]
    assert app.main.schedules.row("Broken")[5].startswith("Failed")
