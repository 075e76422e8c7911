"""What a destination holds for one site, by LSID: the destination half of `verify` (no appliance requests here).

* SQL destinations: one query on the ``session`` table (host_name + lsid; ``end_time`` NULL = stored in progress).
* Folder destinations: every file of the folder is looked at once. Session XML files are parsed (their content says
  the LSID, whether the copy was written in progress, and which command shell / Show My Screen recordings the session
  has); recordings and backups are recognised by their names, whatever the File Name Format: first with the format
  the destination uses now, then — for files written under an older format or by another program — by an LSID (or,
  for %LSEQ%-only formats, an lseq) found among the name's words.
* Any other plugin may provide ``verify_holdings(site_host) -> Holdings`` itself.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path

from ic.destinations import naming
from ic.errors import ConfigError, DestinationUnavailable, ICError
from ic.settings.models import DataType

log = logging.getLogger("ic.verify")

FILE_KINDS = (DataType.RECORDINGS, DataType.SMSR, DataType.SHELL)
XML_EXTENSIONS = ("xml",)
_WORD = re.compile(r"[A-Za-z0-9]+")
_PLAIN = re.compile(r"[A-Za-z0-9]{1,200}")  # naming.clean_value leaves such a value as it is


@dataclass(slots=True)  # one per session: 100,000s of them
class Held:
    """What the destination holds for one LSID."""

    lsid: str
    xml: str | None = None  # "ended" | "in_progress" | None (no session data)
    start_time: int | None = None  # unix seconds, when known (window filter for "extra")
    # containers only where there is something (one Held per session: keep it small)
    files: dict[str, set] | None = None  # kind -> instances held (recordings: {None})
    ambiguous: dict[int | None, int] | None = None  # instance -> files whose kind the name does not tell
    expected: dict[str, set] | None = None  # from the stored XML: kind -> instances the session has

    def has_file(self, kind: str, instance: int | None) -> bool:
        return bool(self.files) and instance in self.files.get(kind, ())  # type: ignore[union-attr]

    def add_file(self, kind: str | None, instance: int | None, name: str = "") -> None:
        if kind is None:
            if self.ambiguous is None:
                self.ambiguous = {}
            self.ambiguous[instance] = self.ambiguous.get(instance, 0) + 1
        else:
            if self.files is None:
                self.files = {}
            self.files.setdefault(kind, set()).add(instance)

    @property
    def anything(self) -> bool:
        return bool(self.xml or self.files or self.ambiguous)


@dataclass
class Holdings:
    sessions: dict[str, Held] = field(default_factory=dict)
    backups: list[str] = field(default_factory=list)  # backup file names of this site, newest first
    unreadable: list[str] = field(default_factory=list)  # XML files that do not parse (damaged copies)
    accepts_files: bool = False

    def get(self, lsid: str) -> Held:
        held = self.sessions.get(lsid)
        if held is None:
            held = self.sessions[lsid] = Held(lsid)
        return held


def holdings_for(dest, site_host: str, known_lsids: set[str] | None = None) -> Holdings:
    """Holdings of a destination plugin instance for ``site_host``."""
    custom = getattr(dest, "verify_holdings", None)
    if callable(custom):
        return custom(site_host)
    type_name = getattr(dest, "type_name", "")
    if type_name == "sql":
        return sql_holdings(dest, site_host)
    if type_name == "folder":
        return folder_holdings(dest, site_host, known_lsids or set())
    raise ConfigError(f"Destination {dest.name} ({getattr(dest, 'display_name', type_name)}) cannot be verified: "
                      "only File System and SQL destinations can say what they hold.")


# --- SQL ----------------------------------------------------------------------------------------------------------
def sql_holdings(dest, site_host: str) -> Holdings:
    from sqlalchemy import func, inspect, select
    from sqlalchemy.exc import SQLAlchemyError

    from ic.destinations import sql_schema as t

    out = Holdings(accepts_files=False)
    try:
        with dest.engine.connect() as conn:
            if "session" not in {n.lower() for n in inspect(conn).get_table_names()}:
                return out  # nothing stored yet
            # the host as typed may differ in case from the one the rows were stored under: the same site
            query = select(t.session.c.lsid, t.session.c.start_time, t.session.c.end_time).where(
                func.lower(t.session.c.host_name) == site_host.lower())
            for lsid, start, end in conn.execute(query):
                held = out.get(str(lsid))
                held.xml = "ended" if end is not None else "in_progress"
                held.start_time = _unix(start)
    except SQLAlchemyError as exc:
        raise dest._fail(exc, "read sessions from") from None
    return out


def _unix(value) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


# --- folder -------------------------------------------------------------------------------------------------------
def folder_holdings(dest, site_host: str, known_lsids: set[str]) -> Holdings:
    config = dest.config
    directory = Path(str(config.get("directory") or "").strip())
    fmt = config.get("name_format") or naming.DEFAULT_NAME_FORMAT
    if not str(directory):
        raise ConfigError(f"Destination {dest.name} has no Destination Directory.")
    try:
        entries = [e for e in os.scandir(naming.long_path(directory))]
    except FileNotFoundError:
        if directory.parent != directory and os.path.isdir(naming.long_path(directory.parent)):
            return Holdings(accepts_files=True)  # created at the first run: holds nothing yet
        raise DestinationUnavailable(f"Folder {directory} of destination {dest.name} cannot be reached; check "
                                     "Destination Directory.") from None
    except OSError as exc:
        raise DestinationUnavailable(f"Folder {directory} of destination {dest.name} cannot be listed "
                                     f"({exc.strerror or exc}).") from None
    names, empty = [], []
    for e in entries:
        if _is_file(e):
            (empty if _size(e) == 0 else names).append(e.name)  # an empty file holds no session and no recording
    out = scan_names(directory, names, site_host, fmt, known_lsids)
    out.unreadable.extend(f"{n} (empty)" for n in sorted(empty))
    return out


def _size(entry) -> int | None:
    try:
        return entry.stat(follow_symlinks=True).st_size
    except OSError:
        return None


def _is_file(entry) -> bool:
    try:
        return entry.is_file(follow_symlinks=True) and not entry.name.startswith(".")
    except OSError:
        return False


def scan_names(directory: Path, names: list[str], site_host: str, fmt: str, known_lsids: set[str]) -> Holdings:
    """Classify the visible files of a folder destination (see the module docstring)."""
    from ic.destinations.folder import FolderDestination

    out = Holdings(accepts_files=True)
    patterns = _Patterns(fmt, site_host)
    backup_re = FolderDestination.backup_pattern(FolderDestination._backup_format(fmt), site_host, "nsb")
    xml_names, other = [], []
    for name in names:
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        (xml_names if ext in XML_EXTENSIONS else other).append(name)
    backups: list[tuple[str, str]] = []
    lseqs: dict[str, set[str]] = {}
    for name in xml_names:
        if not patterns.same_site(name, "xml"):
            continue
        _read_xml(directory / name, name, out, lseqs)
    # names of this site's sessions in their cleaned (file-name) form -> lsid
    cleaned: dict[str, str] = {}
    for lsid in list(known_lsids) + list(out.sessions):
        cleaned.setdefault(lsid if _PLAIN.fullmatch(lsid) else naming.clean_value(lsid), lsid)
    by_lseq = {k: next(iter(v)) for k, v in lseqs.items() if len(v) == 1}
    for name in other:
        base, _number = naming.strip_number(name)
        if backup_re.fullmatch(base) or backup_re.fullmatch(name):
            m = backup_re.fullmatch(base) or backup_re.fullmatch(name)
            backups.append((re.sub(r"\D", "", m.group(1) or "") if m else "", name))
            continue
        found = patterns.match(base, cleaned, by_lseq)
        if found is None:
            found = _by_words(base, cleaned, by_lseq if not patterns.has_lsid else {})
        if found is None:
            continue
        lsid, kind, instance = found
        out.get(lsid).add_file(kind, instance, name)
    out.backups = [n for _, n in sorted(backups, reverse=True)]
    return out


def _read_xml(path: Path, name: str, out: Holdings, lseqs: dict[str, set[str]]) -> None:
    """What one session XML file says. The common case (one session, as the appliance and this program write it) is
    read with a few anchored searches (~50x faster than building the whole model: verify reads every XML file);
    anything unusual (several sessions, comments, CDATA, entities in the values) goes through the full parser."""
    try:
        with open(naming.long_path(path), "rb") as f:
            data = f.read()
    except OSError as exc:
        out.unreadable.append(name)
        log.warning("Verify: %s could not be read (%s).", name, exc)
        return
    quick = quick_read(data)
    if quick is None:
        try:
            found = [_facts(s) for s in _parse(data, name)]
        except ICError as exc:  # a damaged or foreign XML file: reported, never fatal
            out.unreadable.append(name)
            log.warning("Verify: %s could not be read as session XML (%s).", name, exc)
            return
    else:
        found = [quick]
    for lsid, lseq, start, in_progress, expected in found:
        held = out.get(lsid)
        status = "in_progress" if in_progress else "ended"
        if held.xml != "ended":  # one ended copy is enough (AppendNumber may have kept an older one)
            held.xml = status
        if status == "ended" or not held.expected:
            held.expected = expected
        held.start_time = start
        if lseq is not None:
            lseqs.setdefault(str(lseq), set()).add(lsid)


def _parse(data: bytes, name: str):
    from ic.sessions.parser import iter_sessions

    return list(iter_sessions(data, name))


def instances_of(s) -> dict[str, set]:
    """Command shell and Show My Screen instances the session announces (the engine downloads exactly these)."""
    return {k: set(s.recording_instances(k)) for k in (DataType.SHELL, DataType.SMSR)}


def _facts(s) -> tuple:
    return (s.lsid, s.lseq, s.start_time, s.in_progress, instances_of(s))


_P = rb"<(?:[\w.-]+:)?"
_SESSION_TAG = re.compile(_P + rb"session\b([^>]*)>")
_LSID_ATTR = re.compile(rb'\slsid="([^"&<]*)"')
_LSEQ = re.compile(_P + rb"lseq\s*>\s*(\d+)\s*<")
_START = re.compile(_P + rb"start_time\b([^>]*)>")
_END = re.compile(_P + rb"end_time\b([^>]*?)(/?)>([^<]*)")
_TIMESTAMP = re.compile(rb'\stimestamp="\s*(\d+)\s*"')
_SHELL = re.compile(_P + rb"command_shell_recording\b([^>]*)>")
_INSTANCE_ATTR = re.compile(rb'\sinstance="\s*(\d+)\s*"')
_EVENT = re.compile(_P + rb"event\b([^>]*)>")
_EVENT_END = re.compile(rb"</(?:[\w.-]+:)?event\s*>")
_SMSR_TYPE = re.compile(rb'\sevent_type="[^"]*show my screen[^"]*"', re.IGNORECASE)
_SMSR_WORDS = re.compile(rb"show my screen", re.IGNORECASE)
_VALUE = re.compile(_P + rb"value\b([^>]*)>")
_TAIL = re.compile(rb"</(?:[\w.-]+:)?session_list\s*>\s*$")


def quick_read(data: bytes):
    """(lsid, lseq, start_time, in_progress, {"shell": set, "smsr": set}) of a plain one-session document, else
    None (then the full parser decides). A document cut short (no closing ``</session_list>``) is never quick."""
    if b"<!--" in data or b"<![CDATA[" in data or b"<!DOCTYPE" in data or not _TAIL.search(data[-200:]):
        return None
    if data.count(b' lsid="') != 1:  # one session (an lsid attribute after a tab or newline: the parser decides)
        return None
    tags = [m for m in (_SESSION_TAG.search(data),) if m is not None and _LSID_ATTR.search(m.group(1))]
    if len(tags) != 1:
        return None
    lsid_m = _LSID_ATTR.search(tags[0].group(1))
    lsid = lsid_m.group(1).decode("utf-8", "strict") if lsid_m else ""
    if not lsid or lsid != lsid.strip():
        return None
    body = data[tags[0].end():]
    lseq_m = _LSEQ.search(body)
    start_m = _START.search(body)
    start = None
    if start_m:
        ts = _TIMESTAMP.search(start_m.group(1))
        if not ts:
            return None  # an ISO-only start time: let the parser read it
        start = int(ts.group(1))
    end_m = _END.search(body)
    if end_m is None:
        in_progress = True
    elif b"nil=" in end_m.group(1):
        in_progress = b'nil="true"' in end_m.group(1) or None
    else:
        ts = _TIMESTAMP.search(end_m.group(1))
        text = end_m.group(3).strip() if not end_m.group(2) else b""
        if ts:
            in_progress = int(ts.group(1)) == 0
        elif not text:
            in_progress = True
        else:
            return None  # end time as text only: the parser's rules decide
    if in_progress is None:
        return None
    shells = set()
    for m in (_SHELL.finditer(body) if b"command_shell_recording" in body else ()):
        inst = _INSTANCE_ATTR.search(m.group(1))
        if inst is None:
            return None
        shells.add(int(inst.group(1)))
    smsr = set()
    for m in (_EVENT.finditer(body) if _SMSR_WORDS.search(body) else ()):
        if not _SMSR_TYPE.search(m.group(1)):
            continue
        if m.group(1).rstrip().endswith(b"/"):
            smsr.add(0)
            continue
        stop = _EVENT_END.search(body, m.end())
        inner = body[m.end():stop.start() if stop else len(body)]
        instance = None
        for v in _VALUE.finditer(inner):
            attrs = v.group(1)
            if re.search(rb'\sname="instance"', attrs):
                val = re.search(rb'\svalue="([^"]*)"', attrs)
                text = val.group(1).strip() if val else b""
                instance = int(text) if text.isdigit() else 0
                break
        smsr.add(0 if instance is None else instance)
    return (lsid, int(lseq_m.group(1)) if lseq_m else None, start, in_progress,
            {DataType.SHELL: shells, DataType.SMSR: smsr})


class _Patterns:
    """Regular expressions of the names the folder destination gives each kind under the current format
    (``naming.format_for``: -shell-N / -smsr-N tags, or with %INSTANCE% a Show My Screen instance reading smsr-N)."""

    def __init__(self, fmt: str, site_host: str) -> None:
        self.fmt = fmt
        self.host = naming.clean_value(site_host)
        used = set(naming.tokens(fmt))
        self.has_lsid = "LSID" in used
        self.has_host = "SUPPORT_SITE_HOST" in used
        flags = re.IGNORECASE if os.name == "nt" else 0
        self.kinds = []
        for kind in (DataType.SMSR, DataType.SHELL, DataType.RECORDINGS):
            recordings = kind == DataType.RECORDINGS
            kind_fmt = fmt if recordings else naming.format_for(fmt, kind, "%INSTANCE%")  # type: ignore[arg-type]
            self.kinds.append((kind, re.compile(self._regex(kind_fmt, inst="" if recordings else r"\d+"),
                                                flags | re.DOTALL)))
        self.xml = re.compile(self._regex(fmt), flags | re.DOTALL)
        self.xml_any_host = re.compile(self._regex(fmt, host=r".+?"), flags | re.DOTALL)

    def _regex(self, fmt: str, host: str | None = None, inst: str = "") -> str:
        seen: set[str] = set()
        out = []
        for i, part in enumerate(fmt.split("%")):
            if i % 2 == 0:
                out.append(re.escape(part))
                continue
            if part == "SUPPORT_SITE_HOST":
                out.append(host if host is not None else re.escape(self.host))
                continue
            group = {"LSID": "lsid", "LSEQ": "lseq", "INSTANCE": "inst", "EXTENSION": "ext"}.get(part)
            if group is None:
                out.append(".*?")
            elif group in seen:
                out.append(f"(?P={group})")
            else:
                seen.add(group)
                body = {"lsid": ".+?", "lseq": r"\d*", "inst": inst, "ext": r"[^.]*"}[group]
                out.append(f"(?P<{group}>{body})")
        return "".join(out)

    def same_site(self, name: str, ext: str) -> bool:
        """False only for a name written under the current format for ANOTHER site's host."""
        if not self.has_host:
            return True
        base, _ = naming.strip_number(name)
        if self.xml.fullmatch(base) or self.xml.fullmatch(name):
            return True
        return not (self.xml_any_host.fullmatch(base) or self.xml_any_host.fullmatch(name))

    def match(self, base: str, cleaned: dict[str, str], by_lseq: dict[str, str]):
        for kind, rx in self.kinds:
            m = rx.fullmatch(base)
            if not m:
                continue
            groups = m.groupdict()
            ext = (groups.get("ext") or "").lower()
            if ext in XML_EXTENSIONS or ext == "nsb":
                return None
            lsid = cleaned.get(groups["lsid"]) if groups.get("lsid") is not None else by_lseq.get(groups.get("lseq") or "")
            if lsid is None:
                continue
            inst_text = groups.get("inst")
            instance = int(inst_text) if inst_text else None
            if kind != DataType.RECORDINGS and instance is None:
                instance = 0
            return lsid, kind, instance
        return None


_KIND_WORDS = ((DataType.SHELL, ("shell", "csr")), (DataType.SMSR, ("smsr", "show", "screen")))


def _by_words(base: str, cleaned: dict[str, str], by_lseq: dict[str, str]):
    """Fallback for names of another format: an LSID among the words, kind and instance from the words after it."""
    words = _WORD.findall(base)
    for i, word in enumerate(words):
        lsid = cleaned.get(word) or (by_lseq.get(word) if word.isdigit() else None)
        if lsid is None:
            continue
        rest = [w.lower() for w in words[i + 1:]]
        if rest and rest[-1] in XML_EXTENSIONS + ("nsb",):
            return None
        numbers = [int(w) for w in rest[:-1] if w.isdigit()] if rest else []
        for kind, hints in _KIND_WORDS:
            if any(h in w for w in rest + [x.lower() for x in words[:i]] for h in hints):
                return lsid, kind, numbers[0] if numbers else (0 if kind == DataType.SHELL else None)
        if numbers:  # an instance number but no kind word (e.g. a format with %INSTANCE%): shell or Show My Screen
            return lsid, None, numbers[0]
        return lsid, DataType.RECORDINGS, None
    return None


__all__ = ["Held", "Holdings", "holdings_for", "scan_names", "sql_holdings", "folder_holdings", "quick_read"]
