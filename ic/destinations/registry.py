"""Finds destination plugins: the built-in ones and those installed through entry points."""
from __future__ import annotations

from importlib.metadata import entry_points

from ic.destinations.base import Destination
from ic.errors import ConfigError

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
        except Exception:  # noqa: BLE001 - one bad plugin must not stop the program
            import logging

            logging.getLogger(__name__).warning("Plugin %s could not be loaded and is ignored.", ep.name)
            continue
        if isinstance(cls, type) and issubclass(cls, Destination):
            found[ep.name] = cls
    return found


def destination_class(type_name: str) -> type[Destination]:
    types = available_types()
    if type_name not in types:
        raise ConfigError(f"No destination plugin of type '{type_name}' is installed; available: {', '.join(types)}.")
    return types[type_name]


def create_destination(name: str, type_name: str, config: dict) -> Destination:
    return destination_class(type_name)(name, config)
