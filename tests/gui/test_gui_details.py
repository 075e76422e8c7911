"""The small things a new user trips over, driven through the real windows: a new SQLite file can be chosen,
messages never go stale, nothing jumps, disabled buttons look disabled, the advanced settings stay out of the way
(and every bad value is named), the log reads as sentences, the About box says what the program is."""
from __future__ import annotations

import logging

import pytest

from ic.gui.testing import pump, screenshot, type_text
from tests.helpers import open_connection_builder

pytestmark = pytest.mark.usefixtures("xvfb")


def test_browse_for_an_sqlite_file_offers_a_new_file_with_a_db_filter(app, monkeypatch, tmp_path):
    # Tk's own file dialog is replaced by a recorder here: its look is the platform's, not ours
    from tkinter import filedialog

    asked = {}

    def save_as(**kw):
        asked.update(kw)
        return str(tmp_path / "new-archive.db")

    monkeypatch.setattr(filedialog, "asksaveasfilename", save_as)
    monkeypatch.setattr(filedialog, "askopenfilename", lambda **kw: pytest.fail("an Open dialog cannot make a file"))
    d, builder = open_connection_builder(app)
    builder.fields["kind"].set("SQLite file")
    builder.conn.update()
    builder.fields["path"].button.invoke()
    pump(app)
    assert asked["confirmoverwrite"] is False
    assert ("SQLite database", "*.db *.sqlite *.sqlite3") in asked["filetypes"]
    assert builder.fields["path"].get() == str(tmp_path / "new-archive.db")
    assert builder.conn.connection_string.endswith("new-archive.db")


def test_messages_go_away_once_the_field_is_fixed(app, tmp_path):
    from ic.gui.dialogs.plugin import PluginPanel

    d = app.open(PluginPanel)
    pump(app)
    d.fields["directory"].set(str(tmp_path))
    d.panel.save()
    assert d.fields["name"].error_text == "Enter a name for this destination." and d.fields["name"].marked_invalid
    assert d.panel.message.kind == "error"
    type_text(d.fields["name"], "Archive")
    pump(app)
    assert d.fields["name"].error_text == "" and not d.fields["name"].marked_invalid
    assert d.panel.save()
    # a saved SQL destination opened after a new File System form: the type and the message follow it
    from ic.settings import DestinationConfig

    d.panel.store().save_destination(DestinationConfig("Reports", "sql", {"url": f"sqlite:///{tmp_path / 'r.db'}"},
                                                       secret_fields=("url",)))
    d.panel.reload()
    d.panel.type_var.set("File System")
    d.panel.add_button.invoke()
    pump(app)
    assert d.panel.message.text.startswith("New File System destination")
    d.panel.list.select("Reports")
    pump(app)
    assert d.panel.type_var.get() == "SQL Server" and not d.panel.message.text.startswith("New")


def test_a_long_message_does_not_move_the_buttons_and_tabs_do_not_move_the_download_row(app):
    from ic.gui.dialogs.api_tester import ApiTesterPanel
    from ic.gui.dialogs.site import SitePanel

    d = app.open(SitePanel)
    pump(app)
    before = d.panel.save_button.winfo_rooty()
    d.panel.message.show("A very long sentence " * 40, "error")
    pump(app)
    assert d.panel.save_button.winfo_rooty() == before
    assert d.panel.message.shown.endswith("… (more)") and d.panel.message.text.startswith("A very long")
    t = app.open(ApiTesterPanel)
    pump(app)
    row = t.panel.download_button.winfo_rooty()
    t.panel.tabs.set("XML Files")
    pump(app)
    assert t.panel.download_button.winfo_rooty() == row
    t.panel.tabs.set("Sessions")
    pump(app)
    assert t.panel.download_button.winfo_rooty() == row


def test_disabled_buttons_look_disabled(app):
    from ic.gui.dialogs.site import SitePanel
    from ic.gui.widgets import DISABLED_FG

    d = app.open(SitePanel)
    pump(app)
    assert d.panel.delete_button.cget("state") == "disabled"  # a new site: nothing to delete
    assert d.panel.delete_button.cget("fg_color") == DISABLED_FG
    assert d.panel.save_button.cget("fg_color") != DISABLED_FG
    d.panel.save_button.configure(state="disabled")
    assert d.panel.save_button.cget("fg_color") == DISABLED_FG
    d.panel.save_button.configure(state="normal")
    assert d.panel.save_button.cget("fg_color") != DISABLED_FG


def test_engine_tuning_is_behind_advanced_and_every_bad_value_is_named(app, store):
    from ic.gui.dialogs.app_settings import AppSettingsPanel

    d = app.open(AppSettingsPanel)
    pump(app)
    p = d.panel
    assert not p.advanced_shown and not p.fields["transfer_batch_size"].widget.winfo_ismapped()
    assert p.fields["log_dir"].help_label is not None  # the help sits under its own field
    p.fields["log_removal_days"].set("soon")
    p.fields["transfer_batch_size"].set("0")
    p.fields["appliance_max_rps"].set("fast")
    assert not p.save()
    assert p.advanced_shown  # opened to show the bad values
    for key in ("log_removal_days", "transfer_batch_size", "appliance_max_rps"):
        assert p.fields[key].error_text, key
    assert "3 values need fixing" in p.message.text
    screenshot(d, "application-settings-errors")
    p.restore_defaults()
    p.fields["log_removal_days"].set("14")
    p.fields["appliance_max_rps"].set("")  # empty = the default
    assert p.save(), p.message.text
    assert store.get_setting("log_removal_days") == "14"


def test_the_log_viewer_shows_sentences_without_logger_names_or_process_ids(app):
    from ic.gui.dialogs.log_viewer import LogViewerPanel, plain_log

    assert plain_log("2026-12-03 08:00:01,123 ERROR   [4242] ic.transfer: Cannot find x: check the host.") == (
        "2026-12-03 08:00:01  Error: Cannot find x: check the host.")
    logging.getLogger("ic.gui").warning("a line from the window")
    d = app.open(LogViewerPanel)
    pump(app)
    text = d.panel.text("app")
    assert "Warning: a line from the window" in text
    assert "[" not in text.splitlines()[-1] and "ic.gui:" not in text
    assert d.panel.message.text == ""  # no "Refreshed." on open
    assert d.panel.texts["app"].cget("wrap") == "word"
    d.panel.refresh_button.invoke()
    pump(app)
    assert d.panel.message.text.startswith("Refreshed at ")


def test_about_says_what_the_program_is_and_where_its_settings_are(app, store):
    box = app.show_about()
    pump(app)
    assert "Copies BeyondTrust" in box.text and store.url.split("///", 1)[-1] in box.text
    assert box.title() == "About Integration Client"
    screenshot(box, "about")
    box.buttons["OK"].invoke()


def test_the_delete_question_warns_and_enter_does_not_delete(app, store):
    from ic.gui.dialogs.site import SitePanel
    from ic.gui.testing import press
    from ic.settings import SiteConfig

    store.save_site(SiteConfig("Keep", "keep.example.com", "id"), client_secret="x")
    d = app.open(SitePanel, select="Keep")
    pump(app)
    d.panel.delete_button.invoke()
    pump(app)
    box = d.panel.confirm
    assert box.kind == "warning" and box.icon.cget("text") == "⚠" and box.default == "Cancel"
    press(box, "Return")
    pump(app)
    assert [s.name for s in store.list_sites()] == ["Keep"]


def test_the_menu_bar_follows_dark_mode(app):
    import customtkinter as ctk

    try:
        ctk.set_appearance_mode("dark")
        pump(app)
        assert str(app.menubar.cget("background")) == "#2b2b2b"
        assert str(app.menus["Setup"].cget("background")) == "#2b2b2b"
    finally:
        ctk.set_appearance_mode("light")
        pump(app)
    assert str(app.menubar.cget("background")) == "#f0f0f0"


def test_plugin_test_is_enabled_again_after_a_failed_test(app, tmp_path):
    from ic.gui.dialogs.plugin import PluginPanel

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    d = app.open(PluginPanel)
    pump(app)
    d.fields["name"].set("Files")
    d.fields["directory"].set(str(blocker / "sub"))  # a folder inside a file cannot exist
    d.panel.test_button.invoke()
    assert pump(app, lambda: not d.panel.busy, timeout=60)
    assert d.panel.message.kind == "error", d.panel.message.text
    assert d.fields["directory"].error_text  # the failure is shown at the field too
    assert d.panel.test_button.cget("state") == "normal"
    type_text(d.fields["directory"], str(tmp_path / "good"))
    d.panel.test_button.invoke()
    assert pump(app, lambda: not d.panel.busy, timeout=60)
    assert d.panel.message.kind == "ok", d.panel.message.text


def test_escape_in_the_connection_builder_asks_before_dropping_typed_details(app):
    from ic.gui.testing import press

    d, builder = open_connection_builder(app)
    press(builder, "Escape")  # nothing typed: closes at once
    pump(app)
    assert not builder.winfo_exists()
    d.fields["url"].button.invoke()
    pump(app)
    builder = d.panel.connection_dialog
    builder.fields["kind"].set("PostgreSQL")
    builder.fields["server"].set("db.example.com")
    builder.fields["database"].set("ic")
    builder.fields["username"].set("ic")
    press(builder, "Escape")
    pump(app)
    assert builder.winfo_exists() and builder.unsaved_prompt.winfo_exists()
    builder.unsaved_prompt.buttons["Save"].invoke()  # = use them
    pump(app)
    assert not builder.winfo_exists(), builder.message.text
    assert d.fields["url"].get().startswith("postgresql+psycopg://") and "db.example.com" in d.fields["url"].get()


def test_a_scheduler_installed_but_not_running_is_not_reported_in_green_os_scheduler_stand_in(app,
                                                                                             monkeypatch):
    # the OS scheduler is replaced by a stand-in (installing would edit this machine's crontab)
    from ic.gui import services_adapter
    from ic.gui.dialogs.app_settings import AppSettingsPanel

    state = {"now": ("not installed", "")}
    monkeypatch.setattr(services_adapter, "scheduler_state", lambda: state["now"])

    def register(action, url=None, password=None):
        state["now"] = ("stopped", "the cron daemon is not running")
        return "Scheduler installed: it runs every minute. Note: the cron daemon is not running."

    monkeypatch.setattr(services_adapter, "scheduler_action", register)
    d = app.open(AppSettingsPanel)
    pump(app)
    p = d.panel
    p.ask_logon = False
    assert pump(app, lambda: p.status_known, timeout=30)
    p.scheduler_buttons["register"].invoke()
    assert pump(app, lambda: p.status == "stopped" and p.status_known and not p.busy, timeout=30)
    pump(app)
    assert p.message.kind == "warn", (p.message.kind, p.message.text)
    assert "installed but stopped" in p.message.text and "cron daemon" in p.message.text
