"""Schedule Configuration: name, transfers (site -> destination with data types), Run Every, time of day."""
from __future__ import annotations

import customtkinter as ctk

from ic.errors import ConfigError
from ic.gui import services_adapter as services
from ic.gui.dialogs.base import FitOrScroll, ListEditorPanel
from ic.gui.widgets import (ERROR_COLOR, HELP_COLOR, Button, CheckBox, Form, OptionMenu, ScrollFrame, format_when,
                            shrink_scrollbar, tab_order, widget_scaling)
from ic.settings import ScheduleConfig, TransferConfig
from ic.settings.models import DATA_TYPE_LABELS, DATA_TYPES, FILE_ONLY_DATA_TYPES, DataType
from ic.settings.validation import format_period

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


class TransferRow(ctk.CTkFrame):
    """One transfer of a schedule: site -> destination and the data types to copy."""

    def __init__(self, master, panel: "SchedulePanel", site: str, destination: str, accepts_files: bool,
                 data_types: list[str] | None = None) -> None:
        super().__init__(master)
        self.panel, self.site, self.destination, self.accepts_files = panel, site, destination, accepts_files
        head = ctk.CTkFrame(self, fg_color="transparent")
        head.pack(fill="x", padx=6, pady=(4, 0))
        self.remove_button = Button(head, text="Remove", width=70, secondary=True,
                                           command=lambda: panel.remove_transfer(self))
        self.remove_button.pack(side="right")  # packed first: long names wrap, they never push Remove out of sight
        self.title_label = ctk.CTkLabel(head, text=f"{site}  →  {destination}", font=ctk.CTkFont(weight="bold"),
                                        anchor="w", justify="left", wraplength=440)
        self.title_label.pack(side="left")
        self.boxes = boxes = ctk.CTkFrame(self, fg_color="transparent")
        boxes.pack(fill="x", padx=6, pady=(2, 6))
        self.checks: dict[str, ctk.CTkCheckBox] = {}
        wanted = set(data_types or [DataType.SESSION])
        for dt in DATA_TYPES:
            box = CheckBox(boxes, text=DATA_TYPE_LABELS[dt])
            if dt in FILE_ONLY_DATA_TYPES and not accepts_files:
                box.configure(state="disabled")
            elif dt in wanted:
                box.select()
            self.checks[dt] = box
        self.columns = 0
        self._lay_out(3)
        boxes.bind("<Configure>", lambda e: self._reflow(e.width), add=True)

    def _lay_out(self, columns: int) -> None:
        self.columns = columns
        for i, box in enumerate(self.checks.values()):
            box.grid(row=i // columns, column=i % columns, sticky="w", padx=4, pady=1)

    def _reflow(self, width: int) -> None:
        """As many columns of check boxes as the row's width holds (3, 2 or 1): at 125 % display scaling
        "Show My Screen recordings" was cut at the right edge."""
        boxes = list(self.checks.values())
        pad = 2 * round(4 * widget_scaling(self))
        for columns in (3, 2, 1):
            need = sum(max(b.winfo_reqwidth() for b in boxes[c::columns]) + pad for c in range(columns))
            if need <= width or columns == 1:
                break
        if columns != self.columns:
            for box in boxes:
                box.grid_forget()
            self._lay_out(columns)

    def data_types(self) -> list[str]:
        return [dt for dt, box in self.checks.items() if box.get()]

    def config(self) -> TransferConfig:
        return TransferConfig(self.site, self.destination, self.data_types())


class SchedulePanel(ListEditorPanel):
    title = "Schedule Configuration"
    noun = "schedule"
    changed_key = "schedules"
    size = "960x650"
    min_size = (940, 600)

    def __init__(self, master, ctx, select: str | None = None) -> None:
        super().__init__(master, ctx)
        self.current: ScheduleConfig | None = None
        self.rows: list[TransferRow] = []
        body = self._build_body()
        self._build_list(body, 340, [("name", "Schedule Name", 110), ("transfers", "Transfers", 40),
                                     ("period", "Period", 70), ("last_run", "Last Run", 120)], 360, "New Schedule")

        # the form scrolls when the window is too short for it (125 % on a 768-pixel screen, the wizard's intro
        # above it); the transfers take the room there is; Save stays in view below
        scroller = FitOrScroll(body, height=200)
        scroller.grid(row=0, column=1, sticky="nsew")
        right = scroller.content
        self.form = Form(right)
        self.form.pack(fill="x")
        f = self.form
        f.add("name", "Schedule Name", required=True)
        f.add("site", "Choose Site", "choice", width=220)
        f.add("destination", "Destination", "choice", width=220)
        self.add_button = Button(f.fields["destination"].container, text="Add", width=70, command=self.add_transfer)
        f.fields["destination"].add_extra(self.add_button, padx=(8, 0))
        ctk.CTkLabel(right, text="Transfers", font=ctk.CTkFont(weight="bold"), anchor="w").pack(fill="x", padx=10)
        # from the bottom up: what must stay visible is packed before the list of transfers, which shrinks
        from ic.gui.dialogs.first_pull import FirstPullChooser  # VENDOR hook: where new transfers start

        self.first_pull = FirstPullChooser(right, self)
        self.first_pull.pack(side="bottom", fill="x", padx=10, pady=(4, 0))
        _stack_first_pull(self.first_pull)
        every = Form(right)
        every.pack(side="bottom", fill="x")
        row = ctk.CTkFrame(every, fg_color="transparent")
        self.every_entry = ctk.CTkEntry(row, width=70)
        self.every_entry.pack(side="left")
        self.unit_var = ctk.StringVar(value="hours")
        self.unit_menu = OptionMenu(row, values=list(UNITS), variable=self.unit_var, width=110,
                                     command=lambda _v: self._unit_changed(), dynamic_resizing=True)
        self.unit_menu.pack(side="left", padx=6)
        ctk.CTkLabel(row, text="at").pack(side="left", padx=(10, 4))
        self.at_entry = ctk.CTkEntry(row, width=70, placeholder_text="HH:MM")
        self.at_entry.pack(side="left")
        every.add_widget(row, label="Run Every")
        self.every_error = ctk.CTkLabel(every, text="", text_color=ERROR_COLOR, anchor="w", height=0,
                                        font=ctk.CTkFont(size=12))
        self.every_error.grid(row=every._row, column=1, sticky="w", padx=(2, 10))
        self.transfers_error = ctk.CTkLabel(right, text="", text_color=ERROR_COLOR, anchor="w", height=0,
                                            font=ctk.CTkFont(size=12))
        self.transfers_error.pack(side="bottom", fill="x", padx=10)
        self.transfers_frame = ScrollFrame(right, height=90)
        shrink_scrollbar(self.transfers_frame, 90)
        self.no_transfers = ctk.CTkLabel(self.transfers_frame, text="No transfers yet: choose a site and a destination "
                                         "above, then click Add.", text_color=HELP_COLOR, anchor="w", justify="left")
        self.transfers_frame._parent_canvas.bind("<Configure>", lambda e: self._rewrap(e.width), add=True)
        self.transfers_frame.pack(fill="both", expand=True, padx=10, pady=(2, 2))
        self.fields = dict(self.form.fields)
        self.watch_form(self.form)
        # Tab goes top to bottom: the transfers, Run Every, then where new transfers start
        tab_order(self.transfers_frame._parent_frame, every, self.first_pull)

        self._build_buttons(body)
        self.fields["site"].on_change(self._update_buttons)
        self.fields["destination"].on_change(self._update_buttons)
        self.reload(select)

    # --- list -------------------------------------------------------------------------------
    def reload(self, select: str | None = None) -> None:
        store = self.store()
        self._refresh_choices(store)
        rows = [(s.name, len(s.transfers), format_period(s.every_seconds), format_when(s.last_run))
                for s in store.list_schedules()]
        self.list.set_rows(rows, keep_selection=False)
        self._open_or_new(select)
        if not self.sites or not self.destinations:
            self.message.show("Add a site (Site Configuration) and a destination (Plugin Configuration) first.")

    def on_changed(self, what: str) -> None:
        """A site or destination saved elsewhere appears in the dropdowns without losing the schedule being edited."""
        if what == "store":  # another settings database was chosen
            self.current = None
            self.reload()
        elif what in ("sites", "destinations"):
            self._refresh_choices(self.store())
            self._update_buttons()

    def _refresh_choices(self, store) -> None:
        """The Choose Site and Destination dropdowns follow the saved sites and destinations."""
        self.sites = [s.name for s in store.list_sites()]
        self.destinations = {d.name: d.type for d in store.list_destinations()}
        self.fields["site"].set_choices(self.sites or ["(no sites yet)"])
        self.fields["destination"].set_choices(list(self.destinations) or ["(no destinations yet)"])

    def reopen(self, select: str | None = None) -> None:
        if select:
            self.reload(select)

    def _remove(self, name: str) -> None:
        services.remove_schedule(self.store(), name)

    def _load(self, name: str) -> None:
        sched = self.store().get_schedule(name)
        self.current = sched
        self._clear()
        self.fields["name"].set(sched.name)
        for tr in sched.transfers:
            self._add_row(tr.site, tr.destination, tr.data_types)
        number, unit = _split_period(sched.every_seconds)
        self.every_entry.insert(0, str(number))
        self.unit_var.set(unit)
        self._unit_changed()
        if sched.at_time:
            self.at_entry.insert(0, sched.at_time)
        self.message.clear()
        self._update_buttons()
        self.mark_clean()

    def snapshot(self):
        return (self.fields["name"].get().strip(), tuple((r.site, r.destination, tuple(r.data_types()))
                                                          for r in self.rows),
                self.every_entry.get().strip(), self.unit_var.get(), self.at_entry.get().strip())

    def _clear(self) -> None:
        self.clear_errors()
        self.every_error.configure(text="")
        self.transfers_error.configure(text="")
        for row in self.rows:
            row.destroy()
        self.rows = []
        self.fields["name"].set("")
        self.every_entry.delete(0, "end")
        self.at_entry.configure(state="normal")
        self.at_entry.delete(0, "end")

    def new(self) -> None:
        self.current = None
        self.list.select(None)
        self._clear()
        self.every_entry.insert(0, "1")
        self.unit_var.set("hours")
        self._unit_changed()
        self._update_buttons()
        self.mark_clean()

    def _unit_changed(self) -> None:
        days = self.unit_var.get() == "days"
        if not days:
            self.at_entry.delete(0, "end")
        self.at_entry.configure(state="normal" if days else "disabled")

    # --- transfers ------------------------------------------------------------------------------
    def _can_add(self) -> bool:
        return self.fields["site"].get() in self.sites and self.fields["destination"].get() in self.destinations

    def add_transfer(self) -> None:
        if not self._can_add():
            self.transfers_error.configure(text="Choose a site and a destination first.")
            return
        self._add_row(self.fields["site"].get(), self.fields["destination"].get(), None).is_new = True
        self.transfers_error.configure(text="")
        self._update_buttons()

    def _add_row(self, site: str, destination: str, data_types: list[str] | None) -> TransferRow:
        row = TransferRow(self.transfers_frame, self, site, destination, self._accepts_files(destination), data_types)
        row.pack(fill="x", pady=3)
        self.rows.append(row)
        self._rewrap(self.transfers_frame._parent_canvas.winfo_width())
        return row

    def _rewrap(self, width: int) -> None:
        """The hint and the transfers' titles wrap at the width of the transfers area (a narrow window, the wizard
        at its smallest, cut the hint at the right edge)."""
        if width < 100:
            return  # not laid out yet
        wrap = max(150, int(width / widget_scaling(self)) - 30)  # customtkinter multiplies a wrap length by it
        self.no_transfers.configure(wraplength=wrap)
        for row in self.rows:
            row.title_label.configure(wraplength=max(120, wrap - 100))  # less the Remove button

    def _accepts_files(self, destination: str) -> bool:
        type_name = self.destinations.get(destination)
        cls = services.destination_types().get(type_name or "")
        return bool(getattr(cls, "accepts_files", False)) if cls is not None else True

    def remove_transfer(self, row: TransferRow) -> None:
        self.rows.remove(row)
        row.destroy()
        self._update_buttons()

    # --- save -----------------------------------------------------------------------------------
    def _every_seconds(self) -> int:
        text = self.every_entry.get().strip()
        if not text.isdigit() or int(text) < 1:
            raise ConfigError("Run Every must be a whole number (1 or more).", field="every")
        return int(text) * UNITS[self.unit_var.get()]

    def default_action(self) -> None:
        self.save()

    def save(self) -> bool:
        self._clear_messages()
        try:
            sched = ScheduleConfig(
                name=self.fields["name"].get().strip(),
                every_seconds=self._every_seconds(),
                transfers=[r.config() for r in self.rows],
                at_time=self.at_entry.get().strip() or None,
                id=self.current.id if self.current else None,
                enabled=self.current.enabled if self.current else True,
            )
            if not sched.transfers:
                raise ConfigError("Add at least one transfer (choose a site and a destination, then click Add).",
                                  field="transfers")
            new = [r.config() for r in self.rows if getattr(r, "is_new", False)]
            if new:
                self.first_pull.choice()  # a bad date stops the save before anything is written
            saved = services.save_schedule(self.store(), sched)
            started = self.first_pull.apply(self.store(), new) if new else []
        except Exception as exc:  # noqa: BLE001
            self._show_save_error(exc)
            return False
        self._saved(saved.name)
        self.first_pull.estimate_label.configure(text="\n".join(started))
        return True

    def _clear_messages(self) -> None:
        self.clear_errors()
        self.every_error.configure(text="")
        self.transfers_error.configure(text="")

    def _show_save_error(self, exc: BaseException) -> None:
        field = getattr(exc, "field", None)
        if field in ("every", "at_time"):
            self.every_error.configure(text=str(exc))
            self.message.show(f"Not saved: {exc}", "error")
        elif field in ("transfers", "data") or (isinstance(exc, ConfigError) and not field
                                                and "transfer" in str(exc).lower()):
            self.transfers_error.configure(text=str(exc))
            self.message.show(f"Not saved: {exc}", "error")
        else:
            self.show_exception(exc, prefix="Not saved: ")

    def _update_buttons(self) -> None:
        self.delete_button.configure(state="normal" if self.current is not None else "disabled")
        self.add_button.configure(state="normal" if self._can_add() else "disabled")
        if self.rows:
            self.no_transfers.pack_forget()
        elif not self.no_transfers.winfo_ismapped():
            self.no_transfers.pack(fill="x", padx=8, pady=8)


def _stack_first_pull(chooser) -> None:
    """Lay the first-pull chooser out in rows (the choices; then the date and Estimate) so it fits beside the
    schedule list on a 1024-pixel screen."""
    entry, button, label = (getattr(chooser, n, None) for n in ("date_entry", "estimate_button", "estimate_label"))
    radios = getattr(chooser, "radios", {})
    if entry is None or button is None or "date" not in radios:
        return
    # customtkinter's grid() scales the padding by the display scaling (grid_configure would not: at 125 % the
    # button covered the end of the date box)
    entry.grid(row=2, column=0, columnspan=1, sticky="w", padx=(28, 0))
    button.grid(row=2, column=0, columnspan=1, sticky="w", padx=(28 + int(entry.cget("width")) + 8, 0))
    if label is not None:
        label.grid(row=3, column=0, columnspan=5, sticky="w")
        label.configure(wraplength=480)


def _split_period(seconds: int) -> tuple[int, str]:
    for unit in ("days", "hours", "minutes"):
        if seconds % UNITS[unit] == 0:
            return seconds // UNITS[unit], unit
    return max(1, seconds // 60), "minutes"
