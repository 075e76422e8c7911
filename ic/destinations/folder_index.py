"""What a File System destination folder holds, read from the files themselves (never from our own sidecars).

Two jobs:

* **Same session, compared as XML** (:func:`session_digest`, :func:`file_sessions`): the folder plugin recognises a
  file already under a session's name as done when it holds the same session data -- the ``<session>`` element with
  that lsid, parsed, compared namespace-insensitively (element and attribute local names only; prefixes, ``xmlns``
  declarations, the XML declaration and the wrapper around the session are ignored) and whitespace-insensitively
  (runs of white space in text count as one space, leading/trailing white space and indentation are ignored;
  comments and processing instructions are ignored). Child order and every attribute and text value count. This is
  how a folder filled by the vendor's client (same File Name Format) is adopted without ``x.1.xml`` copies.
* **scan_folder** (for verification tools): per lsid, the XML files whose ``<session lsid>`` is that lsid
  (whatever their names), whether it is in progress, and the recordings found for it by name (the configured
  File Name Format, numbered ``x.N`` variants included, or the appliance's own download names).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ic.destinations import naming

log = logging.getLogger(__name__)

_SERVER_NAME = re.compile(
    r"(session_recording|show_my_screen_recording|command_shell_recording)-(.+?)(?:-(\d+))?(?:\.\d+)?\.[A-Za-z0-9]+")
_SERVER_KIND = {"session_recording": "recordings", "show_my_screen_recording": "smsr",
                "command_shell_recording": "shell"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                           remove_comments=True, remove_pis=True)


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _norm(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _session_elements(root: etree._Element) -> list[etree._Element]:
    if _local(root.tag) == "session":
        return [root]
    return [el for el in root if isinstance(el.tag, str) and _local(el.tag) == "session"]


def _digest(el: etree._Element) -> str:
    """Hash of the element's content, namespace- and whitespace-insensitive; iterative (no recursion limit)."""
    h = hashlib.sha256()
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        attrs = sorted((_local(k), v) for k, v in node.attrib.items())
        kids = sum(1 for c in node if isinstance(c.tag, str))
        tail = _norm(node.tail) if node is not el else ""
        h.update(repr((_local(node.tag), attrs, _norm(node.text), tail, kids)).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _end_time(el: etree._Element) -> tuple[bool, int | None]:
    """(ended, end time) of a ``<session>`` element: ended when ``end_time`` carries a timestamp or text."""
    for child in el:
        if isinstance(child.tag, str) and _local(child.tag) == "end_time":
            if any(_local(k) == "nil" and v == "true" for k, v in child.attrib.items()):
                return False, None
            stamp = child.get("timestamp") or child.get("ts") or ""
            text = (child.text or "").strip()
            if stamp.strip() in ("", "0") and not text:
                return False, None
            try:
                return True, int(stamp)
            except ValueError:
                return True, None
    return False, None


@dataclass(frozen=True)
class SessionBrief:
    lsid: str
    ended: bool
    end_time: int | None
    digest: str


def _briefs(root: etree._Element) -> list[SessionBrief]:
    out = []
    for el in _session_elements(root):
        lsid = el.get("lsid")
        if lsid is None:
            continue
        ended, end = _end_time(el)
        out.append(SessionBrief(lsid, ended, end, _digest(el)))
    return out


def session_digest(raw: bytes, lsid: str) -> SessionBrief | None:
    """The brief of session ``lsid`` in a raw XML document (our own session XML), or None if not readable."""
    try:
        root = etree.fromstring(bytes(raw), _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    for brief in _briefs(root):
        if brief.lsid == lsid:
            return brief
    return None


def file_sessions(path: str | os.PathLike) -> list[SessionBrief]:
    """Briefs of the sessions in an XML file; [] when it is not readable XML (then it is simply not the same)."""
    try:
        root = etree.parse(naming.long_path(path), _parser()).getroot()
    except (etree.XMLSyntaxError, OSError, ValueError):
        return []
    return _briefs(root)


# --- scan_folder ------------------------------------------------------------------------------------------------
@dataclass
class FolderHoldings:
    lsid: str
    xml_files: list[Path] = field(default_factory=list)
    in_progress: bool = False  # it has XML file(s) and none of them holds an ended version
    end_time: int | None = None
    recordings: list[Path] = field(default_factory=list)
    shell: dict[int, list[Path]] = field(default_factory=dict)
    smsr: dict[int, list[Path]] = field(default_factory=dict)


def _config_of(config_or_root: object) -> tuple[Path, str]:
    obj = config_or_root
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj), naming.DEFAULT_NAME_FORMAT
    cfg = getattr(obj, "config", obj)  # FolderDestination / DestinationConfig -> its dict
    if not isinstance(cfg, dict) or not cfg.get("directory"):
        raise TypeError("scan_folder needs a folder destination config, a FolderDestination or a folder path")
    return Path(str(cfg["directory"]).strip()), str(cfg.get("name_format") or naming.DEFAULT_NAME_FORMAT)


def _hidden(name: str) -> bool:
    return name.startswith((".ic-", ".~ic-"))


def scan_folder(config_or_root: object, site_hosts: tuple[str, ...] = ()) -> dict[str, FolderHoldings]:
    """Per lsid, what the folder holds (see module docstring). Read-only.

    Recordings named with %SUPPORT_SITE_HOST% are found for the host read from the session's XML file name, the host
    in its download URLs, and ``site_hosts``."""
    from ic.sessions.parser import iter_sessions

    root, fmt = _config_of(config_or_root)
    try:
        entries = [e for e in os.scandir(naming.long_path(root)) if not _hidden(e.name) and e.is_file()]
    except OSError:
        return {}
    out: dict[str, FolderHoldings] = {}

    ended: set[str] = set()

    def holding(lsid: str) -> FolderHoldings:
        h = out.get(lsid)
        if h is None:
            h = out[lsid] = FolderHoldings(lsid)
        return h

    others: dict[str, list[Path]] = {}  # base name (AppendNumber number stripped) -> files
    sessions = []
    for entry in sorted(entries, key=lambda e: e.name):
        path = Path(entry.path)
        if entry.name.lower().endswith(".xml"):
            found = []
            try:
                for s in iter_sessions(path):
                    found.append(s)
            except Exception:  # noqa: BLE001 - damaged or foreign XML: keep what was complete, else a plain read
                if not found:
                    briefs = file_sessions(path)
                    if not briefs:
                        log.info("Not a session XML file (or damaged): %s", path)
                for brief in ([] if found else briefs):
                    h = holding(brief.lsid)
                    if path not in h.xml_files:
                        h.xml_files.append(path)
                    if brief.ended:
                        ended.add(brief.lsid)
                        h.end_time = max(h.end_time or 0, brief.end_time or 0) or None
                if not found:
                    continue
            for s in found:
                h = holding(s.lsid)
                if path not in h.xml_files:
                    h.xml_files.append(path)
                if not s.in_progress:
                    ended.add(s.lsid)
                    h.end_time = max(h.end_time or 0, s.end_time or 0) or None
                sessions.append((s, path))
            continue
        base, _n = naming.strip_number(entry.name)
        others.setdefault(base, []).append(path)
        m = _SERVER_NAME.fullmatch(entry.name)
        if m:
            kind, lsid, inst = _SERVER_KIND[m.group(1)], m.group(2), m.group(3)
            h = holding(lsid)
            if kind == "recordings":
                h.recordings.append(path)
            elif inst is not None:
                (h.shell if kind == "shell" else h.smsr).setdefault(int(inst), []).append(path)
    exts = {n.rpartition(".")[2] for n in others if "." in n}
    for s, xml_path in sessions:
        h = out[s.lsid]
        hosts = {host for host in (_host_from_name(fmt, s, xml_path.name), host_from_urls(s), *site_hosts) if host}
        for host in sorted(hosts) or ["unknown"]:
            for ext in exts:
                for p in others.get(naming.render(fmt, naming.session_values(host, s), ext), []):
                    if p not in h.recordings:
                        h.recordings.append(p)
                for kind, bucket in (("shell", h.shell), ("smsr", h.smsr)):
                    for inst in range(10_000):
                        values = naming.session_values(host, s, inst)
                        name = naming.render(naming.format_for(fmt, kind, inst), values, ext)
                        files = others.get(name, [])
                        if not files and inst > 0:
                            break
                        have = bucket.setdefault(inst, []) if files else []
                        have.extend(p for p in files if p not in have)
    for h in out.values():
        h.in_progress = bool(h.xml_files) and h.lsid not in ended
    return out


_SENTINEL = "\ue000"


def _host_from_name(fmt: str, session, file_name: str) -> str | None:
    """The site host this XML file's name was rendered with (the format's %SUPPORT_SITE_HOST% part), if any."""
    if "%SUPPORT_SITE_HOST%" not in fmt:
        return None
    rendered = naming.render(fmt, naming.session_values(_SENTINEL, session), "xml")
    if rendered.count(_SENTINEL) != 1:
        return None
    before, _, after = rendered.partition(_SENTINEL)
    base, _n = naming.strip_number(file_name)
    for name in (file_name, base):
        m = re.fullmatch(re.escape(before) + "(.+)" + re.escape(after), name)
        if m:
            return m.group(1)
    return None


def host_from_urls(session) -> str | None:
    """The appliance host named by the session's download URLs (same rule as import-xml)."""
    from urllib.parse import urlsplit

    urls = [session.chat_download_url, session.recording_download_url]
    urls += [r.download_url for r in session.command_shell_recordings]
    for url in urls:
        if url:
            host = urlsplit(url).netloc.rpartition("@")[2]
            if host:
                return host.lower()
    return None
