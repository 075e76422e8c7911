"""SQL destination, fast path and storage checks, on real SQLite and real PostgreSQL:
ids without a round trip per row, ids that never collide with the database's own, and values checked against the
storage types before anything is written (one bad session names itself; the others of its batch can be stored)."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import create_engine, event, insert, text

from ic.destinations import sql_schema as t
from ic.errors import SessionValueError
from tests.helpers import HOST, dest, dump, in_progress, rs_session


def many(n: int, prefix: str = "s") -> list:
    out = []
    for i in range(n):
        s = copy.deepcopy(rs_session())
        s.lsid = f"{prefix}{i:04d}"
        out.append(s)
    return out




def test_a_batch_takes_a_few_statements_not_one_per_row(db_url):
    d = dest(db_url)
    d.store_sessions(HOST, [])
    seen: list[str] = []
    event.listen(d.engine, "before_cursor_execute", lambda *a: seen.append(a[2]), named=False)
    batch = many(49)
    assert d.store_sessions(HOST, batch) == 49
    d.close()
    # 49 sessions, 245 events, 49*4 child rows: a constant number of statements, far below one per row
    assert len(seen) <= 20, seen
    db = dump(db_url)
    assert len(db["session"]) == 49 and len(db["session_event"]) == 245
    by_id = {r["id"]: r["lsid"] for r in db["session"]}
    # every child row points at its own session: the events of s0007 belong to s0007
    ev = [r for r in db["session_event"] if by_id[r["session_id"]] == "s0007"]
    assert [r["type"] for r in ev] == [e.event_type for e in batch[7].events]
    data = {r["session_event_id"] for r in db["session_event_data"]}
    assert data <= {r["id"] for r in db["session_event"]}


def test_ids_continue_after_rows_others_wrote_and_the_database_keeps_counting(db_url):
    """Rows written by someone else (the vendor's client, default ids) before and after ours never collide."""
    d = dest(db_url)
    d.store_sessions(HOST, many(3, "a"))
    engine = create_engine(db_url)
    with engine.begin() as conn:  # another writer using the database's own id generation
        conn.execute(insert(t.session), [{"lsid": "other-1", "host_name": HOST}])
    d.store_sessions(HOST, many(3, "b"))
    with engine.begin() as conn:
        conn.execute(insert(t.session), [{"lsid": "other-2", "host_name": HOST}])
        ids = conn.execute(text("SELECT id FROM session ORDER BY id")).scalars().all()
    engine.dispose()
    d.store_sessions(HOST, many(3, "a"))  # stored again: replaced, not duplicated
    d.close()
    assert len(ids) == len(set(ids)) == 8
    assert sorted(r["lsid"] for r in dump(db_url)["session"]) == sorted(
        ["other-1", "other-2"] + [f"a{i:04d}" for i in range(3)] + [f"b{i:04d}" for i in range(3)])


def test_in_progress_session_is_replaced_by_its_ended_version(db_url):
    d = dest(db_url)
    d.store_sessions(HOST, [in_progress(rs_session())])
    d.store_sessions(HOST, [rs_session()])
    d.close()
    db = dump(db_url)
    assert len(db["session"]) == 1 and db["session"][0]["end_time"] is not None
    assert len(db["session_event"]) == 5


# --- values checked against the storage types before the insert -------------------------------------------------
def _bad(field: str, value, lsid: str = "bad-1"):
    s = rs_session()
    s.lsid = lsid
    if field == "seconds_involved":
        s.representatives[0].seconds_involved = value
    elif field == "event timestamp":
        s.events[1].timestamp = value
    else:
        setattr(s, field, value)
    return s


@pytest.mark.parametrize("field,value", [
    ("file_transfer_count", 99_999_999_999), ("file_transfer_count", -(2**31) - 1), ("lseq", 2**63),
    ("seconds_involved", 2**40), ("start_time", 10**12), ("end_time", -10**11), ("event timestamp", 2**62),
])
def test_a_value_out_of_its_columns_range_names_the_session_and_field_and_writes_nothing(db_url, field, value):
    d = dest(db_url)
    good = rs_session()
    with pytest.raises(SessionValueError) as err:
        d.store_sessions(HOST, [good, _bad(field, value)])
    assert err.value.lsid == "bad-1" and err.value.field == field
    assert "bad-1" in str(err.value) and field in str(err.value)
    assert dump(db_url)["session"] == []  # nothing of the batch was written
    assert d.store_sessions(HOST, [good]) == 1  # the innocent session goes through on its own
    d.close()
    assert [r["lsid"] for r in dump(db_url)["session"]] == [good.lsid]


def test_file_transfer_count_too_big_for_postgresql_integer_is_refused_before_the_insert(pg_url):
    d = dest(pg_url)
    with pytest.raises(SessionValueError) as err:
        d.store_sessions(HOST, [_bad("file_transfer_count", 99_999_999_999)])
    d.close()
    assert err.value.field == "file_transfer_count"


def test_lsid_longer_than_its_column_is_refused_the_same_way_every_time(db_url):
    """Never clipped (a clipped key would not match the delete before re-storing): refused on the first store and on
    the second, with the same error, and nothing stored."""
    long = "L" * 101
    d = dest(db_url)
    for _ in range(2):
        with pytest.raises(SessionValueError) as err:
            d.store_sessions(HOST, [_bad("lseq", 1, lsid=long)])
        assert err.value.lsid == long and err.value.field == "lsid"
    ok = _bad("lseq", 1, lsid="L" * 100)  # exactly the column's length: stored, and replaced when stored again
    assert d.store_sessions(HOST, [ok]) == 1
    assert d.store_sessions(HOST, [copy.deepcopy(ok)]) == 1
    d.close()
    assert [r["lsid"] for r in dump(db_url)["session"]] == ["L" * 100]


def test_empty_lsid_is_refused(db_url):
    d = dest(db_url)
    with pytest.raises(SessionValueError) as err:
        d.store_sessions(HOST, [_bad("lseq", 1, lsid="")])
    d.close()
    assert err.value.field == "lsid"


def test_over_long_host_name_is_clipped_alike_for_delete_and_insert(db_url):
    host = "h" * 300
    d = dest(db_url)
    d.store_sessions(host, [in_progress(rs_session())])
    d.store_sessions(host, [rs_session()])
    d.close()
    db = dump(db_url)
    assert len(db["session"]) == 1 and db["session"][0]["host_name"] == "h" * 255


def test_check_storable_accepts_the_edges():
    s = rs_session()
    s.file_transfer_count, s.lseq = 2**31 - 1, 2**63 - 1
    s.start_time, s.end_time = t.TIME_RANGE
    t.check_storable(s)


def test_tuple_rows_of_the_bulk_writers_equal_the_dict_rows():
    from ic.sessions.model import Event, EventData

    odd = Event("T" * 300, 1718705400, "P", "x" * 80, "1", "D", "y" * 60, data=[EventData("n" * 400, "v"),
                                                                               EventData("body", "a\x00b")])
    for e in rs_session().events + [odd, Event("Session End", None)]:
        row = t.event_row(5, e)
        row["id"] = 9
        assert t.event_values(9, 5, e) == tuple(row[c] for c in t.EVENT_COLUMNS)
        assert t.event_data_values(9, e) == [tuple(r[c] for c in t.EVENT_DATA_COLUMNS) for r in t.event_data_rows(9, e)]
    assert tuple(c.name for c in t.session_event.columns) == t.EVENT_COLUMNS
    assert tuple(c.name for c in t.session_event_data.columns)[1:] == t.EVENT_DATA_COLUMNS


def test_postgresql_table_with_generated_always_ids_is_written_through_returning(pg_url):
    """A storage database made by hand with GENERATED ALWAYS AS IDENTITY ids refuses given ids: the destination
    lets the database number the rows instead."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        t.metadata.create_all(conn)
        for name in ("session", "session_event"):
            conn.execute(text(f'ALTER TABLE "{name}" ALTER COLUMN id DROP DEFAULT'))
            conn.execute(text(f'DROP SEQUENCE "{name}_id_seq"'))
            conn.execute(text(f'ALTER TABLE "{name}" ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START 1000)'))
    engine.dispose()
    d = dest(pg_url)
    assert d.store_sessions(HOST, many(3)) == 3
    d.close()
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        ids = sorted(conn.execute(text("SELECT id FROM session")).scalars())
        events = conn.execute(text("SELECT count(*) FROM session_event WHERE id >= 1000")).scalar()
    engine.dispose()
    assert ids == [1000, 1001, 1002] and events == 15
