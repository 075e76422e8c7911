"""Log File viewer: IC Log (the program) and Service Log (the scheduled job), with Refresh."""
from __future__ import annotations

import re
from datetime import datetime

import customtkinter as ctk

from ic.gui import services_adapter as services
from ic.gui.dialogs.base import Panel, user_message

_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:[,.]\d+)? +(\w+) +\[\d+\] +[\w.]+: ?(.*)$")
_LEVELS = {"WARNING": "Warning: ", "ERROR": "Error: ", "CRITICAL": "Error: "}


def plain_log(text: str) -> str:
    """Log lines as a person reads them: time, "Error:"/"Warning:" when it is one, the sentence. The logger name
    and process ID stay in the file (support needs them) but not on screen."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        out.append(f"{m.group(1)}  {_LEVELS.get(m.group(2), '')}{m.group(3)}" if m else line)
    return "\n".join(out)
from ic.gui.widgets import Button


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
            box = ctk.CTkTextbox(tab, wrap="word")
            box.pack(fill="both", expand=True)
            self.texts[kind] = box
        row = ctk.CTkFrame(self, fg_color="transparent")
        row.pack(fill="x", padx=10, pady=(6, 0))
        self.refresh_button = Button(row, text="Refresh", command=self.refresh)
        self.refresh_button.pack(side="right")
        self.refresh(initial=True)

    def default_action(self) -> None:
        self.refresh()

    def refresh(self, initial: bool = False) -> None:
        problems = []
        for kind, box in self.texts.items():
            try:
                text = plain_log(services.read_log_tail(kind, self.MAX_BYTES, store=self.ctx.store)) or \
                    "(the log is empty)"
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
        elif not initial:
            self.message.show(f"Refreshed at {datetime.now().strftime('%H:%M:%S')}.")

    def text(self, kind: str) -> str:
        return self.texts[kind].get("1.0", "end-1c")
