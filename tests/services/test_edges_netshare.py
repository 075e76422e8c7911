"""A SQLite database (destination or settings) on a network share does not use the write-ahead log, which SQLite
says does not work over a network file system: it keeps the rollback journal there and says so once, in one
sentence naming the file. Local files keep WAL.

The decision is checked on Windows-style paths as text (UNC, \\\\?\\UNC, a drive letter that GetDriveTypeW calls
remote, via a stand-in); the real SQLite files use a stand-in for the mount table's file system type."""
from __future__ import annotations

import logging
import sqlite3

import pytest

from ic import netshare
from ic.netshare import is_network_path, sqlite_journal_mode
from tests.helpers import HOST, dest, rs_session

REMOTE, FIXED = 4, 3


@pytest.mark.parametrize("path, network", [
    (r"\\fileserver\ic$\archive\out.db", True),
    ("//fileserver/share/out.db", True),
    (r"\\?\UNC\fileserver\share\out.db", True),
    (r"\\fileserver.corp.example\share", True),
    (r"\\?\C:\IC\out.db", False),
    (r"\\.\pipe\something", False),
    (r"C:\IC\out.db", False),
    ("out.db", False),
    (":memory:", False),
    ("", False),
])
def test_windows_paths_as_text(path, network):
    assert is_network_path(path, drive_type=lambda root: FIXED, mount_type=lambda p: "ext4") is network
    assert sqlite_journal_mode(path, drive_type=lambda root: FIXED) == ("DELETE" if network else "WAL")


def test_a_mapped_drive_is_a_share_when_windows_says_remote():
    asked = []

    def drive_type(root):
        asked.append(root)
        return REMOTE if root == "Z:\\" else FIXED

    assert is_network_path(r"Z:\IC\out.db", drive_type=drive_type)
    assert is_network_path(r"z:/IC/out.db", drive_type=drive_type)
    assert not is_network_path(r"D:\IC\out.db", drive_type=drive_type)
    assert asked == ["Z:\\", "Z:\\", "D:\\"]


@pytest.mark.parametrize("fs, network", [("cifs", True), ("nfs4", True), ("fuse.sshfs", True), ("smb3", True),
                                         ("ext4", False), ("tmpfs", False), ("overlay", False), (None, False)])
def test_posix_mounts(fs, network):
    assert is_network_path("/mnt/archive/out.db", mount_type=lambda p: fs) is network


def test_this_machines_temp_folder_is_local(tmp_path):
    assert not is_network_path(str(tmp_path / "x.db"))


def test_a_sqlite_destination_on_a_share_uses_the_rollback_journal_and_says_so_once(tmp_path, monkeypatch, caplog):
    share = tmp_path / "share"
    share.mkdir()
    monkeypatch.setattr(netshare, "_mount_type", lambda p: "cifs" if p.startswith(str(share)) else "ext4")
    on_share, local = dest(f"sqlite:///{share / 'out.db'}"), dest(f"sqlite:///{tmp_path / 'local.db'}")
    with caplog.at_level(logging.WARNING, logger="ic"):
        for d in (on_share, local):
            d.store_sessions(HOST, [rs_session()])
            d.store_sessions(HOST, [rs_session()])
    with on_share.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
    with local.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    on_share.close()
    local.close()
    said = [r.getMessage() for r in caplog.records if "network share" in r.getMessage()]
    assert len(said) == 1 and str(share / "out.db") in said[0] and "SQLite destination" in said[0]
    assert not (share / "out.db-wal").exists()
    with sqlite3.connect(share / "out.db") as plain:
        assert plain.execute("SELECT count(*) FROM session").fetchone() == (1,)


def test_a_settings_database_on_a_share_uses_the_rollback_journal(tmp_path, monkeypatch):
    from ic.settings import open_store

    share = tmp_path / "share"
    share.mkdir()
    monkeypatch.setattr(netshare, "_mount_type", lambda p: "nfs4" if p.startswith(str(share)) else "ext4")
    path = share / "settings.db"
    sqlite3.connect(path).close()  # an existing (empty) file: a named settings database must exist
    store = open_store(f"sqlite:///{path}")
    try:
        store.set_setting("log_removal_days", "7")
        with sqlite3.connect(path) as plain:
            assert plain.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        store.close()


@pytest.mark.usefixtures("restore_logging")
def test_saving_a_sqlite_destination_on_a_share_warns_in_one_sentence(tmp_path, monkeypatch, capsys):
    from ic.cli import run_cli

    share = tmp_path / "share"
    share.mkdir()
    monkeypatch.setattr(netshare, "_mount_type", lambda p: "cifs" if p.startswith(str(share)) else "ext4")
    monkeypatch.setenv("ON_SHARE", f"sqlite:///{share / 'out.db'}")
    monkeypatch.setenv("LOCAL", f"sqlite:///{tmp_path / 'local.db'}")
    assert run_cli(["destination", "add", "db", "--type", "sql", "--url-env", "ON_SHARE"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "network share" in err and str(share / "out.db") in err
    assert run_cli(["destination", "add", "db2", "--type", "sql", "--url-env", "LOCAL"]) == 0
    assert "network share" not in capsys.readouterr().err
    assert run_cli(["destination", "edit", "db2", "--url-env", "ON_SHARE"]) == 0
    assert "network share" in capsys.readouterr().err
    assert netshare.url_warning(r"sqlite:///\\fileserver\ic\out.db") and not netshare.url_warning("postgresql://h/db")
