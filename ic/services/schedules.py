"""Schedules: what `schedule add|add-transfer|remove-transfer|remove` and the GUI's Schedule Configuration call.

The settings store checks what it can see itself (names, periods, known data types); this layer adds what only the
plugins know: a destination that takes no files (a database, a session-only plugin) gets no recordings or backups.
"""
from __future__ import annotations

from typing import Any

from ic.destinations.registry import destination_class
from ic.errors import ConfigError
from ic.services.destinations import refused_data_types
from ic.settings.models import DATA_TYPES, ScheduleConfig, TransferConfig

__all__ = [
    "KEEP", "add_transfer", "check_transfer", "edit_schedule", "remove_schedule", "remove_transfer", "save_schedule",
]

KEEP: Any = object()  # edit_schedule: leave this setting as it is


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


def edit_schedule(store, name: str, *, rename: str | None = None, every_seconds: int | None = None,
                  at_time: str | None = KEEP, enabled: bool | None = None) -> ScheduleConfig:
    """Change some settings of a schedule (its transfers stay; see add_transfer / remove_transfer). ``at_time`` None
    or "" clears the time of day; KEEP (the default) leaves it."""
    sched = store.get_schedule(name)
    if rename is not None:
        sched.name = rename
    if every_seconds is not None:
        sched.every_seconds = every_seconds
    if at_time is not KEEP:
        sched.at_time = at_time or None
    if enabled is not None:
        sched.enabled = enabled
    return save_schedule(store, sched)


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
