"""One huge text outside any session (issue 10, flat memory): only its first MiB reaches libxml2, its line ends
still do, so the sessions after it keep their lines and their own bytes; nothing inside a session is ever cut."""
from __future__ import annotations

import io
import subprocess
import sys

from ic.sessions import parser as parser_mod
from ic.sessions.parser import iter_sessions

NS = "http://www.bomgar.com/namespaces/API/reporting"


def session(lsid: str, text: str = "x") -> str:
    return (f'<session lsid="{lsid}">\n<session_type>support</session_type><lseq>1</lseq>\n'
            f'<start_time timestamp="1700000000">x</start_time><end_time timestamp="1700000100">x</end_time>\n'
            f"<external_key>{text}</external_key>\n</session>\n")


def doc(*parts: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<session_list xmlns="{NS}">\n' + "".join(parts)
            + "</session_list>\n").encode()


def line_of(data: bytes, lsid: str) -> int:
    return data[:data.index(f'<session lsid="{lsid}"'.encode())].count(b"\n") + 1


def test_a_huge_text_outside_sessions_keeps_the_sessions_around_it_whole(monkeypatch):
    monkeypatch.setattr(parser_mod._Pull, "TEXT_MAX", 4096)
    inside = "é" * 30000 + " &amp; \"q\" 'a' > " + "ü" * 30000  # a session's own long text is never cut
    text = ("Ünïcödé text, line\n" * 4000) + "&amp; then \"quotes\" and > more\n" + "é" * 50000
    data = doc(session("a", inside), f"<appliance_notes>{text}<note>n</note>{text}</appliance_notes>\n",
               session("b", inside), "<x>" + "é" * 9999 + "</x>\n", session("c"))
    clean = {s.lsid: s for s in iter_sessions(doc(session("a", inside), session("b", inside), session("c")))}
    for step in (1 << 15, 1000, 7):
        stream = io.BufferedReader(_Trickle(data, step), 1) if step < 1000 else io.BytesIO(data)
        got = list(iter_sessions(stream))
        assert [s.lsid for s in got] == ["a", "b", "c"]
        for s in got:
            assert s.external_key == clean[s.lsid].external_key and s.source_line == line_of(data, s.lsid)
            assert bytes(s.raw_xml) == bytes(clean[s.lsid].raw_xml)


def test_an_error_after_a_huge_text_outside_sessions_still_names_its_line(monkeypatch):
    monkeypatch.setattr(parser_mod._Pull, "TEXT_MAX", 4096)
    data = doc(session("a"), "<notes>" + "n\n" * 50000 + "</notes>\n", session("b"), "<bad></oops>\n")
    got = []
    try:
        for s in iter_sessions(data):
            got.append(s.lsid)
    except parser_mod.ParseError as exc:
        err = exc
    assert got == ["a", "b"] and err.line == data.count(b"\n", 0, data.index(b"<bad>")) + 1


class _Trickle(io.RawIOBase):
    def __init__(self, raw: bytes, step: int) -> None:
        self.raw, self.step, self.pos = raw, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        out = self.raw[self.pos:self.pos + min(len(buffer), self.step)]
        buffer[:len(out)] = out
        self.pos += len(out)
        return len(out)


SCRIPT = r"""
import sys
from ic.sessions.parser import iter_sessions

NS = "http://www.bomgar.com/namespaces/API/reporting"

class Stream:
    "A 96 MiB document made as it is read: one text element outside the sessions holds nearly all of it."
    def __init__(self):
        small = '<session lsid="{}"><lseq>1</lseq></session>\n'
        self.parts = iter([f'<?xml version="1.0"?>\n<session_list xmlns="{NS}">\n{small.format("a")}<notes>'.encode()]
                          + [("n" * 1023 + "\n").encode() * 1024] * 96
                          + [f'</notes>\n{small.format("b")}</session_list>\n'.encode()])
        self.buf = b""
    def read(self, n=-1):
        while len(self.buf) < n:
            more = next(self.parts, b"")
            if not more:
                break
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

def hwm():
    return int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) // 1024

before = hwm()
got = [s.lsid for s in iter_sessions(Stream())]
print(got, hwm() - before)
"""


def test_a_huge_text_outside_sessions_never_grows_memory():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["['a',", "'b']"]
    assert int(out[2]) < 40  # MiB over the start: libxml2 held the whole 96 MiB text before
