"""Notification Settings: SMTP server for the e-mails sent whenever the program logs an error."""
from __future__ import annotations

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.dialogs.base import Panel
from ic.gui.widgets import Button, Form, tab_order

SECURITY_LABELS = {"starttls": "STARTTLS", "tls": "SSL/TLS", "none": "None"}
_LABEL_TO_SECURITY = {v: k for k, v in SECURITY_LABELS.items()}


class NotifyPanel(Panel):
    title = "Notification Settings"
    size = "640x600"
    min_size = (540, 580)

    def __init__(self, master, ctx) -> None:
        super().__init__(master, ctx)
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(side="bottom", fill="x", padx=12)  # the buttons sit at the bottom, like every other dialog
        ctk.CTkLabel(self, text="An e-mail is sent whenever the Integration Client logs an error.",
                     anchor="w").pack(fill="x", padx=14, pady=(12, 0))
        self.form = Form(self)
        self.form.pack(fill="x", padx=6, pady=6)
        f = self.form
        f.add("enabled", "Send Notifications", "bool")
        f.add("host", "SMTP Server")
        f.add("port", "Port")
        f.add("security", "Security", "choice", choices=list(SECURITY_LABELS.values()))
        f.add("username", "Username")
        f.add("password", "Password", "password")
        f.add("sender", "From Address")
        f.add("recipients", "To Address(es)")
        self.fields = f.fields
        self.watch_form(f)
        self.save_button = Button(row, text="Save", command=self.save)
        self.save_button.pack(side="right")
        self.test_button = Button(row, text="Send Test", command=self.send_test)
        self.test_button.pack(side="right", padx=8)
        tab_order(self.test_button, self.save_button)
        self._load()

    def _load(self) -> None:
        values = services.load_notification_settings(self.store())
        for key, field in self.fields.items():
            if key == "password":
                field.set_saved_secret(bool(values.get("has_password")))
            elif key == "security":
                field.set(SECURITY_LABELS.get(values.get(key) or "starttls", "STARTTLS"))
            else:
                field.set(values.get(key))
        self.mark_clean()

    def snapshot(self):
        return tuple((k, str(v)) for k, v in self.form.values().items())

    def _values(self) -> dict:
        values = self.form.values()
        values["security"] = _LABEL_TO_SECURITY.get(values["security"], "starttls")
        values["port"] = str(values["port"]).strip()
        return values

    def default_action(self) -> None:
        self.save()

    def save(self) -> bool:
        self.clear_errors()
        values = self._values()
        try:
            services.save_notification_settings(self.store(), values, values.pop("password") or None)
        except Exception as exc:  # noqa: BLE001
            self.show_exception(exc, prefix="Not saved: ")
            return False
        self._load()
        from ic.notify import clear_text_warning, load_settings  # VENDOR hook: say when the password goes in clear

        saved = load_settings(self.store())
        warning = clear_text_warning(saved, saved.has_password)
        self.message.show(f"Notification settings saved. {warning}" if warning else "Notification settings saved.",
                          "warn" if warning else "ok")
        return True

    def send_test(self) -> None:
        """Save what is on screen, then send a test e-mail in a worker thread."""
        if not self.save():
            return
        store = self.store()

        def done(outcome):
            self.last_test = outcome
            self.message.show(outcome.message, "ok" if outcome.ok else "error")
            field = None if outcome.ok else (getattr(outcome, "field", None)
                                             or services.mail_error_field(outcome.message))
            if field in self.fields:
                self.fields[field].set_error(outcome.message)
            self.test_button.configure(state="normal")

        def failed(exc):
            self.show_exception(exc)
            self.test_button.configure(state="normal")

        self.last_test = None
        self.test_button.configure(state="disabled")
        self.run_in_worker(lambda _e, _c: services.send_test_notification(store), done, on_error=failed,
                           busy_text="Sending a test e-mail…")
