"""Plain records the settings store hands out. Secrets stay encrypted here; ask the store to reveal them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

PRODUCTS = ("rs", "pra", "detect")
DATA_TYPES = ("session", "recordings", "smsr", "shell", "backup")
DATA_TYPE_LABELS = {
    "session": "Session data",
    "recordings": "Session recordings",
    "smsr": "Show My Screen recordings",
    "shell": "Command shell recordings",
    "backup": "Site backups",
}
FILE_ONLY_DATA_TYPES = ("recordings", "smsr", "shell", "backup")


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
