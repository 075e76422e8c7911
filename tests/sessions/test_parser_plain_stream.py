"""Documents in another encoding than UTF-8, or with a DOCTYPE, are streamed like any other (issue 10, flat memory):
they are read as UTF-8 without a DTD as they stream by, so a huge session in them is spilled instead of being held
(and serialised again) whole; values, lines and raw_xml stay what they were."""
from __future__ import annotations

import io
import tracemalloc

import pytest

from ic.errors import ParseError
from ic.sessions.parser import iter_sessions

NS = "http://www.bomgar.com/namespaces/API/reporting"
OVER = 64 << 10


def session(lsid: str, chat: int = 0, text: str = "Café") -> str:
    events = "".join(f'<event timestamp="{1700000010 + i}" event_type="Chat Message"><body>{i} {text} {"x" * 300}'
                     "</body></event>\n" for i in range(chat))
    return (f'<session lsid="{lsid}">\n<session_type>support</session_type><lseq>1</lseq>\n'
            f'<start_time timestamp="1700000000">x</start_time><end_time timestamp="1700000100">x</end_time>\n'
            f"<external_key>{text}</external_key>\n<session_details>\n{events}</session_details>\n</session>\n")


def doc(*parts: str, encoding: str = "UTF-8", doctype: str = "") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}<session_list xmlns="{NS}">\n' + "".join(parts)
            + "</session_list>\n")


def values(sessions) -> list:
    return [(s.lsid, s.external_key, s.source_line, [(e.timestamp, e.body) for e in s.events]) for s in sessions]


def peak_of(data: bytes, **kw) -> tuple[list, int]:
    tracemalloc.start()
    try:
        got = []
        for s in iter_sessions(io.BytesIO(data), product="rs", **kw):
            bodies = [e.body for i, e in enumerate(s.events) if i in (5, 7)]  # (events are not all kept: memory)
            got.append((s.lsid, s.external_key, s.source_line, len(s.events), bodies))
            s.close()
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("encoding,codec", [("ISO-8859-1", "iso-8859-1"), ("windows-1252", "cp1252"),
                                            ("UTF-16", "utf-16")])
def test_another_encoding_reads_the_same_and_keeps_raw_xml_as_bytes(encoding, codec, tmp_path):
    text = doc(session("a", 3), session("b", 2), encoding=encoding)
    utf8 = list(iter_sessions(doc(session("a", 3), session("b", 2)).encode()))
    got = list(iter_sessions(text.encode(codec)))
    assert values(got) == values(utf8)
    for s, u in zip(got, utf8):
        assert s.raw_xml == u.raw_xml  # the same bytes, declared UTF-8 (cut from the stream, not serialised)
        assert list(iter_sessions(s.raw_xml)) == [s]


def test_a_huge_session_in_latin1_is_spilled_not_held(tmp_path):
    huge = session("huge", 8000)  # ~2.6 MB
    data = doc(session("a"), huge, session("c"), encoding="ISO-8859-1").encode("iso-8859-1")
    got, peak = peak_of(data, spill_over=OVER, spill_dir=tmp_path)
    assert [g[0] for g in got] == ["a", "huge", "c"] and got[1][3] == 8000 and got[1][4][0].startswith("5 Café")
    assert peak < len(huge) // 2  # held, it was serialised again whole (and its tree held) before


def test_a_huge_session_after_a_doctype_is_spilled_with_its_entities_literal(tmp_path):
    doctype = '<!DOCTYPE session_list [\n<!ENTITY co "Example Co">\n<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">\n]>\n'
    huge = session("huge", 8000, text="A &co; B")
    data = doc(session("a", text="&co;"), huge, session("c"), doctype=doctype).encode()
    got, peak = peak_of(data, spill_over=OVER, spill_dir=tmp_path)
    assert [g[0] for g in got] == ["a", "huge", "c"] and got[0][1] == "&co;" and got[1][1] == "A &co; B"
    assert got[1][4][1].startswith("7 A &co; B") and got[1][3] == 8000
    lines = data.decode().split("\n")
    assert [g[2] for g in got] == [next(i + 1 for i, x in enumerate(lines) if f'lsid="{g[0]}"' in x) for g in got]
    assert peak < len(huge) // 2


def test_a_doctype_never_reaches_the_raw_xml_and_entities_stay_literal():
    doctype = '<!DOCTYPE session_list [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    (s,) = list(iter_sessions(doc(session("a", 1, text="x &xxe; y &amp; z &#233;"), doctype=doctype).encode()))
    assert s.external_key == "x &xxe; y & z é"
    assert b"DOCTYPE" not in s.raw_xml and b"passwd" not in s.raw_xml
    assert b"<external_key>x &amp;xxe; y &amp; z &#233;</external_key>" in s.raw_xml  # the sent bytes, made literal
    assert list(iter_sessions(s.raw_xml)) == [s]


def test_a_long_internal_subset_and_an_entity_cut_at_every_read():
    subset = "".join(f'<!ENTITY e{i} "value {i}">\n' for i in range(3000))  # ~70 kB: more than one read
    data = doc(session("a", 200, text="&e1; and &e2999;"), session("b"),
               doctype=f"<!DOCTYPE session_list [\n{subset}]>\n").encode()

    class Trickle(io.RawIOBase):
        def __init__(self, raw: bytes, step: int) -> None:
            self.raw, self.step, self.pos = raw, step, 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            out = self.raw[self.pos:self.pos + (self.step if n < 0 else min(n, self.step))]
            self.pos += len(out)
            return out

    whole = list(iter_sessions(data))
    for step in (3, 1000):
        got = list(iter_sessions(Trickle(data, step)))
        assert values(got) == values(whole)
    assert whole[0].external_key == "&e1; and &e2999;" and whole[1].source_line == data.count(b"\n", 0,
                                                                                              data.index(b'"b"')) + 1


def test_bytes_not_in_the_declared_encoding_stop_with_a_parse_error_after_the_sessions_before():
    body = "".join(session(f"s{i}", 20, text="plain") for i in range(60))  # ~400 kB: many reads before the bad byte
    data = doc(body, encoding="US-ASCII").encode("ascii").replace(b"</session_list>", b"\xe9</session_list>")
    got = []
    with pytest.raises(ParseError, match="is not valid XML") as err:
        for s in iter_sessions(data, source_name="export.xml"):
            got.append(s.lsid)
    assert len(got) >= 50 and "export.xml" in str(err.value)


def test_a_broken_session_in_a_latin1_document_keeps_the_sessions_after_it():
    data = doc(session("a"), session("bad").replace("<lseq>1</lseq>", "<lseq>1</x>"), session("c"),
               encoding="ISO-8859-1").encode("iso-8859-1")
    got = []
    with pytest.raises(ParseError) as err:
        for s in iter_sessions(data):
            got.append((s.lsid, s.external_key))
    assert got == [("a", "Café"), ("c", "Café")] and err.value.lsid == "bad"
