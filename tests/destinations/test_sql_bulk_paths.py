"""SQL destination, the bulk writers of issue 13 on real SQLite and real PostgreSQL: row makers that build each row
once (ids as arguments, times as text, NUL made U+FFFD on PostgreSQL) equal the tables' row descriptions, ids drawn
in blocks land on their parents, replaced sessions leave no orphan rows (SQLite does not check the foreign keys on
the writing connection), the one-query table check still adds missing columns, and a connection the server dropped
between batches costs a retry, not the batch (no ping per batch)."""
from __future__ import annotations

import copy
import itertools
import random
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ic.destinations import sql as sql_mod
from ic.destinations import sql_schema as t
from ic.sessions.model import CustomAttribute, Event, EventData, SystemInfoCategory
from ic.sessions.timeutil import from_unix
from tests.helpers import HOST, dest, dump, in_progress, rs_session

ODD_TEXT = [None, "", "plain", "x" * 49, "y" * 50, "z" * 51, "é" * 120, "😀" * 30, "a😀" * 140, "T" * 300,
            "nul\x00inside", "\x00"]


def _odd(rnd: random.Random):
    return rnd.choice(ODD_TEXT)


def _odd_session(rnd: random.Random):
    s = copy.deepcopy(rs_session())
    for attr in ("session_type", "duration", "external_key", "public_site_id", "public_site_name", "jump_group_id",
                 "jump_group_name", "jump_group_type", "jumpoint_id", "jumpoint_name"):
        setattr(s, attr, _odd(rnd))
    s.start_time = rnd.choice([None, t.TIME_RANGE[0], t.TIME_RANGE[1], 0, -1, rnd.randint(*t.TIME_RANGE)])
    for r in s.representatives + s.customers:
        r.display_name, r.hostname = _odd(rnd), _odd(rnd)
    s.custom_attributes = [*s.custom_attributes, CustomAttribute(_odd(rnd), _odd(rnd), _odd(rnd))]
    for e in s.events:
        e.event_type, e.performed_by, e.destination_type = _odd(rnd) or "x", _odd(rnd), _odd(rnd)
        e.timestamp = rnd.choice([None, rnd.randint(*t.TIME_RANGE)])
        e.data = [*e.data, EventData(_odd(rnd), _odd(rnd))]
        e.system_information = [SystemInfoCategory(_odd(rnd) or "General", information_xml=_odd(rnd) or "")]
    return s


def _nul_free(row: tuple) -> tuple:
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)


def test_row_makers_equal_the_tables_row_descriptions_for_odd_values():
    """Every table's maker gives the row its description gives (clipped text, text times), and with nul_free the
    same row with NUL replaced, for text at and beyond its column's length, surrogate pairs and NUL."""
    rnd = random.Random(13)
    for _ in range(40):
        s = _odd_session(rnd)
        assert t.SHAPES["session"].maker("id", "host_name")(7, HOST, s) == \
            t.SHAPES["session"].row((7, HOST), s, t.text_stamp)
        assert t.SHAPES["session"].maker("id", "host_name", nul_free=True)(7, HOST, s) == \
            _nul_free(t.SHAPES["session"].row((7, HOST), s, t.text_stamp))
        for table, attr in t.SESSION_ITEMS:
            shape = t.SHAPES[table.name]
            for item in getattr(s, attr):
                assert shape.maker("session_id")(7, item) == shape.row((7,), item, t.text_stamp)
        for e in s.events:
            shape = t.SHAPES["session_event"]
            assert shape.maker("id", "session_id")(9, 7, e) == shape.row((9, 7), e, t.text_stamp)
            assert shape.maker("id", "session_id", nul_free=True)(9, 7, e) == \
                _nul_free(shape.row((9, 7), e, t.text_stamp))
            for table, items in (("session_event_data", e.data), ("system_information", e.system_information)):
                shape = t.SHAPES[table]
                for item in items:
                    assert shape.maker("session_event_id")(9, item) == shape.row((9,), item, t.text_stamp)


def test_inline_text_times_equal_sqlalchemys_datetime_text_across_the_whole_range():
    make = t.SHAPES["session_event"].maker("id", "session_id")
    lo, hi = t.TIME_RANGE
    rnd = random.Random(7)
    for ts in [lo, hi, -1, 0, 59, 60, 3599, 86399, 86400, 951_782_400, 4_107_542_399] + \
            [rnd.randint(lo, hi) for _ in range(5000)]:
        assert make(1, 1, Event("x", ts))[3] == from_unix(ts).isoformat(" ", "microseconds") == t.text_stamp(ts)


def orphans(url: str) -> dict[str, int]:
    checks = {
        "session_event": "SELECT count(*) FROM session_event c LEFT JOIN session p ON p.id = c.session_id "
                         "WHERE p.id IS NULL",
        "session_event_data": "SELECT count(*) FROM session_event_data c LEFT JOIN session_event p "
                              "ON p.id = c.session_event_id WHERE p.id IS NULL",
        "system_information": "SELECT count(*) FROM system_information c LEFT JOIN session_event p "
                              "ON p.id = c.session_event_id WHERE p.id IS NULL",
    }
    for name in ("user", "team", "endpoint", "custom_attribute"):
        checks[name] = (f'SELECT count(*) FROM "{name}" c LEFT JOIN session p ON p.id = c.session_id '
                        "WHERE p.id IS NULL")
    engine = create_engine(url)
    with engine.connect() as conn:
        out = {name: conn.execute(text(sql)).scalar() for name, sql in checks.items()}
    engine.dispose()
    return out


def many(n: int, prefix: str) -> list:
    out = []
    for i in range(n):
        s = copy.deepcopy(rs_session())
        s.lsid = f"{prefix}{i:03d}"
        out.append(s)
    return out


def test_sessions_replaced_again_and_again_leave_no_orphan_rows(db_url):
    """In progress, then ended, then stored again, in batches that mix new and replaced sessions: every child row
    has its parent and nothing is left of the replaced versions."""
    d = dest(db_url, system_info="true")
    first = many(60, "r")
    d.store_sessions(HOST, [in_progress(copy.deepcopy(s)) for s in first])
    d.store_sessions(HOST, first[10:30] + many(5, "n"))
    d.store_sessions(HOST, first + many(5, "n"))
    d.close()
    assert orphans(db_url) == {name: 0 for name in orphans(db_url)}
    db = dump(db_url)
    assert len(db["session"]) == 65 and all(r["end_time"] is not None for r in db["session"])
    assert len(db["session_event"]) == 65 * len(rs_session().events)


def test_sqlite_writing_connection_does_not_check_foreign_keys_but_the_schema_declares_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    d = dest(url)
    d.store_sessions(HOST, [rs_session()])
    with d.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        declared = conn.exec_driver_sql("SELECT count(*) FROM pragma_foreign_key_list('session_event')").scalar()
    d.close()
    assert declared == 1


def test_postgresql_event_ids_drawn_in_small_blocks_land_on_their_parents(pg_url, monkeypatch):
    """More events than one draw (ID_BLOCK made tiny), and a session whose events say fewer than they are: ids are
    drawn on, in order, and every data row is on its own event."""

    class Undercounted(list):
        def __len__(self) -> int:
            return 1

    monkeypatch.setattr(sql_mod, "ID_BLOCK", 7)
    sessions = many(4, "b")
    for k, s in enumerate(sessions):
        s.events = [Event("Chat Message", 1_700_000_000 + i, "Rep", data=[EventData("body", f"{s.lsid} {i}")])
                    for i in range(9 + k)]
    sessions[2].events = Undercounted(sessions[2].events)
    d = dest(pg_url)
    assert d.store_sessions(HOST, sessions) == 4
    d.close()
    db = dump(pg_url)
    lsid_of = {r["id"]: r["lsid"] for r in db["session"]}
    body_of = {r["session_event_id"]: r["value"] for r in db["session_event_data"]}
    for lsid, events in itertools.groupby(db["session_event"], key=lambda r: lsid_of[r["session_id"]]):
        assert [body_of[r["id"]] for r in events] == [f"{lsid} {i}" for i in range(9 + int(lsid[1:]))]
    assert len(db["session_event"]) == sum(9 + k for k in range(4))


def test_nul_in_any_text_is_stored_as_replacement_character_on_postgresql_and_kept_on_sqlite(db_url):
    s = copy.deepcopy(rs_session())
    s.external_key = "key\x00"
    s.events[0].performed_by = "Rep\x00Name"
    s.events[1].data = [*s.events[1].data, EventData("body", "before\x00after")]
    d = dest(db_url)
    d.store_sessions(HOST, [s])
    d.close()
    db = dump(db_url)
    nul = "\ufffd" if db_url.startswith("postgresql") else "\x00"
    assert db["session"][0]["external_key"] == f"key{nul}"
    assert db["session_event"][0]["performed_by"] == f"Rep{nul}Name"
    assert f"before{nul}after" in [r["value"] for r in db["session_event_data"]]


def test_table_missing_a_column_still_gets_it_when_the_one_query_check_fails(db_url):
    """A storage database made by the original client (no session.jump_* columns): the catalogue query sees a
    column missing, and the full path adds it before the first insert."""
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        t.metadata.create_all(conn)
        assert sql_mod._all_columns_there(conn)
        conn.execute(text("ALTER TABLE session DROP COLUMN jumpoint_name"))
        assert not sql_mod._all_columns_there(conn)
    engine.dispose()
    s = copy.deepcopy(rs_session())
    s.jumpoint_name = "JP"
    d = dest(db_url)
    assert d.store_sessions(HOST, [s]) == 1
    d.close()
    assert dump(db_url)["session"][0]["jumpoint_name"] == "JP"


def test_connection_dropped_by_postgresql_between_batches_costs_a_retry_not_the_batch(pg_url):
    """No ping per batch: the pooled connection the server closed (a restart, an idle timeout) fails the next
    batch's first statement; the batch runs again on a new connection and is stored once."""
    d = dest(pg_url)
    d.store_sessions(HOST, many(3, "a"))
    with d.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()
    assert d.store_sessions(HOST, many(3, "b") + many(1, "a")) == 4
    d.close()
    assert sorted(r["lsid"] for r in dump(pg_url)["session"]) == ["a000", "a001", "a002", "b000", "b001", "b002"]


NASTY = ["it's", "back\\slash", "\\'", "'; DROP TABLE session; --", "E'\\x41'", "%s %(x)s $1 ?", "two\nlines\ttab",
         "ключ 日本 😀", "''", "\\", "end\\"]


def test_text_that_looks_like_sql_is_stored_exactly_as_sent(db_url):
    """Quotes, backslashes, placeholders and comment markers in any text come back unchanged from both writers."""
    s = copy.deepcopy(rs_session())
    s.external_key, s.public_site_name, s.jumpoint_name = NASTY[3], NASTY[1], NASTY[4]
    s.custom_attributes = [CustomAttribute(f"code{i}", v, v) for i, v in enumerate(NASTY)]
    s.representatives[0].display_name = NASTY[0]
    s.customers[0].issue_description = NASTY[6]
    d = dest(db_url)
    d.store_sessions(HOST, [s])
    d.store_sessions(HOST, [copy.deepcopy(s)])  # replaced: the same again
    d.close()
    db = dump(db_url)
    assert len(db["session"]) == 1
    row = db["session"][0]
    assert (row["external_key"], row["public_site_name"], row["jumpoint_name"]) == (NASTY[3], NASTY[1], NASTY[4])
    assert [r["value"] for r in db["custom_attribute"]] == NASTY
    assert [r["display_name"] for r in db["custom_attribute"]] == NASTY
    assert db["user"][0]["display_name"] == NASTY[0]
    assert db["endpoint"][0]["issue_description"] == NASTY[6]


def test_connection_test_after_postgresql_dropped_the_pooled_connection_still_passes(pg_url):
    d = dest(pg_url)
    assert d.test() == sql_mod.TEST_OK
    with d.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()
    assert d.test() == sql_mod.TEST_OK
    d.close()
