"""What every panel shares: the root window, the settings store, the commands and a change signal."""
from __future__ import annotations

import logging
from typing import Callable

from ic.errors import ICError
from ic.gui import services_adapter as services
from ic.gui.commands import CommandSet

log = logging.getLogger("ic.gui")


class AppContext:
    def __init__(self, root) -> None:
        self.root = root
        self.store = None
        self.store_error: str | None = None
        self.commands = CommandSet()
        self.dialogs: dict[type, object] = {}
        self._listeners: list[Callable[[str], None]] = []

    # --- settings store ---------------------------------------------------------------------
    def open_store(self, url: str | None = None, must_exist: bool = False) -> bool:
        """(Re)open the settings database; on failure keep a one-sentence reason in ``store_error``.
        ``must_exist`` (the window starting): a named SQLite file that does not exist is not created."""
        old = self.store
        try:
            self.store = (services.open_existing_settings if must_exist else services.open_settings)(url)
            self.store_error = None
        except ICError as exc:
            self.store, self.store_error = None, str(exc)
            log.warning("settings database not opened: %s", exc)
        if old is not None and old is not self.store:
            old.close()
        self.changed("store")
        return self.store is not None

    def require_store(self):
        if self.store is None:
            raise ICError(self.store_error or "No settings database yet: choose one under Setup > Settings Database.")
        return self.store

    # --- change signal ------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[str], None]) -> None:
        self._listeners.append(callback)

    def unsubscribe(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def changed(self, what: str) -> None:
        """Something was saved (``sites``, ``destinations``, ``schedules``, ``settings``, ``store``)."""
        for callback in list(self._listeners):
            callback(what)
        self.commands.refresh()

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
