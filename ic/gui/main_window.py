"""The main window's content: scheduler status, last program run, the schedules list, Log File button."""
from __future__ import annotations

from datetime import datetime, timezone

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.context import AppContext
from ic.gui.widgets import ListView, MessageLabel
from ic.gui.worker import Worker

STATUS_TEXT = {
    "running": "Running",
    "stopped": "Stopped",
    "not installed": "Not installed",
    "unknown": "Unknown",
}


def format_when(value) -> str:
    """Stored times are UTC (naive or ISO with Z); show them in the computer's local time."""
    if value is None or value == "":
        return "Never"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


class MainPanel(ctk.CTkFrame):
    REFRESH_MS = 30_000

    def __init__(self, master, ctx: AppContext) -> None:
        super().__init__(master, fg_color="transparent")
        self.ctx = ctx
        self.run_worker: Worker | None = None
        self.status_worker: Worker | None = None
        self.scheduler_state: str | None = None
        top = ctk.CTkFrame(self)
        top.pack(fill="x", padx=12, pady=(12, 6))
        top.grid_columnconfigure(1, weight=1)
        ctk.CTkLabel(top, text="Scheduler:", font=ctk.CTkFont(weight="bold")).grid(row=0, column=0, sticky="w",
                                                                                  padx=(12, 8), pady=(8, 2))
        self.status_label = ctk.CTkLabel(top, text="…", anchor="w")
        self.status_label.grid(row=0, column=1, sticky="w", pady=(8, 2))
        ctk.CTkLabel(top, text="Last Program Run:", font=ctk.CTkFont(weight="bold")).grid(row=1, column=0, sticky="w",
                                                                                         padx=(12, 8), pady=(2, 8))
        self.last_run_label = ctk.CTkLabel(top, text="…", anchor="w")
        self.last_run_label.grid(row=1, column=1, sticky="w", pady=(2, 8))
        self.settings_label = ctk.CTkLabel(top, text="", anchor="e", text_color=("gray35", "gray65"))
        self.settings_label.grid(row=0, column=2, rowspan=2, sticky="e", padx=12)

        ctk.CTkLabel(self, text="Schedules", font=ctk.CTkFont(size=15, weight="bold"), anchor="w").pack(
            fill="x", padx=14, pady=(6, 0))
        self.schedules = ListView(
            self,
            [("name", "Schedule Name", 220), ("transfers", "Transfers", 90), ("period", "Period", 120),
             ("last_run", "Last Run", 160), ("status", "Last Result", 200)],
            height=10,
            on_select=lambda _k: ctx.commands.refresh(),
        )
        self.schedules.pack(fill="both", expand=True, padx=12, pady=6)
        self.schedules.tree.bind("<Double-1>", lambda _e: ctx.commands["schedules"].run())

        bottom = ctk.CTkFrame(self, fg_color="transparent")
        bottom.pack(fill="x", padx=12, pady=(0, 4))
        self.log_button = ctk.CTkButton(bottom, text="Log File", width=110, command=lambda: ctx.commands["log"].run())
        self.log_button.pack(side="left")
        self.run_button = ctk.CTkButton(bottom, text="Run Now", width=110, command=lambda: ctx.commands["run_now"].run())
        self.run_button.pack(side="right")
        self.message = MessageLabel(self)
        self.message.pack(fill="x", padx=14, pady=(0, 8))
        ctx.commands.bind_widget(self.run_button, "run_now")
        ctx.commands.bind_widget(self.log_button, "log")
        ctx.subscribe(self._on_change)
        self._after_id = None
        self.refresh()

    def selected_schedule(self) -> str | None:
        return self.schedules.selected()

    def _on_change(self, _what: str) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.refresh_scheduler_status()
        store = self.ctx.store
        if store is None:
            self.last_run_label.configure(text="—")
            self.schedules.set_rows([])
            self.message.show(self.ctx.store_error or
                              "No settings database yet: choose one under Setup > Settings Database.", "error")
        else:
            from ic.settings.validation import format_period

            self.last_run_label.configure(text=format_when(store.get_setting("last_program_run")))
            rows = []
            for s in store.list_schedules():
                period = format_period(s.every_seconds) + (f" at {s.at_time}" if s.at_time else "")
                rows.append((s.name, len(s.transfers), period, format_when(s.last_run), s.last_status or ""))
            self.schedules.set_rows(rows)
            if self.message.text.startswith("No settings database") or self.message.text.startswith("Cannot open"):
                self.message.clear()
            self.settings_label.configure(text=_describe_store(store.url))
        if self._after_id is not None:
            self.after_cancel(self._after_id)
        self._after_id = self.after(self.REFRESH_MS, self.refresh)

    def refresh_scheduler_status(self) -> None:
        """Ask the OS scheduler in a worker thread (schtasks/crontab can take a moment)."""
        if self.status_worker is not None and self.status_worker.running:
            return

        def done(result):
            state, detail = result
            self.scheduler_state = state
            text = STATUS_TEXT.get(state, state)
            self.status_label.configure(text=f"{text} ({detail})" if state == "unknown" and detail else text)

        self.status_worker = Worker(self, lambda _e, _c: services.scheduler_state(), on_done=done,
                                    on_error=lambda exc: self.status_label.configure(text=f"Unknown ({exc})"))
        self.status_worker.start()

    def run_selected(self) -> None:
        name = self.selected_schedule()
        if not name or (self.run_worker and self.run_worker.running):
            return
        store = self.ctx.require_store()

        def work(emit, cancel):
            return services.run_schedule(store, name, progress=emit, cancel=cancel)

        def done(result):
            ok = getattr(result, "ok", True)
            self.message.show(_summary(result) or f"Schedule {name} finished.", "ok" if ok else "error")
            self.refresh()

        def failed(exc):
            from ic.gui.dialogs.base import user_message

            self.message.show(f"Schedule {name}: {user_message(exc)}", "error")
            self.ctx.commands.refresh()

        def event(ev):
            text = getattr(ev, "message", None) or str(ev)
            self.message.show(f"{name}: {text}"[:200])

        self.message.show(f"Running schedule {name}…")
        self.run_worker = Worker(self, work, on_done=done, on_error=failed, on_event=event).start()
        self.ctx.commands.refresh()

    def destroy(self) -> None:
        if self._after_id is not None:
            try:
                self.after_cancel(self._after_id)
            except Exception:  # noqa: BLE001
                pass
        for worker in (self.run_worker, self.status_worker):
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
