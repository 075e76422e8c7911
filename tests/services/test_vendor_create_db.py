"""Create Database: a missing PostgreSQL / SQL Server settings database is created, or the missing right is named;
a --settings path with a typo is refused instead of silently creating an empty settings database."""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from ic.cli import run_cli
from ic.errors import ConfigError
from ic.services.create_db import create_statement, ensure_database
from ic.settings import open_store


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI runs in-process


def _admin(pg_url):
    return create_engine(pg_url, isolation_level="AUTOCOMMIT")


def test_postgresql_missing_database_is_created_then_used(pg_url, capsys):
    name = f"icnew_{uuid.uuid4().hex[:10]}"
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    admin = _admin(pg_url)
    try:
        with pytest.raises(ConfigError):
            open_store(url).close()  # the old behaviour: 'database "icnew" does not exist'
        assert ensure_database(url) == f"Database {name} created on {make_url(url).host}."
        assert ensure_database(url) == f"The database {name} already exists on {make_url(url).host}."
        # the CLI's `settings create` does both steps: database, then tables
        name2 = f"icnew_{uuid.uuid4().hex[:10]}"
        url2 = make_url(pg_url).set(database=name2).render_as_string(hide_password=False)
        assert run_cli(["--settings", url2, "settings", "create"]) == 0
        assert f"Database {name2} created" in capsys.readouterr().out
        store = open_store(url2)
        assert store.list_sites() == []
        store.close()
    finally:
        with admin.connect() as conn:
            for n in (name, locals().get("name2")):
                if n:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
        admin.dispose()


def test_postgresql_role_without_createdb_is_told_which_right(pg_url):
    role = f"ic_nocreate_{uuid.uuid4().hex[:8]}"
    name = f"icnew_{uuid.uuid4().hex[:10]}"
    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-{role}' NOCREATEDB"))
    try:
        url = make_url(pg_url).set(username=role, password=f"pw-{role}", database=name)
        with pytest.raises(ConfigError) as info:
            ensure_database(url.render_as_string(hide_password=False))
        assert str(info.value) == (
            f"The PostgreSQL role {role} may not create databases on {url.host}: give it the CREATEDB right "
            f'(ALTER ROLE "{role}" CREATEDB) or have an administrator create the database {name}.')
        assert f"pw-{role}" not in str(info.value)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


class _SqlServerStandIn:
    """Mock SQL Server (named as such): records the statements; DB_ID answers from ``existing``."""

    def __init__(self, existing=(), deny=False):
        self.existing, self.deny, self.statements, self.urls = set(existing), deny, [], []

    def __call__(self, url, **kw):
        self.urls.append(url)
        stand_in = self

        class Conn:
            def execute(self, stmt, params=None):
                sql = str(stmt)
                stand_in.statements.append((sql, params))
                if sql.startswith("SELECT DB_ID"):
                    return type("R", (), {"scalar": lambda _s: 5 if params["n"] in stand_in.existing else None})()
                if sql.startswith("CREATE DATABASE") and stand_in.deny:
                    raise ProgrammingError(sql, {}, Exception(
                        "('42000', \"[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]CREATE DATABASE "
                        "permission denied in database 'master'. (262) (SQLExecDirectW)\")"))
                return None

        class Engine:
            @contextmanager
            def connect(self):
                yield Conn()

            def dispose(self):
                pass

        return Engine()


def test_sql_server_create_database_with_mock_sql_server():
    url = "mssql+pyodbc://ic:secret@sql.example.com/ic]new?driver=ODBC+Driver+18+for+SQL+Server"
    mock = _SqlServerStandIn()
    assert ensure_database(url, engine_factory=mock) == "Database ic]new created on sql.example.com."
    assert mock.urls[0].database == "master"
    assert mock.statements[-1][0] == "CREATE DATABASE [ic]]new]"
    assert ensure_database(url, engine_factory=_SqlServerStandIn(existing={"ic]new"})) == \
        "The database ic]new already exists on sql.example.com."
    with pytest.raises(ConfigError) as info:
        ensure_database(url, engine_factory=_SqlServerStandIn(deny=True))
    assert str(info.value) == ("The SQL Server login ic may not create databases on sql.example.com: grant it CREATE "
                               "ANY DATABASE or the dbcreator server role, or have an administrator create the "
                               "database ic]new.")


def test_sql_server_odbc_connect_string_with_mock_sql_server():
    from urllib.parse import quote_plus

    odbc = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql.example.com;DATABASE=icnew;Trusted_Connection=yes"
    url = f"mssql+pyodbc:///?odbc_connect={quote_plus(odbc)}"
    mock = _SqlServerStandIn()
    assert ensure_database(url, engine_factory=mock).startswith("Database icnew created")
    assert "DATABASE=master" in mock.urls[0].query["odbc_connect"]
    with pytest.raises(ConfigError, match="login this Windows account may not create"):
        ensure_database(url, engine_factory=_SqlServerStandIn(deny=True))


def test_create_statement_quotes_names():
    assert create_statement('we"ird', "postgresql") == 'CREATE DATABASE "we""ird"'
    assert create_statement("a]b", "mssql") == "CREATE DATABASE [a]]b]"


# --- --settings typo (issue 10 item 9) ---------------------------------------------------------------------------
def test_settings_typo_is_refused_not_created(tmp_path, capsys):
    typo = tmp_path / "IC" / "setings.db"
    assert run_cli(["--settings", f"sqlite:///{typo}", "schedule", "list"]) == 1
    err = capsys.readouterr().err
    assert f"The settings database file {typo} does not exist (nor does its folder {typo.parent})" in err
    assert "`settings create`" in err and "--settings option" in err
    assert not typo.exists() and not typo.parent.exists()
    (tmp_path / "IC").mkdir()
    assert run_cli(["--settings", f"sqlite:///{typo}", "tick"]) == 1
    assert f"The settings database file {typo} does not exist; check the path" in capsys.readouterr().err
    assert not typo.exists()
    assert run_cli(["--settings", f"sqlite:///{typo}", "settings", "create"]) == 0
    assert run_cli(["--settings", f"sqlite:///{typo}", "schedule", "list"]) == 0
    assert typo.is_file()


def test_default_settings_database_is_still_created_on_first_use(ic_home, capsys):
    assert run_cli(["site", "list"]) == 0
    assert (ic_home / "settings.db").is_file()


def test_tick_with_a_missing_settings_file_says_so_in_the_service_log(tmp_path, capsys, monkeypatch):
    """The OS scheduler runs `tick` with no console: the refusal also lands in the Service Log."""
    from ic.logs import log_files

    typo = tmp_path / "IC" / "setings.db"
    assert run_cli(["--settings", f"sqlite:///{typo}", "tick"]) == 1
    capsys.readouterr()
    text = log_files()["service"].read_text(encoding="utf-8")
    assert f"The settings database file {typo} does not exist" in text
