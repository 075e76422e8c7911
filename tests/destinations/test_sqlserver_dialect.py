"""The SQL Server path without a SQL Server: DDL and every statement the SQL destination sends through SQLAlchemy's
mssql+pyodbc dialect, captured by a stand-in pyodbc module (SQL SERVER ITSELF IS MOCKED: tests that use it say
"mock_sql_server" in their names), plus what real PostgreSQL, real SQLite and the real SQLite ODBC driver prove.

What stays unverifiable here (needs a real SQL Server): the server's own parsing of the statements, Driver 17/18
TLS negotiation, Windows authentication, and locking/deadlock behaviour of concurrent writers."""
from __future__ import annotations

import copy
import os
import re
from datetime import datetime

import pyodbc
import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from ic.destinations import connection_string as cs
from ic.destinations import sql_schema as t
from ic.destinations.sql import SqlDestination, engine_kwargs
from ic.errors import DestinationUnavailable
from ic.sessions.model import Event, EventData
from ic.settings import schema as settings_schema
from tests.helpers import (
    HOST, MS18, FakeSqlServer, dest, dump, pra_session, rs_session, settings_on_mock_sql_server, stored_in_sqlite,
)

MAX_PARAMS = 2100  # SQL Server's limit per statement (SQLAlchemy batches at 2099)


# --- a stand-in pyodbc: answers the dialect's start-up queries and keeps inserted rows per table ---------------


def mock_sql_server_destination(driver: str = MS18) -> tuple[SqlDestination, FakeSqlServer]:
    server = FakeSqlServer()
    url = cs.build_url(cs.ConnectionParams(server="db1", database="ic", username="ic", password="Pw;1", driver=driver))
    d = dest(url)
    d._engine = create_engine(url, module=server.module(), **engine_kwargs(url))
    return d, server


def busy_sessions(n: int = 50, events: int = 60) -> list:
    """A full batch of sessions with many events (each with data rows): thousands of rows per table."""
    out = []
    for i in range(n):
        s = copy.deepcopy(rs_session() if i % 2 else pra_session())
        s.lsid = f"{i:032x}"
        s.events = s.events + [Event("Chat Message", 1718705500 + k, "Alex Rep", "representative", "2",
                                     body=f"message {k} of {i}", data=[EventData("body", f"message {k} of {i}"),
                                                                       EventData("k", str(k))])
                               for k in range(events)]
        out.append(s)
    return out


def mock_dump(server: FakeSqlServer) -> dict[str, list[dict]]:
    """The mock's tables shaped like tests.helpers.dump (every column, ids are 1..n per table)."""
    return {tb.name: [{c.name: r.get(c.name) for c in tb.columns} for r in server.tables.get(tb.name, [])]
            for tb in t.ALL_TABLES}


# --- DDL ------------------------------------------------------------------------------------------------------
def _ddl(metadata) -> str:
    d = mssql.dialect()  # no server version: the dialect's most conservative guesses (e.g. NTEXT for UnicodeText)
    parts = []
    for tb in metadata.sorted_tables:
        parts.append(str(CreateTable(tb).compile(dialect=d)))
        parts += [str(CreateIndex(ix).compile(dialect=d)) for ix in tb.indexes]
    return "\n".join(parts)


def test_settings_ddl_for_sql_server_uses_nvarchar_max_quotes_key_and_has_no_redundant_unique():
    ddl = _ddl(settings_schema.metadata)
    assert "NTEXT" not in ddl and "value NVARCHAR(max) NOT NULL" in ddl and "state_json NVARCHAR(max)" in ddl
    assert "[key] NVARCHAR(100) NOT NULL" in ddl and "PRIMARY KEY ([key])" in ddl  # KEY is reserved in T-SQL
    assert "enabled BIT NOT NULL" in ddl and "id INTEGER NOT NULL IDENTITY" in ddl
    assert "UNIQUE ([key])" not in ddl  # the primary key already is the unique index


def test_storage_ddl_for_sql_server():
    ddl = _ddl(t.metadata)
    assert "NTEXT" not in ddl and "IDENTITY" in ddl and "CREATE TABLE [user]" in ddl and "ON [user] (session_id)" in ddl
    assert ddl.count("BIGINT NOT NULL IDENTITY") == len(t.ALL_TABLES)
    # datetimes are whole seconds (unix time from the appliance): DATETIME holds them exactly
    assert "start_time DATETIME NULL" in ddl and "event_time DATETIME NULL" in ddl


@pytest.mark.parametrize("metadata", [t.metadata, settings_schema.metadata], ids=["storage", "settings"])
def test_index_keys_fit_sql_servers_900_byte_limit(metadata):
    def width(col) -> int:
        length = getattr(col.type, "length", None)
        return 2 * length if length else 8  # NVARCHAR(n): 2 bytes a unit; numbers: 8 at most
    for tb in metadata.tables.values():
        keys = [list(c.columns) for c in tb.constraints if c.__class__.__name__ in ("UniqueConstraint", "PrimaryKeyConstraint")]
        keys += [list(ix.columns) for ix in tb.indexes]
        for cols in keys:
            assert sum(width(c) for c in cols) <= 900, (tb.name, [c.name for c in cols])


@pytest.mark.parametrize("metadata", [t.metadata, settings_schema.metadata], ids=["storage", "settings"])
def test_no_multiple_or_cyclic_cascade_paths_which_sql_server_refuses(metadata):
    """SQL Server error 1785: a table reachable from another by two ON DELETE CASCADE paths (or a cycle)."""
    edges: dict[str, list[str]] = {}
    for tb in metadata.tables.values():
        for fk in tb.foreign_keys:
            if (fk.ondelete or "").upper() == "CASCADE":
                edges.setdefault(fk.column.table.name, []).append(tb.name)

    def paths(src: str, seen: tuple) -> list[tuple]:
        out = []
        for child in edges.get(src, []):
            assert child not in seen, f"cascade cycle through {child}"
            out.append(seen + (child,))
            out += paths(child, seen + (child,))
        return out

    for root in list(edges):
        ends = [p[-1] for p in paths(root, (root,))]
        assert len(ends) == len(set(ends)), (root, ends)


# --- every statement of a full batch, through the real mssql+pyodbc dialect -----------------------------------
def test_full_batch_statements_stay_under_2100_parameters_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    assert d.store_sessions(HOST, busy_sessions()) == 50
    for kind, sql, params, _fast in server.log:
        if kind == "execute":
            assert len(params) < MAX_PARAMS, sql[:80]
        elif kind == "executemany":
            assert all(len(p) < MAX_PARAMS for p in params)
    outputs = server.statements("INSERT INTO session_event (")
    assert len(outputs) > 1  # 3,000+ events x 7 columns: split into several OUTPUT statements
    assert all("OUTPUT inserted.id" in sql and "ORDER BY" in sql for _, sql, _, _ in outputs)
    # children without RETURNING: one pyodbc executemany with fast_executemany (Microsoft's driver)
    data = server.statements("INSERT INTO session_event_data")
    assert [(kind, fast) for kind, _, _, fast in data] == [("executemany", True)]
    assert [e[0] for e in server.log].count("commit") == 2  # tables (first use), then the batch: one transaction


def test_ids_from_output_rows_in_any_order_land_on_the_right_parents_on_mock_sql_server(tmp_path):
    """The mock returns OUTPUT rows reversed; the stored rows must still equal what real SQLite stores."""
    sessions = busy_sessions(n=12, events=300)  # 12 x 305 events: several insertmanyvalues batches
    d, server = mock_sql_server_destination()
    d.store_sessions(HOST, sessions)
    assert mock_dump(server) == stored_in_sqlite(tmp_path, sessions)


def test_storing_again_deletes_children_before_parents_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    d.store_sessions(HOST, busy_sessions(n=3, events=2))
    server.log.clear()
    d.store_sessions(HOST, busy_sessions(n=3, events=2))
    deletes = [" ".join(sql.split()).split(" WHERE")[0] for kind, sql, _, _ in server.log if sql.startswith("DELETE")]
    assert deletes == ["DELETE FROM session_event_data", "DELETE FROM system_information", "DELETE FROM session_event",
                       "DELETE FROM [user]", "DELETE FROM team", "DELETE FROM endpoint", "DELETE FROM custom_attribute",
                       "DELETE FROM session"]


def test_without_microsofts_driver_multi_row_inserts_also_stay_under_2100_parameters_on_mock_sql_server():
    d, server = mock_sql_server_destination(driver="FreeTDS")  # no fast_executemany: insertmanyvalues everywhere
    d.store_sessions(HOST, busy_sessions())
    assert not any(fast for *_, fast in server.log)
    assert all(len(p) < MAX_PARAMS for kind, _, p, _ in server.log if kind == "execute")
    assert len(server.statements("INSERT INTO session_event_data")) > 1


# --- text that SQL Server / PostgreSQL would refuse ------------------------------------------------------------
def test_emoji_count_twice_toward_nvarchar_length_on_mock_sql_server():
    """NVARCHAR(255) holds 255 UTF-16 code units: 200 emoji are 400. Over the limit, SQL Server refuses the whole
    statement ("String or binary data would be truncated"), failing the batch on every retry."""
    s = pra_session()
    s.jumpoint_name = "😀" * 200
    s.representatives[0].display_name = "x" + "😀" * 127  # 255 units of room: "x" + 127 emoji (254 units) fits
    d, server = mock_sql_server_destination()
    d.store_sessions(HOST, [s])
    name = server.tables["session"][0]["jumpoint_name"]
    assert name == "😀" * 127 and len(name.encode("utf-16-le")) // 2 == 254  # never half an emoji
    assert server.tables["user"][0]["display_name"] == "x" + "😀" * 127
    for table in t.ALL_TABLES:
        for col, length in t.max_lengths(table).items():
            for row in server.tables.get(table.name, []):
                if isinstance(row.get(col), str):
                    assert len(row[col].encode("utf-16-le")) // 2 <= length, (table.name, col)


def test_clip_text_counts_utf16_units():
    assert t.clip_text("a" * 10, 5) == "a" * 5
    assert t.clip_text("ab😀", 3) == "ab" and t.clip_text("ab😀", 4) == "ab😀"
    assert t.clip_text("é" * 300, 255) == "é" * 255  # accents are one unit
    assert t.clip_text("short", 255) == "short"


def test_nul_in_a_chat_body_is_stored_on_postgresql(pg_url):
    """A base64 encoded_body can decode to text with U+0000, which PostgreSQL refuses in text columns."""
    s = rs_session()
    s.events[2].body = "before\x00after"
    s.events[2].data = [EventData("body", "before\x00after")]
    s.external_key = "INC\x00 1"
    d = dest(pg_url)
    assert d.store_sessions(HOST, [s]) == 1
    d.close()
    db = dump(pg_url)
    assert [r["value"] for r in db["session_event_data"] if r["name"] == "body"] == ["before\ufffdafter"]
    assert db["session"][0]["external_key"] == "INC\ufffd 1"


def test_nul_is_kept_as_is_where_the_database_accepts_it(tmp_path):
    s = rs_session()
    s.events[2].data = [EventData("body", "before\x00after")]
    url = f"sqlite:///{tmp_path / 'ic.db'}"
    d = dest(url)
    d.store_sessions(HOST, [s])
    d.close()
    assert [r["value"] for r in dump(url)["session_event_data"] if r["name"] == "body"] == ["before\x00after"]


# --- connection -----------------------------------------------------------------------------------------------
def test_driver_18_connection_string_spells_out_encryption_and_keeps_a_trust_override():
    url = cs.build_url(cs.ConnectionParams(server="db1", database="ic", auth="windows", driver=MS18))
    odbc = cs.odbc_string(make_url(url))
    assert odbc == f"DRIVER={{{MS18}}};SERVER=db1;DATABASE=ic;Trusted_Connection=yes;Encrypt=yes;TrustServerCertificate=no"
    p = cs.parse_url(url)
    assert p.other == "Encrypt=yes;TrustServerCertificate=no"  # what the dialog shows in Other Connection Params
    p.other = "Encrypt=yes;TrustServerCertificate=yes"  # the user's change for a self-signed server
    assert cs.odbc_string(make_url(cs.build_url(p))).endswith(";Encrypt=yes;TrustServerCertificate=yes")
    p.other = "Encrypt=no"
    assert cs.odbc_string(make_url(cs.build_url(p))).endswith(";Trusted_Connection=yes;Encrypt=no")
    # Driver 17 (default Encrypt=no) is left exactly as the user wrote it
    d17 = cs.build_url(cs.ConnectionParams(server="db1", database="ic", auth="windows", driver="ODBC Driver 17 for SQL Server"))
    assert cs.odbc_string(make_url(d17)).endswith("DATABASE=ic;Trusted_Connection=yes")


def test_connection_string_reaches_pyodbc_whole_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    d.test()
    assert server.connect_strings == [f"DRIVER={{{MS18}}};SERVER=db1;DATABASE=ic;UID=ic;PWD={{Pw;1}};Encrypt=yes;"
                                      "TrustServerCertificate=no"]


def test_login_timeouts_reach_the_drivers():
    d, server = mock_sql_server_destination()
    d.test()
    assert server.connect_kwargs == [{"timeout": 30}]  # pyodbc's login timeout
    assert engine_kwargs("postgresql+psycopg://u@h/db")["connect_args"] == {"connect_timeout": 30}
    assert "connect_args" not in engine_kwargs("postgresql+psycopg://u@h/db?connect_timeout=3")  # the user's wins


def test_deadlock_victim_batch_is_written_again_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    server.fail_next_session_insert = pyodbc.Error(
        "40001", "[40001] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Transaction (Process ID 61) was "
                 "deadlocked on lock resources with another process and has been chosen as the deadlock victim. "
                 "Rerun the transaction. (1205) (SQLExecDirectW)")
    assert d.store_sessions(HOST, [rs_session(), pra_session()]) == 2
    assert [r["lsid"] for r in server.tables["session"]] == [rs_session().lsid, pra_session().lsid]
    assert [e[0] for e in server.log].count("rollback") >= 1


def test_other_database_errors_are_not_retried_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    server.fail_next_session_insert = pyodbc.ProgrammingError(
        "42000", "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]The INSERT permission was denied on "
                 "the object 'session'. (229) (SQLExecDirectW)")
    with pytest.raises(Exception, match="INSERT permission was denied") as err:
        d.store_sessions(HOST, [rs_session()])
    assert "Warehouse" in str(err.value) and "session" not in server.tables


def test_self_signed_certificate_error_names_destination_and_the_fix_without_password():
    d, _server = mock_sql_server_destination()
    driver_error = pyodbc.OperationalError(
        "08001", "[08001] [Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: [error:0A000086:SSL routines::"
                 "certificate verify failed:self-signed certificate] (-1) (SQLDriverConnect); PWD=Pw;1")
    err = d._fail(OperationalError("connect", {}, driver_error), "connect to")
    msg = str(err)
    assert isinstance(err, DestinationUnavailable)
    assert msg.startswith("Cannot connect to SQL destination Warehouse (SQL Server db1/ic): [08001] [Microsoft]")
    assert "TrustServerCertificate=yes" in msg and "Pw;1" not in msg and "('08001'" not in msg
    other = d._fail(OperationalError("x", {}, pyodbc.OperationalError("HYT00", "[HYT00] Login timeout expired")), "connect to")
    assert str(other).endswith(": [HYT00] Login timeout expired.")  # no certificate advice where it does not apply


# --- the ODBC path: the exact executemany statements, through pyodbc and a real ODBC driver -------------------
SQLITE_ODBC = "SQLite3"


@pytest.mark.skipif(SQLITE_ODBC not in pyodbc.drivers(), reason="libsqliteodbc is not installed")
def test_mssql_executemany_statements_odbc_path_via_sqlite_odbc_driver(tmp_path):
    """Replays, verbatim, the executemany INSERTs the mssql dialect sends (brackets and all: SQLite accepts [user])
    with their parameters through pyodbc into the real SQLite ODBC driver, fast_executemany off. Proves pyodbc binds
    our Python values (str with emoji/accents, None, int, datetime) for each of those statements; the OUTPUT
    statements are T-SQL only and stay covered by the mock tests above."""
    sessions = busy_sessions(n=4, events=3)
    sessions[0].representatives[0].display_name = "Zoë 😀 Алекс"
    d, server = mock_sql_server_destination()
    d.store_sessions(HOST, sessions)
    many = [(sql, params) for kind, sql, params, _ in server.log if kind == "executemany"]
    assert {re.match(r"INSERT INTO (\S+)", sql).group(1) for sql, _ in many} >= {"[user]", "endpoint", "session_event_data"}
    db = tmp_path / "odbc.db"
    sqlite_engine = create_engine(f"sqlite:///{db}")
    t.metadata.create_all(sqlite_engine)
    sqlite_engine.dispose()
    conn = pyodbc.connect(f"DRIVER={{{SQLITE_ODBC}}};Database={db}", autocommit=False)
    try:
        cur = conn.cursor()
        cur.fast_executemany = False
        cur.execute("PRAGMA foreign_keys=OFF")  # parents come from the OUTPUT statements, not replayed here
        for sql, params in many:
            cur.executemany(sql, params)
        conn.commit()
        stored = cur.execute("SELECT display_name FROM [user] ORDER BY id").fetchall()
        assert stored[0][0] == "Zoë 😀 Алекс"
        counts = {tb: cur.execute(f"SELECT COUNT(*) FROM {tb}").fetchone()[0] for tb in ("[user]", "session_event_data")}
    finally:
        conn.close()
    assert counts == {"[user]": len(server.tables["user"]), "session_event_data": len(server.tables["session_event_data"])}


def test_datetimes_sent_to_sql_server_are_naive_whole_seconds_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    d.store_sessions(HOST, [rs_session()])
    times = [v for _, sql, params, _ in server.statements("INSERT INTO session") for v in params if isinstance(v, datetime)]
    assert times and all(v.tzinfo is None and v.microsecond == 0 for v in times)
    assert server.tables["session"][0]["start_time"] == datetime(2024, 6, 18, 10, 10)


def test_settings_database_created_on_mock_sql_server(monkeypatch):
    server = FakeSqlServer()
    store = settings_on_mock_sql_server(monkeypatch, server)
    assert store.engine.pool._pre_ping is True and server.connect_kwargs[0] == {"timeout": 30}
    ddl = "\n".join(sql for kind, sql, _, _ in server.log if sql.lstrip().startswith("CREATE"))
    assert "CREATE TABLE ic_app_setting" in ddl and "NTEXT" not in ddl and "[key] NVARCHAR(100)" in ddl
    from ic.settings.schema import SCHEMA_VERSION

    assert server.tables["ic_meta"] == [{"id": 1, "[key]": "schema_version", "value": str(SCHEMA_VERSION)}]
    store.close()


def test_settings_database_certificate_error_says_what_to_change_without_password_on_mock_sql_server(monkeypatch):
    from ic.errors import ConfigError

    server = FakeSqlServer()

    def refuse(conn_str, **kw):
        raise pyodbc.OperationalError("08001", "[08001] [Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: "
                                      "The certificate chain was issued by an authority that is not trusted. Pw;1")

    module = server.module()
    module.connect = refuse
    server.module = lambda: module
    with pytest.raises(ConfigError) as err:
        settings_on_mock_sql_server(monkeypatch, server)
    msg = str(err.value)
    assert msg.startswith("Cannot open the settings database: [08001] [Microsoft][ODBC Driver 18 for SQL Server]SSL")
    assert "TrustServerCertificate=yes" in msg and "Pw;1" not in msg and msg.count("\n") == 0


def test_insert_of_one_row_uses_output_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    with d.engine.begin() as conn:
        ids = conn.execute(insert(t.session).returning(t.session.c.id, sort_by_parameter_order=True),
                           [t.session_row(HOST, rs_session())]).scalars().all()
    assert ids == [1]
    assert "OUTPUT inserted.id" in server.statements("INSERT INTO session")[0][1]


@pytest.mark.skipif(not os.environ.get("IC_TEST_MSSQL_URL"), reason="set IC_TEST_MSSQL_URL to a real SQL Server")
def test_real_sql_server_round_trip(tmp_path):
    """Runs only where a real SQL Server is reachable: IC_TEST_MSSQL_URL = an mssql+pyodbc URL of an EMPTY database
    (e.g. Docker mcr.microsoft.com/mssql/server, ODBC Driver 18, TrustServerCertificate=yes). Same rows as SQLite."""
    url = os.environ["IC_TEST_MSSQL_URL"]
    sessions = busy_sessions(n=50, events=60)
    sessions[0].jumpoint_name = "😀" * 200
    sessions[1].events[2].data = [EventData("body", "nul\x00inside")]
    d = dest(url)
    assert d.test().startswith("Connected")
    assert d.store_sessions(HOST, sessions) == 50
    assert d.store_sessions(HOST, sessions) == 50  # replaced, not duplicated
    d.close()
    assert dump(url) == stored_in_sqlite(tmp_path, sessions)


def test_login_failure_names_destination_on_mock_sql_server():
    from ic.errors import DestinationError

    d, server = mock_sql_server_destination()
    module = server.module()

    def refuse(conn_str, **kw):
        raise pyodbc.InterfaceError("28000", "[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login "
                                    "failed for user 'ic'. (18456) (SQLDriverConnect)")

    module.connect = refuse
    url = str(d.config["url"])
    d._engine = create_engine(url, module=module, **engine_kwargs(url))
    with pytest.raises(DestinationError) as err:
        d.test()
    assert str(err.value) == ("Cannot connect to SQL destination Warehouse (SQL Server db1/ic): [28000] [Microsoft][ODBC "
                              "Driver 18 for SQL Server][SQL Server]Login failed for user 'ic'. (18456) (SQLDriverConnect).")


# --- storage tables made by the original Integration Client ---------------------------------------------------
JUMP_COLUMNS = ("jump_group_id", "jump_group_name", "jump_group_type", "jumpoint_id", "jumpoint_name")


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ic.db'}"
    return request.getfixturevalue("pg_url")


def test_tables_of_the_original_client_get_the_extra_columns(storage_url):
    """The guide's session table has no jump_* columns: inserting into one made by the original client failed."""
    from sqlalchemy import inspect as sa_inspect, text

    engine = create_engine(storage_url)
    with engine.begin() as conn:
        t.metadata.create_all(conn)
        for col in JUMP_COLUMNS:
            conn.execute(text(f"ALTER TABLE session DROP COLUMN {col}"))
    engine.dispose()
    d = dest(storage_url)
    assert d.store_sessions(HOST, [pra_session(), rs_session()]) == 2
    d.close()
    engine = create_engine(storage_url)
    assert set(JUMP_COLUMNS) <= {c["name"] for c in sa_inspect(engine).get_columns("session")}
    engine.dispose()
    assert dump(storage_url)["session"][0]["jumpoint_name"] == "DC Jumpoint"


def test_add_column_statement_for_sql_server():
    from ic.destinations.sql import add_column_sql

    d = mssql.dialect()
    assert add_column_sql(d, t.session.c.jumpoint_name) == "ALTER TABLE session ADD jumpoint_name NVARCHAR(255) NULL"
    assert add_column_sql(d, t.user.c.operating_system) == "ALTER TABLE [user] ADD operating_system NVARCHAR(255) NULL"


def test_new_tables_are_not_inspected_column_by_column_on_mock_sql_server():
    d, server = mock_sql_server_destination()
    d.store_sessions(HOST, [rs_session()])
    assert not [sql for _, sql, _, _ in server.log if sql.startswith("ALTER")]
