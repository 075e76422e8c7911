"""Streaming, safe parser for SupportSession / AccessSession ``session_list`` documents.

A response can be hundreds of MB, so it is never held as one tree: lxml ``iterparse`` fires on the end of each
top-level ``<session>`` (any namespace), the element is converted, serialised into ``Session.raw_xml``, then cleared
and the already-handled siblings are deleted. Entities are never expanded, no DTD is loaded, nothing is fetched.
Content outside sessions is deleted as it is read. One session bigger than ``spill.SPILL_OVER`` is spilled: its bytes
go to a temporary file, its events are dropped from the tree as they end, and the Session's ``raw_xml`` and
``events`` read that file again (:mod:`ic.sessions.spill`).
"""
from __future__ import annotations

import io
import os
import re
from functools import partial
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from lxml import etree

from ic.errors import ApplianceAPIError, ICError, ParseError, SessionValueError
from ic.sessions import spill as _spill
from ic.sessions.convert import _name_event_parties, detect_product, event_from_element, session_from_element
from ic.sessions.model import Event, RawXml, Session
from ic.sessions.xmlutil import local, namespace, text

Source = str | os.PathLike | BinaryIO | bytes | bytearray | RawXml

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def iter_sessions(
    xml: Source,
    /,
    source_name: str | None = None,
    product: str | None = None,
    *,
    source: str | None = None,
    huge_tree: bool = True,
    spill_over: int | None = None,
    spill_dir: str | os.PathLike | None = None,
) -> Iterator[Session]:
    """Yield every ``<session>`` of a session_list document, in document order.

    ``xml`` (first positional argument): a path, a binary file object, or bytes. ``source_name`` (or keyword
    ``source=``, the older contract spelling) names it in errors (default: the path or the file object's name).
    ``product``: "rs" / "pra" when the caller knows which report it asked for; None or "detect" detects it
    (``/sra/`` namespace or jumpoint/jump_group elements mean PRA).
    ``huge_tree`` (default on) lets libxml2 take text nodes over 10 MB and nesting up to 2048 levels; entities are
    never expanded either way.
    ``spill_over`` (default ``spill.SPILL_OVER``, 16 MiB): a session whose bytes pass it is kept in a temporary file
    in ``spill_dir`` (default: the data folder's tmp) instead of memory; its ``raw_xml`` is then a file-backed
    :class:`RawXml` and its ``events`` are re-read from the file when iterated. ``Session.close()`` removes the file
    (garbage collection does too).

    Raises ApplianceAPIError for an ``<error>`` document and ParseError for malformed XML; a ParseError comes
    only after every session that was complete before the break has been yielded. A session that cannot be read
    (a time outside the years 1-9999, nesting deeper than libxml2 allows, any value the model cannot hold) is
    skipped, the sessions after it are still yielded, and SessionValueError (naming its lsid and field) is raised at
    the end; malformed XML wins over it.
    """
    name = source_name or source or _name_of(xml)
    stream, owned = _open(xml, name)
    rejected: list[SessionValueError] = []
    data: bytes | None = None  # the document again, only once a session nested too deep must be skipped
    try:
        while True:
            try:
                yield from _parse(stream, name, product, huge_tree, rejected,
                                  _spill.SPILL_OVER if spill_over is None else spill_over, spill_dir)
                break
            except _TooDeep as deep:
                data = _load(xml) if data is None else data
                data = _resume_after(data, deep) if data is not None else None
                if data is None:
                    raise deep.error from None
                if owned:
                    stream.close()
                stream, owned = io.BytesIO(data), True
                rejected.append(SessionValueError(
                    f"Session {deep.lsid or '(no lsid)'} in {name} is nested deeper than the XML parser allows "
                    f"(line {deep.line}); it was set aside.", source=name, line=deep.line, lsid=deep.lsid,
                    field="nesting"))
    finally:
        if owned:
            stream.close()
    if rejected:
        first = rejected[0]
        if len(rejected) > 1:
            first.args = (f"{first} {len(rejected) - 1} more session(s) of {name} could not be read either.",)
        first.rejected = rejected  # type: ignore[attr-defined]
        raise first


class _TooDeep(Exception):
    def __init__(self, error: ParseError, lsid: str | None, line: int | None) -> None:
        super().__init__(str(error))
        self.error, self.lsid, self.line = error, lsid, line


def _parse(stream: BinaryIO, name: str, product: str | None, huge_tree: bool,
           rejected: list[SessionValueError], spill_over: int = _spill.SPILL_OVER,
           spill_dir: str | os.PathLike | None = None) -> Iterator[Session]:
    tap = _Tap(stream, spill_over, spill_dir, huge_tree)
    try:
        yield from _parse_tapped(tap, name, product, huge_tree, rejected)
    finally:
        tap.discard()  # a session spilled when the parse stopped (error, or the caller stopped reading)


def _parse_tapped(tap: "_Tap", name: str, product: str | None, huge_tree: bool,
                  rejected: list[SessionValueError]) -> Iterator[Session]:
    events = etree.iterparse(
        tap,
        events=("start", "end"),
        tag=("{*}session", "{*}session_list"),
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=huge_tree,
        remove_comments=False,
    )
    found = 0
    depth = 0  # open <session> elements: only the outermost one is a session
    current: tuple[str | None, int | None] = (None, None)
    pending_error: etree._Element | None = None
    try:
        for kind, elem in events:
            if elem.tag[-5:] == "_list":  # <session_list>: the root, whose content outside sessions is dropped
                if kind == "start" and tap.root is None and elem.getparent() is None:
                    tap.root = elem
                continue
            if kind == "start":
                depth += 1
                if depth == 1:
                    current = (elem.get("lsid"), elem.sourceline)
                    tap.begin(elem)
                continue
            depth -= 1
            if depth:
                continue  # an element called "session" inside a session is content, not a session
            parent = elem.getparent()
            ns = namespace(elem.tag)
            spilled = None
            try:
                spilled = tap.spilled(elem, name)
                if spilled is not None:
                    session = _spilled_session(elem, ns, product, spilled, tap, name)
                else:
                    if next(islice(elem.iter(*_SPECIAL), 1, None), None) is None:  # one walk in C, usual case
                        had_entities, plain = False, True  # (the session itself is the walk's first node)
                    else:
                        had_entities = _entities_to_text(elem)
                        plain = _plain_markup(elem)
                    session = session_from_element(elem, detect_product(ns, elem, product), ns)
                    check_session(session, name)
                    # once the session's bytes are found its tree is no longer needed: freed before they are copied
                    # (a 200 MB session is not held three times)
                    release = None if had_entities else partial(elem.clear, keep_tail=False)
                    original = tap.take(elem.get("lsid"), elem.sourceline, plain, release)
                    session.raw_xml = (original if original is not None and not had_entities
                                       else standalone_document(elem, ns))
            except SessionValueError as exc:
                if spilled is not None:
                    spilled.close()
                rejected.append(exc)
                session = None
            except (ValueError, ArithmeticError, RecursionError, LookupError, TypeError) as exc:
                if spilled is not None:
                    spilled.close()
                lsid = elem.get("lsid")
                rejected.append(SessionValueError(
                    f"Session {lsid or '(no lsid)'} in {name} (line {elem.sourceline}) cannot be read: "
                    f"{type(exc).__name__}: {str(exc)[:200]}.", source=name, line=elem.sourceline, lsid=lsid))
                session = None
            elem.clear(keep_tail=False)
            while parent is not None and elem.getprevious() is not None:
                previous = parent[0]
                if local(previous.tag) == "error" and pending_error is None:
                    pending_error = previous
                del parent[0]
            if session is None:
                continue
            found += 1
            yield session
    except etree.XMLSyntaxError as err:
        line = max(1, err.lineno or (err.position[0] if err.position else 0) or 0)
        detail = err.msg or str(err)
        if found == 0 and not rejected and detail in ("no element found", "Document is empty"):
            detail = "the document is empty"
        detail = re.sub(r"(,? line \d+)+(, column \d+)?\s*$", "", detail).rstrip(" ,.")  # libxml2 repeats the position
        error = ParseError(f"{name} is not valid XML at line {line}: {detail}.", source=name, line=line)
        if depth and "excessive depth" in detail.lower():
            raise _TooDeep(error, current[0], current[1]) from None
        raise error from None
    if pending_error is None:
        pending_error = tap.error  # an <error> of the root dropped with the content outside sessions
    root = events.root
    if root is None:
        return
    if local(root.tag) == "error":
        raise _api_error(root)
    for child in root:
        if local(child.tag) == "error":
            pending_error = pending_error if pending_error is not None else child
    if pending_error is not None:
        raise _api_error(pending_error)
    if not found and not rejected and local(root.tag) != "session_list":
        raise ParseError(
            f"{name} is not a session list (its root element is <{local(root.tag)}>).", source=name, line=1
        )


def _spilled_session(elem: etree._Element, ns: str | None, product: str | None, raw: RawXml, tap: "_Tap",
                     name: str) -> Session:
    """A session whose bytes went to a temporary file while it was parsed: its tree holds everything but the events
    (dropped as they ended); they are read again from the file whenever ``session.events`` is iterated."""
    session = session_from_element(elem, detect_product(ns, elem, product), ns)
    index, count = tap.event_count(elem)
    session.events = []  # (the last event or two still in the tree: the spilled ones replace them)
    check_session(session, name)
    reps, customers = session.representatives, session.customers

    def finish(batch: list[Event]) -> None:
        for e in batch:
            if e.timestamp is not None and not TIME_MIN <= e.timestamp <= TIME_MAX:
                e.timestamp = None
        _name_event_parties(_Parties(reps, customers, batch))

    session.events = _spill.SpilledEvents(raw._source, details_index=index, count=count,  # type: ignore[arg-type]
                                          convert=partial(event_from_element, tx=text), finish=finish,
                                          huge_tree=tap.huge_tree)
    session.raw_xml = raw
    return session


class _Parties:
    """What convert's party naming reads of a session, for one batch of a spilled session's events."""

    __slots__ = ("representatives", "customers", "events")

    def __init__(self, representatives: list, customers: list, events: list[Event]) -> None:
        self.representatives, self.customers, self.events = representatives, customers, events


# The years a datetime can hold: a time outside them cannot be stored or shown anywhere.
TIME_MIN, TIME_MAX = -62_135_596_800, 253_402_300_799


def check_session(s: Session, name: str) -> None:
    """Start and end times must be real times (an end time decides whether a session ended: never guessed).
    An event time out of range becomes None (no time), as an unreadable one already does."""
    for field in ("start_time", "end_time"):
        value = getattr(s, field)
        if value is not None and not TIME_MIN <= value <= TIME_MAX:
            raise SessionValueError(
                f"Session {s.lsid or '(no lsid)'} in {name} has a {field} outside the years 1 to 9999 ({value}).",
                source=name, line=s.source_line, lsid=s.lsid, field=field)
    for e in s.events:
        if e.timestamp is not None and not TIME_MIN <= e.timestamp <= TIME_MAX:
            e.timestamp = None


_ROOT_TAG = re.compile(rb"<(?![?!])[^\s>/]+(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")


def _load(xml: Source) -> bytes | None:
    if isinstance(xml, (bytes, bytearray)):
        return bytes(xml)
    if isinstance(xml, RawXml):
        return xml.read()
    if isinstance(xml, (str, os.PathLike)):
        try:
            with open(xml, "rb") as fh:
                return fh.read()  # only for this rare damaged document
        except OSError:
            return None
    return None  # a stream cannot be read again


def _resume_after(data: bytes, deep: _TooDeep) -> bytes | None:
    """The rest of the document after the session that is nested too deep, under the original root start tag, so
    the sessions after it can still be read. None when the session's end cannot be found."""
    root = _ROOT_TAG.search(data)
    if root is None or not deep.line:
        return None
    head_end = root.end()
    # byte offset of the deep session's line, then its start tag on that line
    pos, line = 0, 1
    while line < deep.line:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        pos, line = nl + 1, line + 1
    opener = re.compile(rb"<([A-Za-z_][\w.\-]*:)?session[\s/>]")
    m = opener.search(data, max(pos, head_end))
    if m is None:
        return None
    prefix = m.group(1) or b""
    tags = re.compile(rb"<(/?)" + re.escape(prefix) + rb"session(?=[\s/>])[^>]*?(/?)>")
    level, end = 0, None
    for t in tags.finditer(data, m.start()):
        if t.group(1):
            level -= 1
        elif not t.group(2):
            level += 1
        if level == 0:
            end = t.end()
            break
    if end is None:
        return None
    return data[:head_end] + data[end:]


def _entities_to_text(elem: etree._Element) -> bool:
    """Turn unexpanded entity references (only in hostile or odd documents) into literal text.

    The references are never resolved; this keeps ``raw_xml`` well-formed without the document's DTD.
    """
    entities = list(elem.iter(etree.Entity))
    if not entities:
        return False
    for ent in entities:
        parent = ent.getparent()
        literal = (ent.text or "") + (ent.tail or "")
        previous = ent.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + literal
        else:
            parent.text = (parent.text or "") + literal
        ent.tail = None
        parent.remove(ent)
    return True


def _give_back_freed_memory() -> None:
    """glibc keeps freed small blocks (a parsed tree's text nodes) in the process; hand them back to the system so
    the next large allocation does not come on top of them. Elsewhere (no glibc) this does nothing."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


# nodes that make a session unusual: entity references, comments, PIs, elements called "session" (and itself)
_SPECIAL = (etree.Entity, etree.Comment, etree.ProcessingInstruction, "{*}session")


def _plain_markup(elem: etree._Element) -> bool:
    """No comment, PI or nested "session" element inside (one walk in C): then, CDATA aside, every "</session" in
    the session's bytes is markup and the first is its end."""
    found = elem.iter(etree.Comment, etree.ProcessingInstruction, "{*}session")
    next(found, None)  # the session itself
    return next(found, None) is None


class _Tap:
    """Keeps the bytes the XML parser has read but no session has claimed yet, so each session's ``raw_xml`` can be
    the appliance's own bytes: the document's beginning up to the end of its root start tag (XML declaration and
    every namespace declaration, as sent), the whitespace before the session, the session element byte for byte,
    then a newline and the root end tag. Used only for UTF-8 documents whose session can be cut out with certainty
    (its start tag carries the lsid and sits on the line the parser reports; no CDATA or comment inside); otherwise
    the caller falls back to lxml's serialisation. Memory: the current session plus the parser's read-ahead."""

    _OPEN = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?)session(?=[\s/>])")
    _LSID = re.compile(rb"""\slsid\s*=\s*(?:"([^"]*)"|'([^']*)')""")

    def __init__(self, raw: BinaryIO, spill_over: int = _spill.SPILL_OVER,
                 spill_dir: str | os.PathLike | None = None, huge_tree: bool = True) -> None:
        self.raw = raw
        self.buf = bytearray()
        self.lines = 1  # line number of buf[0]
        self.prefix: bytes | None = None  # declaration .. root start tag, verbatim
        self.close: bytes = b""
        self.on = True
        self.pending = False  # a session's start is in the buffer: keep everything from there
        self._tags: dict[bytes, re.Pattern] = {}
        self._closes: dict[bytes, re.Pattern] = {}
        # content outside sessions and spilling (see _prune and _start_spill)
        self.spill_over, self.spill_dir, self.huge_tree = spill_over, spill_dir, huge_tree
        self.limit = spill_over  # lowered to spill.SPILL_OVER_LATER once DOCUMENT_BUDGET bytes were handed out
        self.held = 0  # bytes of this document's sessions handed out in memory
        self.root: etree._Element | None = None  # the document's root once known: its finished content is dropped
        self.session: etree._Element | None = None  # the top-level session being parsed
        self.error: etree._Element | None = None  # the first <error> dropped with the content outside sessions
        self.no_spill = False  # this session cannot be cut out of the bytes with certainty: held in memory
        self.spilling: _spill.SpillFile | None = None  # the current session's bytes go here
        self.scanner: _spill.EndScanner | None = None
        self.spill_lines = 0  # newlines of the session's bytes spilled so far
        self.finished: tuple[etree._Element, _spill.SpillFile] | None = None  # spilled whole, until its end event
        self.pruned: dict[etree._Element, int] = {}  # events dropped from each <session_details> of a spilled one

    KEEP = 1 << 20  # bytes kept before the buffer is trimmed of content outside sessions
    BIG = 16 << 20  # a session this big has its freed tree handed back to the system before its bytes are copied

    def read(self, size: int = -1) -> bytes:
        if self.root is not None:
            self._prune()  # (lxml reads between feeds: every event of the bytes read so far has been handled)
        data = self.raw.read(size)
        if self.on and data:
            if self.spilling is not None:
                self._spill_more(data)
                return data
            self.buf += data
            if len(self.buf) > self.KEEP and not self.pending:
                self._trim()
            if len(self.buf) > self.limit and self.session is not None and not self.no_spill:
                self._start_spill()
        return data

    # --- content outside sessions, and a spilled session's events, are dropped as they end ----------------------
    def begin(self, session: etree._Element) -> None:
        """A top-level session starts (its start event)."""
        self.session, self.no_spill, self.pruned = session, False, {}
        if self.root is None:
            root = session.getroottree().getroot()
            if root is not session:
                self.root = root

    def _prune(self) -> None:
        """Delete every finished element along the open path from the root (all but the last child at each
        level: the last one may still be growing). Sessions among them were handled at their end event. The open
        session is left alone, but for the finished events of one being spilled."""
        node = self.root
        while node is not None:
            if node is self.session:
                if self.spilling is not None:
                    self._prune_events(node)
                return
            n = len(node)
            if n == 0:
                return
            if n > 1:
                if self.error is None:
                    last = node[n - 1]
                    for c in node.iterchildren("{*}error"):
                        if c is not last:
                            self.error = c  # kept alive by this reference after the delete
                        break
                del node[:n - 1]
            node = node[0]

    def _prune_events(self, session: etree._Element) -> None:
        if not len(session):
            return
        details = session[len(session) - 1]
        tag = details.tag
        if not isinstance(tag, str) or tag[tag.rfind("}") + 1:] != "session_details":
            return
        n = len(details)
        if n < 2:
            return
        events = sum(1 for _ in details.iterchildren("{*}event"))
        tag = details[n - 1].tag
        if isinstance(tag, str) and tag[tag.rfind("}") + 1:] == "event":
            events -= 1  # the last one stays (it may be open)
        self.pruned[details] = self.pruned.get(details, 0) + events
        del details[:n - 1]

    def event_count(self, session: etree._Element) -> tuple[int, int]:
        """(index of the session's last <session_details>, how many <event> children it had) of a spilled
        session: the events ``session_from_element`` would have read."""
        details = list(session.iterchildren("{*}session_details"))
        if not details:
            return 0, 0
        last = details[-1]
        return len(details) - 1, self.pruned.get(last, 0) + sum(1 for _ in last.iterchildren("{*}event"))

    # --- spilling ---------------------------------------------------------------------------------------------------
    def _start_spill(self) -> None:
        """The current session passed ``spill_over`` bytes: its bytes so far, and from now on every byte up to its
        end tag, go to a temporary file (as the document ``take`` would give), and its events are dropped."""
        if self.prefix is None and not self._start(self.buf):
            self.no_spill = True
            return
        buf, elem = self.buf, self.session
        m = self._OPEN.search(buf)
        if m is None or elem is None:
            self.no_spill = True
            return
        start = m.start()
        tag_end = buf.find(b">", start)
        got = self._LSID.search(buf, start, tag_end) if tag_end > 0 else None
        sent = got.group(1) if got and got.group(1) is not None else (got.group(2) if got else None)
        here = self.lines + buf.count(b"\n", 0, start)
        lsid, line = elem.get("lsid"), elem.sourceline
        if sent is None or lsid is None or sent.decode("utf-8", "replace") != lsid or (line and here != line):
            self.no_spill = True  # not cut out with certainty (see take): kept in memory as before
            return
        scanner = _spill.EndScanner(m.group(1))
        if scanner.feed(buf, start) is not None:
            self.no_spill = True  # it ends in what is already read: take() has it
            return
        try:
            spill = _spill.SpillFile(self.spill_dir)
        except OSError:
            self.no_spill = True  # no temporary file: held in memory as before
            return
        before = bytes(buf[max(0, start - 256):start])
        try:
            spill.write(self.prefix)
            spill.write(before[len(before.rstrip()):])  # the whitespace just before the session, as sent
            with memoryview(buf) as view:
                spill.write(view[start:])
        except OSError as exc:
            spill.close()
            raise self._spill_error(exc) from None
        self.spill_lines = buf.count(b"\n", start)
        self.lines = here
        self.spilling, self.scanner = spill, scanner
        self.buf = bytearray()

    def _spill_more(self, data: bytes) -> None:
        spill, scanner = self.spilling, self.scanner
        assert spill is not None and scanner is not None
        end = scanner.feed(data)
        try:
            spill.write(data if end is None else memoryview(data)[:end])
        except OSError as exc:
            spill.close()
            self.spilling = None
            raise self._spill_error(exc) from None
        if end is None:
            self.spill_lines += data.count(b"\n")
            return
        self.spill_lines += data.count(b"\n", 0, end)
        self.lines += self.spill_lines  # the line of the byte after the session
        self.buf = bytearray(data[end:])
        self.finished = (self.session, spill)  # type: ignore[assignment]
        self.spilling = self.scanner = None

    def _spill_error(self, exc: OSError) -> ICError:
        where = _spill.spill_dir(self.spill_dir)
        return ICError(f"A session too big to hold in memory could not be written to the temporary folder {where} "
                       f"({exc.strerror or exc}); free space there and run again.")

    def spilled(self, session: etree._Element, name: str) -> RawXml | None:
        """At a top-level session's end: its spilled document (a file-backed RawXml), or None when it was not
        spilled. SessionValueError when it was but its end could not be found in the bytes."""
        self.session = None
        finished, self.finished = self.finished, None
        if finished is not None and finished[0] is session:
            spill = finished[1]
            self.pending = False
            try:
                spill.write(b"\n" + self.close + b"\n")
                spill.finish()
            except OSError as exc:
                spill.close()
                raise self._spill_error(exc) from None
            return RawXml(spill)
        if finished is not None:
            finished[1].close()
        if self.spilling is not None:
            self.spilling.close()
            self.spilling = self.scanner = None
            self._off()
            lsid = session.get("lsid")
            raise SessionValueError(
                f"Session {lsid or '(no lsid)'} in {name} (line {session.sourceline}) is too big to hold in memory "
                "and its end could not be found in the document's bytes.", source=name, line=session.sourceline,
                lsid=lsid)
        return None

    def discard(self) -> None:
        """Remove the temporary file of a session still being spilled (the parse stopped)."""
        for spill in (self.spilling, self.finished[1] if self.finished else None):
            if spill is not None:
                spill.close()
        self.spilling = self.scanner = self.finished = None

    def _trim(self) -> None:
        """Drop bytes that no session can claim (content outside sessions): keep memory flat for them."""
        if self.prefix is None and not self._start(self.buf):
            if _ROOT_TAG.search(self.buf) is not None:
                self._off()  # a head we do not keep bytes for (not UTF-8, DOCTYPE, ...)
            return
        m = self._OPEN.search(self.buf)
        cut = max(0, m.start() - 256) if m else max(0, len(self.buf) - 256)
        self.pending = m is not None
        self.lines += self.buf.count(b"\n", 0, cut)
        del self.buf[:cut]

    def _off(self) -> None:
        self.on = False
        self.buf = bytearray()

    def take(self, lsid: str | None, line: int | None, plain: bool = False,
             release: Callable[[], object] | None = None) -> bytes | None:
        """The session's own bytes as a document (see the class), or None when they cannot be cut out with
        certainty. ``plain``: the parsed element holds no comment, PI or nested "session" element (see
        ``_plain_markup``), so its end tag can be found with a plain search instead of walking every tag.
        ``release`` is called once the bytes are found, before they are copied (it frees the parsed tree)."""
        if not self.on:
            return None
        buf = self.buf
        if self.prefix is None:
            if not self._start(buf):
                self._off()
                return None
            buf = self.buf
        m = self._OPEN.search(buf)
        if m is None:
            self._off()
            return None
        start = m.start()
        tag_end = buf.find(b">", start)
        got = self._LSID.search(buf, start, tag_end) if tag_end > 0 else None
        sent = got.group(1) if got and got.group(1) is not None else (got.group(2) if got else None)
        here = self.lines + buf.count(b"\n", 0, start)
        if sent is None or lsid is None or sent.decode("utf-8", "replace") != lsid or (line and here != line):
            self._off()
            return None
        end = self._plain_end(buf, start, m.group(1)) if plain else None
        if end is None:
            end = self._walk_end(buf, start, m.group(1))
        if end is None:
            self._off()
            return None
        if release is not None:
            release()
            if end - start > self.BIG:
                _give_back_freed_memory()  # else the copy below comes on top of the freed tree's pages
        before = bytes(buf[max(0, start - 256):start])
        lead = before[len(before.rstrip()):]  # the whitespace just before the session, as sent
        with memoryview(buf) as view:  # one copy of a (possibly huge) session, not three
            raw = b"".join((self.prefix, lead, view[start:end], b"\n", self.close, b"\n"))
            self.lines += buf.count(b"\n", 0, end)
            if end > self.KEEP:  # a big session: give its bytes back now (del keeps the allocation)
                self.buf = bytearray(view[end:])
        if end <= self.KEEP:
            del buf[:end]
        self.pending = False
        self.held += len(raw)
        if self.held > _spill.DOCUMENT_BUDGET:
            self.limit = min(self.spill_over, _spill.SPILL_OVER_LATER)
        return raw

    def _plain_end(self, buf: bytearray, start: int, prefix: bytes) -> int | None:
        """End of a session whose tree holds no comment, PI or nested "session" element: its first end tag, unless
        a CDATA section (invisible in the tree) could hide one."""
        opening = self._pattern(prefix).match(buf, start)
        if opening is None or opening.group(2) is None:
            return None
        if opening.group(2):
            return opening.end()  # <session .../>
        close = b"</" + prefix + b"session"
        size = len(close)
        pos = opening.end()
        while True:
            at = buf.find(close, pos)
            if at < 0:
                return None
            j = at + size
            while j < len(buf) and buf[j] in b" \t\r\n":
                j += 1
            if j < len(buf) and buf[j] == 62:  # ">": not </session_details> and the like
                break
            pos = j
        if buf.find(b"<![CDATA[", start, at) >= 0:
            return None
        return j + 1

    def _pattern(self, prefix: bytes) -> re.Pattern:
        """Session tags of this prefix; CDATA, comments and PIs are matched whole (group 2 None) to step over."""
        pattern = self._tags.get(prefix)
        if pattern is None:
            pattern = self._tags[prefix] = re.compile(
                rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>|<(/?)" + re.escape(prefix)
                + rb"""session(?=[\s/>])(?:[^>"']|"[^"]*"|'[^']*')*?(/?)>""", re.DOTALL)
        return pattern

    def _walk_end(self, buf: bytearray, start: int, prefix: bytes) -> int | None:
        """End of the session by walking its session tags (nested ones counted; CDATA, comments, PIs skipped)."""
        level = 0
        for t in self._pattern(prefix).finditer(buf, start):
            if t.group(2) is None:
                continue  # CDATA, a comment or a PI: its text is not markup
            if t.group(1):
                level -= 1
            elif not t.group(2):
                level += 1
            if level == 0:
                return t.end()
        return None

    def _start(self, buf: bytearray) -> bool:
        """The document's head: UTF-8 only (declared or default), no DOCTYPE; the root must not be the session."""
        head = bytes(buf[:200])
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return False
        declared = re.match(rb"(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding\s*=\s*[\"']([^\"']+)", head)
        if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            return False
        root = _ROOT_TAG.search(buf)
        if root is None or b"<!" in buf[:root.start()]:
            return False
        qname = re.match(rb"<([^\s>/]+)", buf[root.start():root.end()]).group(1)
        if qname.rpartition(b":")[2] == b"session" or buf[root.end() - 2:root.end()] == b"/>":
            return False
        self.prefix = bytes(buf[:root.end()])
        self.close = b"</" + qname + b">"
        self.lines += buf.count(b"\n", 0, root.end())
        del buf[:root.end()]
        return True


def standalone_document(elem: etree._Element, ns: str | None) -> bytes:
    """A complete XML document holding just this session, in the original namespace."""
    body = etree.tostring(elem, encoding="UTF-8", with_tail=False, xml_declaration=False)
    root = b"session_list"
    if ns and elem.prefix:
        # a prefixed document (<r:session ...>) keeps its prefix, so the copy re-parses to the same bytes
        root = elem.prefix.encode("utf-8") + b":session_list"
        open_tag = b"<" + root + b" xmlns:" + elem.prefix.encode("utf-8") + b'="' + _attr(ns).encode("utf-8") + b'">'
    elif ns:
        open_tag = b'<session_list xmlns="' + _attr(ns).encode("utf-8") + b'">'
    else:
        open_tag = b"<session_list>"
    return XML_DECLARATION + open_tag + body + b"\n</" + root + b">\n"  # the ending _Tap gives: re-reading is stable


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _api_error(elem: etree._Element) -> ApplianceAPIError:
    message = " ".join((text(elem) or "").split()) or "The appliance returned an error without a message."
    return ApplianceAPIError(message, elem.get("code"))


def _name_of(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, RawXml)):
        return "session XML"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else "session XML"


def _open(source: Source, name: str) -> tuple[BinaryIO, bool]:
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source)), True
    if isinstance(source, RawXml):
        return source.open(), True
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(Path(source), "rb"), True
        except OSError as err:
            raise ParseError(f"Session XML file {name} cannot be read: {err.strerror or err}.", source=name) from None
    if isinstance(source, io.TextIOBase):
        raise TypeError("iter_sessions needs a path or a binary file object, not a text file")
    return source, False
