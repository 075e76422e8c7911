"""Verify's words for a person: an lsid the appliance sent with a right-to-left override or a control character is
shown escaped in the report lines and the mail (U+202E would print it backwards), and kept as sent in the CSV."""
from __future__ import annotations

import io

from ic.services import verify as V


def test_an_lsid_with_invisible_characters_is_shown_escaped_but_kept_in_the_csv():
    lsid = "abc\u202eexe.txt\x07"
    report = V.VerifyReport("sim", "files", "h", ["session"], findings=[
        V.Finding(lsid, V.MISSING, V.ENDED, "", ["session"])])
    [line] = report.details()
    assert "abc\\u202eexe.txt\\u0007" in line and "\u202e" not in line
    assert "\u202e" not in V.mail_text([report], "x")[1]
    out = io.StringIO()
    V.write_csv([report], out)
    assert lsid in out.getvalue()
