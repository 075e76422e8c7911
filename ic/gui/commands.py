"""Thonny-style commands: each has a label, a handler and an "enabled?" predicate; menus and buttons ask it.

Widgets never enable or disable each other; they call ``refresh()`` and every bound widget asks its command.
"""
from __future__ import annotations

import tkinter
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Command:
    id: str
    label: str
    handler: Callable[[], object]
    tester: Callable[[], bool] | None = None
    accelerator: str | None = None

    def enabled(self) -> bool:
        try:
            return self.tester() if self.tester else True
        except Exception:  # noqa: BLE001 - a failing predicate just disables the command
            return False

    def run(self) -> None:
        if self.enabled():
            self.handler()


@dataclass
class CommandSet:
    commands: dict[str, Command] = field(default_factory=dict)
    _bound: list[tuple[object, str]] = field(default_factory=list)  # (widget, command id)
    _menus: list[tuple[tkinter.Menu, int, str]] = field(default_factory=list)

    def add(self, cmd: Command) -> Command:
        self.commands[cmd.id] = cmd
        return cmd

    def __getitem__(self, cmd_id: str) -> Command:
        return self.commands[cmd_id]

    def add_to_menu(self, menu: tkinter.Menu, cmd_id: str) -> None:
        cmd = self.commands[cmd_id]
        menu.add_command(label=cmd.label, command=cmd.run, accelerator=cmd.accelerator or "")
        self._menus.append((menu, menu.index("end"), cmd_id))

    def bind_widget(self, widget, cmd_id: str) -> None:
        """A button (or any widget with configure(state=...)) follows the command's predicate."""
        self._bound.append((widget, cmd_id))

    def refresh(self) -> None:
        alive = []
        for widget, cmd_id in self._bound:
            try:
                widget.configure(state="normal" if self.commands[cmd_id].enabled() else "disabled")
                alive.append((widget, cmd_id))
            except tkinter.TclError:
                continue  # widget destroyed
        self._bound = alive
        for menu, index, cmd_id in self._menus:
            try:
                menu.entryconfigure(index, state="normal" if self.commands[cmd_id].enabled() else "disabled")
            except tkinter.TclError:
                continue

    def refresh_menu(self, menu: tkinter.Menu) -> None:
        for m, index, cmd_id in self._menus:
            if m is menu:
                try:
                    m.entryconfigure(index, state="normal" if self.commands[cmd_id].enabled() else "disabled")
                except tkinter.TclError:
                    continue
