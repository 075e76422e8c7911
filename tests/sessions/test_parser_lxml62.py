"""Nothing may lose a session (issue 10), whatever the lxml version: lxml 6.2 drops the parse events read before a
syntax error in the same fed chunk, so the parser feeds libxml2 piece by piece (each piece ends after a session's
end tag) and, after a session whose own XML is broken, goes on from that session's end with a fresh parser. These
tests pass under lxml 6.1 and 6.2 (run them with PYTHONPATH pointing at an lxml 6.2 install too)."""
from __future__ import annotations

import io
import tracemalloc

import pytest

from ic.errors import ParseError, SessionValueError
from ic.services.import_xml import import_xml_files
from ic.sessions import spill
from ic.sessions.parser import iter_sessions
from tests.helpers import LsidCollector

NS = "http://www.bomgar.com/namespaces/API/reporting"
PRA_NS = "http://www.beyondtrust.com/sra/namespaces/API/reporting"
OVER = 64 << 10


def session(lsid: str, chat: int = 0) -> str:
    events = "".join(f'<event timestamp="{1700000010 + i}" event_type="Chat Message"><body>{i} {"x" * 300}</body>'
                     "</event>\n" for i in range(chat))
    return (f'<session lsid="{lsid}">\n<session_type>support</session_type><lseq>1</lseq>\n'
            '<start_time timestamp="1700000000">x</start_time><end_time timestamp="1700000100">x</end_time>\n'
            f"<session_details>\n{events}</session_details>\n</session>\n")


def broken(lsid: str, chat: int = 0) -> str:
    """A session whose own XML is broken in the middle (a mismatched end tag), its session tags intact."""
    return session(lsid, chat).replace("<lseq>1</lseq>", "<lseq>1</lseq oops>", 1)


def doc(*parts: str, ns: str = NS) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{ns}">\n' + "".join(parts)
            + "</session_list>\n").encode()


def read(data, **kw) -> tuple[list, BaseException | None]:
    got, err = [], None
    try:
        for s in iter_sessions(data, **kw):
            got.append(s)
    except ParseError as exc:
        err = exc
    return got, err


def line_of(data: bytes, lsid: str) -> int:
    return data[:data.index(f'<session lsid="{lsid}"'.encode())].count(b"\n") + 1


class Trickle(io.RawIOBase):
    """A stream handing out ``step`` bytes per read: every tag is cut somewhere."""

    def __init__(self, raw: bytes, step: int) -> None:
        self.raw, self.step, self.pos = raw, step, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.step if n < 0 else min(n, self.step)
        out = self.raw[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def test_sessions_before_a_broken_one_in_the_same_chunk_are_all_yielded():
    data = doc(*(session(f"s{i}") for i in range(5)), broken("bad"), session("after"))
    assert len(data) < 16 << 10  # one read of the parser: lxml 6.2's iterparse lost all five before the break
    got, err = read(data)
    assert [s.lsid for s in got] == ["s0", "s1", "s2", "s3", "s4", "after"]
    assert type(err) is ParseError and err.lsid == "bad"
    assert err.line == line_of(data, "bad") + 1  # the line of the broken tag, in the whole document
    assert str(err).startswith(f"session XML is not valid XML at line {err.line}: ")


def test_the_sessions_after_a_broken_one_keep_their_bytes_lines_and_events():
    data = doc(session("a", 3), broken("bad", 3), session("c", 5), session("d"))
    got, err = read(data)
    assert [s.lsid for s in got] == ["a", "c", "d"] and err.lsid == "bad"
    clean = {s.lsid: s for s in iter_sessions(doc(session("a", 3), session("c", 5), session("d")))}
    for s in got:
        assert s.source_line == line_of(data, s.lsid)
        assert bytes(s.raw_xml) == bytes(clean[s.lsid].raw_xml)  # the appliance's own bytes, under the same head
        assert s.events == clean[s.lsid].events and len(s.events) == len(clean[s.lsid].events)


def test_a_broken_session_bigger_than_many_chunks_is_skipped_with_flat_memory():
    big = broken("bad", 3000)  # ~1 MB: the end is found in the bytes streaming by, never held
    data = doc(session("a"), big, session("c"), session("d"))
    tracemalloc.start()
    try:
        got, err = read(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [s.lsid for s in got] == ["a", "c", "d"] and err.lsid == "bad"
    assert [s.source_line for s in got] == [line_of(data, x) for x in ("a", "c", "d")]
    assert peak < len(big) // 2


def test_a_broken_session_in_the_middle_of_a_large_document_loses_nothing():
    parts = [session(f"s{i:03}", 20) for i in range(300)]  # ~2.2 MB, many chunks
    parts[150] = broken("s150", 20)
    parts[151] = broken("s151", 2)  # two in a row
    got, err = read(doc(*parts))
    assert [s.lsid for s in got] == [f"s{i:03}" for i in range(300) if i not in (150, 151)]
    assert err.lsid == "s150" and [e.lsid for e in err.rejected] == ["s150", "s151"]
    assert "1 more session(s) of session XML were not valid XML either" in str(err)


@pytest.mark.parametrize("step", [1, 7, 64, 1000])
def test_tags_cut_at_every_read_boundary_change_nothing(step):
    data = doc(session("a", 2), broken("bad", 2), session("c", 2))
    got, err = read(Trickle(data, step))
    assert [s.lsid for s in got] == ["a", "c"] and err.lsid == "bad"
    assert [s.source_line for s in got] == [line_of(data, "a"), line_of(data, "c")]


def test_a_prefixed_pra_document_resumes_with_its_namespace():
    text = doc(session("a"), broken("bad"), session("c"), ns=PRA_NS).decode()
    text = text.replace("<session_list xmlns=", "<r:session_list xmlns:r=").replace("</session_list>",
                                                                                     "</r:session_list>")
    text = text.replace("<session ", "<r:session ").replace("</session>", "</r:session>")
    for tag in ("session_type", "lseq", "start_time", "end_time", "session_details", "event", "body"):
        text = text.replace(f"<{tag}", f"<r:{tag}").replace(f"</{tag}>", f"</r:{tag}>")
    got, err = read(text.encode())
    assert [s.lsid for s in got] == ["a", "c"] and err.lsid == "bad"
    assert got[1].namespace == PRA_NS and got[1].product == "pra"
    assert bytes(got[1].raw_xml).startswith(text.encode()[:text.index("<r:session ")].rstrip())


def test_a_document_cut_short_stops_at_the_cut():
    data = doc(session("a"), session("b"), session("c"))
    got, err = read(data[:data.index(b'<session lsid="c"') + 120])
    assert [s.lsid for s in got] == ["a", "b"] and type(err) is ParseError and not hasattr(err, "lsid")


def test_content_after_the_root_is_never_read_as_sessions():
    data = doc(session("a")) + session("after-root").encode()
    got, err = read(data)
    assert [s.lsid for s in got] == ["a"] and type(err) is ParseError


def test_a_break_with_no_session_end_after_it_stops_there():
    data = doc(session("a"), "<note>broken</nope>\n", "<tail/>\n")
    got, err = read(data)
    assert [s.lsid for s in got] == ["a"] and type(err) is ParseError


def test_broken_xml_wins_over_a_set_aside_session_and_both_are_skipped():
    odd = session("odd").replace('timestamp="1700000000"', 'timestamp="99999999999999"')
    got, err = read(doc(session("a"), odd, broken("bad"), session("c")))
    assert [s.lsid for s in got] == ["a", "c"] and type(err) is ParseError and err.lsid == "bad"


def test_deep_nesting_is_set_aside_without_reading_the_document_whole():
    deep = '<session lsid="deep">' + "<d>" * 3000 + "</d>" * 3000 + "</session>\n"
    data = doc(*(session(f"s{i}", 20) for i in range(200)), deep, session("after", 2))
    got, err = [], None
    tracemalloc.start()
    try:
        try:
            for s in iter_sessions(io.BytesIO(data)):  # a stream cannot be read again: the sessions after were lost
                got.append(s.lsid)
        except SessionValueError as exc:
            err = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got[-2:] == ["s199", "after"] and len(got) == 201
    assert isinstance(err, SessionValueError) and err.lsid == "deep" and err.field == "nesting"
    assert err.line == line_of(data, "deep")
    assert peak < len(data) // 2


def test_a_spilled_session_after_a_broken_one_is_spilled_and_whole(tmp_path):
    d = tmp_path / "spill"
    d.mkdir()
    data = doc(session("a"), broken("bad", 10), session("huge", 400), session("c"))
    got, err = read(data, spill_over=OVER, spill_dir=d)
    assert [s.lsid for s in got] == ["a", "huge", "c"] and err.lsid == "bad"
    huge = got[1]
    assert huge.spilled and len(huge.events) == 400 and len(list(huge.events)) == 400
    clean = list(iter_sessions(doc(session("huge", 400)), spill_over=OVER, spill_dir=d))[0]
    assert bytes(huge.raw_xml) == bytes(clean.raw_xml) and huge.source_line == line_of(data, "huge")
    for s in got + [clean]:
        s.close()


def test_import_xml_stores_the_sessions_after_a_broken_one(tmp_path):
    path = tmp_path / "export.xml"
    path.write_bytes(doc(session("a"), broken("bad"), session("c")))
    dest = LsidCollector()
    result = import_xml_files([path], dest, site_host="h")
    assert dest.stored == ["a", "c"] and len(result.errors) == 1 and "not valid XML" in result.errors[0]


def test_the_end_scanner_takes_any_prefix_from_a_given_level():
    scanner = spill.EndScanner(None, 1)
    data = b'x</a:session_details><a:session lsid="n"></a:session><!-- </a:session> --></a:session>tail'
    assert data[scanner.feed(data):] == b"tail" and scanner.opened is None
    scanner = spill.EndScanner(None)
    data = b'<other/><b:session lsid="q"><x/></b:session>rest'
    end = scanner.feed(data)
    assert data[end:] == b"rest" and scanner.opened == (8, b'<b:session lsid="q">')


@pytest.mark.parametrize("damage", ['<session lsid="bad>', "<session lsid='bad\"", "<session <session"])
def test_a_broken_session_tag_never_hangs_and_keeps_the_sessions_before(damage):
    data = doc(session("a"), session("bad").replace('<session lsid="bad">', damage, 1), session("c", 3000))
    got, err = read(io.BytesIO(data))
    assert [s.lsid for s in got][:1] == ["a"] and "bad" not in [s.lsid for s in got]
    assert isinstance(err, ParseError)


def test_lines_stay_right_after_a_session_whose_bytes_could_not_be_cut():
    odd = session("x&amp;y")  # its lsid as sent is not its value: raw_xml falls back to a serialised copy
    data = doc(session("a"), odd, broken("bad", 2), session("c", 2))
    got, err = read(data)
    assert [s.lsid for s in got] == ["a", "x&y", "c"] and err.lsid == "bad"
    assert got[2].source_line == line_of(data, "c") and err.line == line_of(data, "bad") + 1


def test_a_huge_session_broken_while_spilled_leaves_nothing_and_keeps_the_rest(tmp_path):
    d = tmp_path / "spill"
    d.mkdir()
    big = session("bad", 3000)
    cut = big.index("</body></event>", len(big) // 2)  # ~500 kB in: being spilled when the break comes
    big = big[:cut] + "</body></evnt>" + big[cut + len("</body></event>"):]
    data = doc(session("a"), big, session("c", 2), session("d"))
    got, err = read(data, spill_over=OVER, spill_dir=d)
    assert [s.lsid for s in got] == ["a", "c", "d"] and err.lsid == "bad"
    assert [s.source_line for s in got] == [line_of(data, x) for x in ("a", "c", "d")]
    assert err.line == data[:data.index(b"</evnt>")].count(b"\n") + 1
    for s in got:
        s.close()
    assert list(d.iterdir()) == []
