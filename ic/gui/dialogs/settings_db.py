"""Settings Database: where the program keeps its own settings (embedded SQLite, SQL Server or PostgreSQL)."""
from __future__ import annotations

import os

import customtkinter as ctk

from ic.errors import ICError
from ic.gui import services_adapter as services
from ic.gui.dialogs.base import FitOrScroll, Panel
from ic.gui.dialogs.connection_string import ConnectionFields
from ic.gui.widgets import Button, Form, tab_order, widget_scaling

KINDS = {"Embedded SQLite database (default)": "sqlite", "SQL Server": "sqlserver", "PostgreSQL": "postgresql"}


class SettingsDbPanel(Panel):
    title = "Settings Database"
    size = "720x600"
    min_size = (600, 460)
    noun = "settings database"
    intro = ("The settings database stores your sites, plugins, schedules and other configuration. Keep it "
             "separate from the storage databases that receive session data.")

    def __init__(self, master, ctx) -> None:
        super().__init__(master, ctx)
        # the buttons first, from the bottom: a short window (125 %, a server's many fields) scrolls the form instead
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(side="bottom", fill="x", padx=12, pady=(6, 0))
        scroller = FitOrScroll(self, height=200)
        scroller.pack(fill="both", expand=True)
        self.intro_label = ctk.CTkLabel(scroller.content, text=self.intro, wraplength=640, justify="left", anchor="w")
        self.intro_label.pack(fill="x", padx=14, pady=(12, 4))
        scroller.content.bind("<Configure>", self._rewrap, add=True)
        self.form = Form(scroller.content)
        self.form.pack(fill="both", expand=True, padx=6)
        self.conn = ConnectionFields(self.form, KINDS)
        self.form.fields["kind"].label.configure(text="Store Settings In")
        self.fields = self.form.fields
        self.save_button = Button(row, text="Save", command=self.save)
        self.save_button.pack(side="right")
        self.create_button = Button(row, text="Create Database", command=self.create)
        self.create_button.pack(side="right", padx=8)
        tab_order(self.create_button, self.save_button)
        self._load_current()
        if os.environ.get("IC_SETTINGS"):
            self.message.show("IC_SETTINGS is set in the environment: it overrides what you save here.")

    def _rewrap(self, event) -> None:
        """The intro wraps at the window's width (customtkinter multiplies a wrap length by the display scaling)."""
        wrap = max(300, int(event.width / widget_scaling(self)) - 40)
        if abs(wrap - int(self.intro_label.cget("wraplength"))) > 8:
            self.intro_label.configure(wraplength=wrap)

    def _load_current(self) -> None:
        url = self.ctx.store.url if self.ctx.store is not None else services.default_settings_url()
        try:
            self.conn.set_url(url)
        except ICError:
            self.message.show("The current settings database URL cannot be shown in this form.")
        self.mark_clean()

    def snapshot(self):
        return tuple((k, str(v)) for k, v in self.form.values().items() if k != "connection_string")

    def describe_changes(self) -> str:
        return "the settings database location"

    def default_action(self) -> None:
        self.save()

    def _url(self) -> str | None:
        self.clear_errors()
        try:
            return self.conn.url()
        except ICError as exc:
            self.show_exception(exc)
            return None

    def create(self) -> None:
        """Create (or open and upgrade) the database at the URL in a worker thread."""
        url = self._url()
        if url is None:
            return

        def work(_emit, _cancel):
            from ic.services.create_db import ensure_database  # VENDOR hook: CREATE DATABASE on a server

            created = ensure_database(url)
            store = services.open_settings(url)
            store.close()
            return created

        self.created_url = None

        def done(created):
            self.created_url = url
            said = created if isinstance(created, str) and created.startswith(("Database ", "The database ")) else ""
            self.message.show(f"{said} The settings database is ready. Click Save to use it.".strip(), "ok")

        self.run_in_worker(work, done, busy_text="Creating the settings database…")

    def save(self) -> bool:
        url = self._url()
        if url is None:
            return False
        # a server that does not answer holds this for up to its login timeout: say so before the window waits
        self.message.show("Connecting to the settings database (a server that does not answer takes up to 30 "
                          "seconds)…")
        self.update_idletasks()
        try:
            services.open_settings(url).close()  # fail here, not at the next start
            services.save_settings_location(url)
        except Exception as exc:  # noqa: BLE001
            self.show_exception(exc, prefix="Not saved: ")
            return False
        if not self.ctx.open_store(url):
            self.message.show(self.ctx.store_error or "The settings database cannot be opened.", "error")
            return False
        self.message.show("Settings database saved; the program will use it from now on.", "ok")
        self.mark_clean()
        return True

