"""SQL destination: exact rows in every storage table on real SQLite and real PostgreSQL, replace-not-duplicate,
the System Information switch, compiled DDL for SQL Server/MySQL, connection strings and the ODBC path."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.schema import CreateTable

from ic.destinations import connection_string as cs
from ic.destinations import sql_schema as t
from ic.destinations.sql import TEST_OK, SqlDestination, engine_kwargs
from ic.errors import ConfigError, DestinationUnavailable
from ic.sessions.model import EventData
from tests.helpers import HOST, SYSINFO_XML, dest, dump, in_progress, pra_session, rs_session

DATA = Path(__file__).parents[1] / "data"


# --- helpers ---------------------------------------------------------------------------------


def _dt(s: str):
    from datetime import datetime

    return datetime.fromisoformat(s)


# --- row-for-row -----------------------------------------------------------------------------
def test_every_table_row_for_row(db_url):
    d = dest(db_url, system_info=True)
    assert d.store_sessions(HOST, [rs_session(), pra_session()]) == 2
    d.close()
    db = dump(db_url)
    assert db["session"] == [
        {"id": 1, "lsid": "6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b", "type": "support", "start_time": _dt("2024-06-18 10:10:00"),
         "end_time": _dt("2024-06-18 10:35:23"), "duration": "00:25:23", "file_transfers": 1, "host_name": HOST,
         "external_key": "INC0012345", "public_site_id": "1", "public_site_name": "Default", "lseq": 10482,
         "jump_group_id": None, "jump_group_name": None, "jump_group_type": None, "jumpoint_id": None,
         "jumpoint_name": None},
        {"id": 2, "lsid": "0123456789abcdef0123456789abcdef", "type": "support", "start_time": _dt("2024-06-19 12:26:40"),
         "end_time": _dt("2024-06-19 12:36:40"), "duration": "00:10:00", "file_transfers": 0, "host_name": HOST,
         "external_key": "", "public_site_id": None, "public_site_name": None, "lseq": 77, "jump_group_id": "12",
         "jump_group_name": "Servers", "jump_group_type": "shared", "jumpoint_id": "5", "jumpoint_name": "DC Jumpoint"},
    ]
    assert db["session_event"] == [
        {"id": 1, "session_id": 1, "type": "Session Start", "event_time": _dt("2024-06-18 10:10:00"),
         "performed_by": None, "performed_by_type": None, "destination": None, "destination_type": None},
        {"id": 2, "session_id": 1, "type": "Conference Member Added", "event_time": _dt("2024-06-18 10:10:02"),
         "performed_by": "Jane Customer", "performed_by_type": "customer", "destination": None, "destination_type": None},
        {"id": 3, "session_id": 1, "type": "Chat Message", "event_time": _dt("2024-06-18 10:10:15"),
         "performed_by": "Alex Rep", "performed_by_type": "representative", "destination": "Everyone",
         "destination_type": "everyone"},
        {"id": 4, "session_id": 1, "type": "System Information Retrieved", "event_time": _dt("2024-06-18 10:11:00"),
         "performed_by": "Alex Rep", "performed_by_type": "representative", "destination": "Jane Customer",
         "destination_type": "customer"},
        {"id": 5, "session_id": 1, "type": "Session End", "event_time": _dt("2024-06-18 10:35:23"),
         "performed_by": None, "performed_by_type": None, "destination": None, "destination_type": None},
        {"id": 6, "session_id": 2, "type": "Session Start", "event_time": _dt("2024-06-19 12:26:40"),
         "performed_by": None, "performed_by_type": None, "destination": None, "destination_type": None},
        {"id": 7, "session_id": 2, "type": "Remote Shell Session Started", "event_time": _dt("2024-06-19 12:28:20"),
         "performed_by": "Admin One", "performed_by_type": "representative", "destination": None,
         "destination_type": None},
        {"id": 8, "session_id": 2, "type": "Session End", "event_time": _dt("2024-06-19 12:36:40"),
         "performed_by": None, "performed_by_type": None, "destination": None, "destination_type": None},
    ]
    assert db["session_event_data"] == [
        {"id": 1, "session_event_id": 2, "name": "name", "value": "Jane Customer"},
        {"id": 2, "session_event_id": 2, "name": "private_ip", "value": "10.1.2.3"},
        {"id": 3, "session_event_id": 3, "name": "body", "value": "Hi Jane, I am taking a look now."},
        {"id": 4, "session_event_id": 7, "name": "instance", "value": "0"},
    ]
    assert db["system_information"] == [
        {"id": 1, "session_event_id": 4, "category": "Overview", "information": SYSINFO_XML},
    ]
    assert db["user"] == [
        {"id": 1, "gs_number": "2", "session_id": 1, "user_id": "7", "user_name": "arep", "display_name": "Alex Rep",
         "public_display_name": "Alex", "display_number": None, "public_ip": "198.51.100.20:61002",
         "private_ip": "192.168.10.5", "is_owner": 1, "is_primary": 1, "duration": 1523, "host_name": "HELPDESK-07",
         "operating_system": "Windows 10 Enterprise x64 (22H2)"},
        {"id": 2, "gs_number": "8", "session_id": 2, "user_id": "31", "user_name": "admin1", "display_name": "Admin One",
         "public_display_name": "Admin", "display_number": None, "public_ip": "198.51.100.9", "private_ip": "10.0.0.2",
         "is_owner": 1, "is_primary": 1, "duration": 600, "host_name": None, "operating_system": None},
    ]
    assert db["team"] == [{"id": 1, "session_id": 1, "team_id": "4", "name": "Tier 1 – Ünïcode", "is_primary": 1}]
    assert db["endpoint"] == [
        {"id": 1, "session_id": 1, "gs_number": "3", "issue": "Printer not working",
         "issue_description": "Cannot print to floor 3 printer", "display_name": "Jane Customer",
         "company_name": "Example Corp", "company_code": "EX01", "public_ip": "203.0.113.10:53122",
         "private_ip": "10.1.2.3", "rpat_support": 0, "host_name": "EXCORP-LT-0042",
         "operating_system": "Windows 11 Enterprise x64 (23H2)"},
        {"id": 2, "session_id": 2, "gs_number": "9", "issue": None, "issue_description": None, "display_name": "srv-db-01",
         "company_name": None, "company_code": None, "public_ip": "10.0.0.5", "private_ip": None, "rpat_support": 0,
         "host_name": "srv-db-01", "operating_system": "Linux"},
    ]
    assert db["custom_attribute"] == [
        {"id": 1, "session_id": 1, "display_name": "Ticket Priority", "code_name": "ticket_priority", "value": "P2"},
    ]


def test_storing_the_same_sessions_twice_leaves_identical_tables(db_url):
    d = dest(db_url, system_info=True)
    d.store_sessions(HOST, [rs_session(), pra_session()])
    first = dump(db_url)
    assert d.store_sessions(HOST, [pra_session(), rs_session()]) == 2
    d.close()
    again = dump(db_url)
    # ranks follow insertion order, so compare as sets of rows keyed without ids
    assert {k: len(v) for k, v in again.items()} == {k: len(v) for k, v in first.items()}
    assert _content(again) == _content(first)


def _content(db):
    """Rows without ids, with children resolved to their session's lsid and their event's position."""
    lsid_of = {r["id"]: r["lsid"] for r in db["session"]}
    ev_of = {r["id"]: (lsid_of[r["session_id"]], r["type"], r["event_time"]) for r in db["session_event"]}
    out = {}
    for name, rows in db.items():
        keyed = []
        for r in rows:
            r = {k: v for k, v in r.items() if k != "id"}
            if "session_id" in r:
                r["session_id"] = lsid_of[r["session_id"]]
            if "session_event_id" in r:
                r["session_event_id"] = ev_of[r["session_event_id"]]
            keyed.append(tuple(sorted((k, str(v)) for k, v in r.items())))
        out[name] = sorted(keyed)
    return out


def test_same_lsid_from_another_site_is_a_separate_session(db_url):
    d = dest(db_url)
    d.store_sessions(HOST, [rs_session()])
    d.store_sessions("other.example.com", [rs_session()])
    d.close()
    assert sorted(r["host_name"] for r in dump(db_url)["session"]) == ["other.example.com", HOST]


def test_in_progress_session_is_replaced_when_it_ends(db_url):
    d = dest(db_url)
    d.store_sessions(HOST, [in_progress(rs_session()), pra_session()])
    db = dump(db_url)
    assert [(r["lsid"][:4], r["end_time"]) for r in db["session"]] == [("6f1c", None), ("0123", _dt("2024-06-19 12:36:40"))]
    assert len(db["session_event"]) == 2 + 3
    d.store_sessions(HOST, [rs_session()])
    d.close()
    db = dump(db_url)
    rs = [r for r in db["session"] if r["lsid"].startswith("6f1c")]
    assert len(rs) == 1 and rs[0]["end_time"] == _dt("2024-06-18 10:35:23") and rs[0]["duration"] == "00:25:23"
    assert len(db["session"]) == 2 and len(db["session_event"]) == 5 + 3
    assert len(db["user"]) == 2 and len(db["endpoint"]) == 2 and len(db["custom_attribute"]) == 1


def test_same_lsid_twice_in_one_batch_keeps_the_later(db_url):
    d = dest(db_url)
    assert d.store_sessions(HOST, [in_progress(rs_session()), rs_session()]) == 1
    d.close()
    db = dump(db_url)
    assert len(db["session"]) == 1 and db["session"][0]["end_time"] is not None


def test_system_information_only_when_switched_on(tmp_path):
    off = f"sqlite:///{tmp_path / 'off.db'}"
    on = f"sqlite:///{tmp_path / 'on.db'}"
    for url, flag in ((off, None), (on, "true")):
        d = dest(url) if flag is None else dest(url, system_info=flag)
        d.store_sessions(HOST, [rs_session()])
        d.close()
    assert dump(off)["system_information"] == []
    assert len(dump(off)["session_event"]) == 5  # the event itself is still stored
    assert [r["category"] for r in dump(on)["system_information"]] == ["Overview"]
    assert SqlDestination("x", {"url": off, "system_info": "False"}).store_system_info is False


def test_many_sessions_in_several_batches(tmp_path):
    url = f"sqlite:///{tmp_path / 'many.db'}"
    sessions = []
    for i in range(120):
        s = rs_session()
        s.lsid = f"{i:032x}"
        sessions.append(s)
    d = dest(url)
    assert d.store_sessions(HOST, iter(sessions)) == 120
    d.close()
    db = dump(url)
    assert len(db["session"]) == 120 and len(db["session_event"]) == 600 and len(db["session_event_data"]) == 360
    # every event belongs to the session it was built for
    lsids = [r["lsid"] for r in db["session"]]
    assert lsids == [s.lsid for s in sessions]


def test_failed_batch_leaves_nothing_of_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    d = dest(url)
    d.store_sessions(HOST, [pra_session()])
    bad = rs_session()
    bad.events[1].data.append(EventData(None, object()))  # type: ignore[arg-type] - the driver rejects it
    with pytest.raises(Exception):
        d.store_sessions(HOST, [in_progress(pra_session()), bad])
    d.close()
    db = dump(url)
    assert [r["lsid"] for r in db["session"]] == [pra_session().lsid]
    assert db["session"][0]["end_time"] is not None  # the replace of the first session was rolled back too


def test_concurrent_writer_of_the_same_session_is_replaced_not_duplicated(pg_url, monkeypatch):
    """Another process commits the same session between our delete and our insert (real PostgreSQL, two
    connections): the unique (host_name, lsid) key refuses ours, the batch is written again and replaces it."""
    from ic.destinations import sql as sql_mod

    real_delete = sql_mod._delete_sessions
    calls = []

    def delete_then_other_writer(conn, host, lsids):
        real_delete(conn, host, lsids)
        calls.append(lsids)
        if len(calls) == 1:
            other = dest(pg_url)
            other.store_sessions(HOST, [in_progress(rs_session())])
            other.close()

    monkeypatch.setattr(sql_mod, "_delete_sessions", delete_then_other_writer)
    d = dest(pg_url)
    d.store_sessions(HOST, [])
    assert d.store_sessions(HOST, [rs_session()]) == 1
    d.close()
    assert len(calls) == 3  # ours, the other writer's, our retry
    db = dump(pg_url)
    assert len(db["session"]) == 1 and db["session"][0]["end_time"] is not None and len(db["session_event"]) == 5


def test_over_long_text_is_clipped_not_rejected(db_url):
    s = pra_session()
    s.jumpoint_name = "J" * 1000
    d = dest(db_url)
    d.store_sessions(HOST, [s])
    d.close()
    assert dump(db_url)["session"][0]["jumpoint_name"] == "J" * 255


# --- schema ----------------------------------------------------------------------------------
def test_tables_and_columns_exactly_as_the_guide(db_url):
    d = dest(db_url)
    assert d.test() == TEST_OK
    d.store_sessions(HOST, [])  # creates the tables
    d.close()
    insp = inspect(create_engine(db_url))
    cols = {name: [c["name"] for c in insp.get_columns(name)] for name in insp.get_table_names()}
    assert cols == {
        "session": ["id", "lsid", "type", "start_time", "end_time", "duration", "file_transfers", "host_name",
                    "external_key", "public_site_id", "public_site_name", "lseq", "jump_group_id", "jump_group_name",
                    "jump_group_type", "jumpoint_id", "jumpoint_name"],
        "session_event": ["id", "session_id", "type", "event_time", "performed_by", "performed_by_type", "destination",
                          "destination_type"],
        "session_event_data": ["id", "session_event_id", "name", "value"],
        "system_information": ["id", "session_event_id", "category", "information"],
        "user": ["id", "gs_number", "session_id", "user_id", "user_name", "display_name", "public_display_name",
                 "display_number", "public_ip", "private_ip", "is_owner", "is_primary", "duration", "host_name",
                 "operating_system"],
        "team": ["id", "session_id", "team_id", "name", "is_primary"],
        "endpoint": ["id", "session_id", "gs_number", "issue", "issue_description", "display_name", "company_name",
                     "company_code", "public_ip", "private_ip", "rpat_support", "host_name", "operating_system"],
        "custom_attribute": ["id", "session_id", "display_name", "code_name", "value"],
    }
    uniques = insp.get_unique_constraints("session")
    assert [u["column_names"] for u in uniques] == [["host_name", "lsid"]]
    for name in ("session_event", "user", "team", "endpoint", "custom_attribute"):
        assert [fk["referred_table"] for fk in insp.get_foreign_keys(name)] == ["session"]
        assert any(ix["column_names"] == ["session_id"] for ix in insp.get_indexes(name)), name
    for name in ("session_event_data", "system_information"):
        assert [fk["referred_table"] for fk in insp.get_foreign_keys(name)] == ["session_event"]


def test_test_connects_and_leaves_nothing_behind(db_url):
    d = dest(db_url)
    assert d.test() == TEST_OK
    d.close()
    assert inspect(create_engine(db_url)).get_table_names() == []


def test_sql_server_ddl_uses_nvarchar_max_never_ntext_and_quotes_reserved_names():
    ddl = {tb.name: str(CreateTable(tb).compile(dialect=mssql.dialect())) for tb in t.ALL_TABLES}
    everything = "\n".join(ddl.values())
    assert "NVARCHAR(max)" in everything and "NTEXT" not in everything.upper()
    assert "CREATE TABLE [user]" in ddl["user"]  # reserved in T-SQL: quoted
    assert "lsid NVARCHAR(100) NOT NULL" in ddl["session"] and "BIGINT NOT NULL IDENTITY" in ddl["session"]
    assert "information NVARCHAR(max)" in ddl["system_information"]
    assert "REFERENCES session (id) ON DELETE CASCADE" in ddl["user"]
    assert "CONSTRAINT uq_session_host_lsid UNIQUE (host_name, lsid)" in ddl["session"]


def test_mysql_and_postgresql_ddl_compile_with_quoted_names():
    my = {tb.name: str(CreateTable(tb).compile(dialect=mysql.dialect())) for tb in t.ALL_TABLES}
    assert "value LONGTEXT" in my["session_event_data"] and "NTEXT" not in "".join(my.values())
    assert "lsid VARCHAR(100) NOT NULL" in my["session"]
    pg = str(CreateTable(t.user).compile(dialect=postgresql.dialect()))
    assert 'CREATE TABLE "user"' in pg and "BIGSERIAL" in pg
    lite = str(CreateTable(t.session).compile(dialect=sqlite.dialect()))
    assert "id INTEGER NOT NULL" in lite  # INTEGER PRIMARY KEY: SQLite's auto-increment rowid


# --- engine options: fast_executemany only for Microsoft's ODBC driver --------------------------
MS18 = cs.build_url(cs.ConnectionParams(server="db1", database="ic", auth="windows", driver="ODBC Driver 18 for SQL Server"))


@pytest.mark.parametrize(
    "url, fast",
    [
        (MS18, True),
        ("mssql+pyodbc://u:p@db1/ic?driver=ODBC+Driver+17+for+SQL+Server", True),
        (cs.build_url(cs.ConnectionParams(server="db1", database="ic", auth="windows", driver="FreeTDS")), False),
        (cs.build_url(cs.ConnectionParams(server="db1", database="ic", auth="windows", driver="SQL Server")), False),
        ("mssql+pyodbc://u:p@mydsn", False),
        ("mssql+pymssql://u:p@db1/ic", False),
        ("postgresql+psycopg://u@h/db", False),
        ("sqlite:///x.db", False),
    ],
)
def test_fast_executemany_decision(url, fast):
    assert cs.use_fast_executemany(url) is fast
    assert ("fast_executemany" in engine_kwargs(url)) is fast


def test_fast_executemany_reaches_the_mssql_engine_without_sql_server():
    engine = create_engine(MS18, **engine_kwargs(MS18))  # no connection is made
    assert engine.dialect.fast_executemany is True


# --- validation and errors -------------------------------------------------------------------
def test_validate_names_the_problem():
    assert SqlDestination.validate({}) == {"url": "Connection String is required."}
    assert "not a valid database URL" in SqlDestination.validate({"url": "nonsense://"})["url"] or \
        "not supported" in SqlDestination.validate({"url": "nonsense://"})["url"]
    assert "install PyMySQL" in SqlDestination.validate({"url": "mysql+pymysql://u:pw@h/db"})["url"]
    assert "ODBC driver 'ODBC Driver 18 for SQL Server' is not installed" in SqlDestination.validate({"url": MS18})["url"] \
        or SqlDestination.validate({"url": MS18}) == {}
    assert SqlDestination.validate({"url": "sqlite:///x.db"}) == {}
    assert SqlDestination.validate({"url": "postgresql://u@h/db"}) == {}  # bare postgresql means psycopg 3


def test_unreachable_database_is_destination_unavailable_without_password():
    d = dest("postgresql+psycopg://ic:Sup3rSecret@127.0.0.1:1/storage?connect_timeout=3")
    with pytest.raises(DestinationUnavailable) as err:
        d.store_sessions(HOST, [rs_session()])
    msg = str(err.value)
    assert msg.startswith("Cannot write sessions to SQL destination Warehouse (PostgreSQL 127.0.0.1/storage)")
    assert "Sup3rSecret" not in msg and msg.count("\n") == 0
    with pytest.raises(DestinationUnavailable, match="Cannot connect to SQL destination Warehouse"):
        d.test()


def test_wrong_password_message_hides_it(pg_url):
    from sqlalchemy.engine import make_url

    u = make_url(pg_url).set(username="nobody_here", password="Pa55;word")
    d = dest(u.render_as_string(hide_password=False))
    with pytest.raises(Exception) as err:
        d.test()
    assert "Pa55;word" not in str(err.value) and "Warehouse" in str(err.value)


def test_a_driver_message_quoting_the_password_is_scrubbed():
    from sqlalchemy.exc import OperationalError, ProgrammingError

    odbc = cs.build_url(cs.ConnectionParams(server="db1", database="ic", username="ic", password="Odbc;Pw}", driver="X"))
    for url, pw in ((odbc, "Odbc;Pw}"), ("postgresql+psycopg://ic:PgPw42@h/db", "PgPw42")):
        d = dest(url)
        err = d._fail(OperationalError("SELECT 1", {}, Exception(f"login failed with {pw}\nsecond line")), "connect to")
        assert isinstance(err, DestinationUnavailable) and pw not in str(err) and "***" in str(err)
        assert "second line" not in str(err)
        err = d._fail(ProgrammingError("SELECT 1", {}, Exception("permission denied for table session")), "write to")
        assert type(err).__name__ == "DestinationError" and str(err).endswith("permission denied for table session.")


def test_site_host_required(tmp_path):
    with pytest.raises(ConfigError):
        dest(f"sqlite:///{tmp_path / 'x.db'}").store_sessions("", [rs_session()])


# --- connection strings ----------------------------------------------------------------------
def test_sql_server_connection_string_roundtrip_with_awkward_password():
    p = cs.ConnectionParams(kind="sqlserver", server=r"DB1\SQLEXPRESS", database="IC Data", auth="sql", username="ic",
                            password="p;a}ss={x", driver="ODBC Driver 17 for SQL Server",
                            other="Encrypt=yes;TrustServerCertificate=yes")
    url = cs.build_url(p)
    assert url.startswith("mssql+pyodbc:///?odbc_connect=")
    odbc = cs.odbc_string(__import__("sqlalchemy").engine.make_url(url))
    assert odbc == ("DRIVER={ODBC Driver 17 for SQL Server};SERVER=DB1\\SQLEXPRESS;DATABASE=IC Data;UID=ic;"
                    "PWD={p;a}}ss={x};Encrypt=yes;TrustServerCertificate=yes")
    back = cs.parse_url(url)
    assert (back.server, back.database, back.auth, back.username, back.password, back.driver, back.other) == (
        r"DB1\SQLEXPRESS", "IC Data", "sql", "ic", "p;a}ss={x", "ODBC Driver 17 for SQL Server",
        "Encrypt=yes;TrustServerCertificate=yes")
    assert "p;a}ss" not in repr(back)
    masked = cs.mask_url(url)
    assert "p;a" not in masked and "PWD=***" in masked and "SERVER=DB1\\SQLEXPRESS" in masked


def test_windows_authentication_and_port():
    url = cs.build_url(cs.ConnectionParams(server="db1", port=1433, database="ic", auth="windows", driver="X"))
    odbc = cs.odbc_string(__import__("sqlalchemy").engine.make_url(url))
    assert odbc == "DRIVER={X};SERVER=db1,1433;DATABASE=ic;Trusted_Connection=yes"
    assert cs.parse_url(url).auth == "windows"


def test_other_database_kinds():
    pg = cs.build_url(cs.ConnectionParams(kind="postgresql", server="pg", port=5433, database="ic", username="u",
                                          password="p@ss/word", other="sslmode=require"))
    assert pg == "postgresql+psycopg://u:p%40ss%2Fword@pg:5433/ic?sslmode=require"
    assert cs.parse_url(pg).password == "p@ss/word"
    assert cs.mask_url(pg) == "postgresql+psycopg://u:***@pg:5433/ic?sslmode=require"
    my = cs.build_url(cs.ConnectionParams(kind="mysql", server="my", database="ic", username="u", password="x"))
    assert my == "mysql+pymysql://u:x@my/ic"
    lite = cs.build_url(cs.ConnectionParams(kind="sqlite", database="/data/ic.db"))
    assert lite == "sqlite:////data/ic.db" and cs.parse_url(lite).database == "/data/ic.db"
    with pytest.raises(ConfigError, match="server name"):
        cs.build_url(cs.ConnectionParams(kind="postgresql", database="ic", username="u"))
    with pytest.raises(ConfigError, match="username"):
        cs.build_url(cs.ConnectionParams(kind="sqlserver", server="s", database="ic", auth="sql"))


def test_old_style_ado_connection_string_is_accepted():
    url = cs.normalize("Provider=SQLOLEDB;Data Source=db1\\IC;Initial Catalog=Integration;User ID=ic;Password=pw;")
    p = cs.parse_url(url)
    assert (p.server, p.database, p.username, p.password, p.auth) == ("db1\\IC", "Integration", "ic", "pw", "sql")
    assert cs.parse_url(cs.normalize("Server=db1;Database=x;Integrated Security=SSPI")).auth == "windows"
    with pytest.raises(ConfigError):
        cs.normalize("just words")


# --- the ODBC path (PostgreSQL's ODBC driver stands in for SQL Server's) ------------------------
PSQLODBC = "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so"


@pytest.mark.skipif(not os.path.exists(PSQLODBC), reason="odbc-postgresql is not installed")
def test_odbc_connection_string_from_the_builder_reaches_real_postgresql_through_pyodbc(pg_url):
    """SQLAlchemy's mssql dialect cannot talk to PostgreSQL, so this proves the builder's ODBC string and pyodbc's
    parameter passing (Unicode, executemany) against a real server; the SQL Server dialect itself is not exercised."""
    import pyodbc
    from sqlalchemy.engine import make_url

    u = make_url(pg_url)
    url = cs.build_url(cs.ConnectionParams(kind="sqlserver", server=u.host, database=u.database, auth="sql",
                                           username=u.username, password=u.password or "", driver=PSQLODBC,
                                           other=f"Port={u.port}"))
    odbc = cs.odbc_string(make_url(url))
    conn = pyodbc.connect(odbc, autocommit=False)
    try:
        cur = conn.cursor()
        cur.execute('CREATE TABLE "user" (id SERIAL PRIMARY KEY, display_name VARCHAR(255))')
        cur.executemany('INSERT INTO "user" (display_name) VALUES (?)', [("Zoë",), ("Алекс",)])
        conn.commit()
        assert [r[0] for r in cur.execute('SELECT display_name FROM "user" ORDER BY id').fetchall()] == ["Zoë", "Алекс"]
    finally:
        conn.close()


# --- parsed fixtures (appear with the parser) ----------------------------------------------------
@pytest.mark.parametrize("name", ["rs_support_session.xml", "pra_access_session.xml"])
def test_parsed_fixture_lands_whole_and_twice_is_identical(db_url, name):
    if not (DATA / name).exists():
        pytest.skip(f"tests/data/{name} arrives with the session parser")
    from ic.sessions.parser import iter_sessions

    sessions = list(iter_sessions(DATA / name))
    d = dest(db_url, system_info=True)
    assert d.store_sessions(HOST, sessions) == len(sessions) > 0
    first = dump(db_url)
    d.store_sessions(HOST, list(iter_sessions(DATA / name)))
    d.close()
    assert dump(db_url) == first
    s = sessions[0]
    row = first["session"][0]
    assert (row["lsid"], row["lseq"], row["duration"], row["external_key"]) == (s.lsid, s.lseq, s.duration, s.external_key)
    assert len(first["session_event"]) == sum(len(x.events) for x in sessions)
    assert len(first["user"]) == sum(len(x.representatives) for x in sessions)
    assert len(first["endpoint"]) == sum(len(x.customers) for x in sessions)


# Exact rows of the parsed fixtures (columns in table order without id; *_id columns are ranks of the parent rows).
RS_SUPPORT_SESSION_ROWS = {
    "session": [
        ('6f1c2b9e0d4a4e7f9a3b5c8d7e6f5a4b', 'support', _dt("2024-06-18 10:10:00"), _dt("2024-06-18 10:35:23"), '00:25:23', 1, 'support.example.com', 'INC0012345', '1', 'Default', 10482, None, None, None, None, None),
        ('0a9b8c7d6e5f40312a3b4c5d6e7f8091', 'support', _dt("2024-06-18 10:36:40"), None, '00:04:10', 0, 'support.example.com', '', '2', 'Service Desk – Été', None, None, None, None, None, None),
        ('1b2c3d4e5f60718293a4b5c6d7e8f901', 'support', _dt("2024-06-18 11:00:00"), _dt("2024-06-18 12:00:00"), '01:00:00', 2, 'support.example.com', 'CHG-42', '1', 'Default', 10490, None, None, None, None, None),
    ],
    "session_event": [
        (1, 'Session Start', _dt("2024-06-18 10:10:00"), None, None, None, None),
        (1, 'Conference Member Added', _dt("2024-06-18 10:10:02"), 'Jane Customer', 'customer', None, None),
        (1, 'Conference Member Added', _dt("2024-06-18 10:10:10"), 'Alex Rep', 'representative', None, None),
        (1, 'Conference Owner Changed', _dt("2024-06-18 10:10:11"), None, None, 'Alex Rep', 'representative'),
        (1, 'Chat Message', _dt("2024-06-18 10:10:15"), 'Alex Rep', 'representative', 'Everyone', 'everyone'),
        (1, 'System Information Retrieved', _dt("2024-06-18 10:11:00"), 'Alex Rep', 'representative', 'Jane Customer', 'customer'),
        (1, 'File Upload', _dt("2024-06-18 10:21:40"), 'Alex Rep', 'representative', 'Jane Customer', 'customer'),
        (1, 'Session Note Added', _dt("2024-06-18 10:34:10"), 'Alex Rep', 'representative', None, None),
        (1, 'Session End', _dt("2024-06-18 10:35:23"), None, None, None, None),
        (2, 'Session Start', _dt("2024-06-18 10:36:40"), None, None, None, None),
        (2, 'Chat Message', _dt("2024-06-18 10:37:40"), 'Zoë Çelik', 'customer', 'Everyone', 'everyone'),
        (3, 'Session Start', _dt("2024-06-18 11:00:00"), None, None, None, None),
        (3, 'Command Shell Session Started', _dt("2024-06-18 11:01:40"), 'Jo Junior', 'representative', 'Sam Server', 'customer'),
        (3, 'Chat Message', _dt("2024-06-18 11:10:00"), 'Jo Junior', 'representative', 'Sam Server', 'customer'),
        (3, 'Files Shared', _dt("2024-06-18 11:11:40"), 'Jo Junior', 'representative', 'Sam Server', 'customer'),
        (3, 'Quantum Tunnel Opened', _dt("2024-06-18 11:13:20"), 'System', 'system', None, None),
        (3, 'Conference Owner Changed', _dt("2024-06-18 11:26:40"), 'Dana Lead', 'representative', 'Dana Lead', 'representative'),
        (3, 'Session End', _dt("2024-06-18 12:00:00"), None, None, None, None),
    ],
    "session_event_data": [
        (2, 'name', 'Jane Customer'),
        (2, 'private_ip', '10.1.2.3'),
        (2, 'public_ip', '203.0.113.10:53122'),
        (2, 'hostname', 'EXCORP-LT-0042'),
        (2, 'os', 'Windows 11 Enterprise x64 (23H2)'),
        (4, 'owner', 'Alex Rep'),
        (5, 'body', 'Hi Jane, I am taking a look now.'),
        (7, 'filename', 'C:\\Users\\jcustomer\\Downloads\\driver.zip'),
        (7, 'filesize', '1048576'),
        (8, 'body', 'Reinstalled printer driver; test page OK.'),
        (11, 'body', "Bonjour 👋 — l'écran reste noir, 日本語 OK?"),
        (13, 'shell', 'cmd.exe'),
        (13, 'instance', '0'),
        (14, 'body', 'Pasted log:\x01\x02 café ☃ done'),
        (15, 'filename', 'fix.ps1'),
        (15, 'filesize', '2048'),
        (15, 'filename', 'readme – lisez-moi.txt'),
        (15, 'filesize', '512'),
        (16, 'depth', '42'),
        (17, 'owner', 'Dana Lead'),
    ],
    "system_information": [
        (6, 'Overview', '<category name="Overview">\n                    <description>\n                        <field name="Computer Name">Computer Name</field>\n                        <field name="OS">OS</field>\n                    </description>\n                    <data>\n                        <row>\n                            <field name="Computer Name">EXCORP-LT-0042</field>\n                            <field name="OS">Windows 11 Enterprise</field>\n                        </row>\n                    </data>\n                </category>'),
    ],
    "user": [
        ('2', 1, '7', 'arep', 'Alex Rep', 'Alex', None, '198.51.100.20:61002', '192.168.10.5', 1, 1, 1523, 'HELPDESK-07', 'Windows 10 Enterprise x64 (22H2)'),
        ('12', 2, '9', 'tyamada', '山田 太郎', 'Taro', None, '198.51.100.21:61010', 'Unknown', 1, 1, 250, None, 'macOS 14.5'),
        ('22', 3, '13', 'jjunior', 'Jo Junior', 'Jo', '4', '198.51.100.30:61100', '192.168.10.30', 1, 0, 1800, 'HELPDESK-12', 'Windows 11 Enterprise'),
        ('23', 3, '14', 'dlead', 'Dana Lead', 'Dana (Support)', None, '198.51.100.31:61101', '192.168.10.31', 0, 1, 1700, 'HELPDESK-01', 'Windows 11 Enterprise'),
    ],
    "team": [
        (2, '3', 'Tier 1 Support', 1),
        (3, '3', 'Tier 1 Support', 0),
        (3, '5', 'Tier 2 Windows', 1),
    ],
    "endpoint": [
        (1, '3', 'Printer not working', 'Cannot print to floor 3 printer', 'Jane Customer', 'Example Corp', 'EX01', '203.0.113.10:53122', '10.1.2.3', 0, 'EXCORP-LT-0042', 'Windows 11 Enterprise x64 (23H2)'),
        (2, '11', "Laptop 💻 won't boot", 'Écran noir après la mise à jour 🙁', 'Zoë Çelik', '日本語株式会社', '', '[2001:db8::10]:50211', '10.9.8.7', 0, 'ZOE-PC', 'Windows 11 Pro x64 (23H2)'),
        (3, '21', '12', 'Disk full', 'Sam Server', 'Example Corp', 'EX01', '203.0.113.50:443', '10.0.0.50', 1, 'SRV-DB-01', 'Windows Server 2022'),
    ],
    "custom_attribute": [
        (1, 'Ticket Priority', 'ticket_priority', 'P2'),
        (3, 'Ticket Priority', 'ticket_priority', 'P1'),
        (3, 'Asset Tag', 'asset_tag', ''),
    ],
}
PRA_ACCESS_SESSION_ROWS = {
    "session": [
        ('c0ffee00d15ea5e0b0a7f1e2d3c4b5a6', 'support', _dt("2024-12-03 13:00:00"), _dt("2024-12-03 13:15:45"), '00:15:45', 1, 'support.example.com', '', None, None, 731, '6', 'Linux Servers', 'shared', '4', 'DC West Jumpoint'),
        ('c0ffee00d15ea5e0b0a7f1e2d3c4b5a7', 'support', _dt("2024-12-03 13:20:00"), None, '00:01:00', 0, 'support.example.com', '', None, None, 732, '17', 'Priya Admin', 'personal', None, None),
    ],
    "session_event": [
        (1, 'Session Start', _dt("2024-12-03 13:00:00"), 'Priya Admin', 'representative', None, None),
        (1, 'Conference Member Added', _dt("2024-12-03 13:00:01"), 'Priya Admin', 'representative', None, None),
        (1, 'Command Shell Session Started', _dt("2024-12-03 13:00:05"), 'Priya Admin', 'representative', 'web-01.example.internal', 'customer'),
        (1, 'File Download', _dt("2024-12-03 13:03:20"), 'Priya Admin', 'representative', 'web-01.example.internal', 'customer'),
        (1, 'Session End', _dt("2024-12-03 13:15:45"), 'System', 'system', None, None),
        (2, 'Session Start', _dt("2024-12-03 13:20:00"), 'Priya Admin', 'representative', None, None),
    ],
    "session_event_data": [
        (2, 'private_ip', '172.16.4.7'),
        (2, 'public_ip', '198.51.100.77:50123'),
        (2, 'hostname', 'OPS-WS-07'),
        (4, 'filename', '/var/log/syslog'),
        (4, 'filesize', '73400'),
    ],
    "system_information": [
    ],
    "user": [
        ('32', 1, '17', 'priya', 'Priya Admin (Ops)', 'Priya', None, '198.51.100.77:50123', '172.16.4.7', 1, 1, 945, 'OPS-WS-07', 'Windows 11 Enterprise x64'),
        ('33', 1, '18', 'ahmed', 'Ahmed Auditor', 'Ahmed', None, '198.51.100.78:50124', 'Unknown', 0, 0, 300, None, 'Windows 10'),
        ('42', 2, '17', 'priya', 'Priya Admin (Ops)', 'Priya', None, '198.51.100.77:50200', '172.16.4.7', 1, 1, 60, 'OPS-WS-07', 'Windows 11 Enterprise x64'),
    ],
    "team": [
    ],
    "endpoint": [
        (1, '31', None, None, 'web-01.example.internal', None, None, '10.20.0.11', '10.20.0.11', 0, 'web-01.example.internal', 'Ubuntu 22.04.4 LTS'),
        (2, '41', None, None, 'db-02', None, None, '10.20.0.12', '10.20.0.12', 0, 'db-02', 'Debian 12'),
    ],
    "custom_attribute": [
    ],
}


@pytest.mark.parametrize("name, expected", [("rs_support_session.xml", RS_SUPPORT_SESSION_ROWS),
                                            ("pra_access_session.xml", PRA_ACCESS_SESSION_ROWS)])
def test_parsed_fixture_row_for_row(db_url, name, expected):
    if not (DATA / name).exists():
        pytest.skip(f"tests/data/{name} arrives with the session parser")
    from ic.sessions.parser import iter_sessions

    d = dest(db_url, system_info=True)
    d.store_sessions(HOST, iter_sessions(DATA / name))
    d.close()
    db = dump(db_url)
    for table in t.ALL_TABLES:
        got = [tuple(r[c.name] for c in table.columns)[1:] for r in db[table.name]]
        assert got == expected[table.name], table.name
