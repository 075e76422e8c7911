"""`destination add|list|test|remove|types` and `import-xml` through the real CLI entry point, real settings DB,
real SQLite and PostgreSQL storage databases, real XML fixtures."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from ic.cli import run_cli
from ic.destinations import sql_schema as t

DATA = Path(__file__).parents[1] / "data"
RS = DATA / "rs_support_session.xml"
PRA = DATA / "pra_access_session.xml"
PASSWORD = "Tr0ub4dor&3-secret"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(url: str, table) -> list[dict]:
    engine = create_engine(url)
    with engine.connect() as conn:
        result = [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
    engine.dispose()
    return result


def full_dump(url: str) -> dict:
    """Every table without ids (ids change when a session is replaced)."""
    out = {}
    for table in t.ALL_TABLES:
        out[table.name] = [{k: v for k, v in r.items() if k != "id" and not k.endswith("session_id")
                            and k != "session_event_id"} for r in rows(url, table)]
    return out


@pytest.fixture
def sqlite_dest(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'storage.db'}"
    code, out, err = cli(capsys, "destination", "add", "Local DB", "--type", "sql", "--url", url)
    assert code == 0, err
    assert out.strip() == "Destination Local DB saved (SQL Server)."
    return url


# --- add / list / test / remove ------------------------------------------------------------------
def test_sql_destination_password_never_shown_and_encrypted_at_rest(capsys, monkeypatch, ic_home):
    url = f"postgresql+psycopg://ic_writer:{PASSWORD}@db.example.com:5432/integration"
    monkeypatch.setenv("IC_TEST_URL", url)
    code, out, err = cli(capsys, "destination", "add", "Warehouse", "--type", "sql", "--url-env", "IC_TEST_URL",
                         "--system-info")
    assert code == 0, err
    code, out, err = cli(capsys, "destination", "list")
    assert code == 0
    assert "Warehouse" in out and "postgresql+psycopg://ic_writer:***@db.example.com:5432/integration" in out
    assert "system_info=True" in out
    assert PASSWORD not in out + err
    for f in ic_home.rglob("*"):
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes(), f
    from ic.settings import open_store

    stored = open_store().get_destination("Warehouse")
    assert stored.config == {"url": url, "system_info": True} and stored.secret_fields == ("url",)


def test_sql_server_odbc_password_masked_in_list(capsys, monkeypatch):
    from ic.destinations import connection_string as cs

    url = cs.build_url(cs.ConnectionParams(server="db1", database="ic", username="ic", password=PASSWORD,
                                           driver="PostgreSQL Unicode"))  # an ODBC driver this machine has
    monkeypatch.setenv("IC_TEST_URL", url)
    assert cli(capsys, "destination", "add", "MSSQL", "--type", "sql", "--url-env", "IC_TEST_URL")[0] == 0
    code, out, err = cli(capsys, "destination", "list")
    assert "PWD=***" in out and "SERVER=db1" in out and PASSWORD not in out


def test_url_from_stdin_and_warning_for_password_on_command_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"sqlite:///{tmp_path / 'a.db'}\n"))
    assert cli(capsys, "destination", "add", "FromStdin", "--type", "sql")[0] == 0
    code, out, err = cli(capsys, "destination", "add", "Typed", "--type", "sql", "--url",
                         f"postgresql+psycopg://u:{PASSWORD}@h/db")
    assert code == 0 and "holds a password" in err and "--url-env" in err and PASSWORD not in err + out


def test_add_refuses_what_cannot_work(capsys):
    code, _, err = cli(capsys, "destination", "add", "X", "--type", "sql", "--url", "mysql+pymysql://u@h/db")
    assert code == 1 and "install PyMySQL" in err
    code, _, err = cli(capsys, "destination", "add", "X", "--type", "sql", "--url",
                       "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BNo+Such+Driver+99%7D%3BSERVER%3Ds")
    assert code == 1 and "ODBC driver 'No Such Driver 99' is not installed" in err
    code, _, err = cli(capsys, "destination", "add", "X", "--type", "nosuch", "--url", "sqlite:///x.db")
    assert code == 1 and "No destination plugin of type 'nosuch'" in err
    code, _, err = cli(capsys, "destination", "add", "X", "--type", "sql", "--dir", "/tmp", "--url", "sqlite:///x.db")
    assert code == 1 and "--dir does not apply" in err
    assert cli(capsys, "destination", "list")[1].startswith("No destinations yet")


def test_test_and_remove(capsys, sqlite_dest):
    code, out, err = cli(capsys, "destination", "test", "Local DB")
    assert (code, out.strip()) == (0, "Connected to DB; tables ready.")
    code, out, err = cli(capsys, "destination", "remove", "Local DB")
    assert code == 0 and out.strip() == "Destination Local DB removed."
    code, out, err = cli(capsys, "destination", "test", "Local DB")
    assert code == 1 and "no destination named 'Local DB'" in err


def test_test_of_unreachable_database_is_one_sentence_without_password(capsys, monkeypatch):
    monkeypatch.setenv("IC_TEST_URL", f"postgresql+psycopg://ic:{PASSWORD}@127.0.0.1:1/storage?connect_timeout=3")
    assert cli(capsys, "destination", "add", "Down", "--type", "sql", "--url-env", "IC_TEST_URL")[0] == 0
    code, out, err = cli(capsys, "destination", "test", "Down")
    assert code == 1 and err.startswith("error: Cannot connect to SQL destination Down (PostgreSQL 127.0.0.1/storage)")
    assert PASSWORD not in err and err.count("\n") == 1


def test_types_lists_the_builtin_plugins(capsys):
    code, out, _ = cli(capsys, "destination", "types")
    assert code == 0 and "sql" in out and "SQL Server" in out and "url*" in out


# --- import-xml -------------------------------------------------------------------------------------
def test_import_xml_twice_leaves_identical_tables(capsys, sqlite_dest):
    code, out, err = cli(capsys, "import-xml", str(RS), str(PRA), "--destination", "Local DB")
    assert code == 0, err
    assert out.strip() == "Imported 5 session(s) from 2 file(s) into destination Local DB."
    first = full_dump(sqlite_dest)
    assert cli(capsys, "import-xml", str(PRA), str(RS), "--destination", "Local DB")[0] == 0
    again = full_dump(sqlite_dest)
    for name in first:
        key = lambda r: sorted((k, str(v)) for k, v in r.items())  # noqa: E731
        assert sorted(map(key, again[name])) == sorted(map(key, first[name])), name
    hosts = {r["lsid"][:6]: r["host_name"] for r in rows(sqlite_dest, t.session)}
    # hosts come from the sessions' download URLs; the in-progress RS session takes its file's host
    assert hosts == {"6f1c2b": "support.example.com", "0a9b8c": "support.example.com", "1b2c3d": "support.example.com",
                     "c0ffee": "pra.example.com"}


def test_import_xml_site_host_and_site(capsys, sqlite_dest, store):
    from ic.settings import SiteConfig

    store.save_site(SiteConfig("prod", "rs.corp.example:8443", "cid"), client_secret="s")
    assert cli(capsys, "import-xml", str(PRA), "--destination", "Local DB", "--site-host", "explicit.example")[0] == 0
    assert cli(capsys, "import-xml", str(PRA), "--destination", "Local DB", "--site", "prod")[0] == 0
    assert sorted({r["host_name"] for r in rows(sqlite_dest, t.session)}) == ["explicit.example", "rs.corp.example:8443"]
    code, _, err = cli(capsys, "import-xml", str(PRA), "--destination", "Local DB", "--site", "nope")
    assert code == 1 and "no site named 'nope'" in err


def test_truncated_xml_keeps_sessions_before_the_break_and_fails(capsys, sqlite_dest, tmp_path):
    lines = RS.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.xml"
    cut.write_bytes(b"".join(lines[:250]))  # inside the third <session>
    code, out, err = cli(capsys, "import-xml", str(cut), str(PRA), "--destination", "Local DB")
    assert code == 1
    assert err.startswith("error: ") and "cut.xml" in err and "line" in err and err.count("\n") == 1
    assert "Imported 4 session(s) from 1 file(s)" in out
    lsids = [r["lsid"] for r in rows(sqlite_dest, t.session)]
    assert lsids[:2] == ["6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b", "0a9b8c7d6e5f40312a3b4c5d6e7f8091"] and len(lsids) == 4


def test_import_missing_file_and_error_document(capsys, sqlite_dest, tmp_path):
    code, out, err = cli(capsys, "import-xml", str(tmp_path / "absent.xml"), str(DATA / "error.xml"), str(RS),
                         "--destination", "Local DB")
    assert code == 1 and "absent.xml" in err and "error.xml" in err
    assert "Imported 3 session(s) from 1 file(s)" in out


def test_import_xml_into_postgresql(capsys, monkeypatch, pg_url):
    monkeypatch.setenv("IC_TEST_URL", pg_url)
    assert cli(capsys, "destination", "add", "PG", "--type", "sql", "--url-env", "IC_TEST_URL", "--system-info")[0] == 0
    assert cli(capsys, "destination", "test", "PG")[0] == 0
    assert cli(capsys, "import-xml", str(RS), "--destination", "PG")[0] == 0
    first = full_dump(pg_url)
    assert cli(capsys, "import-xml", str(RS), "--destination", "PG")[0] == 0
    assert full_dump(pg_url) == first
    assert [r["category"] for r in first["system_information"]] == ["Overview"]
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.session)).scalar() == 3
    engine.dispose()
    assert make_url(pg_url).password is None or make_url(pg_url).password not in cli(capsys, "destination", "list")[1]


# --- folder destinations through the same CLI (the folder plugin is another helper's) ----------------
def _folder_available() -> bool:
    from ic.destinations.registry import available_types

    return "folder" in available_types()


@pytest.mark.skipif(not _folder_available(), reason="the folder plugin is not in this tree yet")
def test_folder_destination_add_list_test_import(capsys, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = cli(capsys, "destination", "add", "Files", "--type", "folder", "--dir", str(out_dir),
                         "--conflict", "Overwrite", "--retention", "3")
    assert code == 0, err
    code, out, _ = cli(capsys, "destination", "list")
    assert "Files" in out and "folder" in out and f"directory={out_dir}" in out and "conflict=Overwrite" in out
    assert cli(capsys, "destination", "test", "Files")[0] == 0
    code, out, err = cli(capsys, "import-xml", str(PRA), "--destination", "Files", "--site-host", "pra.example.com")
    assert code == 0, err
    assert "Imported 2 session(s)" in out
    assert len([p for p in out_dir.rglob("*.xml")]) == 2


def test_list_survives_a_key_from_another_machine(capsys, monkeypatch, ic_home):
    monkeypatch.setenv("IC_TEST_URL", f"postgresql+psycopg://ic:{PASSWORD}@db.example.com/integration")
    assert cli(capsys, "destination", "add", "Warehouse", "--type", "sql", "--url-env", "IC_TEST_URL")[0] == 0
    (ic_home / "secret.key").unlink()
    code, out, err = cli(capsys, "destination", "list")
    assert code == 0 and "Warehouse" in out and "cannot be decrypted here: re-enter it" in out and PASSWORD not in out
    code, out, err = cli(capsys, "destination", "test", "Warehouse")
    assert code == 1 and "Warehouse" in err and PASSWORD not in err


def test_import_service_progress_and_cancel_keep_what_was_stored(tmp_path):
    """The GUI path: the service with a progress callback that cancels after the first batch."""
    import threading

    from ic.destinations.sql import SqlDestination
    from ic.errors import Cancelled
    from ic.services.import_xml import import_xml_files

    url = f"sqlite:///{tmp_path / 'g.db'}"
    dest = SqlDestination("GUI", {"url": url})
    cancel = threading.Event()
    seen = []

    def progress(path, stored):
        seen.append((path.name, stored))
        cancel.set()

    with pytest.raises(Cancelled, match="cancelled"):
        import_xml_files([RS], dest, batch_size=1, progress=progress, cancel=cancel)
    dest.close()
    assert seen == [("rs_support_session.xml", 1)]
    assert [r["lsid"][:6] for r in rows(url, t.session)] == ["6f1c2b"]
