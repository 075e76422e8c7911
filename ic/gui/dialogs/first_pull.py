""""First run starts from": everything the appliance still holds, today, or a date, with an estimate (one listing).

Used by the Schedule Configuration panel (and so by the wizard's Schedule step) for transfers added in this edit;
the choice is applied by ic.services.first_pull.set_start after the schedule is saved, and never to a transfer that
has already run.
"""
from __future__ import annotations

from datetime import date

import customtkinter as ctk

from ic.errors import ConfigError
from ic.gui.widgets import Button, RadioButton

CHOICES = {"all": "Everything the appliance still holds", "today": "From today", "date": "From date"}


class FirstPullChooser(ctk.CTkFrame):
    def __init__(self, master, panel) -> None:
        super().__init__(master, fg_color="transparent")
        self.panel = panel
        ctk.CTkLabel(self, text="First run of new transfers starts from", anchor="w").grid(
            row=0, column=0, columnspan=4, sticky="w")
        self.var = ctk.StringVar(value="all")
        self.radios = {}
        for i, (key, label) in enumerate(CHOICES.items()):
            radio = RadioButton(self, text=label, variable=self.var, value=key, command=self._changed)
            radio.grid(row=1, column=i, sticky="w", padx=(0, 10), pady=2)
            self.radios[key] = radio
        self.date_entry = ctk.CTkEntry(self, width=110, placeholder_text="YYYY-MM-DD")
        self.date_entry.grid(row=1, column=3, sticky="w")
        self.estimate_button = Button(self, text="Estimate", width=90, command=self.estimate)
        self.estimate_button.grid(row=1, column=4, sticky="w", padx=(10, 0))
        self.estimate_label = ctk.CTkLabel(self, text="", anchor="w", justify="left", wraplength=520,
                                           height=0)  # one text line high, not a button's height, while empty
        self.estimate_label.grid(row=2, column=0, columnspan=5, sticky="w")
        self._changed()

    def _changed(self) -> None:
        self.date_entry.configure(state="normal" if self.var.get() == "date" else "disabled")
        self.estimate_label.configure(text="")

    def set(self, key: str, day: date | None = None) -> None:
        self.var.set(key)
        self._changed()
        if day is not None:
            self.date_entry.delete(0, "end")
            self.date_entry.insert(0, day.isoformat())

    def choice(self):
        """"all", "today" or a date; ConfigError (field "start") when the date is not valid."""
        from ic.services.first_pull import parse_start

        key = self.var.get()
        if key != "date":
            return key
        text = self.date_entry.get().strip()
        if not text:
            raise ConfigError("Enter the date the first run starts from (YYYY-MM-DD).", field="start")
        return parse_start(text)

    def estimate(self) -> None:
        """One listing per site of the transfers being added, in a worker thread."""
        from ic.services.first_pull import estimate

        try:
            start = self.choice()
        except ConfigError as exc:
            self.estimate_label.configure(text=str(exc))
            return
        sites = list(dict.fromkeys(r.site for r in self.panel.rows if getattr(r, "is_new", False)))
        if not sites:
            self.estimate_label.configure(text="Add a transfer first; the estimate lists its site's sessions.")
            return
        store = self.panel.store()

        def work(_emit, _cancel):
            lines = []
            for site in sites:
                try:
                    lines.append(f"{site}: {estimate(store, site, start).sentence()}.")
                except Exception as exc:  # noqa: BLE001 - ICError sentences; anything else named briefly
                    lines.append(f"{site}: no estimate: {exc}")
            return "\n".join(lines)

        def done(text):
            self._idle()
            self.estimate_label.configure(text=text)
            self.panel.message.clear()

        def failed(exc):
            self._idle()
            self.panel.show_exception(exc)

        # one listing at a time: the button is greyed (and does nothing) until this one answers
        self.estimate_button.configure(state="disabled")
        self.panel.run_in_worker(work, done, busy_text="Listing sessions for the estimate…", on_error=failed)

    def _idle(self) -> None:
        try:
            self.estimate_button.configure(state="normal")
        except Exception:  # noqa: BLE001 - the window closed meanwhile
            pass

    def apply(self, store, transfers) -> list[str]:
        """After a save: pin where each new transfer starts (host clock; see ic.services.first_pull)."""
        from ic.services.first_pull import set_start

        start = self.choice()
        return [set_start(store, tr, start).sentence(f"{tr.site} -> {tr.destination}") for tr in transfers]
