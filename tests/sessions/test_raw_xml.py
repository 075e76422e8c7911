"""Session.raw_xml keeps the appliance's bytes: declaration and root start tag as sent, the session element byte for
byte; documents where that cannot be done safely fall back to lxml's serialisation (UTF-8), and both re-read equal."""
from __future__ import annotations

import requests

from ic.sessions.parser import iter_sessions


def test_one_session_answer_is_kept_byte_for_byte_up_to_trailing_blank_lines(simulator):
    tok = requests.post(f"{simulator.base_url}/oauth2/token", auth=(simulator.client_id, simulator.client_secret),
                        data={"grant_type": "client_credentials"}, verify=simulator.ca_file, timeout=10).json()
    for sim_session in simulator.sessions[:5]:
        answer = requests.get(f"{simulator.base_url}/api/reporting", verify=simulator.ca_file, timeout=10,
                              params={"generate_report": "SupportSession", "lsid": sim_session.lsid},
                              headers={"Authorization": f"Bearer {tok['access_token']}"}).content
        (s,) = list(iter_sessions(answer))
        assert s.raw_xml == answer.rstrip(b"\n") + b"\n"
        assert list(iter_sessions(s.raw_xml)) == [s]


def test_every_session_of_a_batch_keeps_its_own_bytes_and_the_roots_namespace_declarations():
    doc = (b'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="urn:r" '
           b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
           b'  <session lsid="a"><external_key xsi:nil="true"/><lseq>1</lseq></session>\n'
           b'  <session lsid="b" ><lseq>2</lseq><x:odd xmlns:x="urn:x" a=\'1\'>t</x:odd></session>\n</session_list>')
    a, b = list(iter_sessions(doc))
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="urn:r" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    assert a.raw_xml == head + b'\n  <session lsid="a"><external_key xsi:nil="true"/><lseq>1</lseq></session>\n</session_list>\n'
    assert b.raw_xml == head + (b'\n  <session lsid="b" ><lseq>2</lseq><x:odd xmlns:x="urn:x" a=\'1\'>t</x:odd></session>'
                                b'\n</session_list>\n')
    assert a.external_key is None and list(iter_sessions(a.raw_xml)) == [a] and list(iter_sessions(b.raw_xml)) == [b]


def test_cdata_comments_and_odd_attributes_keep_their_bytes():
    element = (b'<session lsid="c" note="a>b"><external_key><![CDATA[</session> <session x>]]></external_key>'
               b"<!-- </session> --><?pi </session>?><lseq>4</lseq></session>")
    (s,) = list(iter_sessions(b"<session_list>" + element + b"</session_list>"))
    assert s.external_key == "</session> <session x>" and s.lseq == 4
    assert s.raw_xml == b"<session_list>" + element + b"\n</session_list>\n"
    assert list(iter_sessions(s.raw_xml)) == [s]


def test_session_end_is_found_past_look_alike_tags_cdata_and_nested_sessions():
    """Each of these fools a plain search for the first "</session": the bytes must still be the session's own."""
    elements = [
        b'<r:session lsid="a"><r:session_details></r:session_details><r:lseq>1</r:lseq></r:session\n >',
        b'<r:session lsid="b" />',
        b'<r:session lsid="c"><r:external_key><![CDATA[</r:session>]]></r:external_key><r:lseq>3</r:lseq></r:session>',
        b'<r:session lsid="d"><r:odd><r:session lsid="inner">x</r:session></r:odd><r:lseq>4</r:lseq></r:session>',
        b'<r:session lsid="e"><r:duration>a &lt;/r:session&gt; b</r:duration></r:session>',
    ]
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<r:session_list xmlns:r="urn:r">'
    sessions = list(iter_sessions(head + b"\n" + b"\n".join(elements) + b"\n</r:session_list>\n"))
    assert [s.lsid for s in sessions] == ["a", "b", "c", "d", "e"]
    for s, element in zip(sessions, elements):
        assert s.raw_xml == head + b"\n" + element + b"\n</r:session_list>\n"
        assert list(iter_sessions(s.raw_xml)) == [s]
    assert sessions[2].external_key == "</r:session>" and sessions[2].lseq == 3 and sessions[3].lseq == 4


def test_other_encodings_fall_back_to_a_serialised_copy_that_reads_back_equal():
    latin = ('<?xml version="1.0" encoding="ISO-8859-1"?><session_list><session lsid="l"><external_key>Café'
             '</external_key></session></session_list>').encode("iso-8859-1")
    (s,) = list(iter_sessions(latin))
    assert s.raw_xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>') and "Café".encode() in s.raw_xml
    assert list(iter_sessions(s.raw_xml)) == [s]


def test_sessions_after_a_fallback_still_parse(tmp_path):
    doc = (b'<session_list>\n<session lsid="x&amp;y"><lseq>1</lseq></session>\n'
           b'<session lsid="b"><lseq>2</lseq></session>\n</session_list>\n')
    path = tmp_path / "d.xml"
    path.write_bytes(doc)
    got = list(iter_sessions(path))
    assert [(s.lsid, s.lseq) for s in got] == [("x&y", 1), ("b", 2)]
    assert all(list(iter_sessions(s.raw_xml)) == [s] for s in got)
    assert got[0].raw_xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')  # the serialised copy


def test_big_content_outside_sessions_is_not_kept_and_sessions_keep_their_bytes(tmp_path):
    notes = b"<notes>" + b"<n>" + b"x" * 3_000_000 + b"</n>\n" * 1 + b"</notes>\n"
    a = b'<session lsid="a"><lseq>1</lseq></session>'
    b = b'<session lsid="b">\n<lseq>2</lseq>\n</session>'
    doc = b'<?xml version="1.0"?>\n<session_list xmlns="urn:r">\n' + notes + a + b"\n" + notes + notes + b + b"\n</session_list>\n"
    path = tmp_path / "big.xml"
    path.write_bytes(doc)
    got = list(iter_sessions(path))
    head = b'<?xml version="1.0"?>\n<session_list xmlns="urn:r">'
    assert [s.raw_xml for s in got] == [head + b"\n" + a + b"\n</session_list>\n", head + b"\n" + b + b"\n</session_list>\n"]
    assert got[1].source_line == doc[:doc.index(b'<session lsid="b"')].count(b"\n") + 1


def test_a_session_bigger_than_16_mb_keeps_its_bytes_and_the_session_after_it_too():
    """Over 16 MB the parsed tree is freed before the bytes are copied and the buffer is handed back after."""
    body = "x" * 10_000
    events = "".join(f'<event event_type="Chat Message" timestamp="{i}"><body>{i} {body}</body></event>\n'
                     for i in range(1700))
    big = f'<session lsid="big"><lseq>1</lseq><session_details>\n{events}</session_details></session>'.encode()
    small = b'<session lsid="small"><lseq>2</lseq></session>'
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="urn:r">'
    first, second = list(iter_sessions(head + b"\n" + big + b"\n" + small + b"\n</session_list>\n"))
    assert len(big) > 16 << 20
    assert first.raw_xml == head + b"\n" + big + b"\n</session_list>\n"
    assert second.raw_xml == head + b"\n" + small + b"\n</session_list>\n" and second.lseq == 2
    assert len(first.events) == 1700 and first.events[-1].body == f"1699 {body}"
    assert first.events[5].data[0].value == f"5 {body}"
