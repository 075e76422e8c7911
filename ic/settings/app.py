"""Application settings as one typed object, read in one query: the one place that turns their stored text into
numbers, flags and folders. The engine (EngineOptions.from_store), the log set-up, the notifications and the
Application Settings dialog (ic.services.app_settings, which also knows labels, defaults and limits) start here.

Each reader keeps its own default (the engine knows its batch size; the log module its removal days); what a value
means and how a bad one is reported is decided here: ``strict`` readers (a run) get a ConfigError naming the
setting, the others (the window, the log set-up) get the default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from ic.errors import ConfigError

__all__ = ["AppSettings", "load_app_settings"]

N = TypeVar("N", int, float)
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class AppSettings:
    """Every stored application setting (key -> text), read once; typed getters."""

    values: dict[str, str | None] = field(default_factory=dict)
    strict: bool = False

    def text(self, key: str, default: str | None = None) -> str | None:
        """The stored text; an empty or missing value is ``default``."""
        value = self.values.get(key)
        return default if value in (None, "") else value

    def number(self, key: str, default: Any, kind: Callable[[str], N] = int) -> N | Any:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            value = kind(raw.strip())
        except ValueError:
            value = None
        if value is None or value != value:  # NaN is not a number either
            if self.strict:
                raise ConfigError(f"The application setting {key} must be a number, not '{raw}'.", field=key)
            return default
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        raw = self.text(key)
        return default if raw is None else raw.strip().lower() in _TRUE

    def path(self, key: str) -> Path | None:
        raw = self.text(key)
        return Path(raw).expanduser() if raw else None


def load_app_settings(store: Any, *, strict: bool = False, quiet: bool = False) -> AppSettings:
    """Read every application setting in one query. ``quiet``: an unreadable settings database gives the defaults
    (the log set-up must work even then)."""
    if store is None:
        return AppSettings(strict=strict)
    try:
        values = dict(store.all_settings())
    except Exception:  # noqa: BLE001 - decided by ``quiet`` below
        if not quiet:
            raise
        values = {}
    return AppSettings(values, strict)
