"""Streaming, safe parser for SupportSession / AccessSession ``session_list`` documents.

A response can be hundreds of MB, so it is never held as one tree: lxml ``iterparse`` fires on the end of each
top-level ``<session>`` (any namespace), the element is converted, serialised into ``Session.raw_xml``, then cleared
and the already-handled siblings are deleted. Entities are never expanded, no DTD is loaded, nothing is fetched.
Content outside sessions is deleted as it is read. One session bigger than ``spill.SPILL_OVER`` is spilled: its bytes
go to a temporary file, its events are dropped from the tree as they end, and the Session's ``raw_xml`` and
``events`` read that file again (:mod:`ic.sessions.spill`).

Nothing may lose a session (issue 10), whatever the lxml version: libxml2 is fed piece by piece, each piece ending
just after a session's end tag, and the events are handed out between pieces (lxml 6.2 drops the events read before
a syntax error in the same fed chunk). After a session whose own XML is broken, a fresh parser goes on from that
session's end (found by scanning the bytes as they stream by), fed the document's head again.
"""
from __future__ import annotations

import codecs
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

    Raises ApplianceAPIError for an ``<error>`` document and ParseError for malformed XML. Nothing may lose a
    session: every session complete before a break is yielded first, whatever the lxml version. A session whose
    own XML is broken (or nested deeper than libxml2 allows) is skipped and the sessions after it are still yielded;
    the ParseError (for broken XML) or SessionValueError (``field`` "nesting") naming it comes at the end. A document
    cut short, or broken outside any session where its end cannot be found, stops there with a ParseError. A
    session that cannot be read (a time outside the years 1-9999, any value the model cannot hold) is skipped too,
    with a SessionValueError (naming its lsid and field) at the end; malformed XML wins over it.
    """
    name = source_name or source or _name_of(xml)
    stream, owned = _open(xml, name)
    rejected: list[SessionValueError] = []
    broken: list[ParseError] = []
    try:
        yield from _parse(stream, name, product, huge_tree, rejected, broken,
                          _spill.SPILL_OVER if spill_over is None else spill_over, spill_dir)
    finally:
        if owned:
            stream.close()
    for errors, what in ((broken, "were not valid XML either"), (rejected, "could not be read either")):
        if errors:
            first = errors[0]
            if len(errors) > 1:
                first.args = (f"{first} {len(errors) - 1} more session(s) of {name} {what}.",)
            first.rejected = errors  # type: ignore[attr-defined]
            raise first


class _Broken(Exception):
    """The XML broke while the parser was fed (not at the document's end): maybe inside one session only."""

    def __init__(self, error: ParseError, depth: int, lsid: str | None, line: int | None, deep: bool) -> None:
        super().__init__(str(error))
        self.error, self.depth, self.lsid, self.line, self.deep = error, depth, lsid, line, deep


def _parse(stream: BinaryIO, name: str, product: str | None, huge_tree: bool,
           rejected: list[SessionValueError], broken: list[ParseError], spill_over: int = _spill.SPILL_OVER,
           spill_dir: str | os.PathLike | None = None) -> Iterator[Session]:
    """Parse, and after a session whose XML is broken go on with a fresh parser from that session's end (found in
    the bytes as they stream by: memory stays flat), fed the document's head again and told the line it starts at."""
    source: BinaryIO = _plain(stream, name)
    offset = 0  # lines before the current parser's stream (after a broken session was skipped)
    found = 0
    while True:
        tap = _Tap(source, spill_over, spill_dir, huge_tree)
        tap.line_offset = offset
        pull = _Pull(tap)
        try:
            found = yield from _parse_tapped(tap, pull, name, product, rejected, offset, found, bool(broken))
            return
        except _Broken as exc:
            stop = exc
            where = _skip_broken(stop, pull, tap.raw)
            if where is None:
                raise stop.error from None
            resume, end_line, lsid, start_line = where
        finally:
            tap.discard()  # a session spilled when the parse stopped (error, or the caller stopped reading)
        lsid = lsid if stop.depth == 0 else stop.lsid
        start_line = (offset + start_line) if stop.depth == 0 and start_line else stop.line
        if stop.deep:
            rejected.append(SessionValueError(
                f"Session {lsid or '(no lsid)'} in {name} is nested deeper than the XML parser allows "
                f"(line {start_line}); it was set aside.", source=name, line=start_line, lsid=lsid, field="nesting"))
        else:
            stop.error.lsid = lsid  # type: ignore[attr-defined]
            broken.append(stop.error)
        head = pull.head
        assert head is not None
        offset += end_line - (1 + head.count(b"\n"))  # the resumed stream's first line after the head
        source = _Chain(head, resume, tap.raw)


def _skip_broken(stop: _Broken, pull: "_Pull", raw: BinaryIO
                 ) -> tuple[bytes, int, str | None, int | None] | None:
    """Find the end of the session the break is in, from the piece of bytes the parser failed on: (the bytes after
    it in the chunk read, the line there, the lsid and line of its start tag when that was in the piece). None
    when it cannot be done with certainty: the break is after the root's end, the document's head cannot be fed
    again, or no session ends after the break."""
    if pull.head is None or "extra content at the end" in (stop.error.args[0] or "").lower():
        return None
    data, at = pull.data, pull.at
    line = pull.tap.end_line() - data.count(b"\n", at)  # line of data[at] in the current stream
    scanner = _spill.EndScanner(None, stop.depth)
    scanner.max_tag = _Pull.HEAD_MAX
    data = data[at:]
    lsid = start_line = None
    while True:
        end = scanner.feed(data)
        if scanner.opened is not None and start_line is None:
            off, tag = scanner.opened
            start_line = line + data.count(b"\n", 0, max(0, off))
            got = _Tap._LSID.search(tag)
            if got:
                lsid = (got.group(1) if got.group(1) is not None else got.group(2)).decode("utf-8", "replace")
        if end is not None:
            if scanner.opened is None and stop.depth == 0:
                return None  # an end tag before any start: not a session's end
            return bytes(data[end:]), line + data.count(b"\n", 0, end), lsid, start_line
        line += data.count(b"\n")
        data = raw.read(_Pull.CHUNK)
        if not data:
            return None


class _Chain:
    """A stream of some bytes, then the rest of another stream."""

    def __init__(self, *parts: bytes | BinaryIO) -> None:
        self.parts = [p for p in parts if not isinstance(p, (bytes, bytearray)) or p]

    def read(self, size: int = -1) -> bytes:
        while self.parts:
            part = self.parts[0]
            if isinstance(part, (bytes, bytearray)):
                self.parts.pop(0)
                if 0 <= size < len(part):
                    self.parts.insert(0, part[size:])
                    return part[:size]
                return part
            data = part.read(size)
            if data:
                return data
            self.parts.pop(0)
        return b""


# --- documents not in UTF-8, or with a DOCTYPE: made plain UTF-8 without a DTD as they stream by -------------------
_DECL_ENCODING = re.compile(rb"""\A(\s*<\?xml\s(?:[^?]|\?(?!>))*?encoding\s*=\s*)(["'])([A-Za-z][\w.\-]*)\2""")
_DOCTYPE = re.compile(rb"""<!DOCTYPE\s(?:[^\[>"']|"[^"]*"|'[^']*')*"""
                      rb"""(?:\[(?:[^\]"'<]|"[^"]*"|'[^']*'|<!--.*?-->|<(?:[^>"']|"[^"]*"|'[^']*')*>)*\]\s*)?>""",
                      re.DOTALL)
_BEFORE_ROOT = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*(?:<\?(?:[^?]|\?(?!>))*\?>\s*|<!--.*?-->\s*)*""", re.DOTALL)
# a general entity reference that is not one of XML's own: kept as literal text ("&co;" reads as "&co;")
_ENTITY_REF = re.compile(rb"&(?!(?:lt|gt|amp|quot|apos);|#[0-9]+;|#x[0-9A-Fa-f]+;)(?=[A-Za-z_:][\w.:\-]*;)")
_HEAD_PEEK = 1 << 16
_HEAD_MAX = 1 << 20


def _plain(stream: BinaryIO, name: str) -> BinaryIO:
    """The document as UTF-8 without a DOCTYPE, streamed (the byte cutting of raw_xml and the spilling of huge
    sessions work on such documents only): a document in another encoding is decoded and encoded again as UTF-8
    with its declaration saying so; a DOCTYPE is replaced by as many line ends (lines stay where they were) and the
    entity references it could declare become literal text, as the parser kept them before (never expanded: no DTD
    ever reaches libxml2). Anything else, or a head this cannot read with certainty, is left to libxml2 as sent."""
    head = stream.read(_HEAD_PEEK)
    if not head:
        return stream
    encoding = None
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        encoding = "utf-32"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        declared = _DECL_ENCODING.match(head[3:] if head.startswith(b"\xef\xbb\xbf") else head)
        label = declared.group(3).lower().replace(b"_", b"-") if declared else b"utf-8"
        if label not in (b"utf-8", b"utf8") and not label.startswith((b"utf-16", b"utf16", b"utf-32", b"ucs")):
            encoding = declared.group(3).decode("ascii")  # (a UTF-16 label on 8-bit bytes is libxml2's to judge)
    rest: BinaryIO = stream
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            return _Chain(head, stream)  # type: ignore[return-value]  # libxml2 may know it: as before
        rest = _Transcoded(_Chain(head, stream), encoding, name)  # type: ignore[assignment]
        head = rest.read(_HEAD_PEEK)
    if b"<!DOCTYPE" not in head:
        return _Chain(head, rest)  # type: ignore[return-value]
    while len(head) < _HEAD_MAX:  # the whole DOCTYPE (an internal subset can be long)
        at = _BEFORE_ROOT.match(head).end()
        if _DOCTYPE.match(head, at) is not None or not head.startswith(b"<!DOCTYPE", at):
            break
        more = rest.read(_HEAD_PEEK)
        if not more:
            break
        head += more
    at = _BEFORE_ROOT.match(head).end()
    doctype = _DOCTYPE.match(head, at)
    if doctype is None:
        return _Chain(head, rest)  # type: ignore[return-value]
    head = head[:at] + b"\n" * head.count(b"\n", at, doctype.end()) + head[doctype.end():]
    return _Literal(_Chain(head, rest))  # type: ignore[return-value]


class _Transcoded:
    """A stream in another encoding read as UTF-8, its XML declaration saying UTF-8."""

    def __init__(self, raw: BinaryIO, encoding: str, name: str) -> None:
        self.raw, self.encoding, self.name = raw, encoding, name
        self.decoder = codecs.getincrementaldecoder(encoding)()
        self.first = True

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self.raw.read(size)
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise ParseError(f"{self.name} is not valid XML: it holds bytes that are not {self.encoding} "
                                 f"({exc.reason}).", source=self.name) from None
            if self.first and text:
                self.first = False
                text = text.lstrip("\ufeff")
                text = re.sub(r"""\A(\s*<\?xml\s(?:[^?]|\?(?!>))*?encoding\s*=\s*)(["'])[^"']*\2""",
                              r"\1\2UTF-8\2", text, count=1)
            if text or not data:
                return text.encode("utf-8")


class _Literal:
    """A stream whose entity references (other than XML's own) become literal text: ``&co;`` -> ``&amp;co;``."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.carry = raw, b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if self.carry:
            data, self.carry = self.carry + data, b""
        if not data:
            return b""
        amp = data.rfind(b"&", max(0, len(data) - 256))
        if amp >= 0 and data.find(b";", amp) < 0 and len(data) > amp:
            more = self.raw.read(256)
            if more:
                data += more
                amp = data.rfind(b"&", max(0, len(data) - 256))
                if amp >= 0 and data.find(b";", amp) < 0:
                    data, self.carry = data[:amp], data[amp:]
        return _ENTITY_REF.sub(b"&amp;", data) if b"&" in data else data


class _Pull:
    """Feeds the XML parser the stream piece by piece, each piece ending just after a "session>" (a session's end
    tag, and a few harmless others), and hands out the events after each piece. lxml 6.2 drops the events read
    before a syntax error in the same feed; cut this way, a broken piece holds at most the session it breaks in,
    so every session before it has been handed out already, with any lxml. Splitting never changes what is
    parsed. ``data[at:]`` is the piece being fed and everything read after it (for :func:`_skip_broken`)."""

    CHUNK = 1 << 15  # as lxml's iterparse reads (the spill threshold is checked per read)
    _END = re.compile(rb"session\s*>")
    HEAD_MAX = 1 << 20

    def __init__(self, tap: "_Tap") -> None:
        self.tap = tap
        self.parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=("{*}session", "{*}session_list"),
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=tap.huge_tree,
            remove_comments=False,
        )
        self.data = b""
        self.at = 0
        self.head: bytes | None = None  # declaration .. root start tag, when it can be fed again (see _find_head)
        self._head_buf: bytearray | None = bytearray()
        self.root: etree._Element | None = None
        self.closing = False
        self.depth = 0  # open session elements after the events handed out

    def __iter__(self) -> Iterator[tuple[str, etree._Element]]:
        parser, tap, finditer, events = self.parser, self.tap, self._END.finditer, self._events
        carry = b""
        run, dropping = 0, False  # see _outside_text
        while True:
            more = tap.read(self.CHUNK)
            if not more:
                break
            if self._head_buf is not None:
                self._find_head(more)
            data = carry + more if carry else more
            if run > self.TEXT_MAX:
                data, dropping = self._drop_text(data, dropping)
            else:
                dropping = False
            self.data = data
            n = cut = len(data)
            lt = data.rfind(b"<", max(0, n - 64))
            if lt >= 0 and data.find(b">", lt) < 0:
                cut = lt  # a tag cut at the chunk's end waits for the rest
            pos = 0
            for m in finditer(data, 0, cut):
                end = m.end()
                self.at = pos
                parser.feed(data[pos:end])
                yield from events()
                pos = end
            if pos < cut:
                self.at = pos
                parser.feed(data[pos:cut] if pos else (data if cut == n else data[:cut]))
                yield from events()
            carry = data[cut:]
            run = self._outside_text(data, run) if cut == n else 0
        if carry:
            self.data, self.at = carry, 0
            parser.feed(carry)
            yield from events()
        self.closing = True
        self.root = parser.close()
        yield from events()

    def _events(self) -> Iterator[tuple[str, etree._Element]]:
        for event in self.parser.read_events():
            if event[1].tag[-5:] != "_list":
                self.depth += 1 if event[0] == "start" else -1
            yield event

    # --- one huge text outside any session: only its first TEXT_MAX bytes reach libxml2 -----------------------------
    TEXT_MAX = 1 << 20

    def _outside_text(self, data: bytes, run: int) -> int:
        """Bytes of the text the fed data ends in, counted only outside any session and after a tag's ">": a run of
        bytes without < > " ' & (so no markup, quote or reference is ever cut), else 0."""
        if self.depth:
            return 0
        last = max(data.rfind(b">"), data.rfind(b"<"), data.rfind(b"&"), data.rfind(b'"'), data.rfind(b"'"))
        if last < 0:
            return run + len(data) if run else 0
        return len(data) - last - 1 if data[last] == 62 else 0  # 62: ">"

    def _drop_text(self, data: bytes, dropping: bool) -> tuple[bytes, bool]:
        """The rest of a text outside sessions past TEXT_MAX bytes is not fed (its line ends are, so lines stay
        right): content outside sessions is dropped anyway, and libxml2 would hold the text whole. ``dropping``:
        the previous chunk was dropped to its end. Returns the bytes to feed, and whether this one was too."""
        k = len(data)
        for c in (b"<", b">", b"&", b'"', b"'"):  # (memchr: a regex search here took seconds for 200 MB)
            at = data.find(c, 0, k)
            if at >= 0:
                k = at
        j = 0
        if not dropping:  # the bytes that complete a character cut at the previous chunk's end are fed
            while j < k and j < 3 and 0x80 <= data[j] < 0xC0:
                j += 1
        return data[:j] + b"\n" * data.count(b"\n", j, k) + data[k:], k == len(data)

    def _find_head(self, data: bytes) -> None:
        """The document's beginning up to its root start tag, kept to start a parser again after a broken session:
        only for an ASCII-compatible encoding with no comment or internal DTD subset before the root."""
        buf = self._head_buf
        assert buf is not None
        buf += data[:self.HEAD_MAX]
        root = _ROOT_TAG.search(buf)
        if root is None:
            if len(buf) >= self.HEAD_MAX:
                self._head_buf = None
            return
        self._head_buf = None
        head = bytes(buf[:root.end()])
        before = head[:root.start()]
        if (head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head or b"<!--" in before or b"[" in before
                or head.endswith(b"/>")):
            return
        self.head = head


def _parse_tapped(tap: "_Tap", pull: _Pull, name: str, product: str | None, rejected: list[SessionValueError],
                  offset: int = 0, found: int = 0, resumed: bool = False) -> Iterator[Session]:
    """The sessions of one parser's stream (``offset``: lines before it). Returns how many were found in all."""
    depth = 0  # open <session> elements: only the outermost one is a session
    current: tuple[str | None, int | None] = (None, None)
    pending_error: etree._Element | None = None
    try:
        for kind, elem in pull:
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
                    session = _spilled_session(elem, ns, product, spilled, tap, name, offset)
                else:
                    if next(islice(elem.iter(*_SPECIAL), 1, None), None) is None:  # one walk in C, usual case
                        had_entities, plain = False, True  # (the session itself is the walk's first node)
                    else:
                        had_entities = _entities_to_text(elem)
                        plain = _plain_markup(elem)
                    session = session_from_element(elem, detect_product(ns, elem, product), ns)
                    if offset and session.source_line:
                        session.source_line += offset
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
                line = elem.sourceline + offset if elem.sourceline else None
                rejected.append(SessionValueError(
                    f"Session {lsid or '(no lsid)'} in {name} (line {line}) cannot be read: "
                    f"{type(exc).__name__}: {str(exc)[:200]}.", source=name, line=line, lsid=lsid))
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
        line = max(1, err.lineno or (err.position[0] if err.position else 0) or 0) + offset
        detail = err.msg or str(err)
        if found == 0 and not rejected and not resumed and detail in ("no element found", "Document is empty"):
            detail = "the document is empty"
        detail = re.sub(r"(,? line \d+)+(, column \d+)?\s*$", "", detail).rstrip(" ,.")  # libxml2 repeats the position
        error = ParseError(f"{name} is not valid XML at line {line}: {detail}.", source=name, line=line)
        if pull.closing:
            raise error from None  # the document ends before it is complete: cut short
        start = current[1] + offset if depth and current[1] else None
        raise _Broken(error, depth, current[0] if depth else None, start,
                      "excessive depth" in detail.lower()) from None
    if pending_error is None:
        pending_error = tap.error  # an <error> of the root dropped with the content outside sessions
    root = pull.root
    if root is None:
        return found
    if local(root.tag) == "error":
        raise _api_error(root)
    for child in root:
        if local(child.tag) == "error":
            pending_error = pending_error if pending_error is not None else child
    if pending_error is not None:
        raise _api_error(pending_error)
    if not found and not rejected and not resumed and local(root.tag) != "session_list":
        raise ParseError(
            f"{name} is not a session list (its root element is <{local(root.tag)}>).", source=name, line=1
        )
    return found


def _spilled_session(elem: etree._Element, ns: str | None, product: str | None, raw: RawXml, tap: "_Tap",
                     name: str, offset: int = 0) -> Session:
    """A session whose bytes went to a temporary file while it was parsed: its tree holds everything but the events
    (dropped as they ended); they are read again from the file whenever ``session.events`` is iterated."""
    session = session_from_element(elem, detect_product(ns, elem, product), ns)
    if offset and session.source_line:
        session.source_line += offset
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
        self.line_offset = 0  # lines of the document before this stream (it resumes after a broken session)

    KEEP = 1 << 20  # bytes kept before the buffer is trimmed of content outside sessions
    BIG = 16 << 20  # a session this big has its freed tree handed back to the system before its bytes are copied

    def read(self, size: int = -1) -> bytes:
        if self.root is not None:
            self._prune()  # (lxml reads between feeds: every event of the bytes read so far has been handled)
        data = self.raw.read(size)
        if not self.on:
            self.lines += data.count(b"\n")  # (only lines are followed: see end_line)
        elif data:
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
            self.lines += self.spill_lines
            self._off()
            lsid = session.get("lsid")
            line = session.sourceline + self.line_offset if session.sourceline else None
            raise SessionValueError(
                f"Session {lsid or '(no lsid)'} in {name} (line {line}) is too big to hold in memory "
                "and its end could not be found in the document's bytes.", source=name, line=line, lsid=lsid)
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
        self.lines += self.buf.count(b"\n")
        self.buf = bytearray()

    def end_line(self) -> int:
        """The line of the byte after everything read so far."""
        if self.spilling is not None:
            return self.lines + self.spill_lines
        return self.lines + (self.buf.count(b"\n") if self.on else 0)

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
