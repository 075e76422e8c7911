"""Settings database tables (SQLAlchemy Core). Bump SCHEMA_VERSION and add a step to MIGRATIONS on change."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Unicode,
    UnicodeText,
)
from sqlalchemy.dialects import mssql

SCHEMA_VERSION = 3

# NVARCHAR(max) on SQL Server whatever server version the dialect detects (its fallback for UnicodeText is the
# deprecated NTEXT, which cannot be compared with = or sorted); TEXT elsewhere.
LongText = UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")

metadata = MetaData()

meta = Table(
    "ic_meta",
    metadata,
    Column("key", Unicode(100), primary_key=True),
    Column("value", LongText, nullable=False),
)


def _named(name: str, *columns: Column) -> Table:
    """A table of named items (sites, destinations, schedules): an id, a unique name, then ``columns``."""
    return Table(name, metadata, Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("name", Unicode(200), nullable=False, unique=True), *columns)


sites = _named(
    "ic_site",
    Column("host", Unicode(300), nullable=False),
    Column("client_id", Unicode(300), nullable=False),
    Column("client_secret_enc", LongText, nullable=True),
    Column("backup_password_enc", LongText, nullable=True),
    Column("ca_bundle", LongText, nullable=True),
    Column("product", Unicode(20), nullable=False, default="detect"),
)

destinations = _named(
    "ic_destination",
    Column("type", Unicode(100), nullable=False),
    Column("config_json", LongText, nullable=False),
    Column("secrets_enc", LongText, nullable=True),
)

schedules = _named(
    "ic_schedule",
    Column("every_seconds", Integer, nullable=False),
    Column("at_time", Unicode(5), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("last_run", DateTime(timezone=False), nullable=True),
    Column("last_status", LongText, nullable=True),
    # Slots at or before this instant (naive UTC) are not owed: the newest slot served, or for a new schedule with a
    # time of day its creation time (it waits for its first slot). Run Now and exports never change it. (schema 2)
    Column("last_slot", DateTime(timezone=False), nullable=True),
    # When the schedule got its time of day without having served a slot (naive UTC): it waits for the first slot
    # after this. Kept apart from last_slot so a host clock that was ahead when it was saved never counts as a
    # served slot in the future. (schema 3)
    Column("created", DateTime(timezone=False), nullable=True),
)

transfers = Table(
    "ic_transfer",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule_id", Integer, ForeignKey("ic_schedule.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("site_id", Integer, ForeignKey("ic_site.id"), nullable=False),
    Column("destination_id", Integer, ForeignKey("ic_destination.id"), nullable=False),
    Column("data_types", Unicode(300), nullable=False),
)

transfer_state = Table(
    "ic_transfer_state",
    metadata,
    Column("site_id", Integer, ForeignKey("ic_site.id", ondelete="CASCADE"), primary_key=True),
    Column("destination_id", Integer, ForeignKey("ic_destination.id", ondelete="CASCADE"), primary_key=True),
    Column("data_type", Unicode(50), primary_key=True),
    Column("state_json", LongText, nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
)

app_settings = Table(
    "ic_app_setting",
    metadata,
    Column("key", Unicode(100), primary_key=True),
    Column("value", LongText, nullable=True),
)  # (its primary key is the unique key: no extra UNIQUE constraint, which SQL Server would index a second time)

# --- scheduling (schema 2): run history, cross-host leases, resident scheduler heartbeats ---------------------------
run_history = Table(
    "ic_run_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", Unicode(200), nullable=False, index=True),  # schedule name; exports: "site -> destination"
    Column("started", DateTime(timezone=False), nullable=False),
    Column("finished", DateTime(timezone=False), nullable=True),
    Column("status", Unicode(30), nullable=False),  # ok | failed | cancelled | internal error
    Column("trigger", Unicode(20), nullable=False),  # slot | catch-up | run now | export
    Column("slot", DateTime(timezone=False), nullable=True),  # the slot served (slot / catch-up runs)
    Column("sessions", Integer, nullable=False, default=0),
    Column("in_progress", Integer, nullable=False, default=0),
    Column("recordings", Integer, nullable=False, default=0),
    Column("backups", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("host", Unicode(200), nullable=False, default=""),
    Column("message", LongText, nullable=True),
)

leases = Table(
    "ic_lease",
    metadata,
    Column("name", Unicode(250), primary_key=True),  # "schedule:<name>"
    Column("holder", Unicode(250), nullable=True),  # host id (hostname + per-install id); NULL = free
    Column("token", Unicode(40), nullable=True),  # per acquisition: proves the conditional UPDATE was ours
    Column("host", Unicode(200), nullable=True),  # hostname, for display
    Column("acquired", DateTime(timezone=False), nullable=True),
    Column("expires", DateTime(timezone=False), nullable=True),
)

scheduler_hosts = Table(
    "ic_scheduler",
    metadata,
    Column("host_id", Unicode(250), primary_key=True),
    Column("host", Unicode(200), nullable=False),
    Column("pid", Integer, nullable=True),
    Column("started", DateTime(timezone=False), nullable=True),
    Column("last_check", DateTime(timezone=False), nullable=True),
    Column("state", Unicode(20), nullable=False, default="stopped"),  # running | stopped
    Column("stop_requested", Boolean, nullable=False, default=False),
)


def _add_column(conn, column: Column) -> None:
    """ALTER TABLE ... ADD a nullable column of this schema, unless an interrupted upgrade already added it."""
    from sqlalchemy import DDL, inspect

    table = column.table.name
    if column.name not in {c["name"] for c in inspect(conn).get_columns(table)}:
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(DDL(f"ALTER TABLE {table} ADD {column.name} {kind} NULL"))


def _v1_to_v2(conn) -> None:
    """ic_schedule.last_slot: existing schedules are owed nothing before their last run (as they behaved)."""
    from sqlalchemy import update

    _add_column(conn, schedules.c.last_slot)
    conn.execute(update(schedules).values(last_slot=schedules.c.last_run))


def _v2_to_v3(conn) -> None:
    """ic_schedule.created: a never-run schedule's creation time moves out of last_slot (where schema 2 kept it)."""
    from sqlalchemy import and_, update

    _add_column(conn, schedules.c.created)
    never_ran = and_(schedules.c.last_run.is_(None), schedules.c.last_slot.is_not(None),
                     schedules.c.at_time.is_not(None))
    conn.execute(update(schedules).where(never_ran).values(created=schedules.c.last_slot, last_slot=None))


# Each step takes a Connection and upgrades from version N to N+1.
MIGRATIONS: dict[int, object] = {1: _v1_to_v2, 2: _v2_to_v3}
