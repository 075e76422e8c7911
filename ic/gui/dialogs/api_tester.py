"""API Tester: pull sessions (a window or one session ID) from sites, or parse saved XML files, into destinations.

The work runs in a worker thread; progress arrives through a queue polled with after(); Cancel sets an Event.
"""
from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta
from tkinter import filedialog

import customtkinter as ctk

from ic.errors import ConfigError
from ic.gui import services_adapter as services
from ic.gui.dialogs.base import FitOrScroll, Panel, user_message
from ic.gui.widgets import Button, CheckBox, CheckList, Form, ListView, OptionMenu, tab_order
from ic.gui.worker import Worker
from ic.settings.models import DATA_TYPE_LABELS, DATA_TYPES, DataType

log = logging.getLogger("ic.gui.api_tester")  # the IC Log: "test, then check the log" (the guide)

DURATION_UNITS = {"hours": 3600, "days": 86400}
_START_LINE = re.compile(r"^(?P<where>.+ -> .+): (?P<types>[a-z]+(?:, [a-z]+)*)$")


def plain_line(line: str) -> str:
    """A service line in words: "Sim -> Files: session, recordings" -> "Sim to Files: copying session data and
    session recordings…"."""
    m = _START_LINE.match(line)
    if m and all(t in DATA_TYPE_LABELS for t in m.group("types").split(", ")):
        labels = [DATA_TYPE_LABELS[t].lower() for t in m.group("types").split(", ")]
        words = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        line = f"{m.group('where')}: copying {words}…"
    return line.replace(" -> ", " to ", 1)
NO_SITE = "(none: session data only)"


def _tab_columns(tab, left: str) -> None:
    """A tab's two columns: ``left`` and Destinations, titles over lists that take the room the window has."""
    tab.grid_columnconfigure((0, 1), weight=1)
    tab.grid_rowconfigure(1, weight=1)
    ctk.CTkLabel(tab, text=left, anchor="w").grid(row=0, column=0, sticky="w", padx=6)
    ctk.CTkLabel(tab, text="Destinations", anchor="w").grid(row=0, column=1, sticky="w", padx=6)


def _scrolled(tab) -> ctk.CTkFrame:
    """Where a tab's content goes: it scrolls when the window is too short for it (125 % display scaling on a
    768-pixel-high screen), so the lists keep their rows and no field is cut."""
    scroller = FitOrScroll(tab, height=120)
    scroller.pack(fill="both", expand=True)
    return scroller.content


def _operations(master) -> dict[str, ctk.CTkCheckBox]:
    """The data type check boxes (Session data ticked), on row 3 of the tab."""
    frame = ctk.CTkFrame(master, fg_color="transparent")
    frame.grid(row=3, column=0, columnspan=2, sticky="w", padx=6, pady=4)
    checks = {}
    for i, dt in enumerate(DATA_TYPES):
        box = CheckBox(frame, text=DATA_TYPE_LABELS[dt])
        box.grid(row=i // 3, column=i % 3, sticky="w", padx=4, pady=2)
        if dt == DataType.SESSION:
            box.select()
        checks[dt] = box
    return checks


class ApiTesterPanel(Panel):
    title = "API Tester"
    size = "960x660"
    min_size = (800, 640)

    def __init__(self, master, ctx) -> None:
        super().__init__(master, ctx)
        self.worker: Worker | None = None
        self.result = None
        self.error: str | None = None
        # the run area is packed from the bottom first: switching tabs never moves the Download row
        run = ctk.CTkFrame(self, fg_color="transparent")
        run.pack(side="bottom", fill="x", padx=10, pady=(4, 0))
        self.tabs = ctk.CTkTabview(self, height=330)
        self.tabs.pack(fill="both", expand=True, padx=10, pady=(0, 0))
        self._build_sessions(_scrolled(self.tabs.add("Sessions")))
        self._build_xml(_scrolled(self.tabs.add("XML Files")))

        bar_row = ctk.CTkFrame(run, fg_color="transparent")
        bar_row.pack(fill="x")
        self.download_button = Button(bar_row, text="Download", width=110, command=self.download)
        self.download_button.pack(side="right")
        self.cancel_button = Button(bar_row, text="Cancel", width=90, secondary=True, command=self.cancel,
                                           state="disabled")
        self.cancel_button.pack(side="right", padx=8)
        tab_order(self.cancel_button, self.download_button)
        self.progress = ctk.CTkProgressBar(bar_row, width=160)
        self.progress.set(0)
        self.progress.pack(side="left", padx=(0, 10))
        self.status_label = ctk.CTkLabel(bar_row, text="", anchor="w")  # live counts while it runs
        self.status_label.pack(side="left", fill="x", expand=True)
        self.log = ctk.CTkTextbox(run, height=96, wrap="word")
        self.log.pack(fill="x", pady=(6, 0))
        self.log.configure(state="disabled")
        self.reload()

    # --- building ---------------------------------------------------------------------------
    def _build_sessions(self, tab) -> None:
        _tab_columns(tab, "Sites")
        self.sites = CheckList(tab, height=70)
        self.sites.grid(row=1, column=0, sticky="nsew", padx=6)
        self.destinations = CheckList(tab, height=70)
        self.destinations.grid(row=1, column=1, sticky="nsew", padx=6)
        self.form = Form(tab)
        self.form.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(6, 0))
        self.form.add("start", "Start Date (YYYY-MM-DD HH:MM)", width=180)
        self.form.add("duration", "Duration", width=80)
        self.duration_unit = ctk.StringVar(value="days")
        self.form.fields["duration"].add_extra(OptionMenu(
            self.form.fields["duration"].container, values=list(DURATION_UNITS), variable=self.duration_unit,
            width=100, dynamic_resizing=True))
        self.form.add("lsid", "or Session ID", width=260)
        self.form.fields["start"].set((datetime.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M"))
        self.form.fields["duration"].set("1")
        self.operations = _operations(tab)
        self.fields = dict(self.form.fields)

    def _build_xml(self, tab) -> None:
        _tab_columns(tab, "XML files")
        files = ctk.CTkFrame(tab, fg_color="transparent")
        files.grid(row=1, column=0, sticky="nsew", padx=6)
        row = ctk.CTkFrame(files, fg_color="transparent")
        row.pack(side="bottom", fill="x", pady=(4, 0))  # packed first: a short window shrinks the list, not Add…
        self.xml_files = ListView(files, [("path", "File", 360)], height=3, selectmode="extended")
        self.xml_files.pack(fill="both", expand=True)
        self.xml_add_button = Button(row, text="Add…", width=80, command=self.add_files_dialog)
        self.xml_add_button.pack(side="left")
        Button(row, text="Remove", width=80, secondary=True, command=self.remove_files).pack(side="left",
                                                                                                      padx=6)
        self.xml_destinations = CheckList(tab, height=70)
        self.xml_destinations.grid(row=1, column=1, sticky="nsew", padx=6)
        self.xml_form = Form(tab)
        self.xml_form.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(6, 0))
        self.xml_form.add("site", "Site for recordings and backups", "choice", width=260)
        self.xml_form.add("site_host", "or Site Host Name (labels the sessions)", width=260)
        self.xml_operations = _operations(tab)
        from ic.gui.dialogs.adhoc_site import AdHocSiteFields  # VENDOR hook: host + credentials typed in

        self.xml_adhoc = AdHocSiteFields(tab)
        self.xml_adhoc.grid(row=4, column=0, columnspan=2, sticky="w", padx=6, pady=(0, 4))

    def reload(self) -> None:
        store = self.store()
        sites = [s.name for s in store.list_sites()]
        dests = [d.name for d in store.list_destinations()]
        self.sites.set_items(sites)
        self.destinations.set_items(dests)
        self.xml_destinations.set_items(dests)
        self.xml_form.fields["site"].set_choices([NO_SITE] + sites)
        if len(sites) == 1:
            self.sites.set_selected(sites)

    def on_changed(self, what: str) -> None:
        if what in ("sites", "destinations"):
            self.reload()

    # --- XML files ------------------------------------------------------------------------------
    def add_files(self, paths) -> None:
        existing = set(self.xml_files.keys())
        rows = [(p,) for p in self.xml_files.keys()] + [(os.path.abspath(p),) for p in paths
                                                        if os.path.abspath(p) not in existing]
        self.xml_files.set_rows(rows)

    def add_files_dialog(self) -> None:
        paths = filedialog.askopenfilenames(parent=self, title="Add Bomgar XML files",
                                            filetypes=[("XML files", "*.xml"), ("All files", "*")])
        if paths:
            self.add_files(paths)

    def remove_files(self) -> None:
        chosen = set(self.xml_files.tree.selection())
        self.xml_files.set_rows([(p,) for p in self.xml_files.keys() if p not in chosen])

    # --- running --------------------------------------------------------------------------------
    def _job(self):
        """The service call for the visible tab, with its arguments checked here first."""
        store = self.store()
        if self.tabs.get() == "XML Files":
            files = self.xml_files.keys()
            dests = self.xml_destinations.selected()
            types = [dt for dt, b in self.xml_operations.items() if b.get()]
            site = self.xml_form.fields["site"].get()
            site = None if site == NO_SITE else site
            site_host = self.xml_form.fields["site_host"].get().strip() or None
            typed_host = self.xml_adhoc.filled()  # VENDOR hook: a host and account typed in instead of a site
            services.check_api_tester_choices(files=files, destinations=dests, data_types=types, site=site,
                                              typed_host=typed_host)
            adhoc = self.xml_adhoc.site() if typed_host else None
            return lambda emit, cancel: services.import_xml(store, files=files, site=site, site_host=site_host,
                                                             destinations=dests, data_types=types, adhoc=adhoc,
                                                             progress=emit, cancel=cancel)
        sites = self.sites.selected()
        dests = self.destinations.selected()
        types = [dt for dt, b in self.operations.items() if b.get()]
        services.check_api_tester_choices(sites=sites, destinations=dests, data_types=types)
        lsid = self.fields["lsid"].get().strip() or None
        start = None
        duration = None
        if lsid is None:
            text = self.fields["start"].get().strip()
            try:
                start = datetime.strptime(text, "%Y-%m-%d %H:%M").astimezone()
            except ValueError:
                raise ConfigError(f"The start date '{text}' must look like 2024-01-31 08:00.", field="start") from None
            amount = self.fields["duration"].get().strip()
            if not amount.isdigit() or int(amount) < 1:
                raise ConfigError("The duration must be a whole number (1 or more).", field="duration")
            duration = int(amount) * DURATION_UNITS[self.duration_unit.get()]
        return lambda emit, cancel: services.export(store, sites=sites, destinations=dests, data_types=types,
                                                    start=start, duration_seconds=duration, lsid=lsid,
                                                    progress=emit, cancel=cancel)

    def default_action(self) -> None:
        if not self.running:
            self.download()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.running

    def download(self) -> None:
        if self.running:
            return
        self.clear_errors()
        self.xml_form.clear_errors()
        try:
            job = self._job()
        except Exception as exc:  # noqa: BLE001
            if getattr(exc, "field", None) in self.xml_form.fields:
                self.xml_form.fields[exc.field].set_error(str(exc))
            self.show_exception(exc)
            return
        self.result, self.error, self.events, self._phases = None, None, 0, {}
        self._clear_log()
        self.progress.set(0)
        self.status_label.configure(text="Starting…")
        self._append("Download started.")
        log.info("API Tester: download started (%s tab).", self.tabs.get())
        self.worker = self.run_in_worker(job, self._done, on_event=self._event, on_error=self._failed,
                                         busy_text="Downloading…")
        self._buttons()

    def cancel(self) -> None:
        if self.running:
            self.worker.cancel()
            self._append("Cancelling…")
            self.cancel_button.configure(state="disabled")

    def _event(self, event) -> None:
        """Lines (starts, summaries, warnings) go to the log once each; counts go to the live status line."""
        self.events += 1
        if isinstance(event, services.JobLine):
            line = plain_line(event.message)
            self._append(line)
            if not line.endswith("…"):
                log.info("API Tester: %s", line)
        else:
            self.status_label.configure(text=services.progress_words(event))
        fraction = services.progress_fraction(event)
        if fraction is not None:
            self.progress.set(max(0.0, min(1.0, float(fraction))))

    def _done(self, result) -> None:
        self.result = result
        self.progress.set(1)
        if not isinstance(result, list):  # the service's summary lines already arrived as progress events
            self._append(plain_line(str(result)))
        self._append("Finished.")
        self.status_label.configure(text="")
        log.info("API Tester: download finished.")
        self.message.show("Download finished; check the selected destinations.", "ok")
        self._buttons()

    def _failed(self, exc) -> None:
        from ic.errors import Cancelled

        self.error = user_message(exc)
        self.status_label.configure(text="")
        if isinstance(exc, Cancelled):  # the user asked for it: not an error
            self._append("Cancelled: what was copied so far stays.")
            log.info("API Tester: download cancelled.")
            self.message.show("Download cancelled.")
            self._buttons()
            return
        field = getattr(exc, "field", None)
        for form in (self.xml_form, self.form):
            if field in form.fields:
                form.fields[field].set_error(self.error)
                break
        self._append(self.error)
        log.error("API Tester: %s", self.error)
        self.message.show(self.error, "error")
        self._buttons()

    def _buttons(self) -> None:
        self.download_button.configure(state="disabled" if self.running else "normal")
        self.cancel_button.configure(state="normal" if self.running else "disabled")

    def _append(self, line: str) -> None:
        if line.rstrip() == getattr(self, "_last_line", None):
            return  # a summary said twice is said once
        self._last_line = line.rstrip()
        self.log.configure(state="normal")
        self.log.insert("end", line.rstrip() + "\n")
        self.log.see("end")
        self.log.configure(state="disabled")

    def _clear_log(self) -> None:
        self._last_line = None
        self.log.configure(state="normal")
        self.log.delete("1.0", "end")
        self.log.configure(state="disabled")

    def log_text(self) -> str:
        return self.log.get("1.0", "end-1c")
