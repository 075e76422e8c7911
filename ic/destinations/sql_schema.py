"""The storage schema of the SQL destination: the ONE place that knows its tables (SQLAlchemy Core).

Tables and columns are named exactly as in the guide's "SQL Server Storage Database" chapter: session,
session_event, session_event_data, system_information, user, team, endpoint, custom_attribute.

Extensions (documented in docs/PLUGINS.md):
- session has PRA's jump columns: jump_group_id, jump_group_name, jump_group_type, jumpoint_id, jumpoint_name.
- session is unique on (host_name, lsid): the natural key used to replace a session that is stored again.
- id columns are BIGINT (INTEGER on SQLite, where only INTEGER PRIMARY KEY auto-increments): replacing sessions
  that were in progress uses up ids.
Text is Unicode/UnicodeText, so SQL Server gets NVARCHAR(n)/NVARCHAR(max) (never the deprecated NTEXT).
"""
from __future__ import annotations

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


def _pk() -> Column:
    return Column("id", ID, primary_key=True, autoincrement=True)


def _fk(name: str, target: str) -> Column:
    return Column(name, ID, ForeignKey(target, ondelete="CASCADE"), nullable=False, index=True)


session = Table(
    "session",
    metadata,
    _pk(),
    Column("lsid", Unicode(100), nullable=False),
    Column("type", Unicode(50)),
    Column("start_time", DateTime),
    Column("end_time", DateTime),
    Column("duration", Unicode(20)),
    Column("file_transfers", Integer),
    Column("host_name", Unicode(255), nullable=False),
    Column("external_key", LongText),
    Column("public_site_id", Unicode(50)),
    Column("public_site_name", Unicode(255)),
    Column("lseq", BigInteger),
    # PRA extension
    Column("jump_group_id", Unicode(50)),
    Column("jump_group_name", Unicode(255)),
    Column("jump_group_type", Unicode(50)),
    Column("jumpoint_id", Unicode(50)),
    Column("jumpoint_name", Unicode(255)),
    UniqueConstraint("host_name", "lsid", name="uq_session_host_lsid"),
)
Index("ix_session_start_time", session.c.start_time)

session_event = Table(
    "session_event",
    metadata,
    _pk(),
    _fk("session_id", "session.id"),
    Column("type", Unicode(100)),
    Column("event_time", DateTime),
    Column("performed_by", LongText),
    Column("performed_by_type", Unicode(50)),
    Column("destination", LongText),
    Column("destination_type", Unicode(50)),
)

session_event_data = Table(
    "session_event_data",
    metadata,
    _pk(),
    _fk("session_event_id", "session_event.id"),
    Column("name", Unicode(255)),
    Column("value", LongText),
)

system_information = Table(
    "system_information",
    metadata,
    _pk(),
    _fk("session_event_id", "session_event.id"),
    Column("category", Unicode(255)),
    Column("information", LongText),
)

user = Table(
    "user",
    metadata,
    _pk(),
    Column("gs_number", Unicode(50)),
    _fk("session_id", "session.id"),
    Column("user_id", Unicode(50)),
    Column("user_name", Unicode(255)),
    Column("display_name", Unicode(255)),
    Column("public_display_name", Unicode(255)),
    Column("display_number", Unicode(50)),
    Column("public_ip", Unicode(100)),
    Column("private_ip", Unicode(100)),
    Column("is_owner", Integer),
    Column("is_primary", Integer),
    Column("duration", Integer),
    Column("host_name", Unicode(255)),
    Column("operating_system", Unicode(255)),
)

team = Table(
    "team",
    metadata,
    _pk(),
    _fk("session_id", "session.id"),
    Column("team_id", Unicode(50)),
    Column("name", Unicode(255)),
    Column("is_primary", Integer),
)

endpoint = Table(
    "endpoint",
    metadata,
    _pk(),
    _fk("session_id", "session.id"),
    Column("gs_number", Unicode(50)),
    Column("issue", LongText),
    Column("issue_description", LongText),
    Column("display_name", Unicode(255)),
    Column("company_name", Unicode(255)),
    Column("company_code", Unicode(255)),
    Column("public_ip", Unicode(100)),
    Column("private_ip", Unicode(100)),
    Column("rpat_support", Integer),
    Column("host_name", Unicode(255)),
    Column("operating_system", Unicode(255)),
)

custom_attribute = Table(
    "custom_attribute",
    metadata,
    _pk(),
    _fk("session_id", "session.id"),
    Column("display_name", Unicode(255)),
    Column("code_name", Unicode(255)),
    Column("value", LongText),
)

# Children of session, deleted before the session row (explicitly, so no reliance on ON DELETE CASCADE support).
SESSION_CHILDREN = (user, team, endpoint, custom_attribute)
EVENT_CHILDREN = (session_event_data, system_information)
ALL_TABLES = (session, session_event, session_event_data, system_information, user, team, endpoint, custom_attribute)


def max_lengths(table: Table) -> dict[str, int]:
    """column name -> declared length of its bounded text columns (values are clipped to fit, never rejected)."""
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, Unicode) and c.type.length}


# --- rows: how a parsed Session maps onto the tables ------------------------------------------
def _flag(value: bool) -> int:
    return 1 if value else 0


def _clip(table: Table, row: dict) -> dict:
    """Cut over-long text to its column's length, so one odd value never makes a whole session fail."""
    for name, length in _LENGTHS[table.name]:
        value = row[name]
        if value is not None and len(value) * 2 > length and isinstance(value, str):
            row[name] = clip_text(value, length)
    return row


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


def session_row(host_name: str, s: Session) -> dict:
    return _clip(session, {
        "lsid": s.lsid,
        "type": s.session_type,
        "start_time": from_unix(s.start_time),
        "end_time": from_unix(s.end_time),
        "duration": s.duration,
        "file_transfers": s.file_transfer_count,
        "host_name": host_name,
        "external_key": s.external_key,
        "public_site_id": s.public_site_id,
        "public_site_name": s.public_site_name,
        "lseq": s.lseq,
        "jump_group_id": s.jump_group_id,
        "jump_group_name": s.jump_group_name,
        "jump_group_type": s.jump_group_type,
        "jumpoint_id": s.jumpoint_id,
        "jumpoint_name": s.jumpoint_name,
    })


def user_rows(session_id: int, s: Session) -> list[dict]:
    return [_clip(user, {
        "gs_number": r.gsnumber,
        "session_id": session_id,
        "user_id": r.user_id,
        "user_name": r.username,
        "display_name": r.display_name,
        "public_display_name": r.public_display_name,
        "display_number": r.display_number,
        "public_ip": r.public_ip,
        "private_ip": r.private_ip,
        "is_owner": _flag(r.is_owner),
        "is_primary": _flag(r.is_primary),
        "duration": r.seconds_involved,
        "host_name": r.hostname,
        "operating_system": r.os,
    }) for r in s.representatives]


def team_rows(session_id: int, s: Session) -> list[dict]:
    return [_clip(team, {"session_id": session_id, "team_id": t.team_id, "name": t.name, "is_primary": _flag(t.is_primary)})
            for t in s.teams]


def endpoint_rows(session_id: int, s: Session) -> list[dict]:
    return [_clip(endpoint, {
        "session_id": session_id,
        "gs_number": c.gsnumber,
        "issue": c.issue,
        "issue_description": c.issue_description,
        "display_name": c.display_name,
        "company_name": c.company_name,
        "company_code": c.company_code,
        "public_ip": c.public_ip,
        "private_ip": c.private_ip,
        "rpat_support": _flag(c.rpat_support),
        "host_name": c.hostname,
        "operating_system": c.os,
    }) for c in s.customers]


def custom_attribute_rows(session_id: int, s: Session) -> list[dict]:
    return [_clip(custom_attribute, {"session_id": session_id, "display_name": a.display_name, "code_name": a.code_name,
                                     "value": a.value}) for a in s.custom_attributes]


def event_row(session_id: int, e: Event) -> dict:
    return _clip(session_event, {
        "session_id": session_id,
        "type": e.event_type,
        "event_time": from_unix(e.timestamp),
        "performed_by": e.performed_by,
        "performed_by_type": e.performed_by_type,
        "destination": e.destination,
        "destination_type": e.destination_type,
    })


def event_data_rows(event_id: int, e: Event) -> list[dict]:
    return [_clip(session_event_data, {"session_event_id": event_id, "name": d.name, "value": d.value}) for d in e.data]


# --- the same two high-volume rows as tuples in column order (the bulk writers); kept equal to the dicts above ---
EVENT_COLUMNS = ("id", "session_id", "type", "event_time", "performed_by", "performed_by_type", "destination",
                 "destination_type")
EVENT_DATA_COLUMNS = ("session_event_id", "name", "value")


def event_values(event_id: int, session_id: int, e: Event, stamp=from_unix) -> tuple:
    """event_row as a tuple of EVENT_COLUMNS; ``stamp`` turns unix seconds into what the driver takes."""
    kind, pt, dt = e.event_type, e.performed_by_type, e.destination_type
    return (event_id, session_id,
            kind if kind is None or len(kind) <= 50 else clip_text(kind, 100),
            None if e.timestamp is None else stamp(e.timestamp),
            e.performed_by,
            pt if pt is None or len(pt) <= 25 else clip_text(pt, 50),
            e.destination,
            dt if dt is None or len(dt) <= 25 else clip_text(dt, 50))


def event_data_values(event_id: int, e: Event) -> list[tuple]:
    """event_data_rows as tuples of EVENT_DATA_COLUMNS."""
    return [(event_id, d.name if d.name is None or len(d.name) <= 127 else clip_text(d.name, 255), d.value)
            for d in e.data]


def system_information_rows(event_id: int, e: Event) -> list[dict]:
    return [_clip(system_information, {"session_event_id": event_id, "category": c.name, "information": c.information_xml})
            for c in e.system_information]


SESSION_CHILD_ROWS = ((user, user_rows), (team, team_rows), (endpoint, endpoint_rows),
                      (custom_attribute, custom_attribute_rows))
_LENGTHS = {t.name: tuple(max_lengths(t).items()) for t in ALL_TABLES}


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


def check_storable(s: Session) -> None:
    """Raise SessionValueError (naming the lsid and the field) for a value the storage columns cannot hold.

    The key (lsid) is never clipped: a clipped key would not match the delete that replaces the session later.
    Other text is clipped to its column (see _clip); numbers and times out of their column's range are refused."""
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
    for e in s.events:
        if e.timestamp is not None and not TIME_RANGE[0] <= e.timestamp <= TIME_RANGE[1]:
            _time_in(s, "event timestamp", e.timestamp)


def _int_in(s: Session, field: str, value: int | None, bounds: tuple[int, int]) -> None:
    if value is not None and not bounds[0] <= value <= bounds[1]:
        raise _reject(s, field, value, f"is outside the range its column holds ({bounds[0]} to {bounds[1]})")


def _time_in(s: Session, field: str, value: int | None) -> None:
    if value is not None and not TIME_RANGE[0] <= value <= TIME_RANGE[1]:
        raise _reject(s, field, value, "is a time outside the years 1753 to 9999 that the database holds")


def storable_host(host_name: str) -> str:
    """The host name as stored (clipped to its column): used for the delete and the insert alike."""
    return clip_text(host_name, HOST_LENGTH)
