"""Schedules: what `schedule add|add-transfer|remove-transfer|remove` and the GUI's Schedule Configuration call.

The settings store checks what it can see itself (names, periods, known data types); this layer adds what only the
plugins know: a destination that takes no files (a database, a session-only plugin) gets no recordings or backups.
"""
from __future__ import annotations

from ic.destinations.registry import destination_class
from ic.errors import ConfigError
from ic.services.destinations import refused_data_types
from ic.settings.models import DATA_TYPES, ScheduleConfig, TransferConfig

__all__ = ["add_transfer", "check_transfer", "remove_schedule", "remove_transfer", "save_schedule"]


def check_transfer(store, transfer: TransferConfig) -> None:
    """Raise ConfigError when the destination cannot take a chosen data type."""
    dest = store.get_destination(transfer.destination, reveal=False)
    try:
        cls = destination_class(dest.type)
    except ConfigError:
        return  # plugin not installed here: the run will say so; do not block editing the schedule
    types = [t.strip() for t in transfer.data_types if t.strip() in DATA_TYPES]
    if refused_data_types(cls, types):
        what = "a database" if dest.type == "sql" else f"a {cls.display_name} destination"
        raise ConfigError(f"Destination {dest.name} is {what}: recordings and backups can only go to a File System "
                          "destination.", field="data")


def save_schedule(store, sched: ScheduleConfig) -> ScheduleConfig:
    """Add (``sched.id`` None) or replace a schedule and its transfers."""
    for transfer in sched.transfers:
        check_transfer(store, transfer)
    return store.save_schedule(sched)


def add_transfer(store, name: str, transfer: TransferConfig) -> ScheduleConfig:
    sched = store.get_schedule(name)
    sched.transfers.append(transfer)
    return save_schedule(store, sched)


def remove_transfer(store, name: str, site: str, destination: str) -> ScheduleConfig:
    sched = store.get_schedule(name)
    kept = [t for t in sched.transfers if (t.site, t.destination) != (site, destination)]
    if len(kept) == len(sched.transfers):
        raise ConfigError(f"Schedule {sched.name} has no transfer {site} -> {destination}; see `schedule list -v`.")
    sched.transfers = kept
    return save_schedule(store, sched)


def remove_schedule(store, name: str) -> None:
    store.delete_schedule(name)
