"""Verify: is every session the appliance holds in the archive? For a schedule (each of its transfers) or for one
site and destination; Repair fetches what is missing (one-off exports, the schedules are not disturbed); Save CSV.

Opened from the main window (Verify, for the selected schedule) and from Plugin Configuration (Verify, for the
selected destination): ``app.open(VerifyPanel, schedule="Nightly")`` / ``app.open(VerifyPanel, destination="Files")``.
The check runs in a worker thread; Cancel stops it between steps.
"""
from __future__ import annotations

import logging
from tkinter import filedialog

import customtkinter as ctk

from ic.gui.dialogs.base import Panel, user_message
from ic.gui.widgets import Button, CheckBox, ListView, OptionMenu
from ic.gui.worker import Worker

log = logging.getLogger("ic.gui.verify")

PLAN_CHOICES = {"Never": 0, "Every day": 86400, "Every week": 7 * 86400, "Every 30 days": 30 * 86400}
BY_SCHEDULE = "A schedule's transfers"
BY_PAIR = "A site and a destination"
ORDER = {"missing": 0, "partial": 1, "quarantined": 2, "pending": 3, "unavailable": 4, "extra": 5, "present": 6}


class VerifyPanel(Panel):
    title = "Verify the Archive"
    size = "980x640"
    min_size = (760, 520)

    def __init__(self, master, ctx, schedule: str | None = None, destination: str | None = None,
                 site: str | None = None) -> None:
        super().__init__(master, ctx)
        self.worker: Worker | None = None
        self.reports: list = []
        self.error: str | None = None
        top = ctk.CTkFrame(self, fg_color="transparent")
        top.pack(fill="x", padx=10, pady=(10, 4))
        self.mode = ctk.StringVar(value=BY_SCHEDULE)
        self.mode_menu = ctk.CTkSegmentedButton(top, values=[BY_SCHEDULE, BY_PAIR], variable=self.mode,
                                                command=lambda _v: self._update_buttons())
        self.mode_menu.grid(row=0, column=0, columnspan=4, sticky="w", pady=(0, 6))
        ctk.CTkLabel(top, text="Schedule").grid(row=1, column=0, sticky="w", padx=(0, 6))
        self.schedule_var = ctk.StringVar(value="")
        self.schedule_menu = OptionMenu(top, variable=self.schedule_var, values=[""], width=220)
        self.schedule_menu.grid(row=1, column=1, sticky="w")
        ctk.CTkLabel(top, text="Site").grid(row=2, column=0, sticky="w", padx=(0, 6), pady=(4, 0))
        self.site_var = ctk.StringVar(value="")
        self.site_menu = OptionMenu(top, variable=self.site_var, values=[""], width=220)
        self.site_menu.grid(row=2, column=1, sticky="w", pady=(4, 0))
        ctk.CTkLabel(top, text="Destination").grid(row=2, column=2, sticky="w", padx=(16, 6), pady=(4, 0))
        self.destination_var = ctk.StringVar(value="")
        self.destination_menu = OptionMenu(top, variable=self.destination_var, values=[""], width=220)
        self.destination_menu.grid(row=2, column=3, sticky="w", pady=(4, 0))
        ctk.CTkLabel(top, text="Only sessions started from / before (YYYY-MM-DD, optional)").grid(
            row=3, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.start_entry = ctk.CTkEntry(top, width=120, placeholder_text="everything")
        self.start_entry.grid(row=3, column=2, sticky="w", padx=(16, 6), pady=(6, 0))
        self.end_entry = ctk.CTkEntry(top, width=120, placeholder_text="until now")
        self.end_entry.grid(row=3, column=3, sticky="w", pady=(6, 0))
        # verify the schedule by itself (from the scheduler) and mail the summary
        ctk.CTkLabel(top, text="Verify this schedule automatically").grid(row=4, column=0, columnspan=2, sticky="w",
                                                                          pady=(6, 0))
        self.plan_var = ctk.StringVar(value="Never")
        self.plan_menu = OptionMenu(top, variable=self.plan_var, values=list(PLAN_CHOICES), width=120)
        self.plan_menu.grid(row=4, column=2, sticky="w", padx=(16, 6), pady=(6, 0))
        plan_row = ctk.CTkFrame(top, fg_color="transparent")
        plan_row.grid(row=4, column=3, sticky="w", pady=(6, 0))
        self.plan_repair = CheckBox(plan_row, text="and repair")
        self.plan_repair.pack(side="left")
        self.plan_button = Button(plan_row, text="Save", width=70, command=self.save_plan)
        self.plan_button.pack(side="left", padx=(8, 0))
        self.plan_last = ctk.CTkLabel(top, text="", anchor="w", justify="left", wraplength=900)
        self.plan_last.grid(row=5, column=0, columnspan=4, sticky="w")
        self.schedule_var.trace_add("write", lambda *_a: self._show_plan())

        bar = ctk.CTkFrame(self, fg_color="transparent")
        bar.pack(fill="x", padx=10, pady=4)
        self.verify_button = Button(bar, text="Verify", width=110, command=lambda: self.start(False))
        self.verify_button.pack(side="left")
        self.repair_button = Button(bar, text="Verify and Repair", width=150,
                                    command=lambda: self.start(True))
        self.repair_button.pack(side="left", padx=8)
        self.cancel_button = Button(bar, text="Cancel", width=90, command=self.cancel, state="disabled",
                                    secondary=True)
        self.cancel_button.pack(side="left")
        self.csv_button = Button(bar, text="Save CSV…", width=110, command=self.save_csv, state="disabled")
        self.csv_button.pack(side="right")

        self.summary = ctk.CTkTextbox(self, height=80, wrap="word")
        self.summary.pack(fill="x", padx=10, pady=(4, 4))
        self.summary.configure(state="disabled")
        self.results = ListView(self, [("key", "Session ID (LSID)", 300), ("status", "Status", 100),
                                       ("where", "Site -> Destination", 200), ("appliance", "Appliance", 90),
                                       ("lacking", "Lacking", 220), ("note", "Note", 240)], height=4)
        self.results.pack(fill="both", expand=True, padx=10, pady=(0, 4))
        self.reload(schedule=schedule, destination=destination, site=site)

    # --- choices -------------------------------------------------------------------------------
    def reload(self, schedule: str | None = None, destination: str | None = None, site: str | None = None) -> None:
        store = self.ctx.store
        schedules = [s.name for s in store.list_schedules()] if store is not None else []
        sites = [s.name for s in store.list_sites()] if store is not None else []
        dests = [d.name for d in store.list_destinations()] if store is not None else []
        self.schedule_menu.configure(values=schedules or [""])
        self.site_menu.configure(values=sites or [""])
        self.destination_menu.configure(values=dests or [""])
        if schedule in schedules:
            self.schedule_var.set(schedule)
            self.mode.set(BY_SCHEDULE)
        elif self.schedule_var.get() not in schedules:
            self.schedule_var.set(schedules[0] if schedules else "")
        if destination in dests:
            self.destination_var.set(destination)
            self.mode.set(BY_PAIR)
            if site is None and store is not None:
                site = self._site_for(store, destination) or site
        elif self.destination_var.get() not in dests:
            self.destination_var.set(dests[0] if dests else "")
        if site in sites:
            self.site_var.set(site)
        elif self.site_var.get() not in sites:
            self.site_var.set(sites[0] if sites else "")
        if not schedules and sites:
            self.mode.set(BY_PAIR)
        self._show_plan()
        self._update_buttons()

    def _show_plan(self) -> None:
        """The schedule's periodic verify, as saved."""
        from ic.services import verify as V

        store, name = self.ctx.store, self.schedule_var.get()
        if store is None or not name:
            return
        try:
            plan = V.get_verify_plan(store, name)
        except Exception:  # noqa: BLE001 - a schedule deleted meanwhile
            return
        label = next((k for k, v in PLAN_CHOICES.items() if v == plan.every_seconds), None)
        if label is None:
            from ic.settings.validation import format_period

            label = f"Every {format_period(plan.every_seconds)}"
            self.plan_menu.configure(values=list(PLAN_CHOICES) + [label])
        self.plan_var.set(label)
        (self.plan_repair.select if plan.repair else self.plan_repair.deselect)()
        self.mark_clean()  # the form shows this schedule's saved plan
        if plan.start is not None and not self.start_entry.get().strip():
            self.start_entry.insert(0, plan.start.astimezone().strftime("%Y-%m-%d"))
        if plan.last is not None:
            from ic.gui.widgets import format_when

            self.plan_last.configure(text=f"Last automatic verify {format_when(plan.last)}: "
                                          f"{(plan.last_result or '')[:300]}")
        else:
            self.plan_last.configure(text="")

    # --- the automatic verify has its own Save: closing with it changed asks first ------------------
    def snapshot(self):
        return (self.schedule_var.get(), self.plan_var.get(), bool(self.plan_repair.get()))

    def has_changes(self) -> bool:
        return bool(self.schedule_var.get()) and super().has_changes()

    def describe_changes(self) -> str:
        return f"the automatic verify of schedule {self.schedule_var.get()}"

    def save(self) -> bool:
        return self.save_plan()

    def save_plan(self) -> bool:
        from ic.services import verify as V

        name = self.schedule_var.get()
        if not name:
            return False
        every = PLAN_CHOICES.get(self.plan_var.get())
        if every is None:  # a period set from the command line, unchanged
            every = V.get_verify_plan(self.store(), name).every_seconds
        try:
            from ic.services.verify import parse_when as _parse_when

            start = _parse_when(self.start_entry.get(), "Start") if self.start_entry.get().strip() else None
            plan = V.set_verify_plan(self.store(), name, every, bool(self.plan_repair.get()), start)
        except Exception as exc:  # noqa: BLE001
            self.show_exception(exc)
            return False
        self.mark_clean()
        if plan.every_seconds:
            since = f" (sessions from {self.start_entry.get().strip()} on)" if plan.start else ""
            self.message.show(f"Schedule {name} will be verified {self.plan_var.get().lower()}{since}"
                              f"{' and repaired' if plan.repair else ''}; the summary is mailed when notifications "
                              "are on.", "ok")
        else:
            self.message.show(f"Schedule {name} is no longer verified automatically.", "ok")
        return True

    @staticmethod
    def _site_for(store, destination: str) -> str | None:
        """The site a schedule copies into this destination (the likely one to verify it against)."""
        for sched in store.list_schedules():
            for t in sched.transfers:
                if t.destination == destination:
                    return t.site
        return None

    def reopen(self, schedule: str | None = None, destination: str | None = None, site: str | None = None) -> None:
        if not self.running:
            self.reload(schedule=schedule, destination=destination, site=site)

    def on_changed(self, what: str) -> None:
        if what in ("sites", "destinations", "schedules", "store") and not self.running:
            self.reload()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.running

    def _update_buttons(self) -> None:
        by_schedule = self.mode.get() == BY_SCHEDULE
        ready = bool(self.schedule_var.get()) if by_schedule else bool(self.site_var.get() and self.destination_var.get())
        state = "normal" if ready and not self.running else "disabled"
        self.verify_button.configure(state=state)
        self.repair_button.configure(state=state)
        self.cancel_button.configure(state="normal" if self.running else "disabled")
        self.csv_button.configure(state="normal" if self.reports and not self.running else "disabled")
        self.schedule_menu.configure(state="normal" if by_schedule else "disabled")
        for widget in (self.plan_menu, self.plan_repair, self.plan_button):
            widget.configure(state="normal" if by_schedule and self.schedule_var.get() else "disabled")
        for menu in (self.site_menu, self.destination_menu):
            menu.configure(state="disabled" if by_schedule else "normal")

    def default_action(self) -> None:
        if not self.running:
            self.start(False)

    # --- running -------------------------------------------------------------------------------
    def start(self, repair: bool) -> None:
        from ic.services.verify import parse_when as _parse_when

        if self.running:
            return
        try:
            store = self.store()
            start = _parse_when(self.start_entry.get(), "Start") if self.start_entry.get().strip() else None
            end = _parse_when(self.end_entry.get(), "End", end=True) if self.end_entry.get().strip() else None
        except Exception as exc:  # noqa: BLE001 - one sentence on screen
            self.message.show(user_message(exc), "error")
            return
        by_schedule = self.mode.get() == BY_SCHEDULE
        schedule, site, destination = self.schedule_var.get(), self.site_var.get(), self.destination_var.get()
        what = f"schedule {schedule}" if by_schedule else f"{site} -> {destination}"

        def work(emit, cancel):
            from ic.services import verify as V

            say = lambda text: emit(text)  # noqa: E731
            if by_schedule:
                # one destination down must not hide what the schedule's other transfers hold
                return V.verify_schedule(store, schedule, do_repair=repair, start=start, end=end, progress=say,
                                         cancel=cancel, keep_going=True)
            return [V.verify_and_repair(store, site, destination, start=start, end=end, do_repair=repair,
                                        progress=say, cancel=cancel)]

        self.reports = []
        self.error = None
        self.results.set_rows([])
        self._set_summary("")
        self.message.show(f"Verifying {what}…")
        self.worker = Worker(self, work, on_done=self._done, on_error=self._failed,
                             on_event=lambda text: self.message.show(str(text)[:200]))
        self.workers = [w for w in self.workers if w.running] + [self.worker]
        self.worker.start()
        self._update_buttons()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.message.show("Cancelling…")

    def _done(self, reports) -> None:
        from ic.services import verify as V

        self.reports = list(reports)
        complete = all(r.complete for r in self.reports)
        self._set_summary(V.summary_text(self.reports, details=0))
        rows = []
        for r in self.reports:
            if r.error is not None:
                rows.append((f"check failed ({r.destination})", "check failed", r.label, "", "", r.error))
            for f in sorted(r.findings, key=lambda f: (ORDER.get(f.status, 9), f.lsid)):
                key = f"{f.lsid}" if len(self.reports) == 1 else f"{f.lsid} ({r.destination})"
                rows.append((key, f.status, r.label, f.appliance, ", ".join(f.lacking), f.note))
            if r.backup_missing:
                rows.append((f"backup ({r.destination})", "missing", r.label, "", "backup",
                             "no backup of the site is stored"))
        self.results.set_rows(rows, keep_selection=False)
        failed = [r.label for r in self.reports if r.error is not None]
        if failed:
            self.message.show(f"The check of {', '.join(failed)} failed, so completeness is unknown there: see the "
                              "summary for why.", "error")
        else:
            self.message.show("The archive is complete." if complete else
                              "The archive is NOT complete: see the sessions listed first.", "ok" if complete else "error")
        self._update_buttons()

    def _failed(self, exc: BaseException) -> None:
        self.error = user_message(exc)
        self.message.show(self.error, "error")
        self._update_buttons()

    def _set_summary(self, text: str) -> None:
        self.summary.configure(state="normal")
        self.summary.delete("1.0", "end")
        self.summary.insert("end", text)
        self.summary.configure(state="disabled")

    def summary_text(self) -> str:
        return self.summary.get("1.0", "end").strip()

    def save_csv(self, path: str | None = None) -> None:
        from ic.services import verify as V

        if not self.reports:
            return
        path = path or filedialog.asksaveasfilename(parent=self, defaultextension=".csv",
                                                    filetypes=[("CSV", "*.csv")], initialfile="verify.csv")
        if not path:
            return
        try:
            V.write_csv(self.reports, path)
        except OSError as exc:
            self.message.show(f"The CSV file {path} could not be written ({exc.strerror or exc}).", "error")
            return
        self.message.show(f"Findings written to {path}.", "ok")
