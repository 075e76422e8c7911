"""First-run wizard in the guide's order: settings database, sites, plugins, schedule. Every step can be skipped
and each one stays reachable later from the Setup menu.

Nothing typed is lost: Next, Back and Finish save a filled-in form (or say why not and ask), Skip and closing ask
before dropping changes, and Back shows what was saved on that step. The last step offers to install the
scheduler, without which no schedule runs by itself.
"""
from __future__ import annotations

import gc
import tkinter
from typing import Callable

import customtkinter as ctk

from ic.gui.context import AppContext
from ic.gui.dialogs.base import Panel, RaisedWhenShown, ask_save_then_close, own_window
from ic.gui.dialogs.plugin import PluginPanel
from ic.gui.dialogs.schedule import SchedulePanel
from ic.gui.dialogs.settings_db import SettingsDbPanel
from ic.gui.dialogs.site import SitePanel
from ic.gui.widgets import Button, MessageBox, tab_order, widget_scaling

STEPS: list[tuple[str, type[Panel], str]] = [
    ("Settings database", SettingsDbPanel,
     "First, choose where the program keeps its settings. The embedded database needs no server; choose SQL Server "
     "or PostgreSQL to share settings between machines. Next creates it."),
    ("Sites", SitePanel,
     "Enter the BeyondTrust site to copy data from: its host name (without https://) and the Client ID and Client "
     "Secret of an API account allowed to view reports and recordings (and make backups). Click Test to check "
     "them; Next saves the site."),
    ("Plugins", PluginPanel,
     "Add where the data goes: a File System folder (session XML, recordings, backups) or a SQL database "
     "(session data only). Choose the type, click Add and fill in the fields; Next saves it."),
    ("Schedule", SchedulePanel,
     "Set a schedule: name it, choose a site and a destination, click Add, pick the data types and how often it "
     "runs. Finish saves it."),
]


class WizardDialog(RaisedWhenShown):
    WIDTH, HEIGHT = 980, 660

    def __init__(self, ctx: AppContext, start_at_database: bool = True,
                 on_finish: Callable[[], None] | None = None) -> None:
        super().__init__(ctx.root)
        self.ctx = ctx
        self.on_finish = on_finish
        own_window(self, ctx.root, "Integration Client Setup", size=(self.WIDTH, self.HEIGHT), min_size=(760, 520))
        self.header = ctk.CTkLabel(self, text="", font=ctk.CTkFont(size=17, weight="bold"), anchor="w")
        self.header.pack(fill="x", padx=16, pady=(10, 0))
        self.intro = ctk.CTkLabel(self, text="", wraplength=600, justify="left", anchor="w")
        self.intro.pack(fill="x", padx=16, pady=(2, 2))
        self.bind("<Configure>", self._rewrap, add=True)
        nav = ctk.CTkFrame(self, fg_color="transparent")
        nav.pack(side="bottom", fill="x", padx=16, pady=(2, 10))
        self.host = ctk.CTkFrame(self, fg_color="transparent")
        self.host.pack(fill="both", expand=True)
        self.back_button = Button(nav, text="Back", width=90, secondary=True, command=self.back)
        self.back_button.pack(side="left")
        self.next_button = Button(nav, text="Next", width=90, command=self.next)
        self.next_button.pack(side="right")
        self.skip_button = Button(nav, text="Skip", width=90, secondary=True, command=self.skip)
        self.skip_button.pack(side="right", padx=8)
        tab_order(self.host, nav)  # Tab: the step's fields, then Back, Skip, Next
        tab_order(self.back_button, self.skip_button, self.next_button)
        self.panel: Panel | None = None
        self.prompt: MessageBox | None = None
        self.saved: dict[int, str] = {}  # step -> the item saved there (Back shows it again)
        self.step = -1
        self.bind("<Return>", self._on_return)
        self.bind("<Escape>", lambda _e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.show_step(0 if start_at_database else 1)
        self.raise_when_shown()

    def _rewrap(self, event) -> None:
        """The intro wraps at the window's width (the window's, not the label's own: no resize loop)."""
        if event.widget is self:
            # in customtkinter's units: it multiplies a wrap length by the display scaling, the width is real pixels
            wrap = max(300, int(event.width / widget_scaling(self.intro)) - 60)
            if abs(wrap - int(self.intro.cget("wraplength"))) > 8:
                self.intro.configure(wraplength=wrap)

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
        kwargs = {"select": self.saved[index]} if index in self.saved else {}
        self.panel = panel_class(self.host, self.ctx, **kwargs)
        self.panel.pack(fill="both", expand=True)
        if index == 0:  # Next creates and saves: no separate buttons that say the same
            self.panel.save_button.master.pack_forget()  # the row, not its buttons: an empty frame asks 200x200
        elif panel_class is SchedulePanel:  # Finish saves; the room goes to the transfers
            self.panel.save_button.master.pack_forget()
        self.panel.mark_clean()
        last = index == len(STEPS) - 1
        self.next_button.configure(text="Finish" if last else "Next")
        self.back_button.configure(state="normal" if index > 0 else "disabled")
        self.skip_button.configure(state="disabled" if last else "normal")

    # --- leaving a step -------------------------------------------------------------------------
    def _leave(self, then: Callable[[], None]) -> None:
        """Save what the step holds (or ask when it cannot be saved), then go on."""
        panel = self.panel
        if panel is None:
            then()
            return
        if self.step == 0:
            if panel.save():
                then()
            return
        if not panel.has_changes():
            then()
            return
        if panel.save():
            self._remember()
            then()
            return
        reason = panel.message.text.removeprefix("Not saved: ") or "some fields need fixing."
        self.prompt = MessageBox(
            self, "Not saved", f"{panel.describe_changes().capitalize()} is not saved: {reason}\n\nStay on this step "
            "to fix it, or go on without saving it?", kind="warning", buttons=("Stay", "Go On Without Saving"),
            default="Stay", cancel="Stay", on_choice=lambda c: then() if c != "Stay" else None)

    def _remember(self) -> None:
        current = getattr(self.panel, "current", None)
        if current is not None and getattr(current, "name", None):
            self.saved[self.step] = current.name

    def next(self) -> None:
        self._leave(self._advance)

    def back(self) -> None:
        if self.step > 0:
            self._leave(lambda: self.show_step(self.step - 1))

    def skip(self) -> None:
        if self.panel is not None and self.step > 0 and self.panel.has_changes():
            self.prompt = MessageBox(
                self, "Skip this step?", f"{self.panel.describe_changes().capitalize()} is not saved. Skip this "
                "step and drop what you typed?", kind="warning", buttons=("Stay", "Skip"), default="Stay",
                cancel="Stay", danger="Skip", on_choice=lambda c: self._advance() if c == "Skip" else None)
            return
        self._advance()

    def _advance(self) -> None:
        if self.step + 1 >= len(STEPS):
            self.close(force=True)
            if self.on_finish is not None:
                self.on_finish()
        else:
            self.show_step(self.step + 1)

    def _on_return(self, event) -> str | None:
        if isinstance(event.widget, tkinter.Text) or self.panel is None:
            return None
        self.panel.default_action()
        return "break"

    def close(self, force: bool = False) -> None:
        """Escape / the window's close box: with unsaved changes, ask Save / Discard / Cancel first."""
        if not force and self.panel is not None and self.step > 0 and self.panel.has_changes():
            self.prompt = ask_save_then_close(self, self.panel, f"Save the changes to "
                                              f"{self.panel.describe_changes()} before closing the setup?")
            return
        self.cancel_raise()
        if self.panel is not None:
            self.panel.on_close()
        if self.ctx.store is None:
            self.ctx.changed("store")
        self.destroy()
