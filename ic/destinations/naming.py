"""File names for the File System destination: format parsing, replacement values, sanitisation, numbering.

Pure functions only (no disk access), so every rule can be tested with hostile input. Text that comes from the
appliance (external keys, session types, LSIDs, site host names, file extensions) is untrusted: it is cleaned
here before it becomes part of a path, and :func:`safe_join` proves the final path stays inside the folder.

Rules, in the order they are applied:

* A replacement value (``%LSID%`` ...) is cleaned by :func:`clean_value`: NFC-normalised; bidi controls
  (U+202E ...), zero-width and other format characters (category Cf) are removed; C0/C1 control characters,
  NUL, lone surrogates, U+2028/U+2029, ``/ \\ < > : " | ? *`` and runs of two or more dots become ``_``;
  surrounding spaces and trailing dots are dropped; a Windows device name (``CON``, ``con.txt``, ``COM1``...) gets
  a ``_`` prefix; more
  than 200 characters are cut to 191 plus ``~`` and 8 hex digits of its SHA-256 (two long keys stay distinct).
  A value that was non-empty but cleans to nothing becomes ``_``; an empty value stays empty.
* The format is rendered in ONE pass, so a value containing ``%LSID%`` is never expanded again.
* The whole file name is cleaned by :func:`clean_file_name`: the same character rules, no leading dot (that would
  hide the file and could look like our temporary files), no trailing dot/space, no device name, and at most
  240 characters and 240 UTF-8 bytes (Linux/NAS limit is 255 bytes) -- when cut, the extension is kept and the
  stem ends in ``~`` + 8 hex digits of a hash. An empty name becomes ``_``.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ic.errors import DestinationError

if TYPE_CHECKING:
    from ic.sessions.model import Session

REPLACEMENT_VALUES = ("LSEQ", "LSID", "EXTERNAL_KEY", "SESSION_TYPE", "SUPPORT_SITE_HOST", "INSTANCE", "EXTENSION")
DEFAULT_NAME_FORMAT = "%SUPPORT_SITE_HOST%-%SESSION_TYPE%-%LSID%.%EXTENSION%"
CONFLICT_MODES = ("AppendNumber", "Overwrite", "Skip")

MAX_VALUE_CHARS = 200
MAX_NAME_CHARS = 240
MAX_NAME_BYTES = 240  # UTF-8; leaves room for ".NNNN" from AppendNumber under the 255-byte limit
LONG_PATH_LIMIT = 240  # Windows: longer paths get the \\?\ prefix

_RESERVED_CHARS = '<>:"|?*/\\'
# Windows device names (learn.microsoft.com "Naming Files, Paths, and Namespaces"): also COM0/LPT0 and the
# superscript digits the page lists, and the console names CONIN$/CONOUT$ that CreateFile opens as devices.
_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{i}" for p in ("COM", "LPT") for i in list("0123456789") + ["\u00b9", "\u00b2", "\u00b3"]]
)
_TOKEN_SYNTAX = re.compile(r"[A-Z_]+")
_TOKEN = re.compile(r"%([A-Z_]+)%")


# --- the format -------------------------------------------------------------------------------------------------
def format_problem(fmt: str, label: str = "File Name Format") -> str | None:
    """One sentence describing what is wrong with a file name format, or None when it is usable."""
    if not fmt or not fmt.strip():
        return f"{label} is required."
    for ch in fmt:
        if ch in "/\\":
            return f"{label} must be a file name without / or \\; files are stored directly in the Destination Directory."
        if ch in _RESERVED_CHARS or ord(ch) < 32 or ord(ch) == 127:
            shown = repr(ch) if ord(ch) < 32 or ord(ch) == 127 else ch
            return f"{label} contains {shown}, which Windows does not allow in file names."
        if _bad(ch) or _invisible(ch):
            return (f"{label} contains the invisible character U+{ord(ch):04X}, which would hide or disguise what "
                    "a file name says; remove it.")
    parts = fmt.split("%")
    # Every odd-indexed part sits between two percent signs and must be a replacement value name.
    for i in range(1, len(parts), 2):
        token = parts[i]
        pos = sum(len(p) + 1 for p in parts[:i]) - 1  # index of the percent sign opening this token
        lone = f"{label} has a lone percent sign in '{fmt[max(0, pos - 8):pos + 9]}'; replacement values look like %LSID%."
        if i == len(parts) - 1:  # an odd number of percent signs: the last one has no partner
            return lone
        shown = f"%{token}%"
        if token == "":
            return f"{label}: %% is not a replacement value; a percent sign cannot be used on its own."
        if token in REPLACEMENT_VALUES:
            continue
        if token.upper() in REPLACEMENT_VALUES:
            return f"{label}: {shown} is not a replacement value; they are case sensitive, e.g. %{token.upper()}%."
        if not re.fullmatch(r"[A-Za-z0-9_]+", token):
            return lone
        if not _TOKEN_SYNTAX.fullmatch(token):
            return (f"{label}: {shown} is not a replacement value; only UPPER CASE letters and underscores may "
                    "stand between two percent signs.")
        return f"{label}: {shown} is not a replacement value; use one of {', '.join('%' + v + '%' for v in REPLACEMENT_VALUES)}."
    used = set(tokens(fmt))
    if not used & {"LSID", "LSEQ"}:
        return f"{label} must contain %LSID% (or %LSEQ%), otherwise every session gets the same file name."
    if "EXTENSION" not in used:
        return f"{label} must contain %EXTENSION%, so session XML, recordings and backups keep their file types."
    return None


def tokens(fmt: str) -> list[str]:
    """Replacement value names used in a (valid) format, in order."""
    return _TOKEN.findall(fmt)


def format_for(fmt: str, kind: str, instance: int | None) -> str:
    """The format actually used for one file.

    Command shell and Show My Screen recordings of one session need distinct names. When the format lacks
    ``%INSTANCE%`` we insert ``-shell-<instance>`` / ``-smsr-<instance>`` (``-smsr`` without an instance) before
    ``.%EXTENSION%`` (or at the end when the format has no ``.%EXTENSION%``). The kind is part of the tag because
    a bare ``-0`` would give shell instance 0 and Show My Screen instance 0 the same name.

    When the format has ``%INSTANCE%`` it is used as written for command shell recordings (and PRA, which has no
    Show My Screen, never sees a change), but no replacement value tells a shell from a Show My Screen recording:
    ``%LSID%-%INSTANCE%`` would give both instance 0 the name ``x-0.flv`` and, under Overwrite or Skip, one would
    silently be lost. So a Show My Screen recording's %INSTANCE% is rendered as ``smsr-<instance>`` (``x-smsr-0.flv``)
    -- always distinct, never refused.
    """
    if kind not in ("shell", "smsr"):
        return fmt
    if "%INSTANCE%" in fmt:
        if kind == "smsr":
            return fmt.replace("%INSTANCE%", "smsr" if instance is None else "smsr-%INSTANCE%")
        return fmt
    return tag_before_extension(fmt, f"-{kind}" + (f"-{instance}" if instance is not None else ""))


def tag_before_extension(fmt: str, tag: str) -> str:
    """``tag`` inserted before the last ``.%EXTENSION%`` (at the end when the format has none)."""
    marker = ".%EXTENSION%"
    at = fmt.rfind(marker)
    if at < 0:
        return fmt + tag
    return fmt[:at] + tag + fmt[at:]


# --- cleaning ---------------------------------------------------------------------------------------------------
def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _invisible(ch: str) -> bool:
    """Bidi overrides/isolates/marks (U+202E makes ``gpj.exe`` look like ``exe.jpg``), zero-width and other format
    characters (Unicode category Cf): removed from names, they only hide or disguise what a name says."""
    return unicodedata.category(ch) == "Cf"


def _bad(ch: str) -> bool:
    """Replaced by ``_``: C0/C1 controls, DEL, lone surrogates, line/paragraph separators, U+FFFE/U+FFFF, and the
    characters Windows reserves."""
    o = ord(ch)
    return (o < 32 or 127 <= o <= 159 or 0xD800 <= o <= 0xDFFF or o in (0x2028, 0x2029, 0xFFFE, 0xFFFF)
            or ch in _RESERVED_CHARS)


_BAD_RE = re.compile('[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\ufffe\uffff' + re.escape(_RESERVED_CHARS) + ']')
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _replace_bad_chars(text: str) -> str:
    text = _BAD_RE.sub("_", text)  # same set as _bad(), in C
    if _NON_ASCII.search(text):  # format characters exist only outside ASCII
        text = "".join(ch for ch in text if ch.isascii() or not _invisible(ch))
    return text


def is_device_name(name: str) -> bool:
    """Windows reserves these names whatever the extension and case: CON, con.txt, LPT1.flv, "NUL .x"."""
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem.upper() in _DEVICE_NAMES


def clean_value(value: object) -> str:
    """A replacement value made safe to sit inside a file name (see module docstring)."""
    if value is None:
        return ""
    text = str(value)
    if text == "":
        return ""
    text = unicodedata.normalize("NFC", text)
    text = _replace_bad_chars(text)
    text = re.sub(r"\.{2,}", "_", text)
    text = text.strip().rstrip(". ")
    if is_device_name(text):
        text = "_" + text
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 9].rstrip(". ") + "~" + _short_hash(str(value))
    return text or "_"


def clean_extension(ext: str | None, fallback: str = "bin") -> str:
    """File extension from the appliance: ASCII letters and digits only, at most 16, never empty."""
    text = re.sub(r"[^A-Za-z0-9]", "", ext or "")[:16]
    return text or fallback


def _fits(name: str) -> bool:
    return len(name) <= MAX_NAME_CHARS and len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES


def clean_file_name(name: str, extension: str | None = None) -> str:
    """The whole file name made safe for Windows and POSIX (see module docstring)."""
    original = name
    name = unicodedata.normalize("NFC", name)
    name = _replace_bad_chars(name).strip().rstrip(". ")
    if name.startswith("."):
        name = "_" + name[1:]
    if not name:
        return "_"
    if is_device_name(name):
        name = "_" + name
    if _fits(name):
        return name
    suffix = ""
    if extension and name.endswith("." + extension) and len(extension) < 32:
        suffix = "." + extension
    stem = name[: len(name) - len(suffix)]
    tail = "~" + _short_hash(original) + suffix
    while stem and not _fits(stem + tail):
        stem = stem[:-1]
    stem = stem.rstrip(". ")
    return (stem or "_") + tail


# --- replacement values ---------------------------------------------------------------------------------------
def session_values(site_host: str, session: "Session | None", instance: int | None = None) -> dict[str, object]:
    """Replacement values (without percent signs) of one session's file; %EXTENSION% is given to render()."""
    values: dict[str, object] = {"SUPPORT_SITE_HOST": site_host, "INSTANCE": "" if instance is None else instance}
    if session is not None:
        values.update(
            LSEQ="" if session.lseq is None else session.lseq,
            LSID=session.lsid,
            EXTERNAL_KEY=session.external_key or "",
            SESSION_TYPE=session.session_type or "",
        )
    return values


# --- rendering --------------------------------------------------------------------------------------------------
def render(fmt: str, values: dict[str, object], extension: str | None = None) -> str:
    """Replace every %NAME% in one pass with its cleaned value, then clean the whole name.

    ``values`` maps replacement names (without percent signs) to raw values; missing ones render empty.
    ``extension`` (already cleaned) lets a long name keep its extension when it is cut.
    """

    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key == "EXTENSION":
            return extension if extension is not None else clean_extension(str(values.get(key) or ""))
        return clean_value(values.get(key))

    return clean_file_name(_TOKEN.sub(sub, fmt), extension)


def numbered_name(name: str, n: int) -> str:
    """AppendNumber: ``n`` inserted just before the LAST period (x.flv -> x.1.flv); without a period, ``x`` -> ``x.1``."""
    if n <= 0:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name}.{n}"
    return f"{stem}.{n}.{ext}"


def strip_number(name: str) -> tuple[str, int]:
    """Inverse of :func:`numbered_name` for names that have an extension: ``x.3.flv`` -> (``x.flv``, 3)."""
    m = re.fullmatch(r"(.+)\.(\d+)(\.[^.]*)", name)
    if not m:
        return name, 0
    return m.group(1) + m.group(3), int(m.group(2))


# --- paths ------------------------------------------------------------------------------------------------------
_NOT_PLAIN = re.compile(r"[/\\:\x00]")


def safe_join(directory: str | os.PathLike, name: str) -> Path:
    """``directory/name``, refusing anything that is not a plain file name inside ``directory``.

    ``:`` is refused too: on Windows ``x.xml:s`` is an NTFS alternate data stream of ``x.xml`` and ``C:x`` is relative
    to drive C's current folder (cleaned names never contain it; a name read back from the in-progress index might).
    """
    if not name or name in (".", "..") or _NOT_PLAIN.search(name):
        raise DestinationError(f"Refused to write the file name {name!r}: it is not a plain file name.")
    base = os.path.abspath(os.fspath(directory))
    full = os.path.join(base, name)
    if name.strip(" .") and not name.endswith((" ", ".")):
        return Path(full)  # no separator, no dot-only or trailing-dot tricks: it is a direct child of base
    full = os.path.abspath(full)
    if os.path.dirname(full) != base or os.path.commonpath([base, full]) != base:
        raise DestinationError(f"Refused to write {name!r}: it would land outside folder {base}.")
    return Path(full)


def long_path(path: str | os.PathLike, windows: bool | None = None) -> str:
    """On Windows, a path longer than 240 characters gets the ``\\\\?\\`` prefix (``\\\\?\\UNC\\`` for shares)."""
    text = os.fspath(path)
    if windows is None:
        windows = os.name == "nt"
    if not windows or len(text) <= LONG_PATH_LIMIT or text.replace("/", "\\").startswith(("\\\\?\\", "\\\\.\\")):
        return text  # short, or already an extended / device path (must not become \\?\UNC\?\...)
    if os.name == "nt":
        text = os.path.abspath(text)  # \\?\ turns off normalisation: the path must be absolute, no . or ..
    text = text.replace("/", "\\")
    if text.startswith("\\\\"):
        return "\\\\?\\UNC\\" + text[2:]
    return "\\\\?\\" + text
