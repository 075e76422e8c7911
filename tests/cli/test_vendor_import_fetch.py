"""import-xml fetches the recordings and backups of the imported sessions too (API tester parity), from a configured
site or from a host and API account typed in (nothing saved)."""
from __future__ import annotations

import os

import pytest

from ic.appliance import ApplianceClient
from ic.cli import run_cli
from tests.helpers import add_folder, add_site


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process


@pytest.fixture
def saved_xml(simulator, tmp_path):
    """An XML file of three closed sessions with recordings, saved from the appliance earlier."""
    picked = [s for s in simulator.sessions if s.has_recording and not s.in_progress][:3]
    client = ApplianceClient(simulator.host, simulator.client_id, simulator.client_secret, simulator.ca_file, "rs")
    path = client.fetch_sessions_to_file(tmp_path / "saved.xml", lsids=[s.lsid for s in picked])
    client.close()
    return path, picked


def _files(folder, suffix):
    return sorted(p for p in folder.rglob(f"*{suffix}") if not p.name.startswith("."))


def test_import_xml_with_site_fetches_recordings_and_backup(store, simulator, saved_xml, tmp_path, capsys):
    path, picked = saved_xml
    add_site(store, simulator)
    add_folder(store, tmp_path / "files")
    code = run_cli(["import-xml", str(path), "--destination", "files", "--site", "sim",
                    "--data", "session,recordings,backup", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Imported 3 session(s) from 1 file(s)" in out.out
    assert "sim -> files: 3 recording file(s) for 3 session(s), 1 backup(s)." in out.out
    assert len(_files(tmp_path / "files", ".flv")) == 3
    assert len(_files(tmp_path / "files", ".nsb")) == 1
    assert len(_files(tmp_path / "files", ".xml")) == 3


def test_import_xml_with_typed_in_host_and_credentials(store, simulator, saved_xml, tmp_path, capsys, monkeypatch):
    path, picked = saved_xml
    add_folder(store, tmp_path / "files")
    monkeypatch.setenv("TYPED_SECRET", simulator.client_secret)
    code = run_cli(["import-xml", str(path), "--destination", "files", "--host", simulator.host, "--client-id",
                    simulator.client_id, "--client-secret-env", "TYPED_SECRET", "--ca-bundle", simulator.ca_file,
                    "--data", "recordings", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"{simulator.host} -> files: 3 recording file(s) for 3 session(s)." in out.out
    assert len(_files(tmp_path / "files", ".flv")) == 3
    assert store.list_sites() == []  # nothing saved
    db = os.environ["IC_HOME"]
    assert all(simulator.client_secret.encode() not in p.read_bytes()
               for p in __import__("pathlib").Path(db).rglob("*") if p.is_file())


def test_import_xml_recordings_without_a_site_is_one_sentence(store, saved_xml, tmp_path, capsys):
    path, _ = saved_xml
    add_folder(store, tmp_path / "files")
    assert run_cli(["import-xml", str(path), "--destination", "files", "--data", "recordings"]) != 0
    assert "give --site NAME, or --host with --client-id" in capsys.readouterr().err
    assert _files(tmp_path / "files", ".xml") == []  # nothing imported half-way


def test_recordings_into_a_database_is_one_sentence_not_one_per_session(store, simulator, saved_xml, tmp_path,
                                                                        capsys):
    from tests.helpers import add_sql

    path, _ = saved_xml
    add_site(store, simulator)
    add_sql(store, f"sqlite:///{tmp_path / 'db.db'}")
    assert run_cli(["import-xml", str(path), "--destination", "db", "--site", "sim", "--data", "recordings",
                    "--quiet"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: Destination db cannot store recordings or backups; choose a File System destination."]
