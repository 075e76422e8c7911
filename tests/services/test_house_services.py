"""One typed services layer (issue 12): the CLI and the GUI save, test and remove through ic.services, which decides
validation and secret handling from what each plugin declares. Real settings DB, real SQLite, real folders, the
simulator over HTTPS for the API Tester's orchestration."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ic.cli import run_cli
from ic.destinations.base import Destination, FieldSpec
from ic.destinations.registry import secret_fields_of
from ic.errors import ConfigError
from ic.services import destinations as dest_service
from ic.services.results import TestResult
from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

DATA = Path(__file__).parents[1] / "data"
PASSWORD = "Tr0ub4dor&3-house"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- destination edit on the command line -----------------------------------------------------------------------
def test_destination_edit_changes_only_what_is_given(capsys, tmp_path, store):
    assert cli(capsys, "destination", "add", "Files", "--type", "folder", "--dir", str(tmp_path / "a"))[0] == 0
    code, out, err = cli(capsys, "destination", "edit", "Files", "--conflict", "Overwrite", "--retention", "5")
    assert (code, out.strip()) == (0, "Destination Files saved (File System)."), err
    config = store.get_destination("Files").config
    assert config["directory"] == str(tmp_path / "a") and config["conflict"] == "Overwrite" and config["retention"] == 5
    assert cli(capsys, "destination", "edit", "Files", "--rename", "Archive")[0] == 0
    assert [d.name for d in store.list_destinations()] == ["Archive"]
    code, _, err = cli(capsys, "destination", "edit", "Archive")
    assert code == 1 and "Nothing to change for destination Archive" in err
    code, _, err = cli(capsys, "destination", "edit", "Archive", "--url", "sqlite:///x.db")
    assert code == 1 and "has no connection string" in err
    code, _, err = cli(capsys, "destination", "edit", "Nope", "--retention", "1")
    assert code == 1 and "no destination named 'Nope'" in err


def test_destination_edit_keeps_the_stored_connection_string(capsys, monkeypatch, tmp_path, store):
    first = f"sqlite:///{tmp_path / 'one.db'}"
    monkeypatch.setenv("IC_URL", first)
    assert cli(capsys, "destination", "add", "DB", "--type", "sql", "--url-env", "IC_URL", "--system-info")[0] == 0
    code, _, err = cli(capsys, "destination", "edit", "DB", "--no-system-info")
    assert code == 0, err
    saved = store.get_destination("DB")
    assert saved.config == {"url": first, "system_info": False} and saved.secret_fields == ("url",)
    monkeypatch.setenv("IC_URL", f"postgresql+psycopg://u:{PASSWORD}@db.example.com/ic")
    code, out, err = cli(capsys, "destination", "edit", "DB", "--url-env", "IC_URL")
    assert code == 0 and PASSWORD not in out + err
    assert store.get_destination("DB").config["url"].endswith(f"{PASSWORD}@db.example.com/ic")
    assert PASSWORD not in cli(capsys, "destination", "list")[1]


def test_edit_cannot_point_storage_at_the_settings_database(capsys, store):
    assert cli(capsys, "destination", "add", "DB", "--type", "sql", "--url", "sqlite:///elsewhere.db")[0] == 0
    code, _, err = cli(capsys, "destination", "edit", "DB", "--url", store.url)
    assert code == 1 and "points at the settings database" in err


# --- secrets and normalising decided once, from the plugin's fields ---------------------------------------------------
class _Vault(Destination):
    type_name = "vault"
    display_name = "Vault"

    @classmethod
    def fields(cls) -> list[FieldSpec]:
        return [FieldSpec("user", "User", required=True), FieldSpec("token", "Token", kind="password", required=True),
                FieldSpec("dsn", "Database", kind="connection_string")]

    def test(self) -> str:
        return "ok"

    def store_sessions(self, site_host, sessions) -> int:
        return 0


def test_password_fields_are_secret_even_when_not_marked():
    assert secret_fields_of(_Vault) == ("token",)


def test_edit_keeps_a_secret_left_empty_and_prepare_normalises_connection_strings(monkeypatch, store, tmp_path):
    monkeypatch.setattr("ic.services.destinations.plugin_class", lambda name: _Vault)
    monkeypatch.setattr("ic.services.destinations.available_types", lambda: {"vault": _Vault})
    monkeypatch.chdir(tmp_path)
    saved = dest_service.save_destination(store, "V", "vault", {"user": "u", "token": PASSWORD, "dsn": "sqlite:///r.db"})
    assert saved.secret_fields == ("token",) and PASSWORD not in str(saved.config)
    assert store.get_destination("V").config["dsn"] == f"sqlite:///{tmp_path / 'r.db'}"  # made absolute
    dest_service.save_destination(store, "V", "vault", {"user": "u2", "token": ""}, id=saved.id)
    again = store.get_destination("V")
    assert again.config["token"] == PASSWORD and again.config["user"] == "u2"
    with pytest.raises(ConfigError, match="Token is required") as err:
        dest_service.save_destination(store, "W", "vault", {"user": "u", "token": ""})
    assert err.value.field == "token"
    assert dest_service.describe(store, again).count("***") == 1 and PASSWORD not in dest_service.describe(store, again)


def test_gui_and_cli_save_through_the_same_service(monkeypatch, store, tmp_path):
    from ic.gui import services_adapter as gui

    seen = []
    real = dest_service.save_destination
    monkeypatch.setattr(dest_service, "save_destination", lambda *a, **k: seen.append("service") or real(*a, **k))
    odbc = "DRIVER={SQLite3};SERVER=s;DATABASE=d"  # an old ODBC string: stored as a URL by both front ends
    gui.save_destination(store, DestinationConfig("O", "sql", {"url": odbc}))
    assert store.get_destination("O").config["url"].startswith("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BSQLite3")
    assert run_cli(["destination", "add", "C", "--type", "folder", "--dir", str(tmp_path / "c")]) == 0
    gui.save_destination(store, DestinationConfig("G", "folder", {"directory": str(tmp_path / "g")}))
    assert seen == ["service", "service", "service"]


def test_the_destination_test_result_is_the_one_type(store, tmp_path):
    from ic.gui import services_adapter as gui
    from ic.services import app_settings, sites

    assert sites.TestResult is app_settings.TestResult is gui.TestResult is TestResult
    assert not hasattr(gui, "Outcome") and not hasattr(gui, "NotAvailable")
    dest_service.save_destination(store, "F", "folder", {"directory": str(tmp_path / "f")})
    assert dest_service.test_destination(store, "F").ok
    missing = dest_service.test_destination(store, "Nope")
    assert not missing.ok and "no destination named 'Nope'" in missing.message


def test_a_failed_site_test_names_its_field_from_the_error_type(store):
    from ic.services.sites import test_site_config

    site = SiteConfig("Down", "127.0.0.1:9", "cid")
    result = test_site_config(site, "secret", store, max_retries=0, base_delay=0.01, timeout=3)
    assert not result.ok and result.field == "host"
    assert test_site_config(SiteConfig("Bad", "https://x", "cid"), "s", store).field == "host"


# --- schedules: the plugin's capabilities ---------------------------------------------------------------------------
def test_schedule_service_refuses_files_for_a_database_and_the_cli_uses_it(capsys, store, tmp_path):
    from ic.services.schedules import add_transfer, remove_transfer, save_schedule

    store.save_site(SiteConfig("s", "h.example.com", "cid"), client_secret="x")
    dest_service.save_destination(store, "DB", "sql", {"url": f"sqlite:///{tmp_path / 'db.db'}"})
    dest_service.save_destination(store, "F", "folder", {"directory": str(tmp_path / "f")})
    with pytest.raises(ConfigError, match="Destination DB is a database: recordings and backups"):
        save_schedule(store, ScheduleConfig("n", 3600, [TransferConfig("s", "DB", ["session", "smsr"])]))
    save_schedule(store, ScheduleConfig("n", 3600, [TransferConfig("s", "DB", ["session"])]))
    assert len(add_transfer(store, "n", TransferConfig("s", "F", ["recordings"])).transfers) == 2
    assert len(remove_transfer(store, "n", "s", "DB").transfers) == 1
    code, _, err = cli(capsys, "schedule", "add-transfer", "n", "--site", "s", "--destination", "DB",
                       "--data", "session,backup")
    assert code == 1 and "is a database" in err


# --- the API Tester's orchestration, reachable without a window -------------------------------------------------------
def test_api_tester_export_and_xml_recordings_without_the_gui(store, simulator, tmp_path):
    from ic.services import api_tester

    store.save_site(SiteConfig("sim", simulator.host, simulator.client_id, simulator.ca_file, "rs"),
                    client_secret=simulator.client_secret)
    dest_service.save_destination(store, "DB", "sql", {"url": f"sqlite:///{tmp_path / 'db.db'}"})
    dest_service.save_destination(store, "F", "folder", {"directory": str(tmp_path / "f")})
    lsid = next(s for s in simulator.sessions if s.has_recording and not s.in_progress).lsid
    events: list = []
    lines = api_tester.export_many(store, sites=["sim"], destinations=["DB", "F"], data_types=["session", "recordings"],
                                   lsid=lsid, progress=events.append, cancel=threading.Event())
    assert lines[0].startswith("sim -> DB: 1 session(s)") and lines[-1].startswith("sim -> F: 1 session(s), 1 file(s)")
    assert any(isinstance(e, api_tester.JobLine) for e in events)
    xml = tmp_path / "one.xml"
    xml.write_bytes(b'<session_list xmlns="http://www.bomgar.com/namespaces/API/reporting">'
                    + simulator.session_xml(lsid) + b"</session_list>")
    lines = api_tester.import_xml_many(store, files=[str(xml)], site="sim", destinations=["DB", "F"],
                                       data_types=["recordings"], progress=events.append, cancel=threading.Event())
    assert lines == ["sim -> DB: recordings and backups skipped (a database takes session data only).",
                     # the export above stored the same recording: it is there, byte for byte, and said so
                     "sim -> F: 0 recording file(s) for 1 session(s), 1 kept (already there)."]
    assert len([p for p in os.listdir(tmp_path / "f") if p.endswith(".flv")]) >= 1


def test_edit_schedule_changes_only_what_is_given(store, tmp_path):
    from ic.services.schedules import edit_schedule, save_schedule

    store.save_site(SiteConfig("s", "h.example.com", "cid"), client_secret="x")
    dest_service.save_destination(store, "F", "folder", {"directory": str(tmp_path / "f")})
    save_schedule(store, ScheduleConfig("n", 86400, [TransferConfig("s", "F", ["session", "recordings"])], "02:00"))
    edited = edit_schedule(store, "n", enabled=False)
    assert (edited.every_seconds, edited.at_time, edited.enabled, len(edited.transfers)) == (86400, "02:00", False, 1)
    edited = edit_schedule(store, "n", rename="nightly", every_seconds=3600, at_time=None)
    assert (edited.name, edited.every_seconds, edited.at_time) == ("nightly", 3600, None)
    assert edited.transfers[0].data_types == ["session", "recordings"]


def test_front_ends_change_settings_only_through_the_services():
    """No window or command saves or removes a site, destination or schedule on the store itself (ast)."""
    import ast

    import ic

    changing = {"save_site", "save_destination", "save_schedule", "delete_site", "delete_destination",
                "delete_schedule"}
    root = Path(ic.__file__).parent
    direct = []
    for path in sorted([*root.joinpath("gui").rglob("*.py"), *root.joinpath("cli").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in changing:
                # allowed: the GUI's doorway (services.save_site) and ic.services modules (sites.save_site)
                if not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("services", "sites")):
                    direct.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node.func)}")
    assert direct == []
