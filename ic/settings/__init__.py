"""The settings database: the only package that knows the settings schema."""
from ic.settings.models import DestinationConfig, ScheduleConfig, SiteConfig, TransferConfig
from ic.settings.store import SettingsStore, open_store

__all__ = [
    "SettingsStore", "open_store", "SiteConfig", "DestinationConfig", "ScheduleConfig", "TransferConfig",
    # modules other packages may import (tests/core/test_public_names.py keeps this true)
    "app", "bootstrap", "models", "schema", "store", "validation",
]
