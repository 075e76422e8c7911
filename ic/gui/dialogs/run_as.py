"""Application Settings > Scheduler > "Run as…": install the scheduler task for a named (service) account.

The account's password is typed once here and handed to Task Scheduler through ic.services.run_as (piped, never
stored); the secrets key becomes readable by that account, SYSTEM and Administrators only.
"""
from __future__ import annotations

from typing import Callable

import customtkinter as ctk

from ic.gui.dialogs.base import TaskPrompt
from ic.gui.widgets import Button

HELP = ("The account needs Modify rights on the destination share and folders (and Read on the settings database "
        "file or a login on its server). Its password is given to Task Scheduler once and never stored.")


def add_run_as_button(panel, box) -> ctk.CTkButton:
    """The hook: a "Run as…" button beside the scheduler buttons of the Application Settings panel."""
    button = Button(box, text="Run as…", width=86, fg_color="gray40", command=lambda: open_prompt(panel))
    button.pack(side="right", padx=(0, 8), pady=10)
    panel.run_as_button = button
    return button


def open_prompt(panel) -> "RunAsPrompt":
    from ic.gui import services_adapter as services

    def go(account: str, password: str) -> None:
        url = panel.store().url

        def work(_emit, _cancel):
            from ic.services.run_as import register_run_as

            return register_run_as(account, lambda _user: password, settings_url=url)

        def done(text):
            panel.message.show(text, "ok")
            panel.refresh_status()
            panel.ctx.changed("scheduler")

        panel.run_in_worker(work, done, busy_text=f"Installing the scheduler task for {account}…")

    panel.run_as_prompt = RunAsPrompt(panel, services.current_user(), go)
    return panel.run_as_prompt


class RunAsPrompt(TaskPrompt):
    def __init__(self, master, default_account: str, on_ok: Callable[[str, str], None]) -> None:
        super().__init__(master, "Run the scheduler as", on_ok)
        ctk.CTkLabel(self, text="Run as (DOMAIN\\account)", anchor="w").pack(fill="x", padx=20, pady=(18, 2))
        self.account = ctk.CTkEntry(self, width=300)
        self.account.insert(0, default_account)
        self.account.pack(anchor="w", padx=20)
        ctk.CTkLabel(self, text="Password", anchor="w").pack(fill="x", padx=20, pady=(8, 2))
        self.password = ctk.CTkEntry(self, show="•", width=300)
        self.password.pack(anchor="w", padx=20)
        ctk.CTkLabel(self, text=HELP, anchor="w", justify="left", wraplength=420).pack(fill="x", padx=20, pady=8)
        self.add_buttons()

    def ok(self) -> None:
        from ic.errors import ConfigError
        from ic.services.run_as import validate_account

        try:
            account = validate_account(self.account.get())
        except ConfigError as exc:
            self.error.configure(text=str(exc))
            return
        password = self.password.get()
        if not password:
            self.error.configure(text=f"Enter the Windows password of {account}.")
            return
        self.finish(account, password)
