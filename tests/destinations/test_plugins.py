"""Third-party destination plugins found through the entry point group integration_client.destinations.

The example plugin (tests/example_plugin) is "installed" the way pip would leave it: a *.dist-info directory with an
entry_points.txt on sys.path. Nothing is pip-installed.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ic.cli import run_cli
from ic.destinations.registry import ENTRY_POINT_GROUP, available_types, destination_class

EXAMPLE = Path(__file__).parents[1] / "example_plugin"
DATA = Path(__file__).parents[1] / "data"


def install(tmp_path: Path, monkeypatch, entries: dict[str, str], dist: str = "ic_jsonl_destination") -> None:
    site = tmp_path / "site-packages"
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLE))


def cli(capsys, *argv):
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_not_installed_means_not_available():
    assert "jsonl" not in available_types()
    assert list(available_types())[:2] == ["folder", "sql"] or list(available_types()) == ["sql"]


def test_entry_point_plugin_is_found(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, {"jsonl": "ic_jsonl_destination:JsonLinesDestination"})
    types = available_types()
    assert types["jsonl"].__name__ == "JsonLinesDestination" and types["jsonl"].display_name == "JSON Lines file"
    assert destination_class("jsonl") is types["jsonl"]
    assert types["sql"].__module__ == "ic.destinations.sql"


def test_plugin_works_end_to_end_through_the_cli(tmp_path, monkeypatch, capsys):
    install(tmp_path, monkeypatch, {"jsonl": "ic_jsonl_destination:JsonLinesDestination"})
    code, out, _ = cli(capsys, "destination", "types")
    assert code == 0 and "jsonl" in out and "JSON Lines file" in out and "path*" in out
    target = tmp_path / "export" / "sessions.jsonl"
    code, _, err = cli(capsys, "destination", "add", "Lines", "--type", "jsonl", "--set", "path=" + str(tmp_path / "x.txt"))
    assert code == 1 and "must end with .jsonl" in err  # the plugin's own validate() is honoured
    assert cli(capsys, "destination", "add", "Lines", "--type", "jsonl", "--set", f"path={target}")[0] == 0
    code, out, _ = cli(capsys, "destination", "list")
    assert "Lines" in out and f"path={target}" in out
    assert cli(capsys, "destination", "test", "Lines")[0] == 0
    for _ in range(2):  # importing twice must not duplicate
        code, out, err = cli(capsys, "import-xml", str(DATA / "rs_support_session.xml"), "--destination", "Lines")
        assert code == 0, err
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["lsid"][:6] for r in records] == ["6f1c2b", "0a9b8c", "1b2c3d"]
    assert {r["site_host"] for r in records} == {"support.example.com"}


def test_schedule_refuses_recordings_for_a_session_only_plugin(tmp_path, monkeypatch, store):
    install(tmp_path, monkeypatch, {"jsonl": "ic_jsonl_destination:JsonLinesDestination"})
    from ic.errors import ConfigError
    from ic.settings import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig

    store.save_site(SiteConfig("s", "h.example.com", "cid"), client_secret="x")
    store.save_destination(DestinationConfig("Lines", "jsonl", {"path": str(tmp_path / "a.jsonl")}))
    from ic.services.schedules import save_schedule

    with pytest.raises(ConfigError, match="recordings and backups"):
        save_schedule(store, ScheduleConfig("nightly", 86400, [TransferConfig("s", "Lines", ["session", "recordings"])]))
    assert save_schedule(store, ScheduleConfig("nightly", 86400, [TransferConfig("s", "Lines", ["session"])])).id


def test_broken_and_impostor_plugins_are_skipped_with_a_warning(tmp_path, monkeypatch, caplog):
    install(tmp_path, monkeypatch, {
        "broken": "no_such_module_xyz:Thing",
        "notadest": "json:JSONDecoder",
        "sql": "ic_jsonl_destination:JsonLinesDestination",  # may not replace a built-in
        "jsonl": "ic_jsonl_destination:JsonLinesDestination",
    })
    with caplog.at_level(logging.WARNING, logger="ic.destinations.registry"):
        types = available_types()
    assert "broken" not in types and "notadest" not in types and "jsonl" in types
    assert types["sql"].__module__ == "ic.destinations.sql"
    text = caplog.text
    assert "broken" in text and "could not be loaded" in text and "notadest" in text and "not a Destination" in text


def test_capabilities_are_declared_on_the_base_class():
    from ic.destinations.base import Destination

    assert (Destination.accepts_files, Destination.replaces_sessions) == (False, True)
    assert Destination.staging_dir is not None  # optional method, default None
    types = available_types()
    assert (types["folder"].accepts_files, types["folder"].replaces_sessions) == (True, True)
    assert (types["sql"].accepts_files, types["sql"].replaces_sessions) == (False, True)
