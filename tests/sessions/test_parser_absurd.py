"""Absurd values from an appliance never wedge the parser: one session's bad value becomes a safe value or a
per-session SessionValueError raised after every other session of the document was yielded."""
from __future__ import annotations

import pytest

from ic.errors import ParseError, SessionValueError
from ic.services.import_xml import import_xml_files
from ic.sessions.parser import iter_sessions
from tests.helpers import LsidCollector

NS = "http://www.bomgar.com/namespaces/API/reporting"


def doc(*sessions: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n' + "\n".join(sessions)
            + "\n</session_list>\n").encode()


def session(lsid: str, body: str = "") -> str:
    return (f'<session lsid="{lsid}"><session_type>support</session_type><lseq>1</lseq>'
            f'<start_time timestamp="1700000000">x</start_time><end_time timestamp="1700000100">x</end_time>{body}'
            "</session>")


def read(data: bytes) -> tuple[list, BaseException | None]:
    got, err = [], None
    try:
        for s in iter_sessions(data):
            got.append(s)
    except (ParseError, SessionValueError) as exc:
        err = exc
    return got, err


@pytest.mark.parametrize("text,expected", [("inf", None), ("1e400", None), ("-5", None), ("text", None),
                                           ("nan", None), ("1" * 5000, None), ("42", 42), ("7.0", 7)])
def test_absurd_lseq_becomes_no_value(text, expected):
    got, err = read(doc(session("a"), f'<session lsid="b"><lseq>{text}</lseq></session>', session("c")))
    assert err is None
    assert [s.lsid for s in got] == ["a", "b", "c"] and got[1].lseq == expected


def test_absurd_counts_become_no_value():
    body = "<file_transfer_count>1e400</file_transfer_count><file_move_count>-inf</file_move_count>"
    got, err = read(doc(session("a", body)))
    assert err is None and got[0].file_transfer_count is None and got[0].file_move_count is None


@pytest.mark.parametrize("element", [
    '<start_time timestamp="99999999999999">x</start_time>',
    '<end_time timestamp="-99999999999999">x</end_time>',
])
def test_time_outside_the_datetime_range_sets_that_session_aside_and_keeps_the_others(element):
    bad = f'<session lsid="bad"><session_type>support</session_type>{element}</session>'
    got, err = read(doc(session("a"), bad, session("c")))
    assert [s.lsid for s in got] == ["a", "c"]
    assert isinstance(err, SessionValueError) and err.lsid == "bad"
    assert err.field in ("start_time", "end_time") and "bad" in str(err)


def test_event_time_outside_the_range_becomes_no_time():
    body = ('<session_details><event timestamp="1e300" event_type="Chat Message"><body>hi</body></event>'
            '<event timestamp="99999999999999999" event_type="Chat Message"><body>hi</body></event></session_details>')
    got, err = read(doc(session("a", body)))
    assert err is None and [e.timestamp for e in got[0].events] == [None, None]
    assert got[0].events[0].event_time is None


def test_nesting_deeper_than_libxml2_allows_sets_only_that_session_aside():
    deep = '<session lsid="deep">' + "<d>" * 3000 + "</d>" * 3000 + "</session>"
    got, err = read(doc(session("a"), deep, session("c"), deep.replace('"deep"', '"deep2"'), session("e")))
    assert [s.lsid for s in got] == ["a", "c", "e"]
    assert isinstance(err, SessionValueError) and err.lsid == "deep" and err.field == "nesting"
    assert [e.lsid for e in err.rejected] == ["deep", "deep2"]


def test_nesting_of_a_few_hundred_levels_is_read():
    nested = '<session lsid="n">' + "<d>" * 400 + "x" + "</d>" * 400 + "</session>"
    got, err = read(doc(nested, session("c")))
    assert err is None and [s.lsid for s in got] == ["n", "c"]
    assert got[0].extra and got[0].extra[0][0] == "d"


def test_deep_nesting_in_a_file_also_keeps_the_sessions_after_it(tmp_path):
    path = tmp_path / "deep.xml"
    deep = '<session lsid="deep">' + "<d>" * 2500 + "</d>" * 2500 + "</session>"
    path.write_bytes(doc(session("a"), deep, session("c")))
    got, err = read(path.read_bytes())
    assert [s.lsid for s in got] == ["a", "c"] and err.lsid == "deep"
    got = []
    with pytest.raises(SessionValueError):
        for s in iter_sessions(path):
            got.append(s.lsid)
    assert got == ["a", "c"]


def test_malformed_xml_wins_over_a_set_aside_session():
    bad = '<session lsid="bad"><start_time timestamp="99999999999999">x</start_time></session>'
    data = doc(session("a"), bad, session("c"))[:-10]
    got, err = read(data)
    assert [s.lsid for s in got] == ["a", "c"]
    assert type(err) is ParseError


def test_import_xml_stores_every_readable_session_and_names_the_bad_one(tmp_path):
    path = tmp_path / "mixed.xml"
    bad = '<session lsid="bad"><start_time timestamp="99999999999999">x</start_time></session>'
    path.write_bytes(doc(session("a"), bad, session("c")))
    dest = LsidCollector()
    result = import_xml_files([path], dest, site_host="h")
    assert dest.stored == ["a", "c"] and result.sessions == 2
    assert len(result.errors) == 1 and "bad" in result.errors[0]
