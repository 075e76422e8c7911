"""A session too big to hold (spilled to a temporary file by the parser) is set aside with its XML streamed into the
quarantine folder, byte for byte (issue 10: flat memory)."""
from __future__ import annotations

from ic.sessions.parser import iter_sessions
from ic.transfer import quarantine

NS = "http://www.bomgar.com/namespaces/API/reporting"


def test_a_spilled_sessions_xml_is_streamed_into_the_quarantine(tmp_path):
    events = "".join(f'<event timestamp="{1700000001 + i}" event_type="Chat Message"><body>{i} {"q" * 700}</body>'
                     "</event>\n" for i in range(300))
    data = (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n<session lsid="big-1">'
            '<start_time timestamp="1700000000"/><end_time timestamp="1700000900"/>'
            f"<session_details>\n{events}</session_details></session>\n</session_list>\n").encode()
    (s,) = list(iter_sessions(data, spill_over=64 << 10, spill_dir=tmp_path / "spill"))
    assert s.spilled
    entry = quarantine.put("support.example.com", s.lsid, "files", ["session"], "it broke", None, s.raw_xml)
    assert entry.path.read_bytes() == s.raw.read() and entry.path.stat().st_size > 200_000
    assert [e.lsid for e in quarantine.list_quarantined()] == ["big-1"]
    assert entry.path.read_bytes() == next(iter_sessions(data)).raw_xml  # the same bytes as held in memory
    s.close()
    assert list((tmp_path / "spill").iterdir()) == []
