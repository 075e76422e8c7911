"""Log File viewer: IC Log (the program) and Service Log (the scheduled job), with Refresh."""
from __future__ import annotations

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.dialogs.base import Panel, user_message


class LogViewerPanel(Panel):
    title = "Log File"
    size = "980x600"
    MAX_BYTES = 512_000

    def __init__(self, master, ctx) -> None:
        super().__init__(master, ctx)
        self.tabs = ctk.CTkTabview(self)
        self.tabs.pack(fill="both", expand=True, padx=10, pady=(6, 0))
        self.texts: dict[str, ctk.CTkTextbox] = {}
        for kind, label in services.LOG_KINDS.items():
            tab = self.tabs.add(label)
            box = ctk.CTkTextbox(tab, wrap="none", font=ctk.CTkFont(family="Courier", size=12))
            box.pack(fill="both", expand=True)
            self.texts[kind] = box
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(fill="x", padx=10, pady=(6, 0))
        self.refresh_button = ctk.CTkButton(row, text="Refresh", command=self.refresh)
        self.refresh_button.pack(side="right")
        self.refresh()

    def default_action(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        problems = []
        for kind, box in self.texts.items():
            try:
                text = services.read_log_tail(kind, self.MAX_BYTES, store=self.ctx.store) or "(the log is empty)"
            except Exception as exc:  # noqa: BLE001
                text = user_message(exc)
                problems.append(text)
            box.configure(state="normal")
            box.delete("1.0", "end")
            box.insert("1.0", text)
            box.see("end")
            box.configure(state="disabled")
        if problems:
            self.message.show(problems[0], "error")
        else:
            self.message.show("Refreshed.")

    def text(self, kind: str) -> str:
        return self.texts[kind].get("1.0", "end-1c")
