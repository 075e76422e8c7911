"""The storage schema of the SQL destination: the ONE place that knows its tables (SQLAlchemy Core).

Tables and columns are named exactly as in the guide's "SQL Server Storage Database" chapter: session,
session_event, session_event_data, system_information, user, team, endpoint, custom_attribute.

Extensions (documented in docs/PLUGINS.md):
- session has PRA's jump columns: jump_group_id, jump_group_name, jump_group_type, jumpoint_id, jumpoint_name.
- session is unique on (host_name, lsid): the natural key used to replace a session that is stored again.
- id columns are BIGINT (INTEGER on SQLite, where only INTEGER PRIMARY KEY auto-increments): replacing sessions
  that were in progress uses up ids.
Text is Unicode/UnicodeText, so SQL Server gets NVARCHAR(n)/NVARCHAR(max) (never the deprecated NTEXT).

Each table is described once, column by column with where its value comes from in the session model
(:class:`Field`): that one description makes the ``Table`` and the function that turns a model object into the
table's row (a tuple in :attr:`Shape.columns` order, over-long text clipped to its column).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Unicode,
    UnicodeText,
    UniqueConstraint,
)
from sqlalchemy.dialects import mssql, mysql

from ic.errors import SessionValueError
from ic.sessions.model import Event, Session
from ic.sessions.timeutil import from_unix

ID = BigInteger().with_variant(Integer, "sqlite")
# NVARCHAR(max) on SQL Server whatever server version the dialect detects (its legacy default for UnicodeText is
# NTEXT); LONGTEXT on MySQL/MariaDB, whose TEXT stops at 64 KB (system information can be larger).
LongText = UnicodeText().with_variant(mssql.NVARCHAR(), "mssql").with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

metadata = MetaData()


# --- one description per table: its columns and where each value comes from ------------------------------------------
@dataclass(frozen=True)
class Field:
    """One column. ``source``: the model attribute holding its value; None = given by the writer (ids, the parent's
    id, the site host). ``kind``: "text" (clipped to the column), "flag" (bool stored as 1/0), "time" (unix seconds,
    turned into what the driver takes by the writer's ``stamp``), "value" (as is)."""

    column: Column
    source: str | None = None
    kind: str = "value"


def _text(name: str, type_, source: str | None = None, **kw) -> Field:
    return Field(Column(name, type_, **kw), source or name, "text")


def _value(name: str, type_, source: str | None = None, kind: str = "value") -> Field:
    return Field(Column(name, type_), source or name, kind)


def _given(column: Column) -> Field:
    return Field(column)


def _pk() -> Column:
    return Column("id", ID, primary_key=True, autoincrement=True)


def _fk(name: str, target: str) -> Field:
    return _given(Column(name, ID, ForeignKey(target, ondelete="CASCADE"), nullable=False, index=True))


@dataclass(frozen=True)
class Shape:
    """How rows of one table are made: ``given`` columns (the writer's values, in this order) then the ``fields``
    taken from a model object; ``row(lead, item, stamp)`` returns ``lead + (values of the fields)``."""

    table: Table
    given: tuple[str, ...]
    fields: tuple[str, ...]
    row: Callable[[tuple, Any, Callable], tuple]

    def columns(self, with_id: bool = False) -> tuple[str, ...]:
        return (("id",) if with_id else ()) + self.given + self.fields

    def rows(self, lead: tuple, items: Iterable, stamp: Callable = from_unix) -> list[tuple]:
        row = self.row
        return [row(lead, item, stamp) for item in items]

    def maker(self, *given: str, nul_free: bool = False) -> Callable[..., tuple]:
        """A function ``make(*given values, item)`` returning the row of ``given + self.fields`` as one tuple (no lead
        tuple to concatenate), times as SQLAlchemy's DateTime text (see text_stamp). The bulk writers' row builder:
        ``given`` names the leading columns the writer supplies (e.g. "id", "session_id"). ``nul_free``: a NUL
        (U+0000) in text becomes U+FFFD (PostgreSQL refuses NUL in text)."""
        key = (self.table.name, given, nul_free)
        make = _MAKERS.get(key)
        if make is None:
            make = _MAKERS[key] = _row_function(self.table.name, _FIELDS[self.table.name], given, nul_free)
        return make


SHAPES: dict[str, Shape] = {}
_FIELDS: dict[str, list[Field]] = {}  # table name -> the fields taken from a model object, in column order
_MAKERS: dict[tuple[str, tuple[str, ...], bool], Callable[..., tuple]] = {}


def _table(name: str, *fields: Field, extra: tuple = ()) -> Table:
    """The Table (id first, then the fields' columns in order) and its Shape in SHAPES."""
    table = Table(name, metadata, _pk(), *(f.column for f in fields), *extra)
    given = tuple(f.column.name for f in fields if f.source is None)
    taken = [f for f in fields if f.source is not None]
    _FIELDS[name] = taken
    SHAPES[name] = Shape(table, given, tuple(f.column.name for f in taken), _row_function(name, taken))
    return table


def _row_function(name: str, fields: list[Field], given: tuple[str, ...] | None = None,
                  nul_free: bool = False) -> Callable[..., tuple]:
    """A function building one row from one model object, written out for its columns (as dataclasses and
    namedtuple do): one attribute read and, for bounded text, one length test per column, no loop per value.
    Text is clipped only when it may not fit (more than half the length in characters: see clip_text).

    ``given`` None: ``row(lead, r, stamp)`` returns ``lead + (values)``, times through ``stamp``. Otherwise
    ``row(<given...>, r)`` returns ``(<given...>, values)``, times written inline as text (text_stamp)."""
    args = [f"g{i}" for i in range(len(given))] if given is not None else []
    lines = [f"def row({', '.join(args)}, r):" if given is not None else "def row(lead, r, stamp):"]
    values = []
    for i, f in enumerate(fields):
        v = f"v{i}"
        values.append(v)
        if f.kind == "flag":
            lines.append(f"    {v} = 1 if r.{f.source} else 0")
            continue
        lines.append(f"    {v} = r.{f.source}")
        length = getattr(f.column.type, "length", None)
        if f.kind == "time" and given is not None:  # text_stamp, inline: the minute's text remembered
            lines += [f"    if {v} is not None:",
                      f"        q, x = divmod({v}, 86400)",
                      "        h = days.get(q)",
                      "        q, x = divmod(x, 60)",
                      f"        {v} = (h if h is not None else day({v})) + minutes[q] + seconds[x]"]
        elif f.kind == "time":
            lines.append(f"    if {v} is not None: {v} = stamp({v})")
        elif f.kind == "text" and length:
            lines.append(f"    if {v} is not None and len({v}) * 2 > {length} and isinstance({v}, str): "
                         f"{v} = clip({v}, {length})")
        if f.kind == "text" and nul_free:
            lines.append(f"    if type({v}) is str and '\\x00' in {v}: {v} = {v}.replace('\\x00', '\\ufffd')")
    out = args + values if given is not None else values
    tail = f"({', '.join(out)}{',' if len(out) == 1 else ''})"
    lines.append(f"    return {tail}" if given is not None else f"    return lead + {tail}")
    namespace: dict[str, Any] = {"clip": clip_text, "days": _DAY_TEXT, "day": _day_text, "minutes": _MINUTE_TEXT,
                                 "seconds": _SECOND_TEXT}
    exec(compile("\n".join(lines), f"<row of {name}>", "exec"), namespace)  # noqa: S102 - our own column names
    return namespace["row"]


# --- times as SQLAlchemy's DateTime text ("YYYY-MM-DD HH:MM:SS.000000", as it stores them on SQLite) ---------------
_EPOCH = from_unix(0)
_DAY_TEXT: dict[int, str] = {}  # unix day -> "YYYY-MM-DD "
_MINUTE_TEXT = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))
_SECOND_TEXT = tuple(f"{second:02d}.000000" for second in range(60))


def _day_text(ts: int) -> str:
    """The date part of ``ts`` ("YYYY-MM-DD "), remembered per day."""
    day = ts // 86400
    if len(_DAY_TEXT) > 100_000:
        _DAY_TEXT.clear()
    head = _DAY_TEXT[day] = (_EPOCH + timedelta(days=day)).date().isoformat() + " "
    return head


def text_stamp(ts: int) -> str:
    """Unix seconds as SQLAlchemy's DateTime text on SQLite, which PostgreSQL also reads for a timestamp (no
    datetime made: the date part is remembered per day, the time of day taken from tables). Years 1753 to 9999."""
    day, second = divmod(ts, 86400)
    head = _DAY_TEXT.get(day)
    minute, second = divmod(second, 60)
    return (head if head is not None else _day_text(ts)) + _MINUTE_TEXT[minute] + _SECOND_TEXT[second]


def clip_text(value: str, length: int) -> str:
    """At most ``length`` UTF-16 code units: SQL Server's NVARCHAR(n) counts those, so an emoji takes 2 (and a value
    over n fails the whole statement: "String or binary data would be truncated"). Never splits a surrogate pair;
    on PostgreSQL/MySQL (which count characters) this clips a little early only for text beyond the BMP."""
    if len(value) <= length and all(ord(c) < 0x10000 for c in value):
        return value
    units = value.encode("utf-16-le", "surrogatepass")[: length * 2]
    if len(units) >= 2 and 0xD800 <= int.from_bytes(units[-2:], "little") <= 0xDBFF:
        units = units[:-2]  # a high surrogate whose low half was cut off
    return units.decode("utf-16-le", "surrogatepass")


# --- the tables -------------------------------------------------------------------------------------------------------
def _addresses() -> tuple[Field, Field]:
    """The IP addresses of a representative's or a customer's machine (user and endpoint rows)."""
    return _text("public_ip", Unicode(100)), _text("private_ip", Unicode(100))


def _machine() -> tuple[Field, Field]:
    """That machine's name and operating system."""
    return _text("host_name", Unicode(255), "hostname"), _text("operating_system", Unicode(255), "os")


session = _table(
    "session",
    _text("lsid", Unicode(100), nullable=False),
    _text("type", Unicode(50), "session_type"),
    _value("start_time", DateTime, kind="time"),
    _value("end_time", DateTime, kind="time"),
    _text("duration", Unicode(20)),
    _value("file_transfers", Integer, "file_transfer_count"),
    _given(Column("host_name", Unicode(255), nullable=False)),
    _text("external_key", LongText),
    _text("public_site_id", Unicode(50)),
    _text("public_site_name", Unicode(255)),
    _value("lseq", BigInteger),
    # PRA extension
    _text("jump_group_id", Unicode(50)),
    _text("jump_group_name", Unicode(255)),
    _text("jump_group_type", Unicode(50)),
    _text("jumpoint_id", Unicode(50)),
    _text("jumpoint_name", Unicode(255)),
    extra=(UniqueConstraint("host_name", "lsid", name="uq_session_host_lsid"),),
)
Index("ix_session_start_time", session.c.start_time)

session_event = _table(
    "session_event",
    _fk("session_id", "session.id"),
    _text("type", Unicode(100), "event_type"),
    _value("event_time", DateTime, "timestamp", kind="time"),
    _text("performed_by", LongText),
    _text("performed_by_type", Unicode(50)),
    _text("destination", LongText),
    _text("destination_type", Unicode(50)),
)

session_event_data = _table(
    "session_event_data",
    _fk("session_event_id", "session_event.id"),
    _text("name", Unicode(255)),
    _text("value", LongText),
)

system_information = _table(
    "system_information",
    _fk("session_event_id", "session_event.id"),
    _text("category", Unicode(255), "name"),
    _text("information", LongText, "information_xml"),
)

user = _table(
    "user",
    _text("gs_number", Unicode(50), "gsnumber"),
    _fk("session_id", "session.id"),
    _text("user_id", Unicode(50)),
    _text("user_name", Unicode(255), "username"),
    _text("display_name", Unicode(255)),
    _text("public_display_name", Unicode(255)),
    _text("display_number", Unicode(50)),
    *_addresses(),
    _value("is_owner", Integer, kind="flag"),
    _value("is_primary", Integer, kind="flag"),
    _value("duration", Integer, "seconds_involved"),
    *_machine(),
)

team = _table(
    "team",
    _fk("session_id", "session.id"),
    _text("team_id", Unicode(50)),
    _text("name", Unicode(255)),
    _value("is_primary", Integer, kind="flag"),
)

endpoint = _table(
    "endpoint",
    _fk("session_id", "session.id"),
    _text("gs_number", Unicode(50), "gsnumber"),
    _text("issue", LongText),
    _text("issue_description", LongText),
    _text("display_name", Unicode(255)),
    _text("company_name", Unicode(255)),
    _text("company_code", Unicode(255)),
    *_addresses(),
    _value("rpat_support", Integer, kind="flag"),
    *_machine(),
)

custom_attribute = _table(
    "custom_attribute",
    _fk("session_id", "session.id"),
    _text("display_name", Unicode(255)),
    _text("code_name", Unicode(255)),
    _text("value", LongText),
)

# Children of session, deleted before the session row (explicitly, so no reliance on ON DELETE CASCADE support).
SESSION_CHILDREN = (user, team, endpoint, custom_attribute)
EVENT_CHILDREN = (session_event_data, system_information)
ALL_TABLES = (session, session_event, session_event_data, system_information, user, team, endpoint, custom_attribute)
# (table, the Session attribute holding its items): the session's children, in insert order
SESSION_ITEMS = ((user, "representatives"), (team, "teams"), (endpoint, "customers"),
                 (custom_attribute, "custom_attributes"))


def max_lengths(table: Table) -> dict[str, int]:
    """column name -> declared length of its bounded text columns (values are clipped to fit, never rejected)."""
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, Unicode) and c.type.length}


# --- rows as dicts (SQLAlchemy's insert(); the bench) and tuples (the bulk writers): both from SHAPES ---------------
def _dicts(table: Table, lead: tuple, items) -> list[dict]:
    shape = SHAPES[table.name]
    cols = shape.columns()
    return [dict(zip(cols, r)) for r in shape.rows(lead, items)]


def session_row(host_name: str, s: Session) -> dict:
    return _dicts(session, (storable_host(host_name),), (s,))[0]


def user_rows(session_id: int, s: Session) -> list[dict]:
    return _dicts(user, (session_id,), s.representatives)


def team_rows(session_id: int, s: Session) -> list[dict]:
    return _dicts(team, (session_id,), s.teams)


def endpoint_rows(session_id: int, s: Session) -> list[dict]:
    return _dicts(endpoint, (session_id,), s.customers)


def custom_attribute_rows(session_id: int, s: Session) -> list[dict]:
    return _dicts(custom_attribute, (session_id,), s.custom_attributes)


def event_row(session_id: int, e: Event) -> dict:
    return _dicts(session_event, (session_id,), (e,))[0]


def event_data_rows(event_id: int, e: Event) -> list[dict]:
    return _dicts(session_event_data, (event_id,), e.data)


def system_information_rows(event_id: int, e: Event) -> list[dict]:
    return _dicts(system_information, (event_id,), e.system_information)


EVENT_COLUMNS = SHAPES["session_event"].columns(with_id=True)
EVENT_DATA_COLUMNS = SHAPES["session_event_data"].columns()


def event_values(event_id: int, session_id: int, e: Event, stamp=from_unix) -> tuple:
    """event_row as a tuple of EVENT_COLUMNS; ``stamp`` turns unix seconds into what the driver takes."""
    return SHAPES["session_event"].row((event_id, session_id), e, stamp)


def event_data_values(event_id: int, e: Event) -> list[tuple]:
    """event_data_rows as tuples of EVENT_DATA_COLUMNS."""
    return SHAPES["session_event_data"].rows((event_id,), e.data)


SESSION_CHILD_ROWS = ((user, user_rows), (team, team_rows), (endpoint, endpoint_rows),
                      (custom_attribute, custom_attribute_rows))


# --- what the storage types can hold: checked before anything is written ---------------------------
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# SQL Server DATETIME starts in 1753; Python's datetime ends with 9999: one range for every database
TIME_RANGE = (-6_847_804_800, 253_402_300_799)  # 1753-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
LSID_LENGTH = session.c.lsid.type.length
HOST_LENGTH = session.c.host_name.type.length


def utf16_length(value: str) -> int:
    """Length as SQL Server's NVARCHAR counts it (UTF-16 code units)."""
    if value.isascii():
        return len(value)
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _reject(s: Session, field: str, value: object, why: str) -> SessionValueError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SessionValueError(f"Session {s.lsid[:100] or '(no lsid)'} cannot be stored: its {field} {shown} {why}.",
                             lsid=s.lsid, field=field)


def check_storable(s: Session, events: bool = True) -> None:
    """Raise SessionValueError (naming the lsid and the field) for a value the storage columns cannot hold.

    The key (lsid) is never clipped: a clipped key would not match the delete that replaces the session later.
    Other text is clipped to its column (see clip_text); numbers and times out of their column's range are refused.
    ``events=False``: the caller checks each event's time (check_event_time) as it writes the event, so that the
    events of a session (read back from disk for a huge one) are gone through once."""
    if not s.lsid or not s.lsid.strip():
        raise _reject(s, "lsid", s.lsid, "is empty")
    if utf16_length(s.lsid) > LSID_LENGTH:
        raise _reject(s, "lsid", s.lsid, f"is longer than the {LSID_LENGTH} characters the session.lsid column holds")
    _int_in(s, "file_transfer_count", s.file_transfer_count, INT32)
    _int_in(s, "lseq", s.lseq, INT64)
    _time_in(s, "start_time", s.start_time)
    _time_in(s, "end_time", s.end_time)
    for r in s.representatives:
        _int_in(s, "seconds_involved", r.seconds_involved, INT32)
    if events:
        for e in s.events:
            if e.timestamp is not None and not TIME_RANGE[0] <= e.timestamp <= TIME_RANGE[1]:
                _time_in(s, "event timestamp", e.timestamp)


def check_event_time(s: Session, timestamp: int) -> None:
    """check_storable's test of one event's time (raises SessionValueError outside TIME_RANGE)."""
    _time_in(s, "event timestamp", timestamp)


def _int_in(s: Session, field: str, value: int | None, bounds: tuple[int, int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise _reject(s, field, value, f"is outside the range its column holds ({bounds[0]} to {bounds[1]})")


def _time_in(s: Session, field: str, value: int | None) -> None:
    if value is not None and not TIME_RANGE[0] <= value <= TIME_RANGE[1]:
        raise _reject(s, field, value, "is a time outside the years 1753 to 9999 that the database holds")


def storable_host(host_name: str) -> str:
    """The host name as stored (clipped to its column): used for the delete and the insert alike."""
    return clip_text(host_name, HOST_LENGTH)
