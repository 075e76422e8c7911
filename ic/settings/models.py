"""Plain records the settings store hands out. Secrets stay encrypted here; ask the store to reveal them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "DATA_TYPES", "DATA_TYPE_LABELS", "FILE_ONLY_DATA_TYPES", "PRODUCTS", "DataType", "DestinationConfig",
    "ScheduleConfig", "SiteConfig", "SiteCredentials", "TransferConfig",
]

PRODUCTS = ("rs", "pra", "detect")


class DataType(StrEnum):
    """What a transfer copies. A str: ``DataType.SMSR == "smsr"``, so stored strings and old callers keep working."""

    SESSION = "session"  # session data (XML -> destination.store_sessions)
    RECORDINGS = "recordings"  # session recordings (RS) / user recordings (PRA)
    SMSR = "smsr"  # Show My Screen recordings (RS)
    SHELL = "shell"  # command shell recordings
    BACKUP = "backup"  # site backups

    @property
    def label(self) -> str:
        return DATA_TYPE_LABELS[self.value]

    @property
    def is_file(self) -> bool:
        """Recordings and backups are files: only a destination that accepts files takes them."""
        return self is not DataType.SESSION


DATA_TYPES = tuple(t.value for t in DataType)  # canonical order, plain strings
DATA_TYPE_LABELS = {
    DataType.SESSION: "Session data",
    DataType.RECORDINGS: "Session recordings",
    DataType.SMSR: "Show My Screen recordings",
    DataType.SHELL: "Command shell recordings",
    DataType.BACKUP: "Site backups",
}
FILE_ONLY_DATA_TYPES = tuple(t.value for t in DataType if t.is_file)


@dataclass
class SiteConfig:
    name: str
    host: str
    client_id: str
    ca_bundle: str | None = None
    product: str = "detect"
    id: int | None = None
    has_client_secret: bool = False
    has_backup_password: bool = False


@dataclass
class SiteCredentials:
    client_secret: str
    backup_password: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return "SiteCredentials(<hidden>)"


@dataclass
class DestinationConfig:
    name: str
    type: str
    config: dict = field(default_factory=dict)
    id: int | None = None
    secret_fields: tuple[str, ...] = ()


@dataclass
class TransferConfig:
    site: str
    destination: str
    data_types: list[str]
    id: int | None = None


@dataclass
class ScheduleConfig:
    name: str
    every_seconds: int
    transfers: list[TransferConfig] = field(default_factory=list)
    at_time: str | None = None  # "HH:MM" local time, only for day-based periods
    enabled: bool = True
    last_run: datetime | None = None
    last_status: str | None = None
    id: int | None = None
    last_slot: datetime | None = None  # newest slot served (naive UTC); see ic.scheduling.due
    created: datetime | None = None  # with a time of day and no slot served yet: wait for the first slot after this
