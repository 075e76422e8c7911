"""The main window's content: the status page.

Scheduler status (with Install when it is not installed), Last Program Run, the schedules list, and for the
selected schedule its last run in words, its next run and a chart of its last 30 runs; Run Now shows its progress
in plain words; Log File.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.context import AppContext
from ic.gui.widgets import (HELP_COLOR, STATUS_TEXT, Button, ListView, MessageLabel, format_when, tab_order,
                            widget_scaling)
from ic.gui.worker import Worker

def format_status(status: str | None) -> str:
    """A stored last status ("ok", "failed: ...", "cancelled") as the window says it ("OK", "Failed: ...")."""
    if not status:
        return ""
    if status.lower() == "ok":
        return "OK"
    return status[:1].upper() + status[1:]


def _last_run_words(schedule) -> str:
    """No run in the history (a settings database from before it was kept, or history removed): the list's Last
    Run and Last Result, not "Not run yet." beside a list that shows a time."""
    last = getattr(schedule, "last_run", None)
    if last is None:
        return "Not run yet."
    status = format_status(getattr(schedule, "last_status", None))
    return f"{format_when(last)}{': ' + status if status else ''} (no details kept for that run)."


LEGEND = "Blue: sessions · Green: recordings and backups · Red ✕: a failed run · Point at a bar for that run"


class RunChart(ctk.CTkCanvas):
    """The last runs of one schedule as bars, oldest on the left: sessions (blue) and files (green) copied per run,
    a failed run as a red bar with a cross, a cancelled one grey. Pointing at a bar shows that run in words."""

    HEIGHT = 84
    EMPTY = "No runs yet: the chart fills as the schedule runs."
    empty_text = EMPTY
    COLORS = {"sessions": ("#3b8ed0", "#5aa7e8"), "files": ("#2e7d32", "#66bb6a"), "failed": ("#c62828", "#ef5350"),
              "cancelled": ("#9e9e9e", "#757575"), "axis": ("#b0b0b0", "#555555"), "bg": ("#f9f9fa", "#2b2b2b"),
              "text": ("#555555", "#b0b0b0")}

    def __init__(self, master, on_point=None) -> None:
        super().__init__(master, height=self.HEIGHT, highlightthickness=0, borderwidth=0)
        self.runs: list = []  # oldest first
        self.bars: list[tuple[int, int, str]] = []  # (x0, x1, kind) per run, for tests and pointing
        self._on_point = on_point
        self.bind("<Configure>", lambda _e: self.draw(), add=True)
        self.bind("<Motion>", self._motion, add=True)
        self.bind("<Leave>", lambda _e: on_point and on_point(None), add=True)

    def _color(self, name: str) -> str:
        light, dark = self.COLORS[name]
        return dark if ctk.get_appearance_mode() == "Dark" else light

    def set_runs(self, runs_newest_first: list) -> None:
        self.runs = list(reversed(runs_newest_first))
        self.draw()

    def draw(self) -> None:
        self.delete("all")
        self.configure(bg=self._color("bg"))
        self.bars = []
        width, height = max(self.winfo_width(), 200), self.HEIGHT
        top, bottom, left = 16, height - 6, 6
        self.create_line(left, bottom, width - 6, bottom, fill=self._color("axis"))
        if not self.runs:
            self.create_text(width // 2, height // 2, text=self.empty_text, fill=self._color("text"))
            return
        peak = max(max(r.sessions + r.recordings + r.backups for r in self.runs), 1)
        self.create_text(left, 2, anchor="nw", text=f"Last {len(self.runs)} runs · highest {peak} items",
                         fill=self._color("text"), font=("TkDefaultFont", 9))
        slot = (width - 2 * left) / 30
        bar = max(3, int(slot * 0.7))
        for i, run in enumerate(self.runs):
            x0 = int(left + i * slot + (slot - bar) / 2)
            x1 = x0 + bar
            failed = run.status not in ("ok", "cancelled") or run.failed
            kind = "failed" if failed else ("cancelled" if run.status == "cancelled" else "ok")
            sessions_h = (bottom - top) * run.sessions / peak
            files_h = (bottom - top) * (run.recordings + run.backups) / peak
            y = bottom
            if kind == "cancelled":
                self.create_rectangle(x0, bottom - 4, x1, bottom, fill=self._color("cancelled"), width=0,
                                      tags=("bar", "cancelled"))
            else:
                if sessions_h:
                    self.create_rectangle(x0, y - sessions_h, x1, y, fill=self._color("sessions"), width=0,
                                          tags=("bar", "sessions"))
                    y -= sessions_h
                if files_h:
                    self.create_rectangle(x0, y - files_h, x1, y, fill=self._color("files"), width=0,
                                          tags=("bar", "files"))
                    y -= files_h
            if failed:
                self.create_rectangle(x0, min(y, bottom - 6) - 4, x1, min(y, bottom - 6), fill=self._color("failed"),
                                      width=0, tags=("bar", "failed"))
                cx, cy = (x0 + x1) / 2, min(y, bottom - 6) - 10
                self.create_text(cx, cy, text="✕", fill=self._color("failed"), font=("TkDefaultFont", 9, "bold"),
                                 tags=("failed-mark",))
            self.bars.append((x0, x1, kind))

    def _motion(self, event) -> None:
        if not self._on_point:
            return
        for index, (x0, x1, _kind) in enumerate(self.bars):
            if x0 - 2 <= event.x <= x1 + 2:
                self._on_point(self.runs[index])
                return
        self._on_point(None)


class MainPanel(ctk.CTkFrame):
    REFRESH_MS = 30_000

    def __init__(self, master, ctx: AppContext) -> None:
        super().__init__(master, fg_color="transparent")
        self.ctx = ctx
        self.run_worker: Worker | None = None
        self.status_worker: Worker | None = None
        self.install_worker: Worker | None = None
        self.scheduler_state: str | None = None
        self._status_waiters: list = []
        self._progress: dict[str, str] = {}
        top = ctk.CTkFrame(self)
        top.pack(fill="x", padx=12, pady=(10, 4))
        top.grid_columnconfigure(2, weight=1)
        bold = ctk.CTkFont(weight="bold")
        ctk.CTkLabel(top, text="Scheduler:", font=bold).grid(row=0, column=0, sticky="w", padx=(12, 8), pady=(6, 0))
        self.status_label = ctk.CTkLabel(top, text="…", anchor="w")
        self.status_label.grid(row=0, column=1, sticky="w", pady=(6, 0))
        self.install_button = Button(top, text="Install Scheduler…", width=150, command=self.install_scheduler)
        self.install_button.grid(row=0, column=2, sticky="w", padx=10, pady=(6, 0))
        self.install_button.grid_remove()
        ctk.CTkLabel(top, text="Last Program Run:", font=bold).grid(row=1, column=0, sticky="w", padx=(12, 8),
                                                                    pady=(0, 6))
        self.last_run_label = ctk.CTkLabel(top, text="…", anchor="w")
        self.last_run_label.grid(row=1, column=1, columnspan=2, sticky="w", pady=(0, 6))
        self.settings_label = ctk.CTkLabel(top, text="", anchor="e", text_color=HELP_COLOR)
        self.settings_label.grid(row=0, column=3, rowspan=2, sticky="e", padx=12)

        ctk.CTkLabel(self, text="Schedules", font=ctk.CTkFont(size=15, weight="bold"), anchor="w").pack(
            fill="x", padx=14, pady=(4, 0))
        bottom = ctk.CTkFrame(self, fg_color="transparent")
        self.message = MessageLabel(self)
        self.message.pack(side="bottom", fill="x", padx=14, pady=(0, 4))
        bottom.pack(side="bottom", fill="x", padx=12, pady=(0, 2))
        self.log_button = Button(bottom, text="Log File", width=110, secondary=True,
                                 command=lambda: ctx.commands["log"].run())
        self.log_button.pack(side="left")
        self.run_button = Button(bottom, text="Run Now", width=110, command=lambda: ctx.commands["run_now"].run())
        self.run_button.pack(side="right")
        self.verify_button = Button(bottom, text="Verify…", width=90, secondary=True, command=self.verify_selected)
        self.verify_button.pack(side="right", padx=(0, 8))  # is every session of this schedule archived?
        tab_order(self.verify_button, self.run_button)
        # progress of Run Now: a fixed-height row, so nothing moves when it appears
        self.progress_row = ctk.CTkFrame(bottom, fg_color="transparent", height=30)
        self.progress_row.pack(side="left", fill="x", expand=True, padx=12)
        self.progress_row.pack_propagate(False)
        self.progress_bar = ctk.CTkProgressBar(self.progress_row, width=140)
        self.progress_bar.set(0)
        self.progress_label = ctk.CTkLabel(self.progress_row, text="", anchor="w")
        self.progress_label.pack(side="left", fill="x", expand=True)

        # the selected schedule at a glance
        self.details = ctk.CTkFrame(self)
        self.details.pack(side="bottom", fill="x", padx=12, pady=(4, 6))
        self.details.grid_columnconfigure(1, weight=1)
        self.details_title = ctk.CTkLabel(self.details, text="", font=bold, anchor="w", justify="left",
                                          wraplength=800)
        self.details_title.grid(row=0, column=0, columnspan=2, sticky="w", padx=12, pady=(6, 0))
        ctk.CTkLabel(self.details, text="Last run:", anchor="w").grid(row=1, column=0, sticky="nw", padx=(12, 8))
        self.last_words = ctk.CTkLabel(self.details, text="", anchor="w", justify="left", wraplength=700)
        self.last_words.grid(row=1, column=1, sticky="w", padx=(0, 12))
        ctk.CTkLabel(self.details, text="Next run:", anchor="w").grid(row=2, column=0, sticky="nw", padx=(12, 8))
        self.next_words = ctk.CTkLabel(self.details, text="", anchor="w", justify="left", wraplength=700)
        self.next_words.grid(row=2, column=1, sticky="w", padx=(0, 12))
        self.chart = RunChart(self.details, on_point=self._point)
        self.chart.grid(row=3, column=0, columnspan=2, sticky="ew", padx=12, pady=(2, 0))
        self.chart_caption = ctk.CTkLabel(self.details, text=LEGEND, anchor="w", text_color=HELP_COLOR,
                                          font=ctk.CTkFont(size=12), justify="left", wraplength=800)
        self.chart_caption.grid(row=4, column=0, columnspan=2, sticky="w", padx=12, pady=(0, 6))
        master.bind("<Configure>", self._rewrap, add=True)

        self.schedules = ListView(
            self,
            [("name", "Schedule Name", 180), ("transfers", "Transfers", 70), ("period", "Period", 110),
             ("last_run", "Last Run", 130), ("next_run", "Next Run", 130), ("status", "Last Result", 160)],
            height=3,  # asks for three rows and fills the room there is: 125 % on a 768-pixel screen
            on_select=lambda _k: self._selected(),
            max_width=360,
        )
        self.schedules.pack(fill="both", expand=True, padx=12, pady=(4, 0))
        tab_order(self.schedules, self.details, bottom)  # Tab: the list, then what is under it
        self.schedules.tree.bind("<Double-1>", lambda _e: ctx.commands["schedules"].run())
        self.empty = ctk.CTkFrame(self.schedules.tree, fg_color="transparent")
        self.empty_label = ctk.CTkLabel(
            self.empty, justify="left", wraplength=520,
            text="No schedules yet. Set up a site, a destination and a schedule with the setup wizard (or one by "
                 "one from the Setup menu); then the scheduler copies your sessions by itself.")
        self.empty_label.pack(padx=16, pady=(12, 6))
        self.setup_button = Button(self.empty, text="Start the Setup…", width=160,
                                   command=lambda: ctx.commands["wizard"].run())
        self.setup_button.pack(pady=(0, 12))
        ctx.commands.bind_widget(self.run_button, "run_now")
        ctx.commands.bind_widget(self.log_button, "log")
        ctx.subscribe(self._on_change)
        self._after_id = None
        self.refresh()

    def verify_selected(self) -> None:
        """The Verify window (ic/gui/dialogs/verify.py) for the selected schedule."""
        if self.ctx.store is None:
            return
        from ic.gui.dialogs.base import open_dialog
        from ic.gui.dialogs.verify import VerifyPanel

        open_dialog(self.ctx, VerifyPanel, schedule=self.selected_schedule())

    def _rewrap(self, event) -> None:
        """Long sentences wrap at the window's width (the window's, not the label's own: no resize loop)."""
        if event.widget is self.master:
            # beside "Last run:" / "Next run:"; in customtkinter's units (it scales a wrap length by the display's
            # scaling, the event's width is in real pixels)
            wrap = max(300, int(event.width / widget_scaling(self)) - 170)
            if abs(wrap - int(self.last_words.cget("wraplength"))) > 8:
                self.last_words.configure(wraplength=wrap)
                self.next_words.configure(wraplength=wrap)
                # a 200-character schedule name, a failed run's reason under the chart: full width
                self.details_title.configure(wraplength=wrap + 110)
                self.chart_caption.configure(wraplength=wrap + 110)

    def _set_appearance_mode(self, mode_string: str) -> None:
        """customtkinter calls this when light/dark changes: the chart (a plain canvas) is drawn again."""
        super()._set_appearance_mode(mode_string)
        chart = getattr(self, "chart", None)
        if chart is not None:
            chart.draw()

    def selected_schedule(self) -> str | None:
        return self.schedules.selected()

    def _on_change(self, what: str) -> None:
        self.refresh()

    # --- list and status page ----------------------------------------------------------------------
    def refresh(self) -> None:
        self.refresh_scheduler_status()
        store = self.ctx.store
        if store is None:
            self.last_run_label.configure(text="—")
            self.schedules.set_rows([])
            self._store_message = (self.ctx.store_error or
                                   "No settings database yet: choose one under Setup > Settings Database.")
            self.message.show(self._store_message, "error")
        else:
            from ic.settings.validation import format_period

            self.last_run_label.configure(text=format_when(store.get_setting("last_program_run")))
            now = datetime.now(timezone.utc)
            rows = []
            self.schedule_configs = {s.name: s for s in store.list_schedules()}
            for s in self.schedule_configs.values():
                period = format_period(s.every_seconds) + (f" at {s.at_time}" if s.at_time else "")
                rows.append((s.name, len(s.transfers), period, format_when(s.last_run),
                             services.next_run_words(s, now), format_status(s.last_status)))
            self.schedules.set_rows(rows)
            if self.selected_schedule() is None and rows:
                self.schedules.select(rows[0][0])  # the status page always shows a schedule
            if self.message.text and self.message.text == getattr(self, "_store_message", None):
                self.message.clear()  # why there was no settings database: no longer true
            self.settings_label.configure(text=_describe_store(store.url))
        has_rows = bool(self.schedules.keys())
        if has_rows:
            self.empty.place_forget()
        else:
            self.empty.place(relx=0.5, rely=0.5, anchor="center")
        self._show_details()
        if self._after_id is not None:
            self.after_cancel(self._after_id)
        self._after_id = self.after(self.REFRESH_MS, self.refresh)

    def _selected(self) -> None:
        self.ctx.commands.refresh()
        self._show_details()

    def _show_details(self) -> None:
        name = self.selected_schedule()
        store = self.ctx.store
        if name is None or store is None:
            self.details_title.configure(text="")
            self.last_words.configure(text="")
            self.next_words.configure(text="")
            self.chart.set_runs([])
            return
        now = datetime.now(timezone.utc)
        runs = services.recent_runs(store, name, 30)
        self.details_title.configure(text=name)
        sched = getattr(self, "schedule_configs", {}).get(name)
        self.last_words.configure(text=services.describe_run(runs[0], now) if runs else _last_run_words(sched))
        self.next_words.configure(text=services.next_run_sentence(sched, now, self.scheduler_state)
                                  if sched is not None else "")
        # a last run from before the history was kept: the chart has nothing to show, not "no runs yet"
        self.chart.empty_text = (RunChart.EMPTY if sched is None or sched.last_run is None else
                                 "No run details kept yet: the chart fills as the schedule runs.")
        self.chart.set_runs(runs)
        self._point(None)

    def _point(self, run) -> None:
        """The pointer is on a bar of the chart: that run in words under the chart (else the legend)."""
        text = LEGEND if run is None else services.describe_run(run, datetime.now(timezone.utc))
        self.chart_caption.configure(text=text)

    # --- scheduler ------------------------------------------------------------------------------
    def refresh_scheduler_status(self, then=None) -> None:
        """Ask the OS scheduler in a worker thread (schtasks/crontab can take a moment)."""
        if then is not None:
            self._status_waiters.append(then)
        if self.status_worker is not None and self.status_worker.running:
            return

        def done(result):
            state, detail = result
            self.scheduler_state = state
            text = STATUS_TEXT.get(state, state)
            self.status_label.configure(text=f"{text} ({detail})" if state == "unknown" and detail else text)
            if state == "not installed":
                self.install_button.grid()
            else:
                self.install_button.grid_remove()
            self._show_details()
            waiters, self._status_waiters = self._status_waiters, []
            for waiter in waiters:
                waiter(state)

        self.status_worker = Worker(self, lambda _e, _c: services.scheduler_state(), on_done=done,
                                    on_error=lambda exc: self.status_label.configure(text=f"Unknown ({exc})"))
        self.status_worker.start()

    def install_scheduler(self) -> None:
        """Register the OS task that starts the scheduler (Windows: asks how it should run first)."""
        if self.install_worker is not None and self.install_worker.running:
            return
        if self.ctx.store is None:
            return
        if sys.platform == "win32":
            from ic.gui.dialogs.app_settings import InstallPrompt

            self.install_prompt = InstallPrompt(self, services.current_user(), self._install_task)
            return
        self._install_task(None)

    def _install_task(self, password: str | None) -> None:
        url = self.ctx.store.url

        def done(text):
            self.message.show(text, "ok")
            self.refresh_scheduler_status()
            self.ctx.commands.refresh()

        def failed(exc):
            from ic.gui.dialogs.base import user_message

            self.message.show(user_message(exc), "error")
            self.refresh_scheduler_status()

        self.message.show("Installing the scheduler…")
        self.install_button.configure(state="disabled")
        self.install_worker = Worker(self, lambda _e, _c: services.scheduler_action("register", url, password),
                                     on_done=done, on_error=failed).start()

    # --- Run Now --------------------------------------------------------------------------------
    def run_selected(self) -> None:
        name = self.selected_schedule()
        if not name or (self.run_worker and self.run_worker.running):
            return
        store = self.ctx.require_store()

        def work(emit, cancel):
            return services.run_schedule(store, name, progress=emit, cancel=cancel)

        def done(result):
            ok = getattr(result, "ok", True)
            self._end_progress()
            self.message.show(_summary(result) or f"Schedule {name} finished.", "ok" if ok else "error")
            self.refresh()

        def failed(exc):
            from ic.gui.dialogs.base import user_message

            self._end_progress()
            self.message.show(f"Schedule {name}: {user_message(exc)}", "error")
            self.ctx.commands.refresh()

        self._progress = {}
        self.message.show(f"Running schedule {name}…")
        self.progress_bar.set(0)
        self.progress_bar.pack(side="left", padx=(0, 10), before=self.progress_label)
        self.progress_label.configure(text="Starting…")
        self.run_worker = Worker(self, work, on_done=done, on_error=failed, on_event=self._event).start()
        self.ctx.commands.refresh()

    def _event(self, ev) -> None:
        """A progress event of Run Now, in plain words (transfers of one schedule run side by side)."""
        text = services.progress_words(ev)
        transfer = getattr(ev, "transfer", "") or ""
        self._progress[transfer] = text
        self.progress_label.configure(text="   ".join(self._progress.values()))
        fraction = services.progress_fraction(ev)
        if fraction is not None:
            self.progress_bar.set(fraction)

    def _end_progress(self) -> None:
        self.progress_bar.pack_forget()
        self.progress_label.configure(text="")

    @property
    def progress_text(self) -> str:
        return self.progress_label.cget("text")

    def destroy(self) -> None:
        if self._after_id is not None:
            try:
                self.after_cancel(self._after_id)
            except Exception:  # noqa: BLE001
                pass
        for worker in (self.run_worker, self.status_worker, self.install_worker):
            if worker:
                worker.stop_polling()
        self.ctx.unsubscribe(self._on_change)
        super().destroy()


def _summary(result) -> str:
    if result is None:
        return ""
    text = getattr(result, "message", None) or getattr(result, "summary", None)
    return str(text() if callable(text) else text) if text else ""


def _describe_store(url: str) -> str:
    if url.startswith("sqlite"):
        return "Settings: embedded database"
    backend = url.split(":", 1)[0].split("+", 1)[0]
    return {"mssql": "Settings: SQL Server", "postgresql": "Settings: PostgreSQL"}.get(backend, f"Settings: {backend}")
