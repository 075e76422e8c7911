"""File names of the File System destination: format validation, rendering, hostile values, numbering, paths."""
from __future__ import annotations

import os
import random
import unicodedata

import pytest

from ic.destinations import naming
from ic.errors import DestinationError

NASTY = [
    "..\\..\\Windows",
    "../../etc/passwd",
    "..",
    ".",
    "...",
    "CON",
    "con.txt",
    "Con .log",
    "nul",
    "COM1",
    "lpt9.flv",
    "COM\u00b9",
    "AUX.tar.gz",
    "a" * 300,
    "\u00e9" * 300,
    "\U0001F600" * 100,
    "a\x00b",
    "\x00",
    "a/b",
    "a\\b",
    "/",
    "\\",
    "C:",
    "C:\\Windows\\System32",
    "\\\\server\\share",
    'x<>:"|?*y',
    "trailing. . .",
    "   ",
    "",
    ".hidden",
    ".~ic-abc.part",
    "line\nbreak\ttab\r",
    "\x7f",
    "\ud800lone surrogate",
    "日本語のキー",
    "%LSID%",
    "%%",
    "e\u0301",  # decomposed é
]


def _check_name(name: str) -> None:
    assert name and name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not any(ord(c) < 32 or c in '<>:"|?*' for c in name)
    assert not name.endswith((".", " ")) and not name.startswith(".")
    assert not naming.is_device_name(name)
    assert len(name) <= naming.MAX_NAME_CHARS
    assert len(name.encode("utf-8")) <= naming.MAX_NAME_BYTES


def _random_strings(count: int = 400) -> list[str]:
    rnd = random.Random(20240607)
    out = []
    for _ in range(count):
        raw = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 420)))
        out.append(raw.decode("utf-8", "surrogateescape"))
        out.append(raw.decode("latin-1"))
    return out


# --- format validation -----------------------------------------------------------------------------------------
def test_default_format_matches_guide_example():
    values = {"SUPPORT_SITE_HOST": "access.example.com", "SESSION_TYPE": "support", "LSID": "1234"}
    assert naming.render(naming.DEFAULT_NAME_FORMAT, values, "flv") == "access.example.com-support-1234.flv"
    assert naming.format_problem(naming.DEFAULT_NAME_FORMAT) is None


def test_every_replacement_value_accepted_and_rendered():
    fmt = "%LSEQ%~%LSID%~%EXTERNAL_KEY%~%SESSION_TYPE%~%SUPPORT_SITE_HOST%~%INSTANCE%.%EXTENSION%"
    assert naming.format_problem(fmt) is None
    values = {"LSEQ": 42, "LSID": "abc", "EXTERNAL_KEY": "ticket-7", "SESSION_TYPE": "support",
              "SUPPORT_SITE_HOST": "support.example.com", "INSTANCE": 3}
    assert naming.render(fmt, values, "flv") == "42~abc~ticket-7~support~support.example.com~3.flv"
    assert set(naming.tokens(fmt)) == set(naming.REPLACEMENT_VALUES)


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("%lsid%.%EXTENSION%", "File Name Format: %lsid% is not a replacement value; they are case sensitive, e.g. %LSID%."),
        ("%Lsid%.%EXTENSION%", "%Lsid% is not a replacement value; they are case sensitive, e.g. %LSID%."),
        ("%FOO%-%LSID%.%EXTENSION%", "%FOO% is not a replacement value; use one of %LSEQ%"),
        ("%LSID2%-%LSID%.%EXTENSION%", "%LSID2% is not a replacement value; only UPPER CASE letters and underscores"),
        ("100%-%LSID%.%EXTENSION%", "lone percent sign in '100%-%LSID%.'"),
        ("%LSID%.%EXTENSION%%", "lone percent sign"),
        ("%LSID", "lone percent sign"),
        ("%", "lone percent sign"),
        ("%LSID%%%.%EXTENSION%", "%% is not a replacement value"),
        ("dir/%LSID%.%EXTENSION%", "without / or \\"),
        ("dir\\%LSID%.%EXTENSION%", "without / or \\"),
        ("%LSID%:x.%EXTENSION%", "contains :, which Windows does not allow"),
        ("%LSID%\x00.%EXTENSION%", "which Windows does not allow"),
        ("%SUPPORT_SITE_HOST%-%EXTERNAL_KEY%.%EXTENSION%", "must contain %LSID% (or %LSEQ%)"),
        ("%LSID%", "must contain %EXTENSION%"),
        ("", "File Name Format is required."),
    ],
)
def test_format_problems_name_the_bad_token(fmt, expected):
    problem = naming.format_problem(fmt)
    assert problem is not None and expected in problem
    assert problem.count("\n") == 0 and problem.endswith(".")


@pytest.mark.parametrize("fmt", ["%LSEQ%.%EXTENSION%", "%LSID%.%EXTENSION%", "x%LSID%%EXTENSION%"])
def test_good_formats(fmt):
    assert naming.format_problem(fmt) is None


def test_render_is_single_pass():
    # A value that looks like a replacement value is never expanded again.
    name = naming.render("%EXTERNAL_KEY%-%LSID%.%EXTENSION%", {"EXTERNAL_KEY": "%LSID%", "LSID": "abc"}, "xml")
    assert name == "%LSID%-abc.xml"


def test_missing_values_render_empty():
    assert naming.render(naming.DEFAULT_NAME_FORMAT, {"SUPPORT_SITE_HOST": "h"}, "nsb") == "h--.nsb"


# --- instance tag ----------------------------------------------------------------------------------------------
def test_instance_inserted_before_extension_when_format_lacks_it():
    fmt = naming.DEFAULT_NAME_FORMAT
    assert naming.format_for(fmt, "shell", 0) == "%SUPPORT_SITE_HOST%-%SESSION_TYPE%-%LSID%-shell-0.%EXTENSION%"
    assert naming.format_for(fmt, "smsr", 2).endswith("%LSID%-smsr-2.%EXTENSION%")
    assert naming.format_for(fmt, "smsr", None).endswith("%LSID%-smsr.%EXTENSION%")
    assert naming.format_for(fmt, "recordings", None) == fmt
    assert naming.format_for("%LSID%-%EXTENSION%", "shell", 1) == "%LSID%-%EXTENSION%-shell-1"
    with_instance = "%LSID%-%INSTANCE%.%EXTENSION%"
    assert naming.format_for(with_instance, "shell", 1) == with_instance
    assert naming.format_for(with_instance, "smsr", 1) == "%LSID%-smsr-%INSTANCE%.%EXTENSION%"
    names = {naming.render(naming.format_for(fmt, k, i), {"LSID": "1"}, "flv")
             for k, i in [("recordings", None), ("shell", 0), ("shell", 1), ("smsr", 0), ("smsr", None)]}
    assert len(names) == 5


@pytest.mark.parametrize("fmt", [
    "%LSID%-%INSTANCE%.%EXTENSION%", "%INSTANCE%_%LSID%.%EXTENSION%", "%LSID%.%EXTENSION%",
    "%SUPPORT_SITE_HOST%-%SESSION_TYPE%-%LSID%.%EXTENSION%", "%LSID%%INSTANCE%%INSTANCE%.%EXTENSION%",
])
def test_every_file_of_one_session_gets_its_own_name(fmt):
    """Issue: shell recording 0 and Show My Screen recording 0 got one name with %INSTANCE%: one was lost."""
    values = lambda i: {"LSID": "abc", "SUPPORT_SITE_HOST": "h", "SESSION_TYPE": "support",  # noqa: E731
                        "INSTANCE": "" if i is None else i}
    kinds = [("recordings", None), ("shell", 0), ("shell", 1), ("smsr", 0), ("smsr", 1), ("smsr", None)]
    names = [naming.render(naming.format_for(fmt, k, i), values(i), "flv") for k, i in kinds]
    names.append(naming.render(fmt, values(None), "xml"))
    assert len(set(names)) == len(names), names


# --- cleaning --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        ("..\\..\\Windows", "____Windows"),
        ("../../etc/passwd", "____etc_passwd"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1", "_LPT1"),
        ("console", "console"),
        ("a\x00b", "a_b"),
        ("a/b", "a_b"),
        ("日本語", "日本語"),
        ("e\u0301", unicodedata.normalize("NFC", "e\u0301")),
        ("x. ", "x"),
        ("...", "_"),
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_clean_value(value, expected):
    assert naming.clean_value(value) == expected


def test_long_values_are_cut_with_distinct_hash():
    a, b = "k" * 300 + "A", "k" * 300 + "B"
    ca, cb = naming.clean_value(a), naming.clean_value(b)
    assert len(ca) == naming.MAX_VALUE_CHARS and len(cb) == naming.MAX_VALUE_CHARS
    assert ca != cb and ca.startswith("k" * 150)


def test_long_file_name_keeps_extension_and_stays_distinct():
    fmt = "%EXTERNAL_KEY%-%LSID%-%SESSION_TYPE%.%EXTENSION%"
    n1 = naming.render(fmt, {"EXTERNAL_KEY": "x" * 199, "LSID": "y" * 199, "SESSION_TYPE": "1"}, "flv")
    n2 = naming.render(fmt, {"EXTERNAL_KEY": "x" * 199, "LSID": "y" * 199, "SESSION_TYPE": "2"}, "flv")
    for n in (n1, n2):
        _check_name(n)
        assert n.endswith(".flv")
    assert n1 != n2
    wide = naming.render(fmt, {"EXTERNAL_KEY": "\u00e9" * 199, "LSID": "\u4e2d" * 199}, "xml")
    _check_name(wide)
    assert wide.endswith(".xml")


def test_clean_extension():
    assert naming.clean_extension("flv") == "flv"
    assert naming.clean_extension(".nsb") == "nsb"
    assert naming.clean_extension("../../x") == "x"
    assert naming.clean_extension("", "nsb") == "nsb"
    assert naming.clean_extension(None) == "bin"
    assert len(naming.clean_extension("a" * 50)) == 16


@pytest.mark.parametrize("value", NASTY)
def test_nasty_values_in_every_position_stay_inside_folder(value, tmp_path):
    tmp_path = tmp_path / "dest"
    tmp_path.mkdir()
    formats = [naming.DEFAULT_NAME_FORMAT, "%EXTERNAL_KEY%.%EXTENSION%", "%LSID%.%EXTENSION%",
               "%SESSION_TYPE%%LSID%%EXTERNAL_KEY%%EXTENSION%"]
    base = os.path.abspath(tmp_path)
    for fmt in formats:
        for key in ("LSID", "EXTERNAL_KEY", "SESSION_TYPE", "SUPPORT_SITE_HOST", "LSEQ", "INSTANCE"):
            name = naming.render(fmt, {key: value}, naming.clean_extension(value, "xml"))
            _check_name(name)
            path = naming.safe_join(tmp_path, name)
            assert os.path.commonpath([base, str(path)]) == base and path.parent == tmp_path
            path.write_bytes(b"x")  # the real file system accepts it
            assert path.is_file()


def test_random_bytes_stay_inside_folder(tmp_path):
    tmp_path = tmp_path / "dest"
    tmp_path.mkdir()
    base = os.path.abspath(tmp_path)
    written = set()
    for value in _random_strings():
        name = naming.render("%EXTERNAL_KEY%-%LSID%.%EXTENSION%", {"EXTERNAL_KEY": value, "LSID": "1"},
                             naming.clean_extension(value, "xml"))
        _check_name(name)
        path = naming.safe_join(tmp_path, name)
        assert os.path.commonpath([base, str(path)]) == base and path.parent == tmp_path
        written.add(name)
    for name in list(written)[:50]:
        (tmp_path / name).write_bytes(b"x")
    assert len(os.listdir(tmp_path)) == min(50, len(written))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "../x", "a\x00"])
def test_safe_join_refuses_non_names(bad, tmp_path):
    with pytest.raises(DestinationError):
        naming.safe_join(tmp_path, bad)


# --- numbering -------------------------------------------------------------------------------------------------
def test_numbered_name_inserts_before_last_period():
    assert naming.numbered_name("access.example.com-support-1234.flv", 0) == "access.example.com-support-1234.flv"
    assert naming.numbered_name("access.example.com-support-1234.flv", 1) == "access.example.com-support-1234.1.flv"
    assert naming.numbered_name("access.example.com-support-1234.flv", 2) == "access.example.com-support-1234.2.flv"
    assert naming.numbered_name("noperiod", 3) == "noperiod.3"
    assert naming.strip_number("x.3.flv") == ("x.flv", 3)
    assert naming.strip_number("x.flv") == ("x.flv", 0)


# --- long paths ------------------------------------------------------------------------------------------------
def test_long_path_prefix_only_on_windows_and_only_when_long():
    short = "C:\\IC\\a.xml"
    long_local = "C:\\IC\\" + "a" * 250 + ".xml"
    long_unc = "\\\\server\\share\\" + "b" * 250 + ".xml"
    assert naming.long_path(short, windows=True) == short
    assert naming.long_path(long_local, windows=True) == "\\\\?\\" + long_local
    assert naming.long_path(long_unc, windows=True) == "\\\\?\\UNC\\server\\share\\" + "b" * 250 + ".xml"
    assert naming.long_path("\\\\?\\" + long_local, windows=True) == "\\\\?\\" + long_local
    assert naming.long_path("/tmp/" + "c" * 300, windows=False) == "/tmp/" + "c" * 300


# --- invisible and bidi characters (issue 10 item 9) -------------------------------------------------------------
@pytest.mark.parametrize("ch", ["\u202e", "\u202d", "\u202a", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
                                "\u200f", "\u061c", "\u200b", "\u200d", "\ufeff", "\u00ad", "\U000e0041"])
def test_bidi_and_format_characters_are_removed(ch):
    assert naming.clean_value(f"INC{ch}gpj.exe") == "INCgpj.exe"
    name = naming.render("%EXTERNAL_KEY%-%LSID%.%EXTENSION%", {"EXTERNAL_KEY": f"a{ch}b", "LSID": ch}, "xml")
    assert name == "ab-_.xml" and not any(c == ch for c in name)
    assert naming.clean_file_name(f"x{ch}y.flv") == "xy.flv"
    problem = naming.format_problem(f"%LSID%{ch}.%EXTENSION%")
    assert problem and f"U+{ord(ch):04X}" in problem and problem.endswith("remove it.")


@pytest.mark.parametrize("ch", ["\x85", "\x9b", "\x80", "\u2028", "\u2029", "\uffff"])
def test_c1_controls_and_separators_become_underscores(ch):
    assert naming.clean_value(f"a{ch}b") == "a_b"
    assert naming.format_problem(f"%LSID%{ch}.%EXTENSION%") is not None


def test_ordinary_unicode_is_kept():
    for text in ("Grüße", "日本語", "مرحبا", "שלום", "emoji🙂", "\ue000private"):
        assert naming.clean_value(text) == unicodedata_nfc(text)


def unicodedata_nfc(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", text)
