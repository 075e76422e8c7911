"""A session too big to hold in memory: its raw XML goes to a temporary file while it is parsed, and its events are
read again from that file, one at a time, whenever they are iterated (issue 10: flat memory).

The parser (:mod:`ic.sessions.parser`) decides when: once one session's bytes pass :data:`SPILL_OVER`. Ordinary
sessions never come here. The temporary file lives in the data folder's ``tmp`` (never in a destination folder); it is
an anonymous file where the system has them (Linux) and a delete-on-close file on Windows, so a killed process leaves
nothing behind, and it is removed when the session is closed or garbage collected.
"""
from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import time
import weakref
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from lxml import etree

from ic.sessions.model import Event

SPILL_OVER = 16 << 20  # bytes of one session above which it is kept on disk instead of in memory
# A caller may hold every session of a document at once (a transfer stores a batch of 50 together): once this many
# bytes of one document's sessions were handed out in memory, a session over SPILL_OVER_LATER is spilled too.
DOCUMENT_BUDGET = 64 << 20
SPILL_OVER_LATER = 1 << 20
SPILL_DIR: Path | None = None  # None: the data folder's tmp (ic.paths.data_dir() / "tmp")
PREFIX = "ic-spill-"
STALE_SECONDS = 60  # a named spill file this old that can be removed belongs to no live process
CHUNK = 1 << 16
_swept: set[str] = set()
_swept_lock = threading.Lock()


def spill_dir(directory: str | os.PathLike | None = None) -> Path:
    if directory is not None:
        return Path(directory)
    if SPILL_DIR is not None:
        return SPILL_DIR
    from ic import paths

    return paths.data_dir() / "tmp"


def sweep_stale(directory: Path) -> int:
    """Remove spill files a crashed process left (only where files have names: not on Linux, whose spill files are
    anonymous). A file still open by a live process cannot be removed on Windows and is left alone."""
    removed = 0
    try:
        names = [p for p in directory.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return 0
    cutoff = time.time() - STALE_SECONDS
    for path in names:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


class SpillFile:
    """The temporary file of one spilled session: written once while parsing, then read by any number of readers
    (each with its own position). :meth:`close` (or garbage collection) removes it."""

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        d = spill_dir(directory)
        d.mkdir(parents=True, exist_ok=True)
        key = str(d)
        with _swept_lock:
            if key not in _swept:
                _swept.add(key)
                sweep_stale(d)
        self._fh = tempfile.TemporaryFile(prefix=PREFIX, suffix=".xml", dir=d)
        self.size = 0
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, self._fh.close)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._fh.write(data)
        self.size += len(data)

    def finish(self) -> None:
        self._fh.flush()

    def read_at(self, pos: int, n: int) -> bytes:
        if self.closed:
            raise ValueError("the spilled session was closed; its temporary file is gone")
        if hasattr(os, "pread"):
            return os.pread(self._fh.fileno(), n, pos)
        with self._lock:  # Windows: one handle, positioned for each read
            self._fh.seek(pos)
            return self._fh.read(n)

    def open(self) -> BinaryIO:
        return io.BufferedReader(_Reader(self), CHUNK)  # type: ignore[return-value]

    def close(self) -> None:
        self._finalizer()


class _Reader(io.RawIOBase):
    def __init__(self, spill: SpillFile) -> None:
        self.spill, self.pos = spill, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = min(len(buffer), self.spill.size - self.pos)
        if n <= 0:
            return 0
        data = self.spill.read_at(self.pos, n)
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


class EndScanner:
    """Finds where a session ends in its bytes as they stream by (level of ``<PREFIX:session>`` tags; CDATA,
    comments and PIs stepped over: outside them every ``<`` is markup, attribute values cannot hold one)."""

    ANY_PREFIX = rb"(?:[A-Za-z_][\w.\-]*:)?"

    def __init__(self, prefix: bytes | None, level: int = 0) -> None:
        """``prefix``: the session's namespace prefix with its colon (b"" for none); None takes any prefix.
        ``level``: session elements already open where the bytes fed start (0: at or before the session's start
        tag). ``opened`` is set to (offset in the data of that feed, the tag's bytes) of the start tag that opens
        the outermost session, when it is found."""
        p = re.escape(prefix) if prefix is not None else self.ANY_PREFIX
        self._token = re.compile(rb"<(?:(!\[CDATA\[)|(!--)|(\?)|(/?)" + p + rb"session(?=[\s/>]))")
        self._rest = re.compile(rb"""(?:[^>"']|"[^"]*"|'[^']*')*?(/?)>""")
        self._keep = (len(prefix) if prefix is not None else 64) + 12  # longest token start cut at a chunk's end
        self.level = level
        self.until: bytes | None = None  # inside CDATA / a comment / a PI: its end
        self.carry = b""
        self.opened: tuple[int, bytes] | None = None
        # a session tag longer than max_tag bytes (absurd: an unbalanced quote?) is not followed further, and the end
        # is then never found (feed returns None): memory stays flat when what is scanned may not be a session at all
        self.max_tag: int | None = None
        self.lost = False

    def feed(self, data: bytes | bytearray | memoryview, start: int = 0) -> int | None:
        """Offset in ``data`` just after the session's end tag, or None if it does not end in ``data``."""
        if self.lost:
            return None
        lead = len(self.carry)
        work = self.carry + bytes(memoryview(data)[start:])
        self.carry = b""
        i = 0
        while True:
            if self.until is not None:
                j = work.find(self.until, i)
                if j < 0:
                    self.carry = work[max(i, len(work) - len(self.until) + 1):]
                    return None
                i, self.until = j + len(self.until), None
                continue
            m = self._token.search(work, i)
            if m is None:
                lt = work.rfind(b"<", max(i, len(work) - self._keep))
                self.carry = work[lt:] if lt >= 0 else b""
                return None
            if m.group(1) or m.group(2) or m.group(3):
                self.until = b"]]>" if m.group(1) else (b"-->" if m.group(2) else b"?>")
                i = m.end()
                continue
            rest = self._rest.match(work, m.end())
            if rest is None:
                self.carry = work[m.start():]  # the tag goes on in the next chunk
                if self.max_tag is not None and len(self.carry) > self.max_tag:
                    self.lost, self.carry = True, b""
                return None
            i = rest.end()
            if m.group(4):
                self.level -= 1
            elif not rest.group(1):
                if self.level == 0 and self.opened is None:
                    self.opened = (start + m.start() - lead, work[m.start():i])
                self.level += 1
            if self.level == 0:
                return start + i - lead


class SpilledEvents:
    """``Session.events`` of a spilled session: re-iterable, with ``len()``; each iteration parses the events again
    from the temporary file (lxml iterparse, each event cleared once converted), so memory stays flat."""

    def __init__(self, spill: SpillFile, *, details_index: int, count: int,
                 convert: Callable[[etree._Element], Event], finish: Callable[[list[Event]], None],
                 huge_tree: bool = True, batch: int = 256) -> None:
        self._spill = spill
        self._index = details_index  # which <session_details> of the session holds them (the last one, as in memory)
        self._count = count
        self._convert, self._finish = convert, finish
        self._huge_tree = huge_tree
        self._batch = batch
        self.memo: dict[str, object] = {}  # facts drawn from the events (Session.recording_instances), read once

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[Event]:
        with self._spill.open() as fh:
            parsed = etree.iterparse(fh, events=("start", "end"),
                                     tag=("{*}session", "{*}session_details", "{*}event"),
                                     resolve_entities=False, load_dtd=False, dtd_validation=False, no_network=True,
                                     huge_tree=self._huge_tree, remove_comments=False)
            top = target = None
            seen = -1
            pending: list[Event] = []
            for kind, elem in parsed:
                tag = elem.tag
                name = tag[tag.rfind("}") + 1:]
                if kind == "start":
                    if name == "session" and top is None:
                        top = elem
                    elif name == "session_details" and top is not None and elem.getparent() is top:
                        seen += 1
                        if seen == self._index:
                            target = elem
                    continue
                if name != "event":
                    continue
                parent = elem.getparent()
                if parent is None or parent.getparent() is not top:
                    continue  # an element called "event" deeper inside: part of its own event
                if parent is target:
                    pending.append(self._convert(elem))
                elem.clear(keep_tail=False)
                while elem.getprevious() is not None:
                    del parent[0]
                if len(pending) >= self._batch:
                    self._finish(pending)
                    yield from pending
                    pending = []
            if pending:
                self._finish(pending)
                yield from pending

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("event index out of range")
        return next(islice(iter(self), index, None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpilledEvents) and other is self:
            return True
        try:
            if len(other) != self._count:  # type: ignore[arg-type]
                return False
            return all(a == b for a, b in zip(self, other))  # type: ignore[call-overload]
        except TypeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def close(self) -> None:
        self._spill.close()

    def __repr__(self) -> str:
        return f"SpilledEvents({self._count} events on disk)"
