"""First-run wizard in the guide's order: settings database, sites, plugins, schedule. Every step can be skipped
and each one stays reachable later from the Setup menu."""
from __future__ import annotations

import gc
import tkinter

import customtkinter as ctk

from ic.gui.context import AppContext
from ic.gui.dialogs.base import Panel
from ic.gui.dialogs.plugin import PluginPanel
from ic.gui.dialogs.schedule import SchedulePanel
from ic.gui.dialogs.settings_db import SettingsDbPanel
from ic.gui.dialogs.site import SitePanel
from ic.gui.widgets import apply_icon

STEPS: list[tuple[str, type[Panel], str]] = [
    ("Settings database", SettingsDbPanel,
     "First, create the settings database. The embedded database needs no server; choose SQL Server or "
     "PostgreSQL to share settings between machines. Click Save, then Next."),
    ("Sites", SitePanel,
     "Enter one or more BeyondTrust sites to copy data from: the host name (without https://) and the Client ID "
     "and Client Secret of an API account allowed to view reports and recordings (and make backups). "
     "Test, Save, then Next."),
    ("Plugins", PluginPanel,
     "Add where the data goes: a File System folder (session XML, recordings, backups) or a SQL database "
     "(session data only). Choose the type, click Add, fill in the fields and Save."),
    ("Schedule", SchedulePanel,
     "Set a schedule: name it, choose a site and a destination, click Add, pick the data types, choose how often "
     "it runs and where the first run starts (Estimate counts what that is), then Save."),
]


class WizardDialog(ctk.CTkToplevel):
    def __init__(self, ctx: AppContext, start_at_database: bool = True) -> None:
        super().__init__(ctx.root)
        apply_icon(self)
        self.ctx = ctx
        self.title("Integration Client Setup")
        self.geometry("1060x780")
        try:
            self.transient(ctx.root)
        except tkinter.TclError:
            pass
        self.header = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=17, weight="bold"), anchor="w")
        self.header.pack(fill="x", padx=16, pady=(12, 0))
        self.intro = ctk.CTkLabel(self, text="", wraplength=980, justify="left", anchor="w")
        self.intro.pack(fill="x", padx=16, pady=(4, 4))
        self.host = ctk.CTkFrame(self, fg_color="transparent")
        self.host.pack(fill="both", expand=True)
        nav = ctk.CTkFrame(self, fg_color="transparent")
        nav.pack(fill="x", padx=16, pady=(4, 12))
        self.back_button = ctk.CTkButton(nav, text="Back", width=90, fg_color="gray40", command=self.back)
        self.back_button.pack(side="left")
        self.next_button = ctk.CTkButton(nav, text="Next", width=90, command=self.next)
        self.next_button.pack(side="right")
        self.skip_button = ctk.CTkButton(nav, text="Skip", width=90, fg_color="gray40", command=self.skip)
        self.skip_button.pack(side="right", padx=8)
        self.panel: Panel | None = None
        self.step = -1
        self.bind("<Return>", self._on_return)
        self.bind("<Escape>", lambda _e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.show_step(0 if start_at_database else 1)
        self._lift_id = self.after(60, self._lift)

    def _lift(self) -> None:
        self._lift_id = None
        self.lift()

    @property
    def step_name(self) -> str:
        return STEPS[self.step][0]

    @property
    def fields(self):
        return self.panel.fields if self.panel else {}

    def show_step(self, index: int) -> None:
        if index >= 1 and self.ctx.store is None:
            self.ctx.open_store()  # skipping the database step means: the embedded default
        if self.panel is not None:
            self.panel.on_close()
            self.panel.destroy()
            gc.collect()  # in the Tk thread (see PanelDialog.close)
        self.step = index
        name, panel_class, intro = STEPS[index]
        self.header.configure(text=f"Step {index + 1} of {len(STEPS)}: {name}")
        self.intro.configure(text=intro)
        self.panel = panel_class(self.host, self.ctx)
        self.panel.pack(fill="both", expand=True)
        last = index == len(STEPS) - 1
        self.next_button.configure(text="Finish" if last else "Next")
        self.back_button.configure(state="normal" if index > 0 else "disabled")
        self.skip_button.configure(state="disabled" if last else "normal")

    def next(self) -> None:
        if self.step == 0 and self.panel is not None and not self.panel.save():
            return  # stay: the message says what to fix
        self._advance()

    def skip(self) -> None:
        self._advance()

    def back(self) -> None:
        if self.step > 0:
            self.show_step(self.step - 1)

    def _advance(self) -> None:
        if self.step + 1 >= len(STEPS):
            self.close()
        else:
            self.show_step(self.step + 1)

    def _on_return(self, event) -> str | None:
        if isinstance(event.widget, tkinter.Text) or self.panel is None:
            return None
        self.panel.default_action()
        return "break"

    def close(self) -> None:
        if self._lift_id is not None:
            self.after_cancel(self._lift_id)
            self._lift_id = None
        if self.panel is not None:
            self.panel.on_close()
        if self.ctx.store is None:
            self.ctx.changed("store")
        self.destroy()
