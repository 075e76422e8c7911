"""Identity, not spelling (issue 10 item 8): settings and storage are one database when they are one file (device and
inode) or one server and database as the server itself reports. Real SQLite files, the real PostgreSQL; SQL Server
itself is mocked (tests say "mock_sql_server")."""
from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy.engine import make_url

from ic import dburl
from ic.dburl import ServerIdentity, file_identity, same_database, server_identity
from ic.errors import ConfigError
from ic.settings import DestinationConfig, open_store


def _sqlite(path) -> str:
    return f"sqlite:///{path}"


def _save_sql(store, name: str, url: str):
    return store.save_destination(DestinationConfig(name, "sql", {"url": url}, secret_fields=("url",)))


def _settings_file(store) -> str:
    return make_url(store.url).database


# --- SQLite: device and inode -------------------------------------------------------------------------------------
def test_hard_link_to_the_settings_file_is_refused(store, tmp_path):
    link = tmp_path / "elsewhere" / "storage.db"
    link.parent.mkdir()
    os.link(_settings_file(store), link)
    with pytest.raises(ConfigError, match="settings database"):
        _save_sql(store, "hard", _sqlite(link))


def test_symbolic_link_to_the_settings_file_is_refused(store, tmp_path):
    link = tmp_path / "storage-link.db"
    link.symlink_to(_settings_file(store))
    with pytest.raises(ConfigError, match="settings database"):
        _save_sql(store, "soft", _sqlite(link))


def test_dot_slash_and_dot_dot_spellings_are_refused(store, monkeypatch):
    settings = _settings_file(store)
    folder, name = os.path.split(settings)
    monkeypatch.chdir(folder)
    for spelling in (f"./{name}", f"../{os.path.basename(folder)}/{name}", f"{folder}/./{name}"):
        with pytest.raises(ConfigError, match="settings database"):
            _save_sql(store, "dots", _sqlite(spelling))


def test_a_copy_of_the_settings_file_is_another_database(store, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copyfile(_settings_file(store), copy)
    assert _save_sql(store, "copy", _sqlite(copy)).name == "copy"
    assert _save_sql(store, "new", _sqlite(tmp_path / "not-yet.db")).name == "new"


def test_a_file_not_made_yet_is_known_by_its_folder_and_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b-link").symlink_to(tmp_path / "b")
    assert file_identity(str(tmp_path / "a" / "x.db")) == file_identity(str(tmp_path / "a" / "." / "x.db"))
    assert file_identity(str(tmp_path / "b" / "x.db")) == file_identity(str(tmp_path / "b-link" / "x.db"))
    assert file_identity(str(tmp_path / "a" / "x.db")) != file_identity(str(tmp_path / "b" / "x.db"))
    assert not same_database(_sqlite(tmp_path / "a" / "x.db"), _sqlite(tmp_path / "a" / "y.db"))
    assert not same_database("sqlite://", "sqlite://")  # two in-memory databases are two databases


# --- PostgreSQL: ask the server --------------------------------------------------------------------------------------
def _spelled(url: str, host: str) -> str:
    return make_url(url).set(host=host).render_as_string(hide_password=False)


def test_postgresql_localhost_and_127_0_0_1_are_one_server(pg_url):
    local = _spelled(pg_url, "localhost")
    loopback = _spelled(pg_url, "127.0.0.1")
    assert same_database(local, loopback)
    assert not same_database(local, loopback, ask_server=False)  # the spelling alone would let it through
    other_db = make_url(loopback).set(database="postgres").render_as_string(hide_password=False)
    assert not same_database(local, other_db)


def test_postgresql_settings_refuse_storage_spelled_localhost(pg_url, ic_home):
    store = open_store(_spelled(pg_url, "127.0.0.1"))
    try:
        with pytest.raises(ConfigError, match="settings database"):
            _save_sql(store, "same", _spelled(pg_url, "localhost"))
        base = make_url(pg_url)
        other = base.set(host="localhost", database="postgres").render_as_string(hide_password=False)
        assert _save_sql(store, "other", other).name == "other"
    finally:
        store.close()


def test_postgresql_identity_comes_from_the_server(pg_url):
    from sqlalchemy import create_engine

    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            ident = server_identity(conn)
    finally:
        engine.dispose()
    assert ident is not None and ident.database == make_url(pg_url).database
    assert ident.server and ident.started and ident.port == str(make_url(pg_url).port or 5432)


def test_an_unreachable_server_is_not_proven_the_same():
    # nothing listens on port 9: the connection is refused at once, so only the spelling could decide
    assert not same_database("postgresql+psycopg://u@127.0.0.1:9/ic", "postgresql+psycopg://u@localhost:9/ic")


def test_identity_needs_the_same_database_and_one_strong_field():
    a = ServerIdentity("sys-1", "t0", "5432", "ic")
    assert a.same_as(ServerIdentity("sys-1", "t0", "5432", "ic"))
    assert a.same_as(ServerIdentity(None, "t0", "5432", "ic"))  # no permission for system_identifier on one side
    assert not a.same_as(ServerIdentity("sys-1", "t0", "5432", "ic2"))
    assert not a.same_as(ServerIdentity("sys-1", "t1", "5432", "ic"))  # a replica: same system id, other start
    assert not ServerIdentity(None, None, "5432", "ic").same_as(ServerIdentity(None, None, "5432", "ic"))


# --- SQL Server: @@SERVERNAME + DB_NAME() (mocked) -----------------------------------------------------------------
class _FakeMssqlConnection:
    """Stands in for a SQL Server connection: answers the identity query for the server behind ``host``."""

    class dialect:  # noqa: N801 - mimics Connection.dialect
        name = "mssql"

    def __init__(self, servername: str, database: str, seen: list[str]) -> None:
        self.servername, self.database, self.seen = servername, database, seen

    def execute(self, statement):
        self.seen.append(str(statement))
        row = (self.servername, None, None, self.database)
        return type("Result", (), {"first": lambda _self: row})()


def test_sql_server_spellings_of_one_server_mock_sql_server(monkeypatch):
    seen: list[str] = []
    names = {"sql01": "SQL01\\PROD", "sql01.corp.example": "SQL01\\PROD", "10.0.0.5": "SQL01\\PROD",
             "sql02": "SQL02\\PROD"}

    def identity_of(url, _engine):
        from ic.connection_string import parse_url

        p = parse_url(url)
        return server_identity(_FakeMssqlConnection(names[p.server.lower()], p.database, seen))

    monkeypatch.setattr(dburl, "_identity_of", identity_of)

    def odbc(server: str, database: str) -> str:
        return dburl.normalize_url(f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER={server};DATABASE={database};"
                                   "UID=u;PWD=p")

    assert same_database(odbc("sql01", "ICSettings"), odbc("sql01.corp.example", "ICSettings"))
    assert same_database(odbc("10.0.0.5", "ICSettings"), odbc("sql01", "ICSettings"))
    assert not same_database(odbc("sql02", "ICSettings"), odbc("sql01", "ICSettings"))
    assert not same_database(odbc("sql01", "ICSettings"), odbc("10.0.0.5", "ICStorage"))  # no server asked
    assert seen and all("@@SERVERNAME" in sql and "DB_NAME()" in sql for sql in seen)


def test_each_server_kind_has_an_identity_query():
    assert "pg_postmaster_start_time()" in dburl.identity_query("postgresql")
    assert "@@SERVERNAME" in dburl.identity_query("mssql")
    assert "DATABASE()" in dburl.identity_query("mariadb")
    assert dburl.identity_query("oracle") is None


def test_test_button_and_command_refuse_a_destination_that_became_the_settings_database(store, tmp_path, capsys):
    from ic.cli import run_cli
    from ic.services import destinations as ds

    _save_sql(store, "Linked", _sqlite(tmp_path / "hard.db"))  # no such file yet: accepted
    os.link(_settings_file(store), tmp_path / "hard.db")  # then someone links the settings file under that name
    result = ds.test_destination(store, "Linked")
    assert not result.ok and "points at the settings database" in result.message and result.field == "url"
    with pytest.raises(ConfigError, match="settings database"):  # the GUI's Test of unsaved values
        ds.check_config(store, "New", "sql", {"url": _sqlite(tmp_path / "hard.db")})
    assert run_cli(["destination", "test", "Linked"]) == 1
    assert "points at the settings database" in capsys.readouterr().err
