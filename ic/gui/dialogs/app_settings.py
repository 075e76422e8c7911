"""Application Settings: scheduler start/stop/install/uninstall, log folder, log file removal."""
from __future__ import annotations

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.commands import Command, CommandSet
from ic.gui.dialogs.base import Panel, user_message
from ic.gui.main_window import STATUS_TEXT
from ic.gui.widgets import Form
from ic.gui.worker import Worker


class AppSettingsPanel(Panel):
    title = "Application Settings"
    size = "680x440"

    def __init__(self, master, ctx) -> None:
        super().__init__(master, ctx)
        box = ctk.CTkFrame(self)
        box.pack(fill="x", padx=12, pady=(12, 6))
        ctk.CTkLabel(box, text="Scheduler:", font=ctk.CTkFont(weight="bold")).pack(side="left", padx=(12, 6), pady=10)
        self.status_label = ctk.CTkLabel(box, text="…")
        self.status_label.pack(side="left")
        self.status = "unknown"
        # Thonny-style: each button follows its command's "enabled?" predicate on the scheduler status.
        self.commands = CommandSet()
        specs = [
            ("start", "Start", lambda: self.status == "stopped"),
            ("stop", "Stop", lambda: self.status == "running"),
            ("register", "Install", lambda: self.status == "not installed"),
            ("unregister", "Uninstall", lambda: self.status in ("running", "stopped")),
        ]
        self.scheduler_buttons: dict[str, ctk.CTkButton] = {}
        for action, label, tester in reversed(specs):
            self.commands.add(Command(action, label, lambda a=action: self.scheduler(a),
                                      lambda t=tester: t() and not self.busy))
            b = ctk.CTkButton(box, text=label, width=86, command=self.commands[action].run)
            b.pack(side="right", padx=(0, 8), pady=10)
            self.commands.bind_widget(b, action)
            self.scheduler_buttons[action] = b

        self.form = Form(self)
        self.form.pack(fill="x", padx=6, pady=6)
        for spec in services.app_setting_specs():
            field = self.form.add(spec.key, spec.label, "directory" if spec.kind == "path" else "text")
            field.help_label = ctk.CTkLabel(self.form, text=spec.help, text_color=("gray35", "gray65"), anchor="w",
                                            font=ctk.CTkFont(size=12))
            field.help_label.grid(row=self.form._row, column=1, sticky="w")
            self.form._row += 1
        self.fields = self.form.fields
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(fill="x", padx=12)
        self.save_button = ctk.CTkButton(row, text="Save", command=self.save)
        self.save_button.pack(side="right")
        self._load()
        self.refresh_status()

    def _load(self) -> None:
        values = services.load_app_settings(self.store())
        for key, field in self.fields.items():
            field.set(values.get(key) or "")

    def refresh_status(self) -> None:
        """Ask the OS scheduler in a worker thread (schtasks can take a moment); buttons follow the answer."""
        self.status_known = False

        def done(result):
            self.status, detail = result
            text = STATUS_TEXT.get(self.status, self.status)
            self.status_label.configure(text=f"{text}. {detail}" if detail and self.status == "unknown" else text)
            self.status_known = True
            self.commands.refresh()

        worker = Worker(self, lambda _e, _c: services.scheduler_state(), on_done=done,
                        on_error=lambda exc: self.status_label.configure(text=user_message(exc)))
        self.workers.append(worker)
        worker.start()
        self.commands.refresh()

    def scheduler(self, action: str) -> None:
        def done(text):
            self.message.show(text, "ok")
            self.refresh_status()
            self.ctx.changed("scheduler")

        def failed(exc):
            self.show_exception(exc)
            self.refresh_status()

        url = self.store().url
        self.run_in_worker(lambda _e, _c: services.scheduler_action(action, url), done, on_error=failed,
                           busy_text=f"Scheduler: {self.commands[action].label.lower()}…")
        self.commands.refresh()

    def default_action(self) -> None:
        self.save()

    def save(self) -> bool:
        self.clear_errors()
        try:
            services.save_app_settings(self.store(), self.form.values())
        except Exception as exc:  # noqa: BLE001
            self.show_exception(exc, prefix="Not saved: ")
            return False
        self._load()
        self.message.show("Application settings saved.", "ok")
        self.ctx.changed("settings")
        return True
