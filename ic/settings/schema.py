"""Settings database tables (SQLAlchemy Core). Bump SCHEMA_VERSION and add a step to MIGRATIONS on change."""
from __future__ import annotations

from sqlalchemy import (
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

SCHEMA_VERSION = 1

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

sites = Table(
    "ic_site",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Unicode(200), nullable=False, unique=True),
    Column("host", Unicode(300), nullable=False),
    Column("client_id", Unicode(300), nullable=False),
    Column("client_secret_enc", LongText, nullable=True),
    Column("backup_password_enc", LongText, nullable=True),
    Column("ca_bundle", LongText, nullable=True),
    Column("product", Unicode(20), nullable=False, default="detect"),
)

destinations = Table(
    "ic_destination",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Unicode(200), nullable=False, unique=True),
    Column("type", Unicode(100), nullable=False),
    Column("config_json", LongText, nullable=False),
    Column("secrets_enc", LongText, nullable=True),
)

schedules = Table(
    "ic_schedule",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Unicode(200), nullable=False, unique=True),
    Column("every_seconds", Integer, nullable=False),
    Column("at_time", Unicode(5), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("last_run", DateTime(timezone=False), nullable=True),
    Column("last_status", LongText, nullable=True),
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

# Each step takes a Connection and upgrades from version N to N+1.
MIGRATIONS: dict[int, object] = {}
