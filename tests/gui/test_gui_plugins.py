"""Plugin Configuration through the real window: generated fields, validation next to the field, SQL builder."""
from __future__ import annotations

import pytest

from ic.gui.testing import pump, screenshot, type_text

pytestmark = pytest.mark.usefixtures("xvfb")


def open_plugins(app):
    from ic.gui.dialogs.plugin import PluginPanel

    d = app.open(PluginPanel)
    pump(app)
    return d


def delete(app, d, name):
    """Select destination ``name``, press Delete and confirm."""
    d.panel.list.select(name)
    pump(app)
    d.panel.delete_button.invoke()
    pump(app)
    d.panel.confirm.buttons["Delete"].invoke()
    pump(app)


def add(d, label):
    d.panel.type_var.set(label)
    d.panel.add_button.invoke()


def test_type_dropdown_lists_the_installed_plugins(app):
    d = open_plugins(app)
    labels = d.panel.type_menu.cget("values")
    assert "File System" in labels and "SQL Server" in labels


def test_file_system_destination_saved_and_reopened(app, store, tmp_path):
    d = open_plugins(app)
    add(d, "File System")
    pump(app)
    assert set(d.fields) >= {"name", "directory", "conflict", "name_format", "retention", "download_format"}
    d.fields["name"].set("Archive")
    d.fields["directory"].set(str(tmp_path / "out"))
    d.fields["conflict"].set("Skip")
    d.fields["retention"].set("5")
    d.panel.save_button.invoke()
    pump(app)
    assert d.panel.message.text == "Destination Archive saved.", d.panel.message.text
    saved = store.get_destination("Archive")
    assert saved.type == "folder"
    assert saved.config["directory"] == str(tmp_path / "out")
    assert saved.config["conflict"] == "Skip" and saved.config["retention"] == 5
    d.close()
    d = open_plugins(app)
    d.panel.list.select("Archive")
    pump(app)
    assert d.fields["conflict"].get() == "Skip"
    assert d.fields["retention"].get() == "5"
    screenshot(d, "plugin-configuration")


def test_unknown_replacement_value_is_shown_next_to_the_field_while_typing(app, store, tmp_path):
    d = open_plugins(app)
    add(d, "File System")
    d.fields["name"].set("Files")
    d.fields["directory"].set(str(tmp_path))
    type_text(d.fields["name_format"], "%LSID%-%BOGUS%.%EXTENSION%")
    pump(app)
    assert "%BOGUS%" in d.fields["name_format"].error_text
    assert d.fields["directory"].error_text == ""
    screenshot(d, "plugin-configuration-error")
    d.panel.save()
    pump(app)
    assert store.list_destinations() == []
    type_text(d.fields["name_format"], "%LSID%.%EXTENSION%")
    pump(app)
    assert d.fields["name_format"].error_text == ""
    assert d.panel.save()


def test_sql_destination_built_with_the_connection_dialog_keeps_the_password_hidden(app, store, tmp_path):
    d = open_plugins(app)
    add(d, "SQL Server")
    pump(app)
    d.fields["name"].set("Warehouse")
    d.fields["url"].button.invoke()  # the [...] button
    pump(app)
    builder = d.panel.connection_dialog
    builder.fields["kind"].set("PostgreSQL")
    builder.fields["server"].set("db.example.com:5433")
    builder.fields["database"].set("ic_data")
    builder.fields["username"].set("ic")
    type_text(builder.fields["password"], "p@ss word")
    pump(app)
    shown = builder.conn.connection_string
    assert shown.startswith("postgresql+psycopg://ic:***@db.example.com:5433/ic_data")
    screenshot(builder, "connection-string")
    builder.ok_button.invoke()
    pump(app)
    assert "p@ss" not in d.fields["url"].widget.get()  # the box shows *** for the password
    assert "p%40ss" in d.fields["url"].get() or "p@ss" in d.fields["url"].get()
    assert d.panel.save(), d.panel.message.text
    saved = store.get_destination("Warehouse", reveal=True)
    assert saved.config["url"].startswith("postgresql+psycopg://ic:")
    assert saved.type == "sql"
    d.panel.list.select("Warehouse")
    pump(app)
    # a saved connection string is shown (its password as ***), and [...] opens the builder filled in
    assert d.fields["url"].widget.get() == "postgresql+psycopg://ic:***@db.example.com:5433/ic_data"
    assert d.panel.type_var.get() == "SQL Server" and not d.panel.message.text.startswith("New")
    d.fields["url"].button.invoke()
    pump(app)
    again_builder = d.panel.connection_dialog
    assert again_builder.fields["server"].get() == "db.example.com:5433"
    assert again_builder.fields["database"].get() == "ic_data"
    again_builder.destroy()
    # a second save without retyping keeps the stored connection string
    d.fields["system_info"].set(True)
    assert d.panel.save(), d.panel.message.text
    again = store.get_destination("Warehouse", reveal=True)
    assert again.config["url"] == saved.config["url"] and again.config["system_info"] is True


def test_a_saved_sqlite_destination_shows_its_path_and_the_form_opens_on_the_existing_ones(app, store, tmp_path):
    from ic.settings import DestinationConfig

    path = tmp_path / "reports.db"
    store.save_destination(DestinationConfig("Local DB", "sql", {"url": f"sqlite:///{path}"}, secret_fields=("url",)))
    d = open_plugins(app)
    assert d.panel.current is not None and d.panel.current.name == "Local DB"  # not a blank form
    assert d.fields["url"].widget.get() == f"sqlite:///{path}"
    d.fields["url"].button.invoke()
    pump(app)
    assert d.panel.connection_dialog.fields["path"].get() == str(path)
    assert d.panel.connection_dialog.fields["kind"].get() == "SQLite file"


def test_connection_dialog_missing_server_is_shown_next_to_the_field(app):
    d = open_plugins(app)
    add(d, "SQL Server")
    d.fields["url"].button.invoke()
    pump(app)
    builder = d.panel.connection_dialog
    d.fields["url"].button.invoke()
    assert d.panel.connection_dialog is builder  # one builder at a time
    builder.fields["kind"].set("SQL Server")
    builder.fields["database"].set("x")
    builder.ok_button.invoke()
    pump(app)
    assert "server" in builder.fields["server"].error_text.lower()
    assert builder.winfo_exists()


def test_test_button_checks_a_folder_destination(app, tmp_path):
    d = open_plugins(app)
    add(d, "File System")
    d.fields["name"].set("T")
    d.fields["directory"].set(str(tmp_path / "t"))
    d.panel.test_button.invoke()
    assert pump(app, lambda: not d.panel.busy, timeout=30)
    assert d.panel.message.kind == "ok", d.panel.message.text


def test_third_party_plugin_appears_with_generated_fields(app, monkeypatch):
    from ic.destinations import registry

    monkeypatch.setitem(registry._BUILTIN, "jsonl_test", "tests.gui.test_gui_plugins:JsonLinesForTest")
    d = open_plugins(app)
    assert "JSON Lines (test)" in d.panel.type_menu.cget("values")
    add(d, "JSON Lines (test)")
    pump(app)
    assert {"path", "token", "pretty"} <= set(d.fields)
    d.fields["name"].set("J")
    d.panel.save()
    pump(app)
    assert "Output file is required." == d.fields["path"].error_text


from ic.destinations.base import Destination, FieldSpec  # noqa: E402


class JsonLinesForTest(Destination):
    """A tiny third-party plugin: only its fields matter for the form."""

    type_name = "jsonl_test"
    display_name = "JSON Lines (test)"

    @classmethod
    def fields(cls):
        return [FieldSpec("path", "Output file", "text", required=True),
                FieldSpec("token", "API token", "password", secret=True),
                FieldSpec("pretty", "Pretty print", "bool", default=False)]

    def test(self):
        return "ok"

    def store_sessions(self, site_host, sessions):
        return 0


def test_delete_destination_asks_clears_the_form_and_refuses_one_in_use(app, store, tmp_path):
    from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

    store.save_destination(DestinationConfig("Old", "folder", {"directory": str(tmp_path / "old")}))
    store.save_destination(DestinationConfig("Busy", "folder", {"directory": str(tmp_path / "busy")}))
    store.save_site(SiteConfig("S", "s.example.com", "id"), client_secret="x")
    store.save_schedule(ScheduleConfig("Nightly", 86400, [TransferConfig("S", "Busy", ["session"])]))
    d = open_plugins(app)
    delete(app, d, "Old")
    assert [x.name for x in store.list_destinations()] == ["Busy"]
    assert d.panel.message.text == "Destination Old deleted."
    assert d.panel.list.keys() == ["Busy"] and d.panel.current.name == "Busy"  # the form shows what is left
    delete(app, d, "Busy")
    assert "used by a schedule" in d.panel.message.text
    assert [x.name for x in store.list_destinations()] == ["Busy"]
