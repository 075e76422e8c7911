"""Finds destination plugins: the built-in ones and those installed through entry points."""
from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Protocol

from ic.destinations.base import Destination
from ic.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_types",
    "create_destination",
    "destination_class",
    "destination_from_config",
    "secret_fields_of",
    "StoredDestination",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "integration_client.destinations"
_BUILTIN = {"folder": "ic.destinations.folder:FolderDestination", "sql": "ic.destinations.sql:SqlDestination"}


def _load(spec: str) -> type[Destination]:
    module, _, attr = spec.partition(":")
    mod = __import__(module, fromlist=[attr])
    return getattr(mod, attr)


def available_types() -> dict[str, type[Destination]]:
    """type name -> class, built-ins first; a broken third-party plugin is skipped, not fatal."""
    found: dict[str, type[Destination]] = {}
    for name, spec in _BUILTIN.items():
        try:
            found[name] = _load(spec)
        except ImportError:
            continue
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - one bad plugin must not stop the program
            log.warning("Destination plugin %s (%s) could not be loaded and is ignored: %s: %s",
                        ep.name, ep.value, type(exc).__name__, exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Destination):
            found[ep.name] = cls
        else:
            log.warning("Destination plugin %s (%s) is not a Destination subclass and is ignored.", ep.name, ep.value)
    return found


def destination_class(type_name: str) -> type[Destination]:
    types = available_types()
    if type_name not in types:
        raise ConfigError(f"No destination plugin of type '{type_name}' is installed; available: {', '.join(types)}.")
    return types[type_name]


def create_destination(name: str, type_name: str, config: dict) -> Destination:
    return destination_class(type_name)(name, config)


def secret_fields_of(cls: type[Destination]) -> tuple[str, ...]:
    """The config keys the settings store must encrypt: FieldSpec.secret, and every password field."""
    return tuple(f.key for f in cls.fields() if f.secret or f.kind == "password")


class StoredDestination(Protocol):
    """What the settings store hands out (ic.settings.models.DestinationConfig); named here so that this package
    does not import the settings package (the settings store imports nothing of the plugins either)."""

    name: str
    type: str
    config: dict


def destination_from_config(dest: StoredDestination) -> Destination:
    """A ready plugin instance for a stored destination (its secrets already revealed by the settings store)."""
    return create_destination(dest.name, dest.type, dict(dest.config))
