"""Application Settings: scheduler start/stop/install/uninstall, log folder, log file removal."""
from __future__ import annotations

import sys
from typing import Callable

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.commands import Command, CommandSet
from ic.gui.dialogs.base import Panel, TaskPrompt, user_message
from ic.gui.widgets import HELP_COLOR, STATUS_TEXT, Button, Form, RadioButton, ScrollFrame, tab_order
from ic.gui.worker import Worker


class AppSettingsPanel(Panel):
    title = "Application Settings"
    size = "780x620"
    min_size = (720, 460)
    ADVANCED = ("transfer_overlap_seconds", "transfer_batch_size", "transfer_download_workers", "appliance_max_rps")

    def __init__(self, master, ctx) -> None:
        super().__init__(master, ctx)
        box = ctk.CTkFrame(self)
        box.pack(fill="x", padx=12, pady=(12, 6))
        ctk.CTkLabel(box, text="Scheduler:", font=ctk.CTkFont(weight="bold")).pack(side="left", padx=(12, 6), pady=10)
        self.status_label = ctk.CTkLabel(box, text="…")
        self.status_label.pack(side="left")
        self.status = "unknown"
        self.ask_logon = sys.platform == "win32"  # Task Scheduler may run the task when nobody is logged on
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
            b = Button(box, text=label, width=86, command=self.commands[action].run)
            b.pack(side="right", padx=(0, 8), pady=10)
            self.commands.bind_widget(b, action)
            self.scheduler_buttons[action] = b

        from ic.gui.dialogs.run_as import add_run_as_button  # VENDOR hook: run the task as a service account

        add_run_as_button(self, box)
        tab_order(getattr(self, "run_as_button", None), *(self.scheduler_buttons[s[0]] for s in specs))

        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(side="bottom", fill="x", padx=12)
        self.save_button = Button(row, text="Save", command=self.save)
        self.save_button.pack(side="right")
        scroller = ScrollFrame(self, fg_color="transparent")  # the list of settings grows with the engine
        scroller.pack(fill="both", expand=True, padx=6, pady=6)
        self.form = Form(scroller)
        self.form.pack(fill="x")
        specs = services.app_setting_specs()
        self.defaults = {spec.key: str(spec.default()) for spec in specs}
        for spec in specs:
            if spec.key not in self.ADVANCED:
                self._add(self.form, spec)
        # engine tuning: hidden until asked for; the defaults need no touching
        head = ctk.CTkFrame(scroller, fg_color="transparent")
        head.pack(fill="x", padx=4, pady=(10, 0))
        self.advanced_button = Button(head, text="▸ Advanced", width=120, secondary=True,
                                      command=self.toggle_advanced)
        self.advanced_button.pack(side="left", padx=6)
        ctk.CTkLabel(head, text="Engine tuning. The defaults suit almost every site.", text_color=HELP_COLOR,
                     anchor="w").pack(side="left", padx=8)
        self.advanced = Form(scroller)
        self.defaults_button = Button(self.advanced, text="Restore Defaults", width=140, secondary=True,
                                      command=self.restore_defaults)
        for spec in specs:
            if spec.key in self.ADVANCED:
                self._add(self.advanced, spec)
        self.advanced.add_widget(self.defaults_button, label="")
        self.fields = {**self.form.fields, **self.advanced.fields}
        label_width = max(f.label.winfo_reqwidth() for f in self.fields.values()) + 18
        for form in (self.form, self.advanced):  # both sections' inputs line up
            form.grid_columnconfigure(0, minsize=label_width)
        self.watch_form(self.form)
        self.watch_form(self.advanced)
        self._load()
        self.refresh_status()

    def _add(self, form: Form, spec) -> None:
        help_text = spec.help[:1].upper() + spec.help[1:] + "." if spec.help else ""
        if spec.key in self.ADVANCED:
            help_text += f" Default: {spec.default()}."
        form.add(spec.key, spec.label, "directory" if spec.kind == "path" else "text", help=help_text, width=220)

    @property
    def advanced_shown(self) -> bool:
        return bool(getattr(self, "_advanced_open", False))

    def toggle_advanced(self, show: bool | None = None) -> None:
        show = not getattr(self, "_advanced_open", False) if show is None else show
        self._advanced_open = show
        if show:
            self.advanced.pack(fill="x", pady=(4, 0))
        else:
            self.advanced.pack_forget()
        self.advanced_button.configure(text="▾ Advanced" if show else "▸ Advanced")

    def restore_defaults(self) -> None:
        for key in self.ADVANCED:
            if key in self.fields:
                self.fields[key].set(self.defaults.get(key, ""))

    def snapshot(self):
        return tuple((k, str(f.get())) for k, f in self.fields.items())

    def _load(self) -> None:
        values = services.load_app_settings(self.store())
        for key, field in self.fields.items():
            field.set(values.get(key) or "")
        self.mark_clean()

    def refresh_status(self) -> None:
        """Ask the OS scheduler in a worker thread (schtasks can take a moment); buttons follow the answer."""
        self.status_known = False

        def done(result):
            self.status, detail = result
            text = STATUS_TEXT.get(self.status, self.status)
            self.status_label.configure(text=f"{text}. {detail}" if detail and self.status == "unknown" else text)
            self.status_known = True
            self.commands.refresh()
            if getattr(self, "after_action", None) in ("register", "start") and self.status != "running":
                # "runs every minute" is not true while the status says otherwise: say what is wrong
                self.message.show(f"The scheduler is installed but {text.lower()}"
                                  + (f": {detail}" if detail else "."), "warn")
            self.after_action = None

        worker = Worker(self, lambda _e, _c: services.scheduler_state(), on_done=done,
                        on_error=lambda exc: self.status_label.configure(text=user_message(exc)))
        self.workers.append(worker)
        worker.start()
        self.commands.refresh()

    def scheduler(self, action: str) -> None:
        if action == "register" and self.ask_logon:
            self.install_prompt = InstallPrompt(self, services.current_user(),
                                                lambda password: self._run_scheduler(action, password))
            return
        self._run_scheduler(action, None)

    def _run_scheduler(self, action: str, password: str | None) -> None:
        def done(text):
            self.message.show(text, "warn" if _sounds_wrong(text) else "ok")
            self.after_action = action
            self.refresh_status()
            self.ctx.changed("scheduler")

        def failed(exc):
            self.show_exception(exc)
            self.refresh_status()

        url = self.store().url
        self.run_in_worker(lambda _e, _c: services.scheduler_action(action, url, password), done, on_error=failed,
                           busy_text=f"Scheduler: {self.commands[action].label.lower()}…")
        self.commands.refresh()

    def default_action(self) -> None:
        self.save()

    def save(self) -> bool:
        self.clear_errors()
        values = {k: f.get() for k, f in self.fields.items()}
        for key in self.ADVANCED:  # an emptied tuning box means "the default"
            if key in values and not str(values[key]).strip():
                values[key] = self.defaults.get(key, "")
        errors = services.app_settings_errors(values)  # every bad value at once, each at its field
        if errors:
            for key, text in errors.items():
                if key in self.fields:
                    self.fields[key].set_error(text)
            if any(k in self.ADVANCED for k in errors):
                self.toggle_advanced(True)
            first = next(iter(errors.values()))
            more = f" ({len(errors)} values need fixing)" if len(errors) > 1 else ""
            self.message.show(f"Not saved: {first}{more}", "error")
            return False
        try:
            services.save_app_settings(self.store(), values)
        except Exception as exc:  # noqa: BLE001
            self.show_exception(exc, prefix="Not saved: ")
            return False
        self._load()
        self.message.show("Application settings saved.", "ok")
        self.ctx.changed("settings")
        return True


def _sounds_wrong(text: str) -> bool:
    """A scheduler answer that reports a problem ("… the cron daemon is not running") is not a green success."""
    lowered = text.lower()
    return any(word in lowered for word in ("not running", "not installed", "warning", "failed", "cannot"))


class InstallPrompt(TaskPrompt):
    """Windows: run the task only while the user is logged on, or always (needs the account's password once;
    the guide's "Log on as this account" for network folders). ``on_ok(password or None)``."""

    def __init__(self, master, user: str, on_ok: Callable[[str | None], None]) -> None:
        super().__init__(master, "Install the scheduler", on_ok)
        self.mode = ctk.StringVar(value="logged_on")
        ctk.CTkLabel(self, text=f"The scheduler task will run every minute as {user}.", anchor="w").pack(
            fill="x", padx=20, pady=(18, 8))
        RadioButton(self, text="Only while this user is logged on", variable=self.mode,
                    value="logged_on").pack(anchor="w", padx=20, pady=3)
        RadioButton(self, text="Whether or not the user is logged on (needed for network folders)",
                    variable=self.mode, value="always").pack(anchor="w", padx=20, pady=3)
        self.password = ctk.CTkEntry(self, show="•", width=300, placeholder_text="Windows password of " + user)
        self.password.pack(anchor="w", padx=46, pady=(2, 4))
        self.add_buttons(padx=46)

    def ok(self) -> None:
        password = None
        if self.mode.get() == "always":
            password = self.password.get()
            if not password:
                self.error.configure(text="Enter the password, or choose to run only while the user is logged on.")
                return
        self.finish(password)
