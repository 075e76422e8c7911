"""Typed model of one appliance session (RS SupportSession or PRA AccessSession), the union of both products.

Every text value is kept as the appliance sent it (str, possibly empty); numbers are parsed where the storage
schema needs numbers. Unknown elements are kept in ``extra`` as (tag, text) pairs or raw XML, never dropped.

A transfer builds hundreds of thousands of these objects, most of them for a moment: the classes have slots (no
``__dict__``), and a collection with no items is the one shared :data:`EMPTY` (an empty tuple that equals any empty
list or tuple) instead of a new list each time. Collections with items are lists. To change an object, assign a new
list (``ev.extra = [*ev.extra, item]``); EMPTY cannot be appended to.
"""
from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Iterator, Protocol, Sequence


class _RawSource(Protocol):
    size: int

    def open(self) -> BinaryIO: ...

    def close(self) -> None: ...


class RawXml:
    """A session's raw XML document, in memory (bytes) or in a temporary file (a session too big to hold: see
    :mod:`ic.sessions.spill`). Writers stream it (:meth:`write_to`, :meth:`open`) instead of taking its bytes.

    Equal to the same bytes (or another RawXml of them); ``bytes(raw)`` / :meth:`read` read it whole."""

    __slots__ = ("_data", "_source", "__weakref__")
    CHUNK = 1 << 20

    def __init__(self, data: bytes | bytearray | memoryview | _RawSource) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._data, self._source = bytes(data), None
        else:
            self._data, self._source = None, data

    @property
    def size(self) -> int:
        return len(self._data) if self._data is not None else self._source.size

    @property
    def in_memory(self) -> bool:
        return self._data is not None

    def open(self) -> BinaryIO:
        """A binary file object reading the document from its beginning (close it when done)."""
        return io.BytesIO(self._data) if self._data is not None else self._source.open()

    def read(self) -> bytes:
        if self._data is not None:
            return self._data
        with self.open() as fh:
            return fh.read()

    def write_to(self, fh: BinaryIO) -> int:
        """Copy the document into the binary file ``fh`` (in chunks for a file-backed one); returns the size."""
        if self._data is not None:
            fh.write(self._data)
            return len(self._data)
        with self.open() as src:
            shutil.copyfileobj(src, fh, self.CHUNK)
        return self.size

    def chunks(self) -> Iterator[bytes]:
        with self.open() as src:
            while chunk := src.read(self.CHUNK):
                yield chunk

    def close(self) -> None:
        """Let go of a file-backed document now (its temporary file is removed); bytes stay readable."""
        if self._source is not None:
            self._source.close()

    def __bytes__(self) -> bytes:
        return self.read()

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (bytes, bytearray, memoryview)):
            other = RawXml(other)
        if not isinstance(other, RawXml):
            return NotImplemented
        if self.size != other.size:
            return False
        if self._data is not None and other._data is not None:
            return self._data == other._data
        return _same_chunks(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        where = "in memory" if self._data is not None else "on disk"
        return f"RawXml({self.size} bytes {where})"


def _same_chunks(a: RawXml, b: RawXml) -> bool:
    with a.open() as fa, b.open() as fb:
        while True:
            x, y = fa.read(RawXml.CHUNK), fb.read(RawXml.CHUNK)
            if x != y:
                return False
            if not x:
                return True


class _Empty(tuple):
    """The type of :data:`EMPTY`: a tuple with no items, equal to every empty list or tuple (so ``ev.data == []``
    and a session built with ``[]`` compare as before), kept one object through copy and pickle."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple)):
            return not other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, (list, tuple)):
            return bool(other)
        return NotImplemented

    __hash__ = tuple.__hash__

    def __reduce__(self) -> str:
        return "EMPTY"  # copy, deepcopy and pickle give back the one EMPTY


EMPTY: Sequence = _Empty()
"""The collection of every model object that has no items of that kind (shared, immutable)."""


def as_raw(value: bytes | RawXml | None) -> RawXml:
    """The RawXml of a ``Session.raw_xml`` value (bytes for an ordinary session, RawXml for a spilled one)."""
    return value if isinstance(value, RawXml) else RawXml(value or b"")


@dataclass(slots=True)
class EventData:
    name: str
    value: str


@dataclass(slots=True)
class EventFile:
    """One entry of an event's ``files/file`` list (e.g. "Files Shared")."""

    filename: str
    filesize: int | None = None


@dataclass(slots=True)
class SystemInfoCategory:
    name: str
    description: Sequence[tuple[str, str]] = EMPTY  # (field name, label)
    rows: Sequence[Sequence[tuple[str, str]]] = EMPTY  # each row: [(field name, value)]
    information_xml: str = ""  # the category element serialised: what SQL stores in system_information.information
    # (namespace-free ``<category name="..">...</category>``)


@dataclass(slots=True)
class Event:
    event_type: str
    timestamp: int | None
    performed_by: str | None = None
    performed_by_type: str | None = None
    performed_by_gsnumber: str | None = None
    destination: str | None = None
    destination_type: str | None = None
    destination_gsnumber: str | None = None
    body: str | None = None
    filename: str | None = None
    filesize: int | None = None
    data: Sequence[EventData] = EMPTY  # data/value plus body/filename/files as name-value pairs
    system_information: Sequence[SystemInfoCategory] = EMPTY
    extra: Sequence[tuple[str, str]] = EMPTY  # unknown child elements: (local name, raw XML)
    files: Sequence[EventFile] = EMPTY  # files/file entries (also in ``data``)
    body_encoded: bool = False  # body came from base64 ``encoded_body``

    @property
    def event_time(self) -> datetime | None:
        from ic.sessions.timeutil import from_unix

        return from_unix(self.timestamp)


@dataclass(slots=True)
class Representative:
    """A user of the appliance (representative / PRA user) who took part: the storage ``user`` table."""

    gsnumber: str | None
    user_id: str | None
    username: str | None = None
    display_name: str | None = None  # private display name
    public_display_name: str | None = None
    display_number: str | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    hostname: str | None = None
    os: str | None = None
    is_owner: bool = False
    is_primary: bool = False
    seconds_involved: int | None = None
    invited: bool = False
    plain_display_name: str | None = None  # <display_name> as sent (display_name prefers <private_display_name>)
    private_display_name: str | None = None  # <private_display_name> as sent
    extra: Sequence[tuple[str, str]] = EMPTY  # unknown child elements: (local name, raw XML)


@dataclass(slots=True)
class Customer:
    """An endpoint / customer: the storage ``endpoint`` table."""

    gsnumber: str | None
    is_primary: bool = False
    display_name: str | None = None
    company_name: str | None = None
    company_code: str | None = None
    issue: str | None = None
    issue_description: str | None = None
    username: str | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    hostname: str | None = None
    os: str | None = None
    rpat_support: bool = False
    extra: Sequence[tuple[str, str]] = EMPTY  # unknown child elements: (local name, raw XML)


@dataclass(slots=True)
class Team:
    team_id: str | None
    name: str | None
    is_primary: bool = False


@dataclass(slots=True)
class CustomAttribute:
    code_name: str
    display_name: str
    value: str


@dataclass(slots=True)
class CommandShellRecording:
    instance: int
    download_url: str | None = None
    view_url: str | None = None


@dataclass(slots=True)
class Session:
    lsid: str
    product: str = "rs"  # "rs" (SupportSession) or "pra" (AccessSession)
    session_type: str = "support"
    lseq: int | None = None
    start_time: int | None = None  # unix seconds (appliance clock)
    end_time: int | None = None  # None while in progress or closed abnormally
    duration: str | None = None  # HH:MM:SS as sent
    public_site_id: str | None = None
    public_site_name: str | None = None
    external_key: str | None = None
    file_transfer_count: int | None = None
    file_move_count: int | None = None
    file_delete_count: int | None = None
    jumpoint_id: str | None = None
    jumpoint_name: str | None = None
    jump_group_id: str | None = None
    jump_group_name: str | None = None
    jump_group_type: str | None = None
    primary_customer: str | None = None
    primary_rep: str | None = None
    chat_download_url: str | None = None
    recording_download_url: str | None = None
    command_shell_recordings: Sequence[CommandShellRecording] = EMPTY
    custom_attributes: Sequence[CustomAttribute] = EMPTY
    customers: Sequence[Customer] = EMPTY
    representatives: Sequence[Representative] = EMPTY
    teams: Sequence[Team] = EMPTY
    events: Sequence[Event] = EMPTY  # a spilled session: a re-iterable with len() (spill.py)
    extra: Sequence[tuple[str, str]] = EMPTY  # unknown child elements: (local name, raw XML)
    raw_xml: bytes | RawXml = b""  # a complete XML document holding just this session, as the appliance sent
    # it: bytes, or a RawXml kept in a temporary file for a session too big to hold (stream it: see ``raw``)
    source_line: int | None = field(default=None, compare=False)  # line of <session> in the parsed source
    namespace: str | None = None  # XML namespace of the document ("" / None: no namespace)
    primary_customer_gsnumber: str | None = None
    primary_rep_gsnumber: str | None = None
    primary_rep_id: str | None = None
    chat_view_url: str | None = None
    recording_view_url: str | None = None

    @property
    def raw(self) -> RawXml:
        """``raw_xml`` as a :class:`RawXml` whatever form it takes: write it with ``raw.write_to(fh)``."""
        return as_raw(self.raw_xml)

    @property
    def spilled(self) -> bool:
        """The session was too big to hold: its raw XML is in a temporary file and its events are read from it."""
        return isinstance(self.raw_xml, RawXml) and not self.raw_xml.in_memory

    def close(self) -> None:
        """Remove a spilled session's temporary file now (it also goes when the session is garbage collected)."""
        if isinstance(self.raw_xml, RawXml):
            self.raw_xml.close()
        close = getattr(self.events, "close", None)
        if close is not None:
            close()

    @property
    def in_progress(self) -> bool:
        return self.end_time is None

    @property
    def has_recording(self) -> bool:
        return bool(self.recording_download_url)

    def recording_instances(self, kind: str) -> list[int]:
        """Recording instances this session announces, by download kind: "shell" from <command_shell_recordings>,
        "smsr" from its "Show My Screen Recording" events (data value ``instance``, default 0; Remote Support only),
        "recordings": [0] when it has a session recording."""
        if kind == "shell":
            return sorted({rec.instance for rec in self.command_shell_recordings})
        if kind == "smsr":
            memo = getattr(self.events, "memo", None)  # a spilled session's events: read from disk once for this
            if memo is not None and "smsr" in memo:
                return list(memo["smsr"])
            found: set[int] = set()
            for ev in self.events:
                if "show my screen" in (ev.event_type or "").lower():
                    values = [d.value for d in ev.data if d.name == "instance"]
                    try:
                        found.add(int(values[0]) if values else 0)
                    except ValueError:
                        found.add(0)
            if memo is not None:
                memo["smsr"] = sorted(found)
            return sorted(found)
        if kind == "recordings":
            return [0] if self.has_recording else []
        return []

    @property
    def report(self) -> str:
        """Name of the reporting call that returns this kind of session."""
        return "AccessSession" if self.product == "pra" else "SupportSession"

    @property
    def start_datetime(self) -> datetime | None:
        from ic.sessions.timeutil import from_unix

        return from_unix(self.start_time)

    @property
    def end_datetime(self) -> datetime | None:
        from ic.sessions.timeutil import from_unix

        return from_unix(self.end_time)
