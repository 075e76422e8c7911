"""SQL destination, the bulk paths (issue 13): one description per table makes the same DDL as before, a huge
session's events are gone through once and written a chunk at a time, SQLite commits through the write-ahead log
with full durability, and the SQL Server path (SQL SERVER ITSELF IS MOCKED in the tests named "mock_sql_server")
chunks the same way with every row on its own parent."""
from __future__ import annotations

import copy
import random
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from ic.destinations import sql as sql_mod
from ic.destinations import sql_schema as t
from ic.errors import SessionValueError
from ic.sessions.model import Event, EventData, SystemInfoCategory
from ic.sessions.timeutil import from_unix
from tests.helpers import HOST, FakeSqlServer, dest, dump, rs_session

SNAPSHOT = Path(__file__).with_name("sql_schema_ddl.sql")  # the DDL as written out table by table before issue 13


def compiled_ddl() -> str:
    out = []
    for name, d in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect()), ("mssql", mssql.dialect()),
                    ("mysql", mysql.dialect())):
        for tb in t.metadata.sorted_tables:
            out.append(f"-- {name} {tb.name}\n" + str(CreateTable(tb).compile(dialect=d)).strip())
            out += [str(CreateIndex(ix).compile(dialect=d)).strip() for ix in sorted(tb.indexes, key=lambda i: i.name)]
    return "\n".join(out) + "\n"


def test_one_description_per_table_compiles_to_the_same_ddl_as_before_on_every_dialect():
    assert compiled_ddl() == SNAPSHOT.read_text()


def test_row_functions_follow_the_columns_they_describe():
    for name, shape in t.SHAPES.items():
        table_cols = [c.name for c in shape.table.columns]
        assert sorted(shape.columns(with_id=True)) == sorted(table_cols), name


class CountingEvents:
    """A spilled session's events as the parser hands them: re-iterable, with len(), read again on every pass."""

    def __init__(self, events: list[Event]) -> None:
        self._events, self.passes = events, 0

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self):
        self.passes += 1
        return iter(self._events)


def huge(n_events: int, lsid: str = "huge-1", with_info: bool = False):
    s = copy.deepcopy(rs_session())
    s.lsid = lsid
    info = [SystemInfoCategory("Overview", information_xml="<category name='Overview'/>")] if with_info else []
    s.events = CountingEvents([Event("Chat Message", 1718705400 + k, "Rep", "representative", "2",
                                     data=[EventData("body", f"message {k}")], system_information=info)
                               for k in range(n_events)])
    return s


def statement_sizes(engine, seen: list) -> None:
    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(("INSERT", "COPY")):
            seen.append((statement.split("(")[0].strip(), len(parameters) if executemany else 1))
    event.listen(engine, "before_cursor_execute", before)


def test_huge_session_events_are_gone_through_once_and_written_a_chunk_at_a_time(tmp_path):
    url = f"sqlite:///{tmp_path / 'huge.db'}"
    s = huge(2500, with_info=True)
    d = dest(url, system_info="true")
    d.store_sessions(HOST, [])
    seen: list = []
    statement_sizes(d.engine, seen)
    assert d.store_sessions(HOST, [s]) == 1
    d.close()
    assert s.events.passes == 1
    sizes = {}
    for what, n in seen:
        sizes.setdefault(what, []).append(n)
    assert sizes["INSERT INTO session_event"] and max(sizes["INSERT INTO session_event"]) <= sql_mod.CHUNK_ROWS
    assert max(sizes["INSERT INTO session_event_data"]) <= sql_mod.CHUNK_ROWS
    assert max(sizes["INSERT INTO system_information"]) <= sql_mod.SYSINFO_CHUNK_ROWS
    assert sum(sizes["INSERT INTO session_event"]) == 2500 and sum(sizes["INSERT INTO system_information"]) == 2500
    db = dump(url)
    assert len(db["session_event"]) == 2500 and len(db["session_event_data"]) == 2500
    by_event = {r["session_event_id"]: r["value"] for r in db["session_event_data"]}
    assert all(by_event[r["id"]] == f"message {k}" for k, r in enumerate(db["session_event"]))


def test_huge_session_on_postgresql_ids_drawn_per_chunk_land_on_their_parents(pg_url):
    s = huge(2300)
    d = dest(pg_url)
    assert d.store_sessions(HOST, [s, rs_session()]) == 2
    d.close()
    assert s.events.passes == 1
    db = dump(pg_url)
    assert len(db["session_event"]) == 2300 + 5
    by_event = {r["session_event_id"]: r["value"] for r in db["session_event_data"] if r["name"] == "body"}
    first = [r for r in db["session_event"] if r["session_id"] == 1]
    assert [by_event[r["id"]] for r in first] == [f"message {k}" for k in range(2300)]


def test_bad_event_time_late_in_a_huge_session_rolls_the_batch_back_and_names_the_session(db_url):
    s = huge(1800, lsid="late-bad")
    s.events._events[1700].timestamp = 2**62
    d = dest(db_url)
    with pytest.raises(SessionValueError) as err:
        d.store_sessions(HOST, [rs_session(), s])
    assert err.value.lsid == "late-bad" and err.value.field == "event timestamp"
    assert dump(db_url)["session"] == [] and dump(db_url)["session_event"] == []
    d.close()


def test_sqlite_destination_commits_through_the_wal_with_full_durability(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    d = dest(url)
    d.store_sessions(HOST, [rs_session()])
    with d.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: never NORMAL or OFF
    d.close()
    with sqlite3.connect(tmp_path / "w.db") as plain:  # another reader sees the committed session
        assert plain.execute("SELECT count(*) FROM session").fetchone() == (1,)


def test_text_stamps_equal_sqlalchemys_datetime_text():
    lo, hi = t.TIME_RANGE
    rnd = random.Random(13)
    for ts in [lo, hi, 0, -1, 59, 60, 86399, 86400, -86401] + [rnd.randint(lo, hi) for _ in range(20_000)]:
        assert sql_mod.text_stamp(ts) == from_unix(ts).isoformat(" ", "microseconds"), ts


def test_stored_times_read_back_as_the_same_datetimes(db_url):
    s = rs_session()
    d = dest(db_url)
    d.store_sessions(HOST, [s])
    d.close()
    db = dump(db_url)
    assert db["session"][0]["start_time"] == from_unix(s.start_time)
    assert [r["event_time"] for r in db["session_event"]] == [from_unix(e.timestamp) for e in s.events]


def mock_sql_server_destination():
    from ic.destinations import connection_string as cs
    from sqlalchemy import create_engine

    server = FakeSqlServer()
    url = cs.build_url(cs.ConnectionParams(server="db1", database="ic", username="ic", password="Pw;1"))
    d = dest(url)
    d._engine = create_engine(url, module=server.module(), **sql_mod.engine_kwargs(url))
    return d, server


def test_huge_session_on_mock_sql_server_is_chunked_and_every_row_lands_on_its_parent(tmp_path, monkeypatch):
    """Stand-in for SQL Server: the statements the mssql+pyodbc dialect sends for a session larger than one chunk
    (OUTPUT ids per chunk, children after their chunk), stored rows equal to what real SQLite stores."""
    monkeypatch.setattr(sql_mod, "RETURNING_CHUNK_ROWS", 700)
    s = huge(1500)
    d, server = mock_sql_server_destination()
    assert d.store_sessions(HOST, [s]) == 1
    assert s.events.passes == 1
    outputs = server.statements("INSERT INTO session_event (")
    assert all("OUTPUT inserted.id" in sql for _, sql, _, _ in outputs)
    data = server.statements("INSERT INTO session_event_data")
    assert len(data) == 3 and all(len(p) <= 700 for _, _, p, _ in data)  # 700 + 700 + 100 rows
    lite = f"sqlite:///{tmp_path / 'ic.db'}"
    real = dest(lite)
    real.store_sessions(HOST, [huge(1500)])
    real.close()
    got = {tb.name: [{c.name: r.get(c.name) for c in tb.columns} for r in server.tables.get(tb.name, [])]
           for tb in t.ALL_TABLES}
    assert got == dump(lite)


def spilled_document(events: int) -> bytes:
    ns = "http://www.bomgar.com/namespaces/API/reporting"
    body = "".join(f'<event timestamp="{1700000010 + i}" event_type="Chat Message"><performed_by type="representative"'
                   f' gsnumber="1">Rep</performed_by><body>{i} {"x" * 80}</body></event>\n' for i in range(events))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{ns}">\n<session lsid="spilled-1">'
            '<session_type>support</session_type><lseq>7</lseq>'
            '<start_time timestamp="1700000000">2023-11-14T22:13:20+00:00</start_time>'
            '<end_time timestamp="1700003600">2023-11-14T23:13:20+00:00</end_time>'
            f'<session_details>\n{body}</session_details></session>\n</session_list>\n').encode()


def test_a_really_spilled_session_is_read_back_from_disk_once_per_store(tmp_path, monkeypatch):
    from ic.sessions import spill
    from ic.sessions.parser import iter_sessions

    passes = []
    real_iter = spill.SpilledEvents.__iter__
    monkeypatch.setattr(spill.SpilledEvents, "__iter__", lambda self: (passes.append(1), real_iter(self))[1])
    folder = tmp_path / "spill"
    folder.mkdir()
    (s,) = list(iter_sessions(spilled_document(2600), product="rs", spill_over=64 << 10, spill_dir=folder))
    assert s.spilled
    url = f"sqlite:///{tmp_path / 'ic.db'}"
    d = dest(url)
    d.store_sessions(HOST, [])
    passes.clear()
    assert d.store_sessions(HOST, [s]) == 1
    d.close()
    assert len(passes) == 1
    db = dump(url)
    assert len(db["session_event"]) == 2600 and db["session_event_data"][-1]["value"].startswith("2599 ")
    s.close()
